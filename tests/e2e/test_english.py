"""Journey (d): journey (a)'s part at Masar, for a citizen who reads English. The browser is Arabic
(as in the other journeys); the citizen presses the visible language switch, and the choice
follows them to the IdP for that request (Masar sends `ui_locales`)."""
from __future__ import annotations

from tests.e2e.conftest import (Authenticator, complete_masar_profile, consent, expect, expect_page,
                                field, sign_in_at_idp)


def test_a_citizen_signs_up_at_masar_in_english(page, live_idp, masar, people, identities, screenshots):
    shot = screenshots.journey("d")
    person = people["resident"]
    resident = identities.make(person, username="ahmed.khan", totp=True)

    page.goto(masar.url + "/")
    expect_page(page, "منصة مسار للموارد البشرية")
    page.get_by_role("link", name="English").click()
    expect_page(page, "Masar HR portal", "en")
    shot(page, "masar-home")
    page.get_by_role("link", name="Sign in through National SSO").click()

    sign_in_at_idp(page, resident.username, resident.password, Authenticator(resident.secret), lang="en",
                   shot=shot)
    consent(page, lang="en", shot=shot)

    expect_page(page, "Complete your profile", "en")
    expect(page.locator("main")).to_contain_text(f"Welcome, {person.name_en}.")
    expect(field(page, "email")).to_have_value(resident.email)
    complete_masar_profile(page, health="undisclosed", disability="none", shot=shot)

    expect_page(page, "My profile", "en")
    expect(page.get_by_role("status")).to_have_text("Your details are saved.")
    for text in (person.name_ar, person.name_en, "Prefer not to say", "None"):
        expect(page.locator("main")).to_contain_text(text)
    shot(page, "masar-profile")

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_have_text("You have signed out of Masar and of the National SSO.")
    shot(page, "masar-signed-out")
    page.goto(live_idp + "/account")
    # Signed out at the IdP too. Masar's language was for its request only (ui_locales); the IdP's
    # own pages follow the citizen's own choice there, here the browser's language (issue 12).
    expect_page(page, "تسجيل الدخول")
