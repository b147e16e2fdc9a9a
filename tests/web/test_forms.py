"""The GOV.UK error pattern on the IdP's forms (issue 12, Deliver 3): a summary linking to each
field, "Error: " in the title, focus on the summary, one message per field and rule, and
aria-describedby/aria-invalid tying message and field together."""
from __future__ import annotations

import re

import pytest

from tests.conftest import csrf_token


def post_empty(web, url, lang="en", **data):
    web.client.set_cookie("idp_lang", lang)
    page = web.get(url).get_data(as_text=True)
    return web.client.post(url, data={"csrf_token": csrf_token(page), **data})


def title(html: str) -> str:
    return re.search(r"<title>(.*?)</title>", html, re.S).group(1).strip()


def summary(html: str) -> str:
    return re.search(r'<div class="error-summary".*?</div>', html, re.S).group(0)


def test_registration_errors_follow_the_pattern(web):
    response = post_empty(web, "/register", calendar="")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert title(html).startswith("Error: New registration")
    box = summary(html)
    assert 'tabindex="-1"' in box and "autofocus" in box and "There is a problem" in box
    for anchor, message in [("national_id", "Enter your national ID or iqama number."),
                            ("calendar-0", "Select the calendar of your date of birth."),
                            ("birth_date", "Enter your date of birth."),
                            ("gender-0", "Select your gender."),
                            ("captcha", "Enter the digits in the picture.")]:
        assert f'<a href="#{anchor}">{message}</a>' in box
        assert f'id="{anchor}"' in html  # the link lands on a real field
    assert "This field is required" not in html
    assert re.search(r'<input aria-describedby="national_id-hint national_id-errors" aria-invalid="true"[^>]*id="national_id"', html)
    assert '<fieldset class="field invalid" aria-describedby="gender-errors">' in html
    assert re.search(r'<input aria-invalid="true" id="gender-0"', html)
    assert "/static/error-summary.js" in html


def test_arabic_title_and_summary(web):
    html = post_empty(web, "/login", lang="ar").get_data(as_text=True)
    assert title(html).startswith("خطأ:")
    assert "هناك مشكلة" in summary(html)
    assert '<a href="#username">' in summary(html) and '<a href="#password">' in summary(html)


@pytest.mark.parametrize("url, field, message", [
    ("/login", "username", "Enter your username or national ID."),
    ("/login", "password", "Enter your password."),
    ("/recover", "national_id", "Enter your national ID or iqama number."),
    ("/recover", "email", "Enter the email address you registered with."),
])
def test_each_field_has_its_own_message(web, url, field, message):
    html = post_empty(web, url).get_data(as_text=True)
    assert f'<ul class="field-errors" id="{field}-errors"><li><span class="visually-hidden">Error: </span>{message}</li></ul>' in html


def test_too_long_says_the_limit(web):
    html = post_empty(web, "/login", username="u" * 65, password="x").get_data(as_text=True)
    assert '<a href="#username">Enter 64 characters or fewer.</a>' in html


def test_a_page_without_errors_has_no_summary(web):
    web.client.set_cookie("idp_lang", "en")
    html = web.get("/register").get_data(as_text=True)
    assert "error-summary" not in html and not title(html).startswith("Error")
    assert "aria-invalid" not in html


def test_page_level_error_is_in_the_summary(web):
    """A failed sign-in names no field; the summary still leads, and the message is an alert."""
    html = post_empty(web, "/login", username="nobody", password="wrong").get_data(as_text=True)
    assert title(html).startswith("Error: ")
    assert re.search(r'<p class="alert" role="alert">[^<]+</p>', summary(html))


def test_email_inputs_read_left_to_right(web):
    web.client.set_cookie("idp_lang", "ar")
    html = web.get("/recover").get_data(as_text=True)
    assert re.search(r'<input[^>]*dir="ltr"[^>]*type="email"', html)


def test_skip_link_and_favicon(web, client):
    html = web.get("/login").get_data(as_text=True)
    assert re.search(r'<a class="skip-link" href="#content">', html) and 'id="content"' in html
    with client.get("/static/favicon.svg") as icon:
        assert icon.status_code == 200 and b"<svg" in icon.get_data()


def test_signed_in_header_offers_account_and_sign_out(web, people, identities):
    """The header read a session key that no longer exists, so it offered "Sign in" to the signed in."""
    citizen = identities.make(people["citizen"])
    web.client.set_cookie("idp_lang", "en")
    web.login(citizen.username, citizen.password)
    html = web.get("/account").get_data(as_text=True)
    nav = re.search(r"<nav.*?</nav>", html, re.S).group(0)
    assert "My account" in nav and "Sign out" in nav and "Register" not in nav


def test_activity_is_shown_in_riyadh_time(web, people, identities):
    import datetime as dt

    from idp.web.i18n import riyadh_time
    assert riyadh_time(dt.datetime(2026, 1, 1, 22, 30)) == "2026-01-02 01:30"
    assert riyadh_time(dt.datetime(2026, 1, 1, 22, 30, tzinfo=dt.timezone.utc)) == "2026-01-02 01:30"
    citizen = identities.make(people["citizen"])
    web.client.set_cookie("idp_lang", "en")
    web.login(citizen.username, citizen.password)
    html = web.get("/account").get_data(as_text=True)
    assert "When (Riyadh time)" in html
    stamp = re.search(r'<time dir="ltr" datetime="([^"]+)">([^<]+)</time>', html)
    stored = dt.datetime.fromisoformat(stamp.group(1).replace("Z", "+00:00"))
    assert stamp.group(2) == (stored + dt.timedelta(hours=3)).strftime("%Y-%m-%d %H:%M")


def test_two_step_page_groups_the_key_and_links_to_the_app(web, people, identities):
    citizen = identities.make(people["citizen"])
    web.login(citizen.username, citizen.password)
    response = web.get("/account/two-step?replace=1")
    if response.status_code == 302:  # asked to confirm the password first
        web.submit(response.location, {"password": citizen.password})
        response = web.get("/account/two-step?replace=1")
    html = response.get_data(as_text=True)
    groups = re.findall(r'<span class="key-group">([A-Z2-7]+)</span>', html)
    assert groups and all(len(g) == 4 for g in groups[:-1]) and 1 <= len(groups[-1]) <= 4
    link = re.search(r'href="(otpauth://totp/[^"]+)"', html).group(1)
    assert "secret=" + "".join(groups) in link.replace("&amp;", "&")


@pytest.mark.parametrize("lang, message", [("ar", "اختيار غير صحيح"), ("en", "Not a valid choice")])
def test_wtforms_own_messages_follow_the_language(web, lang, message):
    """WTForms' catalogue (read once per process and language, not per request) still answers in
    the page's language, request after request."""
    for _ in range(2):
        html = post_empty(web, "/register", lang=lang, gender="X").get_data(as_text=True)
        assert message in html
