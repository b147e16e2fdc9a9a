"""Used-once marks in the database (idp.used_once): first use wins, across sessions and instances."""
import datetime as dt

from idp import used_once
from idp.models import UsedMark, utcnow
from tests.conftest import race_in_two_sessions


def test_a_key_is_spent_once(db):
    assert used_once.spend(db, "totp-used:x:1", 120)
    assert not used_once.spend(db, "totp-used:x:1", 120)
    assert used_once.spend(db, "totp-used:x:2", 120)


def test_only_a_hash_is_stored(db):
    used_once.spend(db, "oidc:jti:client:secret-looking-jti", 60)
    db.flush()
    assert all("secret-looking-jti" not in mark.key_hash for mark in db.query(UsedMark))


def test_an_expired_mark_may_be_taken_again(db):
    long_ago = utcnow() - dt.timedelta(hours=1)
    assert used_once.spend(db, "k", 60, now=long_ago)
    assert used_once.spend(db, "k", 60)             # the first mark ended 59 minutes ago
    assert not used_once.spend(db, "k", 60)


def test_concurrent_sessions_one_wins(services):
    """Two instances spending one value at the same moment: the second waits for the first's commit,
    then finds the key taken."""
    first, second = race_in_two_sessions(services.db, lambda session: used_once.spend(session, "race", 60))
    assert first is True and second is False


def test_prune_keeps_live_marks(db):
    used_once.spend(db, "old", 60, now=utcnow() - dt.timedelta(hours=1))
    used_once.spend(db, "live", 60)
    assert used_once.prune(db) == 1
    assert db.query(UsedMark).count() == 1
