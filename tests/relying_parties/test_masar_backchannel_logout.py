"""Masar receives OpenID Connect Back-Channel Logout 1.0 tokens from a live IdP over HTTP: a citizen
signed in to Masar who signs out at the IdP, or whose password is reset, is signed out of Masar.
Masar validates the token itself (joserfc, the IdP's JWKS); the test checks the claims with joserfc
too, from what reached Masar's endpoint."""
from __future__ import annotations

import secrets
import time
from types import SimpleNamespace

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from relying_parties.masar.app import create_app
from tests.live import serve
from tests.relying_parties.test_masar import ISSUER, MASAR, csrf, sign_in
from tests.relying_parties.test_masar import citizen, live_idp  # noqa: F401 (fixtures)
from tests.web.test_recovery import NEW_PASSWORD, ask, link_path

EVENT = "http://schemas.openid.net/event/backchannel-logout"


@pytest.fixture
def app_overrides():
    return {"issuer": ISSUER, "backchannel_logout_attempts": 2, "backchannel_logout_retry_seconds": 1}


@pytest.fixture(autouse=True)
def _deliveries_finish(app):
    """The delivery thread is done before the test's database goes away."""
    yield
    assert app.extensions["idp.logout_delivery"].wait_idle(30)


@pytest.fixture
def masar(live_idp, rps, tmp_path):  # noqa: F811
    """Masar registered with its back-channel logout URI; what reaches that URI is kept for the test."""
    client = rps.register(name="Masar", redirect_uris=[MASAR + "/auth/callback"],
                          post_logout_redirect_uris=[MASAR + "/"], backchannel_logout_uri=MASAR + "/backchannel-logout",
                          backchannel_logout_session_required=True)
    portal = create_app({"MASAR_IDP_ISSUER": ISSUER, "MASAR_CLIENT_ID": client.client_id,
                         "MASAR_CLIENT_SECRET": client.secret, "MASAR_BASE_URL": MASAR,
                         "MASAR_DATABASE": str(tmp_path / "masar.sqlite3"),
                         "MASAR_SECRET_KEY": secrets.token_urlsafe(32)})
    received = []
    stop = serve(_Recorder(portal, received), MASAR)
    yield SimpleNamespace(app=portal, client=client, received=received)
    stop()


class _Recorder:
    """Masar, with a copy of each logout token it is sent (the body is read once, then replayed)."""

    def __init__(self, portal, received):
        self.portal, self.received = portal, received

    def __call__(self, environ, start_response):
        if environ["PATH_INFO"] == "/backchannel-logout" and environ["REQUEST_METHOD"] == "POST":
            import io
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length)
            environ["wsgi.input"] = io.BytesIO(body)
            from urllib.parse import parse_qs
            self.received.append(parse_qs(body.decode()).get("logout_token", [None])[0])
        return self.portal(environ, start_response)


def signed_in_to_masar(browser, made) -> None:
    profile = sign_in(browser, made)
    assert profile.url.startswith(MASAR + "/profile"), profile.url


def masar_signed_in(browser) -> bool:
    return browser.get(MASAR + "/profile", timeout=10, allow_redirects=False).status_code == 200


def wait_signed_out(browser, seconds=10) -> bool:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if not masar_signed_in(browser):
            return True
        time.sleep(0.1)
    return False


def check_claims(token: str, client_id: str) -> dict:
    decoded = jwt.decode(token, KeySet.import_key_set(requests.get(ISSUER + "/oidc/jwks", timeout=10).json()))
    claims = decoded.claims
    assert decoded.header["typ"] == "logout+jwt"
    assert claims["iss"] == ISSUER and claims["aud"] == client_id and claims["events"] == {EVENT: {}}
    assert "nonce" not in claims and claims["jti"] and claims["sid"] and claims["sub"]
    assert abs(claims["iat"] - time.time()) < 60
    return claims


def test_signing_out_at_the_idp_signs_the_citizen_out_of_masar(masar, citizen):  # noqa: F811
    browser = requests.Session()
    signed_in_to_masar(browser, citizen)
    assert masar_signed_in(browser)
    page = browser.get(ISSUER + "/logout", timeout=10)
    assert browser.post(ISSUER + "/logout", data={"csrf_token": csrf(page.text)}, timeout=10).status_code == 200
    assert wait_signed_out(browser)
    [token] = masar.received
    check_claims(token, masar.client.client_id)


def test_a_password_reset_elsewhere_signs_the_citizen_out_of_masar(masar, citizen, app, people, smtp):  # noqa: F811
    from tests import second_factor
    from tests.conftest import Web
    browser = requests.Session()
    signed_in_to_masar(browser, citizen)
    other = Web(app.test_client())
    ask(other, people["citizen"].national_id, citizen.email)
    other.submit(link_path(smtp, citizen.email), {})
    assert other.submit("/recover/verify", {"otp": second_factor.code_for(citizen)}).status_code == 302
    assert other.submit("/recover/password", {"new_password": NEW_PASSWORD}).status_code == 200
    assert wait_signed_out(browser)
    check_claims(masar.received[0], masar.client.client_id)


def test_only_that_session_is_ended_at_masar(masar, citizen):  # noqa: F811
    """Two browsers, two IdP sessions: signing out of one leaves Masar's other sign-in alone."""
    first, second = requests.Session(), requests.Session()
    signed_in_to_masar(first, citizen)
    signed_in_to_masar(second, citizen)
    page = first.get(ISSUER + "/logout", timeout=10)
    first.post(ISSUER + "/logout", data={"csrf_token": csrf(page.text)}, timeout=10)
    assert wait_signed_out(first)
    assert masar_signed_in(second)


# --- Masar's endpoint refuses what is not a logout token for it (§2.6) ---------------------------------

def forged(claims: dict, header: dict | None = None, key=None) -> str:
    return jwt.encode({"alg": "RS256", "typ": "logout+jwt", **(header or {})}, claims,
                      key or RSAKey.generate_key(2048))


@pytest.mark.parametrize("change", ["unsigned", "nonce", "no_event", "wrong_aud", "old", "jwt_typ", "replay"])
def test_masar_refuses_bad_logout_tokens(masar, citizen, app, change):  # noqa: F811
    browser = requests.Session()
    signed_in_to_masar(browser, citizen)
    keyring = app.extensions["idp"].keyring
    claims = {"iss": ISSUER, "aud": masar.client.client_id, "iat": int(time.time()), "jti": secrets.token_hex(8),
              "sub": "whoever", "events": {EVENT: {}}}
    typ = "logout+jwt"
    if change == "nonce":
        claims["nonce"] = "n"
    elif change == "no_event":
        claims["events"] = {}
    elif change == "wrong_aud":
        claims["aud"] = "another-portal"
    elif change == "old":
        claims["iat"] -= 3600
    elif change == "jwt_typ":
        typ = "JWT"
    token = forged(claims) if change == "unsigned" else keyring.sign(claims, typ=typ)
    if change == "replay":
        assert requests.post(MASAR + "/backchannel-logout", data={"logout_token": token}, timeout=10).status_code == 200
    answer = requests.post(MASAR + "/backchannel-logout", data={"logout_token": token}, timeout=10)
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_request"
    assert answer.headers["Cache-Control"] == "no-store"
    assert masar_signed_in(browser)
