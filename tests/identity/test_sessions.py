"""Server-side sessions: idle and absolute timeouts, revocation of every session of an identity."""
from idp.identity.sessions import SessionStore
from idp.store.memory import MemoryStore


def make(now):
    store = MemoryStore(clock=lambda: now[0])
    return SessionStore(store, idle_seconds=1800, absolute_seconds=12 * 3600, clock=lambda: now[0])


def test_idle_timeout():
    now = [0.0]
    sessions = make(now)
    sessions.save("a", {"identity_id": 1}, created=0.0)
    now[0] = 1700
    assert sessions.load("a") is not None
    sessions.save("a", {"identity_id": 1}, created=0.0)  # activity
    now[0] = 1700 + 1801
    assert sessions.load("a") is None


def test_absolute_timeout_even_when_active():
    now = [0.0]
    sessions = make(now)
    for minute in range(0, 12 * 60, 20):
        now[0] = minute * 60
        sessions.save("a", {"identity_id": 1}, created=0.0)
    now[0] = 12 * 3600 + 1
    assert sessions.load("a") is None


def test_revoke_all_keeps_the_one_asked():
    now = [0.0]
    sessions = make(now)
    for sid in ("a", "b", "c"):
        sessions.save(sid, {"identity_id": 7}, created=0.0)
    sessions.save("other", {"identity_id": 8}, created=0.0)
    assert sessions.revoke_all(7, keep="b") == 2
    assert sessions.load("a") is None and sessions.load("b") is not None
    assert sessions.load("other") is not None
    assert sessions.count(7) == 1


def test_a_revoked_session_cannot_be_written_back():
    """A request that loaded the session before revocation must not resurrect it when it ends."""
    now = [0.0]
    sessions = make(now)
    sessions.save("a", {"identity_id": 7}, created=0.0)
    in_flight = sessions.load("a")
    sessions.revoke_all(7)
    assert sessions.save("a", in_flight["data"], created=0.0, new=False) is False
    assert sessions.load("a") is None and sessions.count(7) == 0
