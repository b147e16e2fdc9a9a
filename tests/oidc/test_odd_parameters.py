"""Issue 11: every endpoint that hands request parameters to pyop (token, userinfo, end-session,
revocation, introspection) answers odd values with an OAuth error or a page, never a 500."""
import base64

import pytest

from tests.oidc.test_authorization import ODD_VALUES

TOKEN_PARAMETERS = ["grant_type", "code", "redirect_uri", "code_verifier", "refresh_token", "scope", "client_id",
                    "client_secret", "client_assertion", "client_assertion_type"]
END_SESSION_PARAMETERS = ["id_token_hint", "logout_hint", "client_id", "post_logout_redirect_uri", "state",
                          "ui_locales"]
TOKEN_STATUS_PARAMETERS = ["token", "token_type_hint", "client_id", "client_secret"]


@pytest.fixture
def tokens(web, client, rps, people, identities):
    made = identities.make(people["citizen"])
    rp = rps.register(introspection=True)
    code, verifier, _ = rps.sign_in_and_authorize(web, rp, made)
    return rp, code, verifier, rps.exchange(client, rp, code, verifier).json


def basic(rp):
    return {"Authorization": "Basic " + base64.b64encode(f"{rp.client_id}:{rp.secret}".encode()).decode()}


def test_the_token_endpoint(client, tokens):
    rp, code, verifier, issued = tokens
    failures = []
    for grant in ("authorization_code", "refresh_token"):
        base = {"grant_type": grant, "code": code, "code_verifier": verifier, "redirect_uri": rp.redirect_uri,
                "refresh_token": issued["refresh_token"]}
        for name in TOKEN_PARAMETERS:
            for value in ODD_VALUES:
                for headers in (basic(rp), {}, {"Authorization": "Basic " + value}, {"Authorization": value}):
                    try:
                        response = client.post("/oidc/token", data={**base, name: value}, headers=headers)
                    except ValueError:  # werkzeug refuses to send some header values at all
                        continue
                    if response.status_code not in (200, 400, 401) or not response.is_json:
                        failures.append((grant, name, value[:20], response.status_code))
    assert failures == []


@pytest.mark.parametrize("path", ["/oidc/revoke", "/oidc/introspect"])
def test_revocation_and_introspection(client, tokens, path):
    rp, _code, _verifier, issued = tokens
    failures = []
    for name in TOKEN_STATUS_PARAMETERS:
        for value in ODD_VALUES:
            for headers in (basic(rp), {}):
                response = client.post(path, data={"token": issued["access_token"], name: value}, headers=headers)
                if response.status_code not in (200, 400, 401) or not response.is_json:
                    failures.append((name, value[:20], response.status_code))
    assert failures == []


def test_userinfo(client, tokens):
    failures = []
    for value in ODD_VALUES:
        for request in (dict(headers={"Authorization": "Bearer " + value}), dict(data={"access_token": value}),
                        dict(query_string={"access_token": value})):
            try:
                response = client.post("/oidc/userinfo", **request)
            except ValueError:
                continue
            if response.status_code not in (400, 401) or not response.is_json:
                failures.append((value[:20], response.status_code))
    assert failures == []


def test_the_end_session_endpoint(app, tokens):
    from tests.conftest import Web
    failures = []
    for name in END_SESSION_PARAMETERS:
        for value in ODD_VALUES:
            for method in ("get", "post"):
                browser = Web(app.test_client())
                response = getattr(browser.client, method)("/oidc/logout", **{
                    "query_string" if method == "get" else "data": {name: value}})
                if response.status_code not in (200, 303, 400):
                    failures.append((name, value[:20], method, response.status_code))
    assert failures == []


@pytest.mark.parametrize("verifier", ["مرحبا" * 10, "a" * 42, "a" * 129, "a" * 42 + " "])
def test_a_code_verifier_outside_rfc7636_is_invalid_grant(client, web, rps, people, identities, verifier):
    """oic hashed any verifier as ASCII and raised on anything else (a 500 before issue 11)."""
    made = identities.make(people["citizen"])
    rp = rps.register()
    code, _verifier, _ = rps.sign_in_and_authorize(web, rp, made)
    response = rps.exchange(client, rp, code, verifier)
    assert response.status_code == 400 and response.json["error"] == "invalid_grant"
