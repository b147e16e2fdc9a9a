"""The authorization endpoint: checks, errors, sign-in, assurance levels, consent (OIDC Core 1.0 §3.1.2)."""
from urllib.parse import urlencode

import pyotp
import pytest
from sqlalchemy import select

from idp.models import Consent


def get(web, params):
    return web.get("/oidc/authorize?" + urlencode(params))


@pytest.mark.parametrize("change", [
    {"client_id": "no-such-client"},
    {"redirect_uri": "https://evil.example/callback"},
    {"redirect_uri": "https://masar.example.gov.sa/callback/extra"},   # not an exact match
    {"redirect_uri": None},
    {"state": "x" * 3000},                                              # oversized parameter
])
def test_untrusted_requests_get_our_own_error_page(web, rps, change):
    client = rps.register()
    params, _ = rps.authorize_params(client)
    params.update(change)
    response = get(web, {k: v for k, v in params.items() if v is not None})
    assert response.status_code == 400 and "Location" not in response.headers


def test_repeated_parameter_is_refused(web, rps):
    client = rps.register()
    params, _ = rps.authorize_params(client)
    response = web.get("/oidc/authorize?" + urlencode(params) + "&scope=openid")
    assert response.status_code == 400


@pytest.mark.parametrize("change,error", [
    ({"response_type": "token"}, "unsupported_response_type"),
    ({"response_type": "id_token"}, "unsupported_response_type"),
    ({"response_type": "code id_token"}, "unsupported_response_type"),
    ({"code_challenge": None}, "invalid_request"),
    ({"code_challenge_method": "plain"}, "invalid_request"),
    ({"code_challenge_method": None}, "invalid_request"),
    ({"code_challenge": "too-short"}, "invalid_request"),
    ({"scope": "profile email"}, "invalid_scope"),
    ({"request": "eyJhbGciOiJub25lIn0.e30."}, "request_not_supported"),
    ({"request_uri": "https://masar.example.gov.sa/req"}, "request_uri_not_supported"),
    ({"prompt": "none login"}, "invalid_request"),
    ({"prompt": "select_account"}, "invalid_request"),
    ({"max_age": "soon"}, "invalid_request"),
    ({"response_mode": "fragment"}, "invalid_request"),
])
def test_bad_requests_are_answered_at_the_redirect_uri(web, rps, change, error):
    client = rps.register()
    params, _ = rps.authorize_params(client)
    params.update(change)
    response = get(web, {k: v for k, v in params.items() if v is not None})
    assert response.status_code == 303
    answer = rps.query(response.location)
    assert response.location.startswith(client.redirect_uri)
    assert answer["error"] == error and answer["state"] == params["state"]
    assert answer["iss"] == "http://127.0.0.1:5000"  # RFC 9207


def test_prompt_none_without_a_session(web, rps):
    client = rps.register()
    params, _ = rps.authorize_params(client, prompt="none")
    answer = rps.query(get(web, params).location)
    assert answer["error"] == "login_required"


def test_sign_in_is_asked_then_consent_then_code(web, rps, people, identities, db):
    made = identities.make(people["citizen"])
    client = rps.register()
    params, _ = rps.authorize_params(client, login_hint="citizen.one")
    response = get(web, params)
    assert "/login" in response.location and "login_hint=citizen.one" in response.location
    assert 'value="citizen.one"' in web.get(response.location).get_data(as_text=True)
    response = web.login(made.username, made.password, next_url=rps.query(response.location)["next"])
    page = web.get(response.location).get_data(as_text=True)
    assert "Masar" in page and 'name="decision"' in page
    code, _, _ = rps.sign_in_and_authorize(web, client, made)
    assert code
    assert db.scalar(select(Consent).where(Consent.identity_id == made.identity.id)).scopes == \
        ["email", "openid", "profile"]


def test_consent_is_remembered_until_scopes_grow(web, rps, people, identities):
    made = identities.make(people["citizen"])
    client = rps.register()
    rps.sign_in_and_authorize(web, client, made)
    params, _ = rps.authorize_params(client)
    assert get(web, params).status_code == 303                      # no page: straight back with a code
    params, _ = rps.authorize_params(client, scope="openid profile email phone")
    assert get(web, params).status_code == 200                      # a new scope: asked again
    params, _ = rps.authorize_params(client, prompt="consent")
    assert get(web, params).status_code == 200


def test_prompt_none_without_consent(web, rps, people, identities):
    made = identities.make(people["citizen"])
    client = rps.register()
    web.login(made.username, made.password)
    params, _ = rps.authorize_params(client, prompt="none")
    assert rps.query(get(web, params).location)["error"] == "consent_required"


def test_denying_consent(web, rps, people, identities):
    import re

    from tests.conftest import csrf_token
    made = identities.make(people["citizen"])
    client = rps.register()
    web.login(made.username, made.password)
    params, _ = rps.authorize_params(client)
    page = get(web, params).get_data(as_text=True)
    action = re.search(r'action="(/oidc/consent/[^"]+)"', page).group(1)
    response = web.client.post(action, data={"csrf_token": csrf_token(page), "decision": "deny"})
    answer = rps.query(response.location)
    assert answer["error"] == "access_denied" and answer["state"] == params["state"]


def test_prompt_login_forces_a_fresh_sign_in(web, rps, people, identities):
    made = identities.make(people["citizen"])
    client = rps.register()
    rps.sign_in_and_authorize(web, client, made)
    params, _ = rps.authorize_params(client, prompt="login")
    response = get(web, params)
    assert "/login" in response.location
    response = web.login(made.username, made.password, next_url=rps.query(response.location)["next"])
    assert web.get(response.location).status_code == 303


def test_max_age_forces_a_fresh_sign_in(web, rps, people, identities):
    made = identities.make(people["citizen"])
    client = rps.register()
    rps.sign_in_and_authorize(web, client, made)
    with web.client.session_transaction() as session:
        session["auth_time"] -= 120
    params, _ = rps.authorize_params(client, max_age="60")
    assert "/login" in get(web, params).location
    params, _ = rps.authorize_params(client, max_age="600")
    assert get(web, params).status_code == 303


def test_loa2_requested_leads_to_enrolment_without_totp(web, rps, people, identities):
    made = identities.make(people["citizen"])
    client = rps.register()
    web.login(made.username, made.password)
    params, _ = rps.authorize_params(client, acr_values="urn:idp:loa:2")
    response = get(web, params)
    assert "/account/two-step" in response.location


def test_loa2_asks_the_second_factor_and_lands_in_the_id_token(web, client, rps, people, identities):
    from joserfc import jwt
    from joserfc.jwk import KeySet
    made = identities.make(people["citizen"], totp=True)
    rp = rps.register(require_loa2=True)
    code, verifier, _ = rps.sign_in_and_authorize(web, rp, made)
    tokens = rps.exchange(client, rp, code, verifier).json
    claims = jwt.decode(tokens["id_token"], KeySet.import_key_set(client.get("/oidc/jwks").json)).claims
    assert claims["acr"] == "urn:idp:loa:2" and claims["amr"] == ["pwd", "otp"]


def test_step_up_from_loa1_session(web, rps, people, identities):
    made = identities.make(people["citizen"], totp=True)
    client = rps.register()
    web.login(made.username, made.password, otp=pyotp.TOTP(made.secret).now())
    with web.client.session_transaction() as session:
        session["acr"] = "urn:idp:loa:1"
    params, _ = rps.authorize_params(client, acr_values="urn:idp:loa:2")
    assert get(web, params).location.endswith("/login/verify")


def test_national_id_scope_only_for_allowed_clients(web, client, rps, people, identities):
    made = identities.make(people["citizen"])
    plain = rps.register(name="Plain portal")
    code, verifier, _ = rps.sign_in_and_authorize(web, plain, made, scope="openid national_id")
    token = rps.exchange(client, plain, code, verifier).json["access_token"]
    info = client.get("/oidc/userinfo", headers={"Authorization": f"Bearer {token}"}).json
    assert "national_id" not in info and "nationality" not in info


def test_ui_locales_picks_the_language(web, rps):
    client = rps.register()
    params, _ = rps.authorize_params(client, ui_locales="en-US ar")
    response = get(web, params)
    html = web.get(response.location).get_data(as_text=True)
    assert '<html lang="en" dir="ltr">' in html


def _consent_action(page):
    import re
    return re.search(r'action="(/oidc/consent/[^"]+)"', page).group(1)


def test_consent_post_cannot_skip_the_second_factor(web, rps, people, identities):
    """A password-only session must not get a code for a LoA 2 client by posting consent directly."""
    from tests.conftest import csrf_token
    made = identities.make(people["citizen"])
    client = rps.register()
    web.login(made.username, made.password)
    params, _ = rps.authorize_params(client)
    page = get(web, params).get_data(as_text=True)           # a consent page for a LoA 1 request
    pending = _consent_action(page)
    params2, _ = rps.authorize_params(client, acr_values="urn:idp:loa:2")
    response = get(web, params2)
    assert "/account/two-step" in response.location
    pending2 = response.location.split("next=")[1].replace("%2F", "/").split("/continue/")[1]
    response = web.client.post(f"/oidc/consent/{pending2}", data={"csrf_token": csrf_token(page),
                                                                  "decision": "allow"})
    assert response.status_code == 302 and "/account/two-step" in response.location
    assert pending  # the LoA 1 request itself stays answerable


def test_consent_post_cannot_skip_a_fresh_sign_in(web, rps, people, identities):
    from tests.conftest import csrf_token
    made = identities.make(people["citizen"])
    client = rps.register()
    web.login(made.username, made.password)
    with web.client.session_transaction() as session:
        session["auth_time"] -= 600
    params, _ = rps.authorize_params(client, max_age="60")
    response = get(web, params)
    assert "/login" in response.location
    pending = response.location.split("next=")[1].replace("%2F", "/").split("/continue/")[1].split("&")[0]
    page = web.get("/login").get_data(as_text=True)
    response = web.client.post(f"/oidc/consent/{pending}", data={"csrf_token": csrf_token(page),
                                                                 "decision": "allow"})
    assert response.status_code == 302 and "/login" in response.location
