"""Single-use email links in the database (idp.identity.tokens)."""
import datetime as dt

import pytest
from sqlalchemy import update

from idp.identity import tokens
from idp.models import EmailLink, utcnow
from tests.conftest import race_in_two_sessions


def test_a_link_works_once(db):
    token = tokens.issue(db, "recovery", {"identity_id": 7}, 600)
    assert tokens.peek(db, "recovery", token) == {"identity_id": 7}
    assert tokens.redeem(db, "recovery", token) == {"identity_id": 7}
    assert tokens.redeem(db, "recovery", token) is None
    assert tokens.peek(db, "recovery", token) is None


def test_only_the_hash_is_kept(db):
    token = tokens.issue(db, "verify-email", {"identity_id": 1}, 600)
    assert all(token not in link.token_hash for link in db.query(EmailLink))


def test_the_purpose_must_match(db):
    token = tokens.issue(db, "verify-email", {"identity_id": 1}, 600)
    assert tokens.redeem(db, "recovery", token) is None
    assert tokens.redeem(db, "verify-email", token) == {"identity_id": 1}


@pytest.mark.parametrize("bad", ["", None, "x" * 101, "unknown-token"])
def test_bad_tokens(db, bad):
    assert tokens.peek(db, "recovery", bad) is None and tokens.redeem(db, "recovery", bad) is None


def test_an_expired_link(db):
    token = tokens.issue(db, "recovery", {"identity_id": 1}, 600)
    db.execute(update(EmailLink).values(expires_at=utcnow() - dt.timedelta(seconds=1)))
    assert tokens.peek(db, "recovery", token) is None and tokens.redeem(db, "recovery", token) is None


def test_two_concurrent_redemptions_one_wins(services):
    with services.db.session() as setup:
        token = tokens.issue(setup, "recovery", {"identity_id": 3}, 600)
        setup.commit()
    first, second = race_in_two_sessions(services.db, lambda session: tokens.redeem(session, "recovery", token))
    assert (first, second) == ({"identity_id": 3}, None)


def test_prune(db):
    tokens.issue(db, "recovery", {}, 600)
    old = tokens.issue(db, "recovery", {}, 600)
    db.execute(update(EmailLink).where(EmailLink.token_hash == tokens._hash(old))
               .values(expires_at=utcnow() - dt.timedelta(days=2)))
    assert tokens.prune(db) == 1
