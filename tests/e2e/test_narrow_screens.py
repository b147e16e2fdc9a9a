"""Every main page at 320 CSS px (WCAG 2.2 SC 1.4.10 Reflow, issue 12 Deliver 4), in Arabic and
English, for the IdP, Masar and the SAML portal: the document is never wider than the window
(`document.documentElement.scrollWidth <= innerWidth`, measured in Chromium). Screenshots of every
page measured are saved (see `screenshots`)."""
from __future__ import annotations

import re

import pyotp
import pytest

from tests.e2e.conftest import (Authenticator, TIMEOUT_MS, complete_masar_profile, consent, expect, expect_page,
                                field, sign_in_at_idp, submit)

WIDTH = 320
SSO_LINK = {"ar": "الدخول عبر النفاذ الوطني الموحد", "en": "Sign in through National SSO"}


@pytest.fixture
def phone(chromium):
    """A 320 px wide browser (a small phone, or a desktop window zoomed to 400 %)."""
    context = chromium.new_context(locale="ar-SA", viewport={"width": WIDTH, "height": 640})
    context.set_default_timeout(TIMEOUT_MS)
    yield context.new_page()
    context.close()


def fits(page, shot, name: str) -> None:
    """No horizontal scrolling on this page: measured, and a screenshot saved."""
    page.wait_for_load_state("load")
    shot(page, name)
    scroll_width, inner_width = page.evaluate(
        "() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert inner_width == WIDTH
    assert scroll_width <= inner_width, f"{name} ({page.url}) is {scroll_width} px wide at {inner_width} px"


def switch_idp_language(page, idp, lang: str) -> None:
    page.goto(f"{idp}/lang/{lang}?next=/login")
    expect(page.locator("html")).to_have_attribute("lang", lang)


@pytest.mark.parametrize("lang", ["ar", "en"])
def test_idp_pages_fit_320_px(phone, live_idp, people, identities, screenshots, lang):
    shot = screenshots.journey(f"narrow-idp-{lang}")
    switch_idp_language(phone, live_idp, lang)
    for path in ("/login", "/register", "/recover"):
        phone.goto(live_idp + path)
        fits(phone, shot, path.strip("/"))
    phone.goto(live_idp + "/register")
    submit(phone, "national_id")  # every field empty: the error summary and each field's message
    expect(phone.locator("[data-error-summary]")).to_be_focused()
    fits(phone, shot, "register-errors")

    # An identity made before registration asked for a second factor: it sets one up at sign-in.
    citizen = identities.make(people["citizen"], totp=False)
    phone.goto(live_idp + "/login?next=/account")
    sign_in_at_idp(phone, citizen.username, citizen.password, lang=lang)
    set_up_app = phone.locator('a[href$="/two-step/set-up/app"]')
    expect(set_up_app).to_be_visible()
    fits(phone, shot, "second-factor-choice")
    set_up_app.click()
    key = phone.locator("code.secret")
    expect(key).to_be_visible()
    assert re.fullmatch(r"[A-Z2-7]{4}( [A-Z2-7]{1,4})+", key.inner_text()), key.inner_text()  # groups of four
    assert phone.locator('a[href^="otpauth://totp/"]').count() == 1
    fits(phone, shot, "two-step")
    field(phone, "otp").fill(pyotp.TOTP(key.inner_text().replace(" ", "")).now())
    submit(phone, "otp")
    codes = phone.locator(".codes code")
    expect(codes.first).to_be_visible()
    for i in range(codes.count()):  # one line each: never wrapped mid-code
        box = codes.nth(i).bounding_box()
        assert box["height"] < 2 * float(codes.nth(i).evaluate("e => parseFloat(getComputedStyle(e).lineHeight) || 24"))
    fits(phone, shot, "recovery-codes")
    phone.locator("main a.button").click()  # "I have saved them": on to the account page, signed in
    expect(phone.locator("section").first).to_be_visible()
    fits(phone, shot, "account")


@pytest.mark.parametrize("lang", ["ar", "en"])
def test_portal_pages_fit_320_px(phone, live_idp, masar, saml_portal, people, identities, screenshots, lang):
    shot = screenshots.journey(f"narrow-portals-{lang}")
    person = people["citizen"]
    citizen = identities.make(person, totp=True)

    phone.goto(masar.url + "/")
    if lang == "en":
        phone.get_by_role("link", name="English").click()
    expect(phone.locator("html")).to_have_attribute("lang", lang)
    fits(phone, shot, "masar-home")
    phone.get_by_role("link", name=SSO_LINK[lang]).click()
    expect(phone.locator('[name="password"]')).to_be_visible()
    fits(phone, shot, "idp-sign-in")
    sign_in_at_idp(phone, citizen.username, citizen.password, Authenticator(citizen.secret), lang=lang)
    expect(phone.locator('button[name="decision"][value="allow"]')).to_be_visible()
    fits(phone, shot, "idp-consent")
    consent(phone, lang=lang)
    expect(phone.locator('input[name="health"]').first).to_be_visible()
    fits(phone, shot, "masar-profile-form")
    complete_masar_profile(phone, health="chronic", disability="none")
    expect(phone.get_by_role("status")).to_be_visible()
    fits(phone, shot, "masar-profile")

    phone.goto(saml_portal.url + "/")
    if lang == "en":
        phone.get_by_role("link", name="English").click()
    expect(phone.locator("html")).to_have_attribute("lang", lang)
    fits(phone, shot, "saml-home")
    phone.get_by_role("link", name=SSO_LINK[lang]).click()
    expect(phone.locator("ul.claims")).to_be_visible()  # the first time: what the portal will receive
    fits(phone, shot, "idp-saml-release")
    phone.locator('button[name="decision"][value="allow"]').click()
    expect(phone.locator("table.attributes")).to_be_visible()
    fits(phone, shot, "saml-attributes")
