"""Journey (b), in Arabic: a returning citizen with two-step verification signs in to Masar
(OpenID Connect), then to the SAML portal without typing the password again (single sign-on:
the IdP's form posts the SAML Response by itself) after a first-time notice of what it will
receive, and sees what was released; then signs out of all devices."""
from __future__ import annotations

from tests.e2e.conftest import (Authenticator, complete_masar_profile, consent, expect, expect_page,
                                sign_in_at_idp)


def test_a_citizen_signs_in_once_for_masar_and_the_saml_portal(
        page, other_device, live_idp, masar, saml_portal, people, identities, screenshots):
    shot = screenshots.journey("b")
    person = people["citizen"]
    citizen = identities.make(person, totp=True)
    authenticator = Authenticator(citizen.secret)

    # Masar, over OpenID Connect: password and a code from the authenticator app.
    page.goto(masar.url + "/")
    page.get_by_role("link", name="الدخول عبر النفاذ الوطني الموحد").click()
    sign_in_at_idp(page, citizen.username, citizen.password, authenticator, shot=shot)
    consent(page)
    complete_masar_profile(page, health="chronic", disability="none")
    expect_page(page, "ملفي")
    expect(page.locator("main")).to_contain_text(person.name_ar)
    shot(page, "masar-profile")

    # The SAML portal: straight through the IdP, which posts the signed Response on by itself.
    idp_pages = []

    def seen(frame):
        if frame == page.main_frame and frame.url.startswith(live_idp):
            idp_pages.append(frame.url.removeprefix(live_idp))
    page.on("framenavigated", seen)
    page.goto(saml_portal.url + "/")
    expect_page(page, "بوابة اختبار SAML")
    shot(page, "saml-home")
    page.get_by_role("link", name="الدخول عبر النفاذ الوطني الموحد").click()

    # The first time: what the SAML portal will receive, before it receives anything.
    expect_page(page, "مشاركة بياناتك؟")
    for label in ("الاسم بالعربية", "تاريخ الميلاد (هجري)", "البريد الإلكتروني", "رقم الجوال"):
        expect(page.locator("ul.claims")).to_contain_text(label)
    expect(page.locator("ul.claims")).not_to_contain_text("رقم الهوية")
    shot(page, "saml-release-notice")
    page.locator('button[name="decision"][value="allow"]').click()

    expect_page(page, "ما أفصح عنه النفاذ الوطني الموحد")
    assert any(url.startswith("/saml/sso/") for url in idp_pages), idp_pages  # the auto-posting form
    assert not any(url.startswith("/login") for url in idp_pages), idp_pages  # no password asked again
    attributes = page.locator("table.attributes")
    for text in (person.name_ar, person.name_en, "ذكر", person.birth_date.isoformat(), citizen.email):
        expect(attributes).to_contain_text(text)
    expect(attributes).not_to_contain_text(person.national_id)  # not released to this portal
    expect(page.locator("dl.facts")).to_contain_text("كلمة المرور وعامل تحقق ثانٍ (المستوى الثاني)")
    shot(page, "saml-attributes")

    # Signed in on a second device too; signing out of all devices ends both sessions.
    other_device.goto(live_idp + "/login")
    sign_in_at_idp(other_device, citizen.username, citizen.password, authenticator)
    expect_page(other_device, "حسابي")
    expect(other_device.locator("main")).to_contain_text("سجّلت الدخول من جهازين.")

    page.goto(live_idp + "/account")
    expect_page(page, "حسابي")
    shot(page, "account-two-devices")
    page.get_by_role("button", name="تسجيل الخروج من جميع الأجهزة").click()
    expect_page(page, "تم تسجيل الخروج")
    shot(page, "signed-out")
    for device in (page, other_device):
        device.goto(live_idp + "/account")
        expect_page(device, "تسجيل الدخول")
