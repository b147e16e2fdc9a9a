"""bench/setup_ours.py: the bench's identities are made as the app makes them, each with TOTP, and
the pool's codes are the ones the IdP accepts (once)."""
from sqlalchemy import select

from bench.setup_ours import prepare
from bench.totp_pool import TotpPool


def test_prepare_makes_a_pool_of_identities_with_totp(tmp_path):
    from idp import create_app
    from idp.identity import mfa
    from idp.models import Identity

    settings = {"issuer": "http://127.0.0.1:9", "instance_path": str(tmp_path / "instance"),
                "keys_path": str(tmp_path / "keys"), "redis_url": "",
                "database_url": f"sqlite:///{tmp_path / 'idp.sqlite3'}"}
    prepared = prepare(settings, identities=3)
    assert [p["username"] for p in prepared["totp"]] == ["bench.citizen", "bench.citizen1", "bench.citizen2"]
    assert prepared["username"] == "bench.citizen" and set(prepared["clients"]) == {"RS256", "ES256"}
    pool = TotpPool.from_prepared(prepared["totp"])
    # the same instance folder, so the same data key: what the bench's gunicorn reads
    services = create_app(dict(settings), check_secrets=False).extensions["idp"]
    with services.db.session() as session:
        for _ in range(3):
            taken = pool.take()
            identity = session.scalars(select(Identity).where(Identity.username == taken.username)).one()
            assert identity.has_totp and identity.status == "active"
            assert mfa.verify(session, services.store, services.fernet, identity, taken.code) == "otp"
            assert mfa.verify(session, services.store, services.fernet, identity, taken.code) is None  # replay
    services.db.dispose()
