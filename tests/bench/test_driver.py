"""The bench's client (bench/driver.py) against our IdP over real HTTP: every operation `make bench`
times must succeed here, so a change to the sign-in form or the endpoints that would break the
bench breaks this test first (the reference provider is not needed for it)."""
import pytest

from bench.driver import REDIRECT_URI, Target, Unexpected
from idp.oidc import clients, consent
from tests import second_factor
from tests.live import free_port, serve

PORT = free_port()
ISSUER = f"http://127.0.0.1:{PORT}"
SCOPES = ["openid", "profile", "email"]


@pytest.fixture
def app_overrides():
    return {"issuer": ISSUER}


@pytest.fixture
def target(app, signing_keys, services, people, identities):
    made = identities.make(people["citizen"])
    registered = {}
    with services.db.session() as session:
        for alg in ("RS256", "ES256"):
            rp, secret = clients.register_oidc(session, name=f"Bench {alg}", redirect_uris=[REDIRECT_URI],
                                               scopes=SCOPES, id_token_alg=alg)
            consent.grant(session, made.identity.id, rp.id, SCOPES)
            registered[alg] = {"client_id": rp.client_id, "client_secret": secret}
        session.commit()
    stop = serve(app, ISSUER)
    target = Target("ours", ISSUER, made.username, made.password, registered,
                    second_factor=lambda: second_factor.code_for(made))
    target.discover()
    yield target
    target.close()
    stop()


def test_every_operation_of_the_bench_succeeds(target):
    target.discovery()
    target.jwks()
    for alg in ("RS256", "ES256"):
        target.code_flow(alg)  # the first signs the browser in through the form
        assert target.tokens["alg"] == alg
    first_refresh = target.tokens["refresh_token"]
    target.refresh()
    assert target.tokens["refresh_token"] != first_refresh  # rotated, and the driver keeps the new one
    target.userinfo()
    target.cold_flow()


def test_a_wrong_password_is_reported_not_ignored(target):
    target.password = "not-the-password-at-all"
    with pytest.raises(Unexpected):
        target.cold_flow()
