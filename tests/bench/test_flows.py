"""What one sign-in and one OpenID Connect code exchange cost, through the whole app (test client,
no network): the numbers behind capacity planning. Run with `make bench`; no time limits here."""
import pytest

from tests.conftest import Web


@pytest.mark.bench
def test_password_sign_in(benchmark, app, people, identities):
    """POST /login with a right password: argon2id verification dominates."""
    made = identities.make(people["citizen"])

    def sign_in():
        web = Web(app.test_client())
        return web.login(made.username, made.password)

    response = benchmark.pedantic(sign_in, rounds=10, iterations=1)
    assert response.status_code == 302


@pytest.mark.bench
@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_code_exchange(benchmark, app, web, rps, people, identities, alg):
    """POST /oidc/token: client authentication, single-use code, tokens, and the signed ID token."""
    made = identities.make(people["citizen"])
    rp = rps.register(id_token_alg=alg)
    client = app.test_client()

    def fresh_code():
        code, verifier, _ = rps.sign_in_and_authorize(web, rp, made)
        return (client, rp, code, verifier), {}

    response = benchmark.pedantic(rps.exchange, setup=fresh_code, rounds=20, iterations=1)
    assert response.status_code == 200
