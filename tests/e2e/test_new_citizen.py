"""Journey (a), in Arabic: a person of the civil registry gets a digital identity — its last step
the second factor — and uses it to sign up at Masar; then signs out everywhere."""
from __future__ import annotations

import re

from hijridate import Gregorian

from tests.e2e.conftest import (CAPTCHA_ANSWER, Authenticator, complete_masar_profile, consent, enter_code,
                                expect, expect_page, field, fill, link_in_mail, sign_in_at_idp, submit)
from tests.sms_gateway import outbox_code

ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
PASSWORD = "Sand-Dunes-Of-Rub-Al-Khali-77"


def test_a_new_citizen_registers_turns_on_two_step_and_signs_up_at_masar(
        page, app, live_idp, masar, smtp, people, screenshots):
    shot = screenshots.journey("a")
    noura = people["citizen2"]
    email = "noura.alotaibi@example.com"

    # Registration, step 1: who she is, as the civil registry knows her; typed as on an Arabic
    # keyboard (Arabic-Indic digits), birth date in the Hijri calendar.
    page.goto(live_idp + "/")
    page.get_by_role("link", name="تسجيل جديد").first.click()
    expect_page(page, "تسجيل جديد")
    hijri = Gregorian.fromdate(noura.birth_date).to_hijri()
    fill(page, national_id=noura.national_id.translate(ARABIC_INDIC),
         birth_date=f"{hijri.day:02d}/{hijri.month:02d}/{hijri.year}", captcha=CAPTCHA_ANSWER)
    page.check('input[name="calendar"][value="hijri"]')
    page.check('input[name="gender"][value="F"]')
    expect(page.get_by_role("img", name="تحقق أمني")).to_be_visible()
    shot(page, "register")
    submit(page, "national_id")

    # Step 2: a code by SMS to the mobile the civil registry holds for her (the real outbox).
    expect_page(page, "تأكيد هويتك")
    expect(page.locator("bdi.mobile")).to_have_text("+9665•••••002")
    shot(page, "mobile-code")
    fill(page, code=outbox_code(app.extensions["idp"].settings.sms_outbox_path, noura.mobile))
    submit(page, "code")

    # Step 3: the registry greets her by name; she chooses her credentials.
    expect_page(page, "إنشاء الحساب")
    expect(page.locator("p.person")).to_contain_text(noura.name_ar)
    fill(page, username="noura.alotaibi", password=PASSWORD, email=email, mobile="0551234567")
    shot(page, "credentials")
    submit(page, "username")

    # Step 4, the last: a second factor, with why it is needed. Her authenticator app takes the key.
    expect_page(page, "احمِ هويتك بخطوة ثانية")
    expect(page.locator('.steps [aria-current="step"]')).to_have_text("التحقق الثنائي")
    shot(page, "second-factor-choice")
    page.get_by_role("link", name="استخدام تطبيق مصادقة").click()
    expect_page(page, "تفعيل التحقق الثنائي")
    expect(page.locator("figure.qr svg")).to_be_visible()
    expect(page.locator('a[href^="otpauth://totp/"]')).to_be_visible()
    expect(page.locator("code.secret .key-group").first).to_have_text(re.compile(r"^[A-Z2-7]{4}$"))
    authenticator = Authenticator(page.locator("code.secret").inner_text().replace(" ", ""))
    shot(page, "two-step-enrol")
    enter_code(page, authenticator.code())
    expect_page(page, "رموز الاسترداد الخاصة بك")
    expect(page.locator("ul.codes li")).to_have_count(10)
    shot(page, "recovery-codes")
    page.get_by_role("link", name="حفظت الرموز").click()
    expect_page(page, "تأكيد البريد الإلكتروني")
    shot(page, "email-sent")

    # Then the link in the mail; opening it only asks, pressing the button confirms.
    page.goto(link_in_mail(smtp, email, "/register/verify/"))
    expect_page(page, "تأكيد البريد الإلكتروني")
    shot(page, "confirm-email")
    page.get_by_role("button", name="تأكيد").click()
    expect_page(page, "تم تأكيد البريد الإلكتروني")
    shot(page, "email-confirmed")

    # Her first sign-in asks for the code from her app, and leads to her account page.
    page.get_by_role("link", name="تسجيل الدخول").last.click()
    sign_in_at_idp(page, "noura.alotaibi", PASSWORD, authenticator, shot=shot)
    expect_page(page, "حسابي")
    expect(page.locator("main")).to_contain_text(noura.name_ar)
    expect(page.locator("main")).to_contain_text(noura.name_en)
    expect(page.locator("main")).to_contain_text("مفعّل. رموز الاسترداد المتبقية: 10.")
    shot(page, "account")

    # Masar: already signed in at the IdP, so only the consent is asked.
    page.goto(masar.url + "/")
    expect_page(page, "منصة مسار للموارد البشرية")
    shot(page, "masar-home")
    page.get_by_role("link", name="الدخول عبر النفاذ الوطني الموحد").click()
    consent(page, shot=shot)

    expect_page(page, "أكمل ملفك")
    expect(page.locator("main")).to_contain_text(noura.name_ar)
    expect(field(page, "email")).to_have_value(email)
    expect(field(page, "mobile")).to_have_value("+966551234567")
    complete_masar_profile(page, health="healthy", disability="visual", shot=shot)

    expect_page(page, "ملفي")
    expect(page.get_by_role("status")).to_have_text("حُفظت بياناتك.")
    for text in (noura.name_ar, noura.name_en, "سليم", "بصرية", email):
        expect(page.locator("main")).to_contain_text(text)
    shot(page, "masar-profile")

    # Signing out of Masar signs her out of the IdP too, and brings her back to Masar.
    page.get_by_role("button", name="تسجيل الخروج").click()
    expect(page.get_by_role("status")).to_have_text("سجّلت الخروج من مسار ومن النفاذ الوطني الموحد.")
    shot(page, "masar-signed-out")
    page.goto(live_idp + "/account")
    expect_page(page, "تسجيل الدخول")
