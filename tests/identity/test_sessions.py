"""Server-side sessions in the database: idle and absolute timeouts on an injected clock, ids kept
only as hashes, revocation in the caller's transaction, no write-back of a revoked session, and
"last seen" written at most once a minute."""
import hashlib
import uuid

import pytest
from sqlalchemy import select

from idp.identity.sessions import SessionStore, new_session_id, session_key
from idp.models import SignInSession

ALICE, BOB = str(uuid.uuid4()), str(uuid.uuid4())


@pytest.fixture
def sessions(services, clock):
    return SessionStore(services.db.engine, idle_seconds=1800, absolute_seconds=12 * 3600, clock=clock)


def signed_in(sessions, identity_uuid, clock, sid=None):
    sid = sid or new_session_id()
    assert sessions.create(sid, {"identity_uuid": identity_uuid}, created=clock.now)
    return sid


def test_the_table_keeps_only_a_hash_of_the_cookie(sessions, clock, db):
    sid = signed_in(sessions, ALICE, clock)
    keys = db.scalars(select(SignInSession.key)).all()
    assert keys == [hashlib.sha256(sid.encode()).hexdigest()] == [session_key(sid)]
    assert sid not in keys
    row = db.get(SignInSession, session_key(sid))
    assert row.identity_uuid == ALICE and row.data == {"identity_uuid": ALICE}


def test_only_the_exact_cookie_opens_the_session(sessions, clock):
    sid = signed_in(sessions, ALICE, clock)
    assert sessions.load(sid).data == {"identity_uuid": ALICE}
    for wrong in (sid[:-1], sid + "x", session_key(sid), sid.upper(), ""):
        assert sessions.load(wrong) is None


def test_idle_timeout(sessions, clock):
    sid = signed_in(sessions, ALICE, clock)
    clock.advance(1700)
    record = sessions.load(sid)
    assert record is not None
    assert sessions.touch(sid, record.created, record.seen)  # activity
    clock.advance(1801)
    assert sessions.load(sid) is None


def test_absolute_timeout_even_when_active(sessions, clock):
    sid = signed_in(sessions, ALICE, clock)
    created = clock.now
    for _ in range(0, 12 * 60, 20):
        clock.advance(20 * 60)
        record = sessions.load(sid)
        if record is None:
            break
        assert sessions.save(sid, {"identity_uuid": ALICE, "n": 1}, created)
    clock.now = created + 12 * 3600 + 1
    assert sessions.load(sid) is None
    assert not sessions.save(sid, {"identity_uuid": ALICE}, created)  # and it cannot be revived


def test_last_seen_is_written_at_most_once_a_minute(sessions, clock, db):
    sid = signed_in(sessions, ALICE, clock)
    first_seen = clock.now
    clock.advance(59)
    record = sessions.load(sid)
    assert sessions.touch(sid, record.created, record.seen)
    assert db.get(SignInSession, session_key(sid)).seen == first_seen  # nothing written
    clock.advance(2)
    assert sessions.touch(sid, record.created, record.seen)
    db.expire_all()
    assert db.get(SignInSession, session_key(sid)).seen == first_seen + 61


def test_an_unchanged_session_that_was_revoked_is_not_touched_back(sessions, clock, db):
    sid = signed_in(sessions, ALICE, clock)
    record = sessions.load(sid)
    sessions.revoke_all(db, ALICE)
    db.commit()
    clock.advance(120)
    assert sessions.touch(sid, record.created, record.seen) is False
    assert sessions.load(sid) is None


def test_revoke_all_keeps_the_one_asked(sessions, clock, db):
    a, b, c = (signed_in(sessions, ALICE, clock) for _ in range(3))
    other = signed_in(sessions, BOB, clock)
    assert sessions.revoke_all(db, ALICE, keep=b) == 2
    db.commit()
    assert sessions.load(a) is None and sessions.load(c) is None and sessions.load(b) is not None
    assert sessions.load(other) is not None
    assert sessions.count(ALICE) == 1 and sessions.count(BOB) == 1


def test_revocation_is_part_of_the_callers_transaction(sessions, clock, db):
    sid = signed_in(sessions, ALICE, clock)
    assert sessions.revoke_all(db, ALICE) == 1
    db.rollback()  # the credential change failed: nothing is revoked either
    assert sessions.load(sid) is not None
    assert sessions.revoke_all(db, ALICE) == 1
    db.commit()
    assert sessions.load(sid) is None


def test_a_revoked_session_cannot_be_written_back(sessions, clock, db):
    """A request that loaded the session before revocation must not resurrect it when it ends."""
    sid = signed_in(sessions, ALICE, clock)
    in_flight = sessions.load(sid)
    sessions.revoke_all(db, ALICE)
    db.commit()
    assert sessions.save(sid, in_flight.data, in_flight.created) is False
    assert sessions.load(sid) is None and sessions.count(ALICE) == 0


def test_anonymous_sessions_have_no_identity(sessions, clock, db):
    sid = new_session_id()
    assert sessions.create(sid, {"oidc_pending": {"x": {"created": 1}}})
    assert db.get(SignInSession, session_key(sid)).identity_uuid is None
    assert sessions.load(sid).data == {"oidc_pending": {"x": {"created": 1}}}


def test_prune_removes_expired_and_revoked_rows_only(sessions, clock, db):
    live = signed_in(sessions, ALICE, clock)
    revoked = signed_in(sessions, BOB, clock)
    sessions.revoke_all(db, BOB)
    db.commit()
    assert sessions.prune() == 1  # the revoked one
    clock.advance(1000)
    stale = signed_in(sessions, ALICE, clock)
    clock.advance(1000)  # `live` is now idle for 2000 s; `stale` for 1000 s
    assert sessions.prune() == 1
    assert {row for row in db.scalars(select(SignInSession.key))} == {session_key(stale)}
    assert sessions.load(live) is None and sessions.load(revoked) is None


def test_each_new_session_clears_a_few_expired_rows(sessions, clock, db):
    for _ in range(5):
        signed_in(sessions, ALICE, clock)
    clock.advance(3600)
    signed_in(sessions, BOB, clock)
    assert db.query(SignInSession).count() == 6 - 2  # two cleared on the way


def test_a_new_id_for_a_live_session_ends_the_old_id_in_the_same_row(sessions, clock, db):
    """Sign-in's new id (against fixation) takes over the row: the old id opens nothing, and no
    row is added."""
    old = sessions.create(sid := new_session_id(), {"oidc_pending": {}}, created=clock.now) and sid
    new = new_session_id()
    assert sessions.rekey(old, new, {"identity_uuid": ALICE}, clock.now)
    assert sessions.load(old) is None
    assert sessions.load(new).data == {"identity_uuid": ALICE} and sessions.count(ALICE) == 1
    assert db.scalars(select(SignInSession.key)).all() == [session_key(new)]


def test_a_revoked_session_takes_no_new_id(sessions, clock, db):
    old = signed_in(sessions, ALICE, clock)
    sessions.revoke_all(db, ALICE)
    db.commit()
    assert sessions.rekey(old, new_session_id(), {"identity_uuid": ALICE}, clock.now) is False
    assert sessions.count(ALICE) == 0
