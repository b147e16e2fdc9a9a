"""Journey (c), in Arabic: a citizen who forgot the password gets a link by email, still proves the
second factor (recovery never bypasses it), chooses a new password and signs in with it."""
from __future__ import annotations

from tests.e2e.conftest import (Authenticator, enter_code, expect, expect_page, fill, link_in_mail,
                                sign_in_at_idp, submit)

NEW_PASSWORD = "Frankincense-Trail-To-Najran-9"


def test_a_forgotten_password_is_replaced_through_the_mailed_link_and_the_second_factor(
        page, live_idp, smtp, people, identities, screenshots):
    shot = screenshots.journey("c")
    person = people["citizen"]
    citizen = identities.make(person, totp=True)
    authenticator = Authenticator(citizen.secret)

    page.goto(live_idp + "/login")
    page.get_by_role("link", name="نسيت كلمة المرور؟").click()
    expect_page(page, "نسيت كلمة المرور؟")
    fill(page, national_id=person.national_id, email=citizen.email)
    shot(page, "forgot-password")
    submit(page, "national_id")
    expect_page(page, "تحقق من بريدك الإلكتروني")
    shot(page, "check-email")

    # Opening the link only asks; pressing Continue uses it up.
    page.goto(link_in_mail(smtp, citizen.email, "/recover/link/"))
    expect_page(page, "إعادة تعيين كلمة المرور")
    shot(page, "open-link")
    page.get_by_role("button", name="متابعة").click()

    expect_page(page, "التحقق الثنائي")
    enter_code(page, authenticator.code(), shot=shot)

    expect_page(page, "تعيين كلمة مرور جديدة")
    fill(page, new_password=NEW_PASSWORD)
    shot(page, "new-password")
    submit(page, "new_password")
    expect_page(page, "تم تغيير كلمة المرور")
    shot(page, "password-changed")

    # The old password no longer works; the new one does (with the second factor again).
    page.get_by_role("link", name="تسجيل الدخول").last.click()
    sign_in_at_idp(page, citizen.username, citizen.password)
    expect(page.get_by_role("alert")).to_have_text("اسم المستخدم أو كلمة المرور غير صحيحة.")
    shot(page, "old-password-refused")
    sign_in_at_idp(page, citizen.username, NEW_PASSWORD, authenticator)
    expect_page(page, "حسابي")
    expect(page.locator("main")).to_contain_text(person.name_ar)
    expect(page.locator("main")).to_contain_text("تم تغيير كلمة المرور")  # in the recent activity
    shot(page, "account")
