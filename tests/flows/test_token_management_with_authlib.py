"""Authlib against a live IdP over HTTP (issue 11): id_token_hint with prompt=none, userinfo with the
token in a form body, RFC 7009 revocation and RFC 7662 introspection as Authlib sends them."""
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.flows.test_oidc_with_authlib import REDIRECT_URI, browse_to_callback
from tests.flows.test_oidc_with_authlib import app_overrides, live_idp  # noqa: F401 (fixtures)

VERIFIER = "v" * 20 + "-verifier-" + "x" * 30


@pytest.fixture
def metadata(live_idp):  # noqa: F811
    return requests.get(f"{live_idp}/.well-known/openid-configuration", timeout=10).json()


@pytest.fixture
def signed_in(live_idp, rps, people, identities, metadata):  # noqa: F811
    """A browser signed in at the IdP, Authlib's session for the portal, and the portal's tokens."""
    made = identities.make(people["citizen"])
    rp = rps.register(redirect_uris=[REDIRECT_URI])
    oauth = OAuth2Session(rp.client_id, rp.secret, scope="openid profile email", redirect_uri=REDIRECT_URI,
                          code_challenge_method="S256", token_endpoint_auth_method="client_secret_basic",
                          revocation_endpoint_auth_method="client_secret_basic")
    browser = requests.Session()
    url, state = oauth.create_authorization_url(metadata["authorization_endpoint"], code_verifier=VERIFIER,
                                                nonce="n-1")
    callback = browse_to_callback(browser, url, made)
    token = oauth.fetch_token(metadata["token_endpoint"], authorization_response=callback, code_verifier=VERIFIER,
                              state=state)
    return browser, oauth, token, rp


def resource_server(rps):
    rs = rps.register(name="API gateway", introspection=True, redirect_uris=["https://api.example.gov.sa/cb"])
    return OAuth2Session(rs.client_id, rs.secret, token_endpoint_auth_method="client_secret_basic")


def test_id_token_hint_with_prompt_none_gives_a_code(signed_in, metadata):
    browser, oauth, token, _ = signed_in
    url, state = oauth.create_authorization_url(metadata["authorization_endpoint"], code_verifier=VERIFIER,
                                                prompt="none", id_token_hint=token["id_token"])
    answer = browser.get(url, allow_redirects=False, timeout=10)
    assert answer.status_code == 303
    query = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert query["code"] and query["state"] == [state]


def test_an_invalid_hint_is_an_error_at_the_redirect_uri(signed_in, metadata):
    browser, oauth, token, _ = signed_in
    url, _ = oauth.create_authorization_url(metadata["authorization_endpoint"], code_verifier=VERIFIER,
                                            prompt="none", id_token_hint=token["id_token"][:-4] + "AAAA")
    answer = browser.get(url, allow_redirects=False, timeout=10)
    assert answer.status_code == 303 and answer.headers["Location"].startswith(REDIRECT_URI)
    assert parse_qs(urlsplit(answer.headers["Location"]).query)["error"] == ["invalid_request"]


def test_userinfo_with_the_token_in_the_body(signed_in, metadata):
    _, oauth, token, _ = signed_in
    body = OAuth2Session(token=token, token_placement="body")
    # RFC 6750 §2.2 requires the form content type; Authlib leaves it to the caller for an empty body
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    info = body.post(metadata["userinfo_endpoint"], data={}, headers=form).json()
    without_type = body.post(metadata["userinfo_endpoint"], data={})
    assert without_type.status_code == 401  # not a form body: no token was presented
    keys = KeySet.import_key_set(requests.get(metadata["jwks_uri"], timeout=10).json())
    assert info["sub"] == jwt.decode(token["id_token"], keys).claims["sub"]
    refused = OAuth2Session(token=token, token_placement="uri").get(metadata["userinfo_endpoint"])
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_request"


def test_revoking_the_refresh_token_ends_the_family(signed_in, metadata, rps):
    _, oauth, token, _ = signed_in
    introspector = resource_server(rps)
    assert introspector.introspect_token(metadata["introspection_endpoint"],
                                         token=token["refresh_token"]).json()["active"] is True
    revoked = oauth.revoke_token(metadata["revocation_endpoint"], token=token["refresh_token"],
                                 token_type_hint="refresh_token")
    assert revoked.status_code == 200
    with pytest.raises(Exception, match="invalid_grant"):
        oauth.refresh_token(metadata["token_endpoint"], refresh_token=token["refresh_token"])
    assert oauth.get(metadata["userinfo_endpoint"]).status_code == 401  # its access token went with it
    for value in (token["refresh_token"], token["access_token"]):
        assert introspector.introspect_token(metadata["introspection_endpoint"], token=value).json() == \
            {"active": False}
    assert oauth.revoke_token(metadata["revocation_endpoint"], token="never-issued").status_code == 200


def test_introspection_answers_resource_servers_only(signed_in, metadata, rps):
    _, oauth, token, rp = signed_in
    answer = resource_server(rps).introspect_token(metadata["introspection_endpoint"], token=token["access_token"])
    claims = answer.json()
    assert claims["active"] is True and claims["client_id"] == rp.client_id and claims["token_type"] == "Bearer"
    assert claims["iss"] == metadata["issuer"] and "openid" in claims["scope"].split()
    refused = oauth.introspect_token(metadata["introspection_endpoint"], token=token["access_token"])
    assert refused.status_code == 403 and refused.json()["error"] == "unauthorized_client"
