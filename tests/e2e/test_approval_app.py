"""Journey (q), in Arabic: the approval app (issue 14). Context A is the citizen's computer,
context B the phone, with its own virtual authenticator (CTAP2, internal transport, resident keys,
user verification). The citizen enrols the app from the account page by opening the QR code's link
on the phone; then a portal asking for LoA 3 is answered through "Sign in with the app": A shows a
two-digit number, B shows three, the citizen taps the one A shows and confirms with the phone's
passkey, and the ID token says LoA 3. A wrong number refuses the request; an expired one ends.

As in test_passkeys.py the IdP serves at http://localhost:PORT: a WebAuthn RP ID is a host name."""
from __future__ import annotations

import base64
import datetime as dt
import re
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import update

from idp.models import Approval
from tests.e2e.conftest import CAPTCHA_ANSWER, TIMEOUT_MS, Authenticator, expect, expect_page, sign_in_at_idp
from tests.e2e.test_passkeys import sign_out, virtual_authenticator
from tests.live import free_port


@pytest.fixture
def idp_url():
    return f"http://localhost:{free_port()}"


@pytest.fixture
def app_overrides(idp_url):
    return {"issuer": idp_url, "TEST_CAPTCHA_ANSWER": CAPTCHA_ANSWER}


@pytest.fixture
def phone(chromium):
    """Context B: the citizen's phone, a narrow Arabic browser with its own authenticator."""
    context = chromium.new_context(locale="ar-SA", viewport={"width": 400, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    virtual_authenticator(context, page)
    yield page
    context.close()


def enrol_the_phone(page, phone, live_idp, citizen, shot):
    page.goto(live_idp + "/login")
    sign_in_at_idp(page, citizen.username, citizen.password, Authenticator(citizen.secret))
    expect_page(page, "حسابي")
    page.get_by_role("link", name="إدارة التطبيق").click()
    expect_page(page, "تطبيق النفاذ الوطني")
    page.get_by_role("button", name="اعرض رمز التسجيل").click()
    expect(page.locator(".qr svg")).to_be_visible()
    shot(page, "enrolment-qr")
    link = page.locator("[data-enrolment-link]").get_attribute("href")
    assert link.startswith(live_idp + "/app/enrol/")

    phone.goto(link)  # what the phone's camera opens
    expect_page(phone, "سجّل هذا الجوال")
    phone.locator("[data-device-name]").fill("جوالي الشخصي")
    shot(phone, "phone-enrol")
    phone.get_by_role("button", name="سجّل هذا الجوال").click()
    expect_page(phone, "الموافقة على الدخول")
    expect(phone.get_by_text("لا يوجد دخول بانتظار موافقتك.")).to_be_visible()
    shot(phone, "phone-enrolled")

    page.reload()
    expect(page.locator("ul.devices")).to_contain_text("جوالي الشخصي")
    sign_out(page, live_idp)


def ask_the_app(page, national_id, shot=None) -> str:
    """From the IdP's sign-in page: "Sign in with the app", the national ID; the number shown."""
    page.get_by_role("link", name="الدخول عبر التطبيق").click()
    expect_page(page, "الدخول عبر التطبيق")
    page.locator('[name="username"]').fill(national_id)
    page.get_by_role("button", name="أرسل طلباً إلى تطبيقي").click()
    expect_page(page, "وافق من التطبيق")
    number = page.locator("[data-binding-number]").inner_text().strip()
    assert re.fullmatch(r"[1-9]\d", number), number
    if shot:
        shot(page, "number-shown")
    return number


def choices_on(phone) -> list[str]:
    expect(phone.get_by_text("هل أنت من يحاول الدخول؟")).to_be_visible()
    buttons = phone.locator("[data-choices] button")
    expect(buttons).to_have_count(3)
    return [b.strip() for b in buttons.all_inner_texts()]


def test_the_app_approves_a_loa3_sign_in_by_number_matching(
        browser_context, page, phone, live_idp, rps, people, identities, screenshots, db):
    shot = screenshots.journey("q")
    citizen = identities.make(people["citizen"])
    national_id = citizen.identity.national_id
    enrol_the_phone(page, phone, live_idp, citizen, shot)

    # A portal asks for LoA 3; the citizen, not signed in, picks "Sign in with the app".
    redirect_uri = f"http://127.0.0.1:{free_port()}/callback"
    client = rps.register(name="مسار", redirect_uris=[redirect_uri])
    params, verifier = rps.authorize_params(client, acr_values="urn:idp:loa:3")
    page.route(redirect_uri + "*", lambda route: route.fulfill(body="portal", content_type="text/plain"))
    page.goto(live_idp + "/oidc/authorize?" + urlencode(params))
    expect_page(page, "تسجيل الدخول")
    number = ask_the_app(page, national_id, shot)

    choices = choices_on(phone)
    assert number in choices and len(set(choices)) == 3
    expect(phone.locator('[data-field="portal"]')).to_have_text("مسار")
    expect(phone.locator('[data-field="place"]')).to_have_text("غير معروف")
    shot(phone, "phone-three-numbers")
    phone.get_by_role("button", name=number, exact=True).click()
    expect(phone.get_by_text("تمت الموافقة. عُد إلى صفحة الدخول: ستكمل تلقائياً.")).to_be_visible()
    shot(phone, "phone-approved")

    # A's page learns of the approval by itself and continues to the portal's consent.
    expect_page(page, "مشاركة بياناتك؟")
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
    assert claims["amr"] == ["hwk", "user", "mfa"]  # the phone's key, its user verified; no password

    # A wrong number: the request is refused on both screens.
    sign_out(page, live_idp)
    page.goto(live_idp + "/login")
    number = ask_the_app(page, national_id)
    wrong = next(c for c in choices_on(phone) if c != number)
    phone.get_by_role("button", name=wrong, exact=True).click()
    expect(phone.get_by_text("ليس هذا الرقم المعروض. رُفض الطلب حفاظاً على أمانك.")).to_be_visible()
    shot(phone, "phone-wrong-number")
    expect_page(page, "رُفض الدخول")
    shot(page, "refused")

    # A request nobody answers: once its time is up, the page says so and the phone shows nothing.
    page.get_by_role("link", name="حاول مرة أخرى").click()
    page.locator('[name="username"]').fill(national_id)
    page.get_by_role("button", name="أرسل طلباً إلى تطبيقي").click()
    expect_page(page, "وافق من التطبيق")
    choices_on(phone)
    db.execute(update(Approval).where(Approval.status == "pending")
               .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    db.commit()  # two minutes later, without waiting two minutes
    expect_page(page, "انتهت صلاحية الطلب")
    expect(phone.get_by_text("لا يوجد دخول بانتظار موافقتك.")).to_be_visible()
    shot(page, "expired")
