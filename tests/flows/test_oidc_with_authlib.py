"""An independent OpenID Connect client library (Authlib) against a running IdP, over real HTTP:
code flow with PKCE, ID token validated against the published JWKS, userinfo, refresh, logout."""
import re
from urllib.parse import urljoin

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.jwk import KeySet
from tests import second_factor
from tests.live import free_port, serve


PORT = free_port()
ISSUER = f"http://127.0.0.1:{PORT}"
REDIRECT_URI = "http://127.0.0.1:5001/auth/callback"


@pytest.fixture
def app_overrides():
    return {"issuer": ISSUER}


@pytest.fixture
def live_idp(app, signing_keys):
    stop = serve(app, ISSUER)
    yield ISSUER
    stop()


def browse_to_callback(browser: requests.Session, url: str, made) -> str:
    """What a citizen's browser does: sign in (password, then code), allow, and land on the RP's callback."""
    for _ in range(10):
        response = browser.get(url, allow_redirects=False, timeout=10)
        if response.is_redirect:
            url = urljoin(url, response.headers["Location"])
            if url.startswith(REDIRECT_URI):
                return url
            continue
        page = response.text
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        if 'name="password"' in page:
            response = browser.post(url, data={"csrf_token": token, "username": made.username,
                                               "password": made.password}, allow_redirects=False, timeout=10)
        elif 'name="otp"' in page:  # every identity has a second factor
            response = browser.post(url, data={"csrf_token": token, "otp": second_factor.code_for(made)},
                                    allow_redirects=False, timeout=10)
        else:
            action = re.search(r'action="(/oidc/consent/[^"]+)"', page).group(1)
            response = browser.post(urljoin(url, action), data={"csrf_token": token, "decision": "allow"},
                                    allow_redirects=False, timeout=10)
        url = urljoin(url, response.headers["Location"])
        if url.startswith(REDIRECT_URI):
            return url
    raise AssertionError("never reached the callback")


def test_authlib_completes_the_code_flow(live_idp, rps, people, identities):
    made = identities.make(people["citizen"])
    rp = rps.register(redirect_uris=[REDIRECT_URI], post_logout_redirect_uris=["http://127.0.0.1:5001/"])
    metadata = requests.get(f"{live_idp}/.well-known/openid-configuration", timeout=10).json()
    assert metadata["issuer"] == live_idp

    oauth = OAuth2Session(rp.client_id, rp.secret, scope="openid profile email", redirect_uri=REDIRECT_URI,
                          code_challenge_method="S256", token_endpoint_auth_method="client_secret_basic")
    verifier = "v" * 20 + "-verifier-" + "x" * 30
    nonce = "n-0123456789"
    url, state = oauth.create_authorization_url(metadata["authorization_endpoint"], code_verifier=verifier,
                                                nonce=nonce)
    callback = browse_to_callback(requests.Session(), url, made)

    token = oauth.fetch_token(metadata["token_endpoint"], authorization_response=callback, code_verifier=verifier,
                              state=state)
    keys = KeySet.import_key_set(requests.get(metadata["jwks_uri"], timeout=10).json())
    decoded = jwt.decode(token["id_token"], keys)
    claims = CodeIDToken(decoded.claims, decoded.header, {"iss": {"values": [live_idp]}},
                         {"nonce": nonce, "client_id": rp.client_id, "access_token": token["access_token"]})
    claims.validate()

    info = oauth.get(metadata["userinfo_endpoint"]).json()
    assert info["sub"] == claims["sub"] and info["name#en"] == people["citizen"].name_en

    refreshed = oauth.refresh_token(metadata["token_endpoint"], refresh_token=token["refresh_token"])
    assert refreshed["access_token"] != token["access_token"]
    assert oauth.get(metadata["userinfo_endpoint"]).status_code == 200

    logout = requests.get(metadata["end_session_endpoint"], params={
        "id_token_hint": token["id_token"], "post_logout_redirect_uri": "http://127.0.0.1:5001/",
        "state": "bye"}, allow_redirects=False, timeout=10)
    assert logout.status_code == 303 and logout.headers["Location"] == "http://127.0.0.1:5001/?state=bye"
