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


def password_only_session(web, db, made) -> None:
    """A session signed in with the password alone, of an identity without a second factor: as
    kept from before every identity had one (new sign-ins set one up first, idp.web.enrolment)."""
    from idp.identity import mfa
    from idp.models import Identity

    web.login(made.username, made.password)
    with web.client.session_transaction() as session:
        session.update(acr="urn:idp:loa:1", amr=["pwd"])
    mfa.disable_totp(db, db.get(Identity, made.identity.id))
    db.commit()


def test_loa2_requested_leads_to_enrolment_without_totp(web, rps, people, identities, db):
    made = identities.make(people["citizen"])
    client = rps.register()
    password_only_session(web, db, made)
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


def test_consent_post_cannot_skip_the_second_factor(web, rps, people, identities, db):
    """A password-only session must not get a code for a LoA 2 client by posting consent directly."""
    from tests.conftest import csrf_token
    made = identities.make(people["citizen"])
    client = rps.register()
    password_only_session(web, db, made)
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


# --- issue 15 (8) and issue 11: claims, PKCE, id_token_hint, and no 500 for any parameter -------

def test_the_claims_parameter_is_refused(web, rps):
    """Discovery says claims_parameter_supported=false: refused, not silently dropped."""
    client = rps.register()
    params, _ = rps.authorize_params(client, claims='{"id_token": {"email": {"essential": true}}}')
    answer = rps.query(get(web, params).location)
    assert answer["error"] == "invalid_request" and "claims" in answer["error_description"]


def test_a_code_challenge_with_a_trailing_newline_is_refused(web, rps):
    client = rps.register()
    params, _ = rps.authorize_params(client)
    params["code_challenge"] += "\n"
    answer = rps.query(get(web, params).location)
    assert answer["error"] == "invalid_request" and "code_challenge" in answer["error_description"]


def _signed_in_with_id_token(app, rps, identities, person, username, rp):
    from tests.conftest import Web
    made = identities.make(person, username=username)
    browser = Web(app.test_client())
    code, verifier, _ = rps.sign_in_and_authorize(browser, rp, made)
    return browser, rps.exchange(browser.client, rp, code, verifier).json["id_token"]


@pytest.mark.parametrize("hint", ["garbage", "a.b.c", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", "x" * 2000])
@pytest.mark.parametrize("signed_in", [False, True])
def test_an_invalid_id_token_hint_is_an_oauth_error(app, web, rps, people, identities, hint, signed_in):
    """OIDC Core §3.1.2.1 (issue 11): never a 500; an error at the registered redirect_uri."""
    rp = rps.register()
    if signed_in:
        web, _ = _signed_in_with_id_token(app, rps, identities, people["citizen"], "citizen.one", rp)
    params, _ = rps.authorize_params(rp, id_token_hint=hint)
    response = get(web, params)
    assert response.status_code == 303 and response.location.startswith(rp.redirect_uri)
    answer = rps.query(response.location)
    assert answer["error"] == "invalid_request" and answer["state"] == params["state"]


def test_a_hint_for_the_signed_in_citizen_with_prompt_none_gives_a_code(app, rps, people, identities):
    rp = rps.register()
    browser, id_token = _signed_in_with_id_token(app, rps, identities, people["citizen"], "citizen.one", rp)
    params, _ = rps.authorize_params(rp, prompt="none", id_token_hint=id_token)
    answer = rps.query(get(browser, params).location)
    assert answer.get("code") and answer["state"] == params["state"], answer


def test_a_hint_issued_to_another_client_is_refused(app, rps, people, identities):
    rp, other = rps.register(), rps.register(name="Other portal")
    browser, id_token = _signed_in_with_id_token(app, rps, identities, people["citizen"], "citizen.one", other)
    params, _ = rps.authorize_params(rp, id_token_hint=id_token)
    assert rps.query(get(browser, params).location)["error"] == "invalid_request"


def test_a_hint_for_someone_else_is_never_answered_silently(app, rps, people, identities):
    """The RP expects citizen one; citizen two is signed in here: login_required with prompt=none,
    else a fresh sign-in (OIDC Core §3.1.2.2)."""
    rp = rps.register()
    _, id_token = _signed_in_with_id_token(app, rps, identities, people["citizen"], "citizen.one", rp)
    browser, _ = _signed_in_with_id_token(app, rps, identities, people["citizen2"], "citizen.two", rp)
    params, _ = rps.authorize_params(rp, prompt="none", id_token_hint=id_token)
    assert rps.query(get(browser, params).location)["error"] == "login_required"
    params, _ = rps.authorize_params(rp, id_token_hint=id_token)
    response = get(browser, params)
    assert response.status_code == 302 and "/login" in response.location


ODD_VALUES = ["", " ", "x" * 3000, "مرحبا ✓ 𝔘", "\x00\x01\x7f", "a\r\nLocation: https://evil.example",
              "[1, 2]", '{"a": 1}', "-1", "1e400", "true", "%00", "openid\x00profile"]
AUTHORIZATION_PARAMETERS = [  # OIDC Core 1.0 §3.1.2.1, §5.5, §6, RFC 7636 §4.3, OAuth 2.0 Multiple Response Types
    "scope", "response_type", "client_id", "redirect_uri", "state", "response_mode", "nonce", "display",
    "prompt", "max_age", "ui_locales", "id_token_hint", "login_hint", "acr_values", "claims_locales",
    "claims", "request", "request_uri", "registration", "code_challenge", "code_challenge_method"]


def test_no_parameter_value_gives_a_500(app, web, rps, people, identities):
    """Every §3.1.2.1 parameter with odd values (empty, huge, unicode, control characters, JSON,
    numbers) and sent twice: always a page or a redirect, never a server error. Signed in with
    consent given, so that each request reaches pyop and the code is issued."""
    rp = rps.register()
    browser, _ = _signed_in_with_id_token(app, rps, identities, people["citizen"], "citizen.one", rp)
    anonymous = type(web)(app.test_client())
    failures = []
    for name in AUTHORIZATION_PARAMETERS:
        for value in ODD_VALUES:
            params, _ = rps.authorize_params(rp)
            params[name] = value
            for who in (browser, anonymous):
                status = get(who, params).status_code
                if status not in (200, 302, 303, 400):
                    failures.append((name, value[:20], status))
        params, _ = rps.authorize_params(rp)
        params.setdefault(name, "x")
        repeated = urlencode(params) + "&" + urlencode({name: params[name]})
        for who in (browser, anonymous):
            status = who.get("/oidc/authorize?" + repeated).status_code
            if status != 400:
                failures.append((name, "repeated", status))
    assert failures == []
