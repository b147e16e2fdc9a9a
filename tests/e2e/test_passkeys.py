"""Journey (p), in Arabic: a citizen adds a passkey from the account page (Chromium's virtual
authenticator through the DevTools protocol: CTAP2, internal transport, resident keys, user
verification), signs out, signs in with the passkey alone (through autofill, then the button), and a portal asking
acr_values=urn:idp:loa:3 gets an ID token with acr LoA 3 and the passkey's amr.

The IdP serves at http://localhost:PORT here, not 127.0.0.1 as the other journeys do: a WebAuthn
RP ID is a host name, never an IP address; Chromium treats http://localhost as a secure context."""
from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.e2e.conftest import CAPTCHA_ANSWER, Authenticator, expect, expect_page, sign_in_at_idp
from tests.live import free_port


@pytest.fixture
def idp_url():
    return f"http://localhost:{free_port()}"


@pytest.fixture
def app_overrides(idp_url):
    return {"issuer": idp_url, "TEST_CAPTCHA_ANSWER": CAPTCHA_ANSWER}


def virtual_authenticator(context, page) -> None:
    """A platform authenticator that holds discoverable credentials and verifies its user."""
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True, "hasUserVerification": True,
        "isUserVerified": True, "automaticPresenceSimulation": True}})


def sign_out(page, live_idp) -> None:
    page.goto(live_idp + "/logout")
    page.get_by_role("button", name="تسجيل الخروج", exact=True).click()
    expect_page(page, "تم تسجيل الخروج")


def test_a_citizen_adds_a_passkey_and_signs_in_with_it_alone(
        browser_context, page, live_idp, rps, people, identities, screenshots):
    shot = screenshots.journey("p")
    citizen = identities.make(people["citizen"])
    virtual_authenticator(browser_context, page)

    page.goto(live_idp + "/login")
    sign_in_at_idp(page, citizen.username, citizen.password, Authenticator(citizen.secret), shot=shot)
    expect_page(page, "حسابي")
    page.get_by_role("link", name="إدارة مفاتيح المرور").click()
    expect_page(page, "مفاتيح المرور")
    page.locator("[data-passkey-name]").fill("حاسوبي")
    page.get_by_role("button", name="أضف مفتاح مرور").click()
    expect(page.locator("ul.passkeys")).to_contain_text("حاسوبي")
    shot(page, "passkey-added")

    sign_out(page, live_idp)

    # Autofill (conditional mediation): the login page asks for a passkey as it loads; a person
    # picks it in the username field's suggestions, the virtual authenticator answers at once.
    page.goto(live_idp + "/login")
    expect_page(page, "حسابي")
    shot(page, "signed-in-by-autofill")
    sign_out(page, live_idp)

    # The button: the passkey alone, no username, no password.
    page.goto(live_idp + "/login/passkey")
    expect_page(page, "الدخول بمفتاح مرور")
    shot(page, "passkey-page")
    page.get_by_role("button", name="الدخول بمفتاح مرور").click()
    expect_page(page, "حسابي")
    shot(page, "signed-in-with-passkey")

    # A portal asking for LoA 3: the passkey session answers it; the ID token says so.
    redirect_uri = f"http://127.0.0.1:{free_port()}/callback"
    client = rps.register(redirect_uris=[redirect_uri])
    params, verifier = rps.authorize_params(client, acr_values="urn:idp:loa:3")
    page.route(redirect_uri + "*", lambda route: route.fulfill(body="portal", content_type="text/plain"))
    page.goto(live_idp + "/oidc/authorize?" + urlencode(params))
    page.locator('button[name="decision"][value="allow"]').click()
    page.wait_for_url(redirect_uri + "*")
    answer = {k: v[0] for k, v in parse_qs(urlsplit(page.url).query).items()}
    assert answer["state"] == params["state"]
    basic = base64.b64encode(f"{client.client_id}:{client.secret}".encode()).decode()
    tokens = requests.post(live_idp + "/oidc/token", headers={"Authorization": f"Basic {basic}"}, timeout=10, data={
        "grant_type": "authorization_code", "code": answer["code"], "code_verifier": verifier,
        "redirect_uri": redirect_uri}).json()
    keys = KeySet.import_key_set(requests.get(live_idp + "/oidc/jwks", timeout=10).json())
    claims = jwt.decode(tokens["id_token"], keys).claims
    assert claims["acr"] == "urn:idp:loa:3"
    assert "user" in claims["amr"] and {"hwk", "swk"} & set(claims["amr"]) and "pwd" not in claims["amr"]


def test_an_identity_without_a_second_factor_makes_a_passkey_at_sign_in(
        browser_context, page, live_idp, people, identities, screenshots):
    """Made before registration asked for a second factor: right after the password, the citizen
    chooses a passkey, makes it, and is signed in; the next password sign-in asks for it."""
    shot = screenshots.journey("p2")
    citizen = identities.make(people["citizen"], totp=False)
    virtual_authenticator(browser_context, page)
    page.goto(live_idp + "/login?next=/account")
    sign_in_at_idp(page, citizen.username, citizen.password)
    expect_page(page, "احمِ هويتك بخطوة ثانية")
    shot(page, "second-factor-choice")
    page.locator("[data-passkey-name]").fill("هاتفي")
    page.get_by_role("button", name="إنشاء مفتاح مرور").click()
    expect_page(page, "حسابي")
    shot(page, "signed-in-after-making-a-passkey")
    page.get_by_role("link", name="إدارة مفاتيح المرور").click()
    expect(page.locator("ul.passkeys")).to_contain_text("هاتفي")
    sign_out(page, live_idp)
    page.context.clear_cookies()
    page.goto(live_idp + "/login/passkey")
    expect_page(page, "الدخول بمفتاح مرور")
    page.get_by_role("button", name="الدخول بمفتاح مرور").click()
    expect_page(page, "حسابي")
