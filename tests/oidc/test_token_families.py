"""Token families in the database: revocation is one indexed UPDATE, in the caller's transaction."""
import datetime as dt
import json

from idp.models import RefreshToken, TokenFamily, utcnow
from idp.oidc import token_families


def family(db, family_id, identity="u-1", client="c-1", sub="s-1", lifetime=3600):
    token_families.open_family(db, family_id, identity, client, sub, lifetime)
    db.flush()


def revoked(db):
    db.expire_all()
    return {f.id for f in db.query(TokenFamily) if f.revoked_at is not None}


def test_revoke_by_identity_at_every_client(db):
    family(db, "a"), family(db, "b", client="c-2"), family(db, "c", identity="u-2")
    assert token_families.revoke_identity_tokens(db, "u-1") == 2
    assert revoked(db) == {"a", "b"}


def test_revoke_by_identity_and_client(db):
    family(db, "a"), family(db, "b", client="c-2")
    token_families.revoke_client_tokens(db, "u-1", "c-2")
    assert revoked(db) == {"b"}


def test_revoke_by_subject_at_one_client(db):
    family(db, "a"), family(db, "b", client="c-2")   # a public sub is the same at both clients
    token_families.revoke_subject_tokens(db, "c-1", "s-1")
    assert revoked(db) == {"a"}
    assert token_families.subject_belongs_to(db, "c-2", "s-1", "u-1")
    assert not token_families.subject_belongs_to(db, "c-2", "s-1", "u-2")


def test_revocation_is_part_of_the_callers_transaction(db, services):
    family(db, "a")
    db.commit()
    token_families.revoke_identity_tokens(db, "u-1")
    db.rollback()                                    # the password change failed: nothing is revoked
    assert revoked(db) == set()


def test_a_revoked_family_is_revoked_once(db):
    family(db, "a")
    assert token_families.revoke_family(db, "a") == 1
    first = db.get(TokenFamily, "a").revoked_at
    assert token_families.revoke_family(db, "a") == 0
    db.expire_all()
    assert db.get(TokenFamily, "a").revoked_at == first


def test_prune_deletes_ended_families_and_their_tokens(db):
    family(db, "old"), family(db, "live")
    token_families.add_refresh_token(db, "old-token", "old", "c-1", "u-1", "openid", {})
    db.query(TokenFamily).filter_by(id="old").update({"expires_at": utcnow() - dt.timedelta(days=2)})
    assert token_families.prune(db) == 1
    assert {f.id for f in db.query(TokenFamily)} == {"live"}
    assert db.query(RefreshToken).count() == 0


def test_idp_db_prune(runner, services):
    with services.db.session() as db:
        family(db, "old")
        db.query(TokenFamily).update({"expires_at": utcnow() - dt.timedelta(days=2)})
        db.commit()
    result = runner.invoke(args=["idp", "db", "prune", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["token_families"] == 1
