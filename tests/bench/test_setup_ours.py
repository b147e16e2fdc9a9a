"""bench/setup_ours.py: the bench's identities are made as the app makes them, each with TOTP, and
the pool's codes are the ones the IdP accepts (once)."""
from sqlalchemy import select

from bench.extras import prepare_saml
from bench.setup_ours import prepare
from bench.totp_pool import TotpPool


def bench_settings(tmp_path) -> dict:
    """What bench/run.py's ours_settings gives without IDP_BENCH_*: SQLite in a folder of its own."""
    return {"issuer": "http://127.0.0.1:9", "instance_path": str(tmp_path / "instance"),
            "keys_path": str(tmp_path / "keys"), "redis_url": "",
            "database_url": f"sqlite:///{tmp_path / 'idp.sqlite3'}"}


def test_prepare_makes_a_pool_of_identities_with_totp(tmp_path):
    from idp import create_app
    from idp.identity import mfa
    from idp.models import Identity

    settings = bench_settings(tmp_path)
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


def test_prepare_saml_gives_every_bench_identity_s_release(tmp_path):
    """The SAML SSO measurement gets the assertion, not the first-time release notice."""
    from idp import create_app
    from idp.attributes import saml_release_names
    from idp.models import Identity, RelyingParty
    from idp.oidc import consent

    settings = bench_settings(tmp_path)
    prepare(settings, identities=2)
    prepare_saml(settings)
    services = create_app(dict(settings), check_secrets=False).extensions["idp"]
    with services.db.session() as session:
        sp = session.scalars(select(RelyingParty).where(RelyingParty.name == "Bench SP")).one()
        names = saml_release_names(bool(sp.allow_national_id))
        identity_ids = session.scalars(select(Identity.id)).all()
        assert len(identity_ids) == 2
        assert all(consent.covers(session, identity_id, sp.id, names) for identity_id in identity_ids)
    services.db.dispose()
