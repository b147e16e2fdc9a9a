"""Masar (relying_parties/masar) and the real IdP against each other over real HTTP on loopback.

Both run in threads of this process with werkzeug; a `requests.Session` plays the citizen's browser.
Masar knows the IdP only through its discovery document, as a real portal would.
"""
from __future__ import annotations

import re
import secrets
import sqlite3
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from hijridate import Gregorian
from tests import idp_pages
from tests.live import free_port, serve

from relying_parties.masar import config as masar_config
from relying_parties.masar.app import create_app


ISSUER = f"http://127.0.0.1:{free_port()}"
MASAR = f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def app_overrides():
    return {"issuer": ISSUER}


@pytest.fixture
def live_idp(app, signing_keys):
    stop = serve(app, ISSUER)
    yield ISSUER
    stop()


@pytest.fixture
def masar(live_idp, rps, tmp_path):
    """Masar, registered at the IdP like any portal, serving on its own port."""
    client = rps.register(name="Masar", redirect_uris=[MASAR + "/auth/callback"],
                          post_logout_redirect_uris=[MASAR + "/"])
    database = tmp_path / "masar.sqlite3"
    portal = create_app({"MASAR_IDP_ISSUER": ISSUER, "MASAR_CLIENT_ID": client.client_id,
                         "MASAR_CLIENT_SECRET": client.secret, "MASAR_BASE_URL": MASAR,
                         "MASAR_DATABASE": str(database), "MASAR_SECRET_KEY": secrets.token_urlsafe(32)})
    stop = serve(portal, MASAR)
    yield SimpleNamespace(app=portal, url=MASAR, database=database, client=client)
    stop()


@pytest.fixture
def citizen(identities, people):
    return identities.make(people["citizen"])


# --- the citizen's browser ------------------------------------------------------------------------

def csrf(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def sign_in(browser: requests.Session, made, decision: str = "allow") -> requests.Response:
    """Masar's button → the IdP's sign-in forms → its consent form (first time) → back at Masar."""
    page = browser.get(MASAR + "/login", timeout=10)
    return idp_pages.through(browser, page, made, ISSUER, decision)  # password, code, consent (first time)


VALID = {"health": "chronic", "disability": "visual", "email": "m.alqahtani@example.com", "mobile": "0551234567"}


def submit_profile(browser, page, **changes):
    data = {**VALID, **changes}
    data = {key: value for key, value in data.items() if value is not None}
    return browser.post(MASAR + "/profile", data={"csrf_token": csrf(page.text), **data}, timeout=10)


def saved_profiles(masar) -> list[dict]:
    with sqlite3.connect(masar.database) as connection:
        connection.row_factory = sqlite3.Row
        rows = [dict(row) for row in connection.execute("SELECT * FROM profiles")]
    connection.close()
    return rows


def signed_up(browser, citizen):
    form = sign_in(browser, citizen)
    return submit_profile(browser, form)


# --- the journeys ---------------------------------------------------------------------------------

def test_home_is_arabic_first_with_the_sso_button_and_a_strict_csp(masar):
    home = requests.get(MASAR + "/", timeout=10)
    assert home.status_code == 200
    assert '<html lang="ar" dir="rtl">' in home.text
    assert "الدخول عبر النفاذ الوطني الموحد" in home.text and 'href="/login"' in home.text
    csp = home.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "unsafe-inline" not in csp and "script-src" not in csp
    assert "<script" not in home.text and "style=" not in home.text
    assert home.headers["Referrer-Policy"] == "no-referrer"


def test_first_sign_in_asks_for_the_profile_prefilled_then_shows_it(masar, citizen, people):
    browser = requests.Session()
    form = sign_in(browser, citizen)
    assert form.url == MASAR + "/profile" and form.status_code == 200
    assert "أكمل ملفك" in form.text
    assert 'value="citizen.one@example.com"' in form.text  # the verified `email` claim
    assert 'value="+966551234567"' in form.text  # the `phone_number` claim
    for field in ("health", "disability", "email", "mobile"):
        assert re.search(rf'<label for="{field}(-0)?">', form.text), f"no label for {field}"

    profile = submit_profile(browser, form)
    assert profile.url == MASAR + "/profile" and profile.status_code == 200
    person = people["citizen"]
    assert person.name_ar in profile.text and person.name_en in profile.text
    hijri = Gregorian.fromdate(person.birth_date).to_hijri()
    assert person.birth_date.isoformat() in profile.text
    assert f"{hijri.day} شعبان {hijri.year} هـ" in profile.text  # the month named (15 March 1990: Shaban)
    assert "مرض مزمن" in profile.text and "بصرية" in profile.text and "حُفظت بياناتك." in profile.text
    assert 'href="/profile/edit"' in profile.text

    [row] = saved_profiles(masar)
    assert (row["health"], row["disability"], row["email"], row["mobile"]) == \
        ("chronic", "visual", "m.alqahtani@example.com", "+966551234567")
    assert person.national_id not in str(row)  # keyed by the pairwise `sub`, never the national ID


def test_second_sign_in_goes_straight_to_the_profile(masar, citizen):
    signed_up(requests.Session(), citizen)

    another_browser = requests.Session()
    profile = sign_in(another_browser, citizen)  # password again, but no consent and no form
    assert profile.url == MASAR + "/profile" and profile.status_code == 200
    assert "بياناتك في مسار" in profile.text and "مرض مزمن" in profile.text
    assert 'name="health"' not in profile.text
    assert not any("/oidc/consent/" in step.url for step in profile.history)


def test_the_profile_can_be_edited(masar, citizen):
    browser = requests.Session()
    signed_up(browser, citizen)
    edit = browser.get(MASAR + "/profile/edit", timeout=10)
    assert 'value="m.alqahtani@example.com"' in edit.text
    assert re.search(r'<input checked[^>]*value="chronic">', edit.text)
    saved = browser.post(MASAR + "/profile/edit", timeout=10, data={
        "csrf_token": csrf(edit.text), **VALID, "health": "healthy", "disability": "none",
        "mobile": "+966 55 765 4321"})
    assert saved.url == MASAR + "/profile" and "سليم" in saved.text
    [row] = saved_profiles(masar)
    assert (row["health"], row["disability"], row["mobile"]) == ("healthy", "none", "+966557654321")


@pytest.mark.parametrize(("field", "value", "message"), [
    ("health", "athletic", "اختر إحدى الحالات الصحية المدرجة."),
    ("health", None, "اختر حالتك الصحية."),
    ("disability", "mild", "اختر إحدى فئات الإعاقة المدرجة."),
    ("email", "not-an-address", "أدخل بريدًا إلكترونيًا مثل name@example.com."),
    ("email", "name@localhost", "أدخل بريدًا إلكترونيًا مثل name@example.com."),
    ("mobile", "0123456789", "أدخل رقم جوال سعوديًا، مثل 05XXXXXXXX."),
    ("mobile", "", "أدخل رقم جوالك."),
])
def test_invalid_input_is_refused_next_to_the_field_and_nothing_is_saved(masar, citizen, field, value, message):
    browser = requests.Session()
    form = sign_in(browser, citizen)
    refused = submit_profile(browser, form, **{field: value})
    assert refused.status_code == 400
    errors = re.search(rf'<ul class="field-errors" id="{field}-errors">(.*?)</ul>', refused.text, re.S)
    assert errors and message in errors.group(1)
    assert refused.text.count('class="field-errors"') == 1  # only the bad field is marked
    # GOV.UK: "Error:" before the title, a summary (focused) linking to the field, the field tied to
    # its message.
    assert re.search(r"<title>خطأ: ", refused.text)
    summary = re.search(r'<div class="error-summary" tabindex="-1" autofocus[^>]*>(.*?)</div>', refused.text, re.S)
    anchor = f"{field}-0" if field in ("health", "disability") else field
    assert summary and f'<a href="#{anchor}">{message}</a>' in summary.group(1)
    assert re.search(rf'id="{anchor}"[^>]*aria-invalid="true"|aria-invalid="true"[^>]*id="{anchor}"', refused.text)
    if field in ("health", "disability"):  # the group is described by its message
        assert f'<fieldset class="field invalid" aria-describedby="{field}-errors">' in refused.text
    else:
        assert re.search(rf'aria-describedby="[^"]*{field}-errors"', refused.text)
    assert saved_profiles(masar) == []


def test_declining_at_the_idp_shows_a_friendly_page(masar, citizen):
    browser = requests.Session()
    page = sign_in(browser, citizen, decision="deny")
    assert page.url.startswith(MASAR + "/auth/callback?") and "error=access_denied" in page.url
    assert page.status_code == 200
    assert "لم تشارك بياناتك" in page.text and "You did not share your information" in page.text
    assert browser.get(MASAR + "/profile", timeout=10).url == MASAR + "/"  # not signed in


def test_a_failed_token_exchange_is_a_friendly_page_with_the_detail_in_the_log(masar, caplog):
    browser = requests.Session()
    to_idp = browser.get(MASAR + "/login", allow_redirects=False, timeout=10)
    state = parse_qs(urlsplit(to_idp.headers["Location"]).query)["state"][0]
    forged = browser.get(MASAR + "/auth/callback", params={"code": "forged", "state": state, "iss": ISSUER},
                         timeout=10)
    assert forged.status_code == 400
    assert "لم يكتمل تسجيل الدخول" in forged.text and "Sign-in did not complete" in forged.text
    assert "invalid_grant" in caplog.text and "invalid_grant" not in forged.text


@pytest.mark.parametrize("query", [
    {"error": "server_error", "error_description": "oops"},
    {"code": "x", "state": "never-issued"},
])
def test_other_errors_from_the_idp_are_friendly_pages(masar, query):
    page = requests.get(MASAR + "/auth/callback", params=query, timeout=10)
    assert page.status_code == 400 and "لم يكتمل تسجيل الدخول" in page.text


def test_logout_goes_through_the_idp_and_back_home(masar, citizen):
    browser = requests.Session()
    profile = signed_up(browser, citizen)
    assert browser.get(ISSUER + "/account", allow_redirects=False, timeout=10).status_code == 200

    assert browser.post(MASAR + "/logout", data={}, timeout=10).status_code == 400  # no CSRF token
    home = browser.post(MASAR + "/logout", data={"csrf_token": csrf(profile.text)}, timeout=10)

    at_idp = urlsplit(home.history[0].headers["Location"])
    assert f"{at_idp.scheme}://{at_idp.netloc}{at_idp.path}" == ISSUER + "/oidc/logout"
    sent = parse_qs(at_idp.query)
    assert sent["post_logout_redirect_uri"] == [MASAR + "/"] and sent["id_token_hint"]
    assert home.url.startswith(MASAR + "/?state=") and home.status_code == 200
    assert "سجّلت الخروج من مسار ومن النفاذ الوطني الموحد." in home.text
    assert browser.get(ISSUER + "/account", allow_redirects=False, timeout=10).status_code == 302  # IdP session gone
    assert browser.get(MASAR + "/profile", timeout=10).url == MASAR + "/"


def test_the_english_switch(masar, citizen):
    browser = requests.Session()
    home = browser.get(MASAR + "/lang/en", params={"next": "/"}, timeout=10)
    assert '<html lang="en" dir="ltr">' in home.text and "Sign in through National SSO" in home.text
    assert 'href="/lang/ar?next=/"' in home.text
    to_idp = browser.get(MASAR + "/login", allow_redirects=False, timeout=10)
    assert parse_qs(urlsplit(to_idp.headers["Location"]).query)["ui_locales"] == ["en"]
    form = sign_in(browser, citizen)
    assert "Complete your profile" in form.text and "Chronic illness" in form.text
    assert browser.get(MASAR + "/lang/en", params={"next": "https://evil.example/"}, allow_redirects=False,
                       timeout=10).headers["Location"] == "/"


def test_an_unreachable_idp_is_a_friendly_page(tmp_path, caplog):
    portal = create_app({"MASAR_IDP_ISSUER": f"http://127.0.0.1:{free_port()}", "MASAR_CLIENT_ID": "masar",
                         "MASAR_CLIENT_SECRET": "s", "MASAR_DATABASE": str(tmp_path / "masar.sqlite3"),
                         "MASAR_SECRET_KEY": secrets.token_urlsafe(32)})
    page = portal.test_client().get("/login")
    assert page.status_code == 503 and "تعذّر الوصول إلى النفاذ الوطني الموحد" in page.get_data(as_text=True)
    assert "cannot reach the IdP" in caplog.text


# --- configuration --------------------------------------------------------------------------------

def test_a_missing_client_secret_stops_start_up_with_one_line(monkeypatch):
    for name in ("MASAR_CLIENT_ID", "MASAR_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(masar_config.ConfigError) as refused:
        create_app({"MASAR_CLIENT_ID": "masar"})
    assert str(refused.value).startswith("MASAR_CLIENT_SECRET is required") and "\n" not in str(refused.value)


def test_the_secret_key_is_generated_once_and_private(monkeypatch, tmp_path):
    monkeypatch.delenv("MASAR_SECRET_KEY", raising=False)
    monkeypatch.setattr(masar_config, "SECRET_KEY_FILE", tmp_path / "masar_secret_key")
    settings = {"MASAR_CLIENT_ID": "masar", "MASAR_CLIENT_SECRET": "s", "MASAR_DATABASE": str(tmp_path / "m.db")}
    first, second = create_app(settings), create_app(settings)
    assert first.secret_key == second.secret_key and len(first.secret_key) >= 32
    assert (tmp_path / "masar_secret_key").stat().st_mode & 0o777 == 0o600


# --- issue 12 (Deliver 5): one language across sites ---

@pytest.mark.parametrize("accept, lang", [("en-US,en;q=0.9", "en"), ("ar-SA,ar;q=0.9", "ar"), ("fr-FR", "ar"),
                                          ("fr, en;q=0.5", "en"), ("", "ar")])
def test_the_browsers_language_when_none_was_chosen(masar, accept, lang):
    home = requests.get(MASAR + "/", headers={"Accept-Language": accept}, timeout=10)
    assert f'<html lang="{lang}"' in home.text


def test_the_language_shown_is_the_one_sent_to_the_idp(masar):
    browser = requests.Session()
    browser.headers["Accept-Language"] = "en-GB"
    to_idp = browser.get(MASAR + "/login", allow_redirects=False, timeout=10)
    assert parse_qs(urlsplit(to_idp.headers["Location"]).query)["ui_locales"] == ["en"]
    browser.get(MASAR + "/lang/ar", params={"next": "/"}, timeout=10)  # the switch beats the browser
    assert '<html lang="ar"' in browser.get(MASAR + "/", timeout=10).text
    to_idp = browser.get(MASAR + "/login", allow_redirects=False, timeout=10)
    assert parse_qs(urlsplit(to_idp.headers["Location"]).query)["ui_locales"] == ["ar"]
