"""Journey (r), in Arabic: Masar's "Sign in with the national app" (CIBA poll mode, issue 14).
Context A is the employee's computer at Masar; context B the citizen's phone with the approval app
and its own virtual authenticator (CTAP2, internal transport, resident keys, user verification).
A types the national ID and is shown a number; B shows three and the citizen taps that one and
confirms with the phone's passkey; A's page, polling by itself, lands signed in at Masar.

The IdP serves at http://localhost:PORT (a WebAuthn RP ID is a host name, as in test_passkeys.py);
Masar at 127.0.0.1 reaches it server to server."""
from __future__ import annotations

import secrets
from types import SimpleNamespace

import pytest

from idp.approval import devices
from tests.e2e.conftest import CAPTCHA_ANSWER, TIMEOUT_MS, expect, expect_page
from tests.e2e.test_passkeys import virtual_authenticator
from tests.live import free_port, serve


@pytest.fixture
def idp_url():
    return f"http://localhost:{free_port()}"


@pytest.fixture
def app_overrides(idp_url):
    return {"issuer": idp_url, "TEST_CAPTCHA_ANSWER": CAPTCHA_ANSWER}


@pytest.fixture
def ciba_masar(live_idp, rps, tmp_path):
    """Masar registered with --ciba, as the demo registers it."""
    from relying_parties.masar.app import create_app

    url = f"http://127.0.0.1:{free_port()}"
    client = rps.register(name="منصة مسار", redirect_uris=[url + "/auth/callback"], ciba=True)
    portal = create_app({"MASAR_IDP_ISSUER": live_idp, "MASAR_CLIENT_ID": client.client_id,
                         "MASAR_CLIENT_SECRET": client.secret, "MASAR_BASE_URL": url,
                         "MASAR_DATABASE": str(tmp_path / "masar.sqlite3"),
                         "MASAR_SECRET_KEY": secrets.token_urlsafe(32)})
    stop = serve(portal, url)
    yield SimpleNamespace(url=url, client=client)
    stop()


@pytest.fixture
def phone(chromium):
    """Context B: the citizen's phone, a narrow Arabic browser with its own authenticator."""
    context = chromium.new_context(locale="ar-SA", viewport={"width": 400, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    virtual_authenticator(context, page)
    yield page
    context.close()


def enrol(phone, live_idp, db, identity):
    """What the phone's camera opens from the account page's QR code: the single-use link."""
    link = devices.enrolment_link_token(db, identity)
    db.commit()
    phone.goto(f"{live_idp}/app/enrol/{link}")
    phone.locator("[data-device-name]").fill("جوالي")
    phone.locator("[data-enrol] button").click()
    expect(phone.locator('[data-state="idle"]')).to_be_visible()


def test_masar_signs_in_with_the_national_app(page, phone, live_idp, ciba_masar, people, identities, db,
                                              screenshots):
    shot = screenshots.journey("r")
    citizen = identities.make(people["citizen"]).identity
    enrol(phone, live_idp, db, citizen)

    page.goto(ciba_masar.url + "/")
    page.get_by_role("link", name="الدخول بتطبيق النفاذ الوطني").click()
    expect_page(page, "الدخول بتطبيق النفاذ الوطني")
    page.locator('[name="national_id"]').fill(citizen.national_id)
    page.get_by_role("button", name="أرسل الطلب إلى تطبيقي").click()
    expect_page(page, "وافق في تطبيق النفاذ الوطني")
    number = page.locator("#binding-number").inner_text().strip()
    shot(page, "masar-number")

    buttons = phone.locator("[data-choices] button")
    expect(buttons).to_have_count(3)
    assert number in [b.strip() for b in buttons.all_inner_texts()]
    expect(phone.locator('[data-field="portal"]')).to_have_text("منصة مسار")
    shot(phone, "phone-three-numbers")
    phone.get_by_role("button", name=number, exact=True).click()
    expect(phone.locator("[data-status]")).to_be_visible()

    # A's page polls by itself (no button pressed) and lands on the first-visit profile form.
    page.wait_for_url(ciba_masar.url + "/profile", timeout=30_000)
    expect_page(page, "أكمل ملفك")
    shot(page, "masar-signed-in")


def test_a_wrong_number_in_the_app_ends_the_masar_sign_in(page, phone, live_idp, ciba_masar, people,
                                                          identities, db):
    citizen = identities.make(people["citizen"]).identity
    enrol(phone, live_idp, db, citizen)
    page.goto(ciba_masar.url + "/login/app")
    page.locator('[name="national_id"]').fill(citizen.national_id)
    page.get_by_role("button", name="أرسل الطلب إلى تطبيقي").click()
    number = page.locator("#binding-number").inner_text().strip()
    buttons = phone.locator("[data-choices] button")
    expect(buttons).to_have_count(3)
    wrong = next(b.strip() for b in buttons.all_inner_texts() if b.strip() != number)
    phone.get_by_role("button", name=wrong, exact=True).click()
    page.wait_for_url(ciba_masar.url + "/login/app/ended/declined", timeout=30_000)
    expect(page.locator("h1")).to_be_visible()
