"""The bench's client (bench/driver.py) against our IdP over real HTTP: every operation `make bench`
times must succeed here, so a change to the sign-in form or the endpoints that would break the
bench breaks this test first (the reference provider is not needed for it)."""
import pytest

from bench.driver import REDIRECT_URI, Target, Unexpected
from bench.totp_pool import PoolIdentity, TotpPool
from idp.oidc import clients, consent
from tests import second_factor
from tests.live import free_port, serve

PORT = free_port()
ISSUER = f"http://127.0.0.1:{PORT}"
SCOPES = ["openid", "profile", "email"]


@pytest.fixture
def app_overrides():
    return {"issuer": ISSUER}


def register(services, made_identities) -> dict:
    registered = {}
    with services.db.session() as session:
        for alg in ("RS256", "ES256"):
            rp, secret = clients.register_oidc(session, name=f"Bench {alg}", redirect_uris=[REDIRECT_URI],
                                               scopes=SCOPES, id_token_alg=alg)
            for made in made_identities:
                consent.grant(session, made.identity.id, rp.id, SCOPES)
            registered[alg] = {"client_id": rp.client_id, "client_secret": secret}
        session.commit()
    return registered


@pytest.fixture
def target(app, signing_keys, services, people, identities):
    made = identities.make(people["citizen"])
    registered = register(services, [made])
    stop = serve(app, ISSUER)
    target = Target("ours", ISSUER, made.username, made.password, registered,
                    second_factor=lambda: second_factor.code_for(made))
    target.discover()
    yield target
    target.close()
    stop()


@pytest.fixture
def pooled(app, signing_keys, services, people, identities):
    """The driver as `make bench` runs it: each sign-in's identity and TOTP code from a pool."""
    made = [identities.make(people["citizen"]), identities.make(people["citizen2"], username="citizen.two")]
    registered = register(services, made)
    stop = serve(app, ISSUER)
    pool = TotpPool([PoolIdentity(m.username, m.password, m.secret) for m in made])
    target = Target("ours", ISSUER, "unused", "unused", registered, sign_ins=pool.take)
    target.discover()
    yield target, pool
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


def test_cold_flows_take_their_identity_and_a_real_totp_code_from_the_pool(pooled):
    """Four cold flows with two identities: each identity answers the current step's code and then
    the next step's (the IdP accepts one step of drift), and never one it already spent."""
    target, pool = pooled
    for _ in range(4):
        target.cold_flow()
    assert all(len(identity.spent) == 2 for identity in pool.identities)
    assert pool.waits == 0


def test_a_pool_code_already_spent_is_refused_by_the_idp(pooled):
    """What the pool's bookkeeping prevents: the same identity's same code again is a replay."""
    target, pool = pooled
    taken = []
    target.sign_ins = lambda: taken.append(pool.take()) or taken[-1]
    target.cold_flow()
    target.sign_ins = lambda: taken[0]
    with pytest.raises(Unexpected):
        target.cold_flow()


def test_the_driver_counts_each_http_request_of_an_operation(target):
    """bench/floor.py subtracts a floor per request: the count must be the requests really made."""
    target.code_flow("RS256")  # signs the browser in (more requests): not what is counted below
    before = target.requests_sent
    target.discovery()
    assert target.requests_sent - before == 1
    before = target.requests_sent
    target.code_flow("ES256")  # signed in: the authorization request (one redirect) and the token request
    assert target.requests_sent - before == 2
    before = target.requests_sent
    target.cold_flow()  # a new browser's requests count too: form, password, second factor, …
    assert target.requests_sent - before > 3
