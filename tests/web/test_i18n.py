"""Arabic first (RTL), English beside it: a visible switch and Accept-Language."""

import pytest


def test_arabic_is_the_default(client):
    html = client.get("/login").get_data(as_text=True)
    assert '<html lang="ar" dir="rtl">' in html
    assert "تسجيل الدخول" in html


def test_accept_language_english(client):
    html = client.get("/login", headers={"Accept-Language": "en-GB,en;q=0.9"}).get_data(as_text=True)
    assert '<html lang="en" dir="ltr">' in html and "Sign in" in html


def test_the_switch_sets_the_language_and_returns(client):
    response = client.get("/lang/en?next=/register")
    assert response.status_code == 302 and response.location == "/register"
    html = client.get("/login", headers={"Accept-Language": "ar"}).get_data(as_text=True)
    assert '<html lang="en" dir="ltr">' in html


def test_the_switch_never_redirects_away(client):
    assert client.get("/lang/en?next=https://evil.example/").location == "/"
    assert client.get("/lang/en?next=//evil.example/").location == "/"


def test_service_errors_are_translated(web, people):
    html = web.submit("/login", {"username": "x", "password": "y"}).get_data(as_text=True)
    assert "اسم المستخدم أو كلمة المرور غير صحيحة" in html or "غير صحيح" in html


def test_every_page_links_to_the_other_language(client):
    for path in ("/", "/login", "/register", "/recover"):
        html = client.get(path).get_data(as_text=True)
        assert 'href="/lang/en' in html, path


# --- issue 12 (Deliver 5): the portal's language for its request, the citizen's cookie kept ---

def _authorize(web, rps, ui_locales):
    from urllib.parse import urlencode

    client = rps.register()
    params, _ = rps.authorize_params(client, ui_locales=ui_locales)
    return web.get("/oidc/authorize?" + urlencode(params))


def test_ui_locales_shows_the_request_in_that_language_without_touching_the_cookie(web, rps):
    web.client.set_cookie("idp_lang", "ar")
    response = _authorize(web, rps, "en")
    assert "idp_lang" not in response.headers.get("Set-Cookie", "")
    html = web.get(response.location).get_data(as_text=True)
    assert '<html lang="en" dir="ltr">' in html
    assert web.client.get_cookie("idp_lang").value == "ar"


def test_the_portals_language_lasts_through_sign_in_to_consent(web, rps, people, identities):
    from tests.conftest import current_totp

    made = identities.make(people["citizen"], totp=True)
    response = _authorize(web, rps, "en")
    next_url = rps.query(response.location)["next"]
    response = web.login(made.username, made.password, otp=current_totp(made.secret), next_url=next_url)
    consent = web.get(response.location).get_data(as_text=True)
    assert '<html lang="en" dir="ltr">' in consent and 'name="decision"' in consent


def test_the_citizens_switch_wins_over_the_portals_language(web, rps):
    response = _authorize(web, rps, "en")
    login_page = response.location
    switched = web.get("/lang/ar?next=" + login_page.replace("?", "%3F").replace("&", "%26"))
    assert switched.status_code == 302
    assert '<html lang="ar" dir="rtl">' in web.get(login_page).get_data(as_text=True)


def test_once_the_request_is_answered_the_cookie_decides_again(web, rps, people, identities):
    web.client.set_cookie("idp_lang", "ar")
    citizen = identities.make(people["citizen"])
    code, _, _ = rps.sign_in_and_authorize(web, rps.register(), citizen, ui_locales="en")
    assert code
    assert '<html lang="ar" dir="rtl">' in web.get("/account").get_data(as_text=True)


@pytest.mark.parametrize("lang", ["ar", "en"])
def test_consent_names_the_portal_isolated_and_escaped(web, rps, people, identities, lang):
    """The portal's name, whatever its script, stays in its place in the sentence (issue 12)."""
    from urllib.parse import urlencode

    web.client.set_cookie("idp_lang", lang)
    made = identities.make(people["citizen"])
    client = rps.register(name="Masar <b>HR</b>")
    params, _ = rps.authorize_params(client)
    response = web.get("/oidc/authorize?" + urlencode(params))
    response = web.login(made.username, made.password, next_url=rps.query(response.location)["next"])
    html = web.get(response.location).get_data(as_text=True)
    assert "<strong><bdi>Masar &lt;b&gt;HR&lt;/b&gt;</bdi></strong>" in html


def test_masar_tells_the_citizen_the_idps_own_button_name():
    from babel.messages.pofile import read_po

    with open("relying_parties/masar/translations/ar/LC_MESSAGES/messages.po", "rb") as f:
        masar = " ".join(str(m.string) for m in read_po(f) if m.id)
    with open("idp/translations/ar/LC_MESSAGES/messages.po", "rb") as f:
        allow = next(m.string for m in read_po(f) if m.id == "Allow")
    assert f"«{allow}»" in masar and "«سماح»" not in masar


@pytest.mark.parametrize("lang, words", [("en", "to continue to"), ("ar", "للمتابعة إلى")])
def test_the_sign_in_page_names_the_portal(web, rps, lang, words):
    from urllib.parse import urlencode

    web.client.set_cookie("idp_lang", lang)
    params, _ = rps.authorize_params(rps.register(name="منصة مسار — Masar"))
    login = web.get("/oidc/authorize?" + urlencode(params)).location
    html = web.get(login).get_data(as_text=True)
    assert f"{words} <strong><bdi>منصة مسار — Masar</bdi></strong>" in html


def test_the_sign_in_page_names_no_portal_for_a_made_up_next(web):
    html = web.get("/login?next=/oidc/authorize/continue/notarealpendingid").get_data(as_text=True)
    assert "<bdi>" not in html and "to continue to" not in html
