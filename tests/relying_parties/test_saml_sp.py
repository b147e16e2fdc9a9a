"""The SAML SP (relying_parties/saml_sp, python3-saml) and the real IdP (pysaml2) against each
other over real HTTP on loopback.

Both run in threads of this process with werkzeug; a `requests.Session` plays the citizen's browser.
The SP knows the IdP only through its metadata URL, as a real service provider would.
"""
from __future__ import annotations

import base64
import html
import re
import secrets
import subprocess
import sys
import zlib
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from babel.messages.pofile import read_po
from tests import idp_pages
from tests.live import free_port, serve

from relying_parties.saml_sp.app import create_app
from relying_parties.saml_sp.config import ConfigError
from relying_parties.saml_sp.keys import CERT_FILE, KEY_FILE

ROOT = Path(__file__).resolve().parents[2]
PREFIX = "urn:nsso:attribute:"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"


ISSUER = f"http://127.0.0.1:{free_port()}"
SP = f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def app_overrides():
    return {"issuer": ISSUER}


@pytest.fixture
def live_idp(app, saml_keys):
    stop = serve(app, ISSUER)
    yield ISSUER
    stop()


def sp_settings(tmp_path, **changes):
    return {"SAMLSP_BASE_URL": SP, "SAMLSP_IDP_METADATA_URL": ISSUER + "/saml/metadata",
            "SAMLSP_INSTANCE_PATH": str(tmp_path / "saml_sp"), "SAMLSP_SECRET_KEY": secrets.token_urlsafe(32),
            **changes}


@pytest.fixture(scope="session")
def sp_key_files(tmp_path_factory):
    """The SP's key and certificate, made by the SP once for the session (RSA 3072 takes a while)."""
    folder = tmp_path_factory.mktemp("saml_sp_keys")
    create_app(sp_settings(folder))
    return {name: (folder / "saml_sp" / name).read_bytes() for name in (KEY_FILE, CERT_FILE)}


@pytest.fixture
def sp_instance(tmp_path, sp_key_files):
    folder = tmp_path / "saml_sp"
    folder.mkdir(mode=0o700)
    for name, content in sp_key_files.items():
        (folder / name).write_bytes(content)
        (folder / name).chmod(0o600 if name == KEY_FILE else 0o644)
    return folder


@pytest.fixture
def registration(request):
    """Options of the SP's registration at the IdP; parametrise indirectly to change them."""
    return getattr(request, "param", {})


@pytest.fixture
def portal(live_idp, services, tmp_path, sp_instance, registration):
    """The SP, registered at the IdP from its own metadata (as `idp rp register-saml` does), serving."""
    from idp.saml import sps

    sp_app = create_app(sp_settings(tmp_path))
    stop = serve(sp_app, SP)
    metadata = requests.get(SP + "/saml/metadata", timeout=10).text
    with services.db.session() as session:
        sps.register_saml(session, name="SAML test portal", metadata_xml=metadata, require_signed_requests=True,
                          **registration)
        session.commit()
    yield SimpleNamespace(app=sp_app, url=SP, metadata=metadata, instance=tmp_path / "saml_sp")
    stop()


@pytest.fixture
def citizen(identities, people):
    return identities.make(people["citizen"])


# --- the citizen's browser ------------------------------------------------------------------------

def csrf(page: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert match, "no CSRF token in the page"
    return match.group(1)


def post_form(page: str) -> dict:
    """The IdP's auto-posting form: its action and hidden fields."""
    action = re.search(r'<form method="post" action="([^"]+)" id="saml-post"', page)
    assert action, f"no SAML POST form in: {page[:300]}"
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page))
    return {"action": html.unescape(action.group(1)), **{k: html.unescape(v) for k, v in fields.items()}}


def to_the_post_form(browser: requests.Session, made, path="/login") -> dict:
    """The SP's button → the IdP (its sign-in form when needed) → the IdP's auto-posting form."""
    page = browser.get(SP + path, timeout=10)
    assert page.url.startswith(ISSUER), page.url
    page = idp_pages.through(browser, page, made, ISSUER)  # password, code, release notice (first time)
    assert page.status_code == 200 and page.url.startswith(ISSUER + "/saml/sso/"), (page.status_code, page.url)
    return post_form(page.text)


def post_to_acs(browser: requests.Session, form: dict) -> requests.Response:
    fields = {k: v for k, v in form.items() if k in ("SAMLResponse", "RelayState")}
    return browser.post(form["action"], data=fields, timeout=10)


def sign_in(browser: requests.Session, made, path="/login") -> requests.Response:
    return post_to_acs(browser, to_the_post_form(browser, made, path))


def labelled(page: str, label: str, short_name: str) -> bool:
    """Whether the attributes table has a row headed by this friendly label and the attribute's URI."""
    return re.search(rf'<th scope="row">{re.escape(label)}<code dir="ltr">{PREFIX}{short_name}</code>', page) is not None


def authn_request(location: str) -> tuple[str, dict]:
    """(the AuthnRequest's XML, the query) from a redirect to the IdP (SAML Bindings §3.4.4.1)."""
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    return zlib.decompress(base64.b64decode(query["SAMLRequest"]), -15).decode(), query


# --- pages and metadata ---------------------------------------------------------------------------

def test_home_is_arabic_first_with_the_sso_button_and_a_strict_csp(portal):
    home = requests.get(SP + "/", timeout=10)
    assert home.status_code == 200
    assert '<html lang="ar" dir="rtl">' in home.text
    assert "الدخول عبر النفاذ الوطني الموحد" in home.text and 'href="/login"' in home.text
    csp = home.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "unsafe-inline" not in csp and "script-src" not in csp
    assert f"form-action 'self' {ISSUER}" in csp
    assert "<script" not in home.text and "style=" not in home.text
    assert home.headers["Referrer-Policy"] == "no-referrer" and home.headers["Cache-Control"] == "no-store"


def test_the_metadata_names_the_endpoints_and_the_certificate_and_validates(portal):
    from importlib.resources import files

    import saml2.data.schemas
    from onelogin.saml2.settings import OneLogin_Saml2_Settings
    from saml2.xml.schema import _create_xml_schema_validator

    response = requests.get(SP + "/saml/metadata", timeout=10)
    assert response.headers["Content-Type"].startswith("application/samlmetadata+xml")
    xml = response.text
    assert f'entityID="{SP}/saml/metadata"' in xml
    assert 'AuthnRequestsSigned="true"' in xml and 'WantAssertionsSigned="true"' in xml
    assert f'Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{SP}/saml/acs"' in xml
    assert f'Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{SP}/saml/sls"' in xml
    certificate = (portal.instance / "sp_cert.pem").read_text()
    body = "".join(certificate.strip().splitlines()[1:-1])
    assert xml.count(body) == 2 and 'use="signing"' in xml and 'use="encryption"' in xml
    # Two independent schema checks: python3-saml's own, and the OASIS XSD as pysaml2 ships it.
    assert OneLogin_Saml2_Settings(portal.app.extensions["saml_sp"].settings(),
                                   sp_validation_only=True).validate_metadata(xml) == []
    xsd = str(files(saml2.data.schemas).joinpath("saml-schema-metadata-2.0.xsd"))
    _create_xml_schema_validator(xsd).validate(xml)


def test_the_metadata_cli_prints_the_same_metadata_for_idp_rp_register_saml(portal):
    env = {"PATH": "/usr/bin:/bin", "SAMLSP_BASE_URL": SP, "SAMLSP_INSTANCE_PATH": str(portal.instance)}
    printed = subprocess.run([sys.executable, "-m", "relying_parties.saml_sp", "metadata"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=60, check=True).stdout
    assert printed.strip() == portal.metadata.strip()


def test_the_key_is_generated_once_private_and_never_in_the_repository(tmp_path):
    first = create_app(sp_settings(tmp_path))
    key = tmp_path / "saml_sp" / KEY_FILE
    assert key.stat().st_mode & 0o777 == 0o600 and b"PRIVATE KEY" in key.read_bytes()
    assert create_app(sp_settings(tmp_path)).extensions["saml_sp.metadata"] == first.extensions["saml_sp.metadata"]
    assert not list((ROOT / "relying_parties" / "saml_sp").rglob("*.pem"))
    assert subprocess.run(["git", "check-ignore", "-q", "instance/saml_sp/sp_key.pem"], cwd=ROOT).returncode == 0


# --- Web Browser SSO ------------------------------------------------------------------------------

def test_login_sends_a_signed_authn_request_over_http_redirect(portal):
    to_idp = requests.get(SP + "/login", allow_redirects=False, timeout=10)
    assert to_idp.status_code == 302
    location = to_idp.headers["Location"]
    assert location.startswith(ISSUER + "/saml/sso/redirect?")
    xml, query = authn_request(location)
    assert query["SigAlg"] == RSA_SHA256 and query["Signature"] and query["RelayState"] == "/attributes"
    assert f"<saml:Issuer>{SP}/saml/metadata</saml:Issuer>" in xml
    assert f'AssertionConsumerServiceURL="{SP}/saml/acs"' in xml
    assert "nameid-format:persistent" in xml
    cookie = to_idp.headers["Set-Cookie"]
    assert "saml_sp_request=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


@pytest.mark.parametrize(("next_path", "relay_state"), [
    ("/attributes?tab=1", "/attributes?tab=1"),
    ("https://evil.example/", "/attributes"),
    ("//evil.example/", "/attributes"),
    ("/" + "a" * 80, "/attributes"),  # RelayState is at most 80 bytes (SAML Bindings §3.4.3)
])
def test_relay_state_is_a_short_local_path_only(portal, next_path, relay_state):
    to_idp = requests.get(SP + "/login", params={"next": next_path}, allow_redirects=False, timeout=10)
    assert authn_request(to_idp.headers["Location"])[1]["RelayState"] == relay_state


def test_sign_in_shows_the_released_attributes(portal, citizen, people):
    browser = requests.Session()
    form = to_the_post_form(browser, citizen)
    assert form["action"] == SP + "/saml/acs" and form["RelayState"] == "/attributes"
    assert b"EncryptedAssertion" in base64.b64decode(form["SAMLResponse"])  # we published an encryption key
    page = post_to_acs(browser, form)
    assert page.url == SP + "/attributes" and page.status_code == 200
    assert [step.status_code for step in page.history] == [303]

    person = people["citizen"]
    assert f'<bdi lang="ar">{person.name_ar}</bdi>' in page.text and person.name_en in page.text
    for label, uri in (("الاسم بالعربية", "nameAr"), ("الاسم بالإنجليزية", "nameEn"), ("تاريخ الميلاد (هجري)",
                       "birthDateHijri"), ("الجنس", "gender"), ("البريد الإلكتروني", "email")):
        assert labelled(page.text, label, uri)
    assert "ذكر" in page.text and "1990-03-15" in page.text and citizen.email in page.text
    for restricted in ("nationalId", "idType", "nationality"):  # this SP is not allowed the national ID
        assert PREFIX + restricted not in page.text
    assert person.national_id not in page.text
    assert "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent" in page.text
    assert re.search(r'<code dir="ltr" class="name-id">[A-Za-z0-9_-]{40,}</code>', page.text)
    # Every identity has a second factor, and signs in with it: level 2.
    assert "كلمة المرور وعامل تحقق ثانٍ (المستوى الثاني)" in page.text

    # The session cookie holds a token, not the attributes.
    cookie = next(c for c in browser.cookies if c.name == "saml_sp_session")
    assert person.name_en not in base64.urlsafe_b64decode(cookie.value.split(".")[0] + "==").decode("latin-1")
    assert cookie.has_nonstandard_attr("HttpOnly")


@pytest.mark.parametrize("registration", [{"allow_national_id": True}], indirect=True)
def test_an_sp_allowed_the_national_id_shows_it_with_the_id_type_and_nationality(portal, citizen, people):
    page = sign_in(requests.Session(), citizen)
    assert labelled(page.text, "رقم الهوية الوطنية", "nationalId") and people["citizen"].national_id in page.text
    assert labelled(page.text, "نوع الهوية", "idType") and "مواطن" in page.text
    assert labelled(page.text, "الجنسية", "nationality") and "SAU" in page.text


def test_the_relay_state_brings_the_citizen_back_where_they_started(portal, citizen):
    browser = requests.Session()
    page = sign_in(browser, citizen, "/login?next=/attributes%3Fx%3D1")
    assert page.url == SP + "/attributes?x=1"


def test_a_replayed_response_is_refused(portal, citizen, caplog):
    browser = requests.Session()
    form = to_the_post_form(browser, citizen)
    in_flight = browser.cookies.copy()  # as an attacker holding a copy of the browser's cookies would
    assert post_to_acs(browser, form).url == SP + "/attributes"

    again = post_to_acs(browser, form)  # the same browser: its request was answered already
    assert again.status_code == 400 and "لم يكتمل تسجيل الدخول" in again.text
    assert "no AuthnRequest of this browser" in caplog.text

    thief = requests.Session()
    thief.cookies.update(in_flight)  # even with the request's cookie, the assertion was used once
    stolen = post_to_acs(thief, form)
    assert stolen.status_code == 400 and "Sign-in did not complete" in stolen.text
    assert "replayed" in caplog.text
    assert thief.get(SP + "/attributes", timeout=10).url == SP + "/"


def test_an_unsolicited_response_is_refused(portal, citizen):
    form = to_the_post_form(requests.Session(), citizen)
    stranger = requests.Session()  # never sent an AuthnRequest
    refused = post_to_acs(stranger, form)
    assert refused.status_code == 400 and "لم يكتمل تسجيل الدخول" in refused.text
    assert stranger.get(SP + "/attributes", timeout=10).url == SP + "/"


def test_a_tampered_response_is_a_friendly_page_with_the_detail_in_the_log(portal, citizen, caplog):
    browser = requests.Session()
    form = to_the_post_form(browser, citizen)
    xml = base64.b64decode(form["SAMLResponse"]).decode()
    forged = xml.replace(f'Destination="{SP}/saml/acs"', f'Destination="{SP}/saml/acs?x"', 1)
    assert forged != xml
    refused = post_to_acs(browser, {**form, "SAMLResponse": base64.b64encode(forged.encode()).decode()})
    assert refused.status_code == 400
    assert "لم يكتمل تسجيل الدخول" in refused.text and "Sign-in did not complete" in refused.text
    assert "SAML Response refused" in caplog.text and "Signature" not in refused.text
    assert browser.get(SP + "/attributes", timeout=10).url == SP + "/"


def test_the_english_switch(portal, citizen, people):
    browser = requests.Session()
    home = browser.get(SP + "/lang/en", params={"next": "/"}, timeout=10)
    assert '<html lang="en" dir="ltr">' in home.text and "Sign in through National SSO" in home.text
    assert 'href="/lang/ar?next=/"' in home.text
    page = sign_in(browser, citizen)
    assert "What the National SSO released" in page.text and "Name in English" in page.text
    assert "Male" in page.text and "Password and a second factor (level 2)" in page.text
    assert people["citizen"].name_ar in page.text  # the Arabic name stays Arabic
    assert browser.get(SP + "/lang/ar", params={"next": "https://evil.example/"}, allow_redirects=False,
                       timeout=10).headers["Location"] == "/"


# --- Single Logout --------------------------------------------------------------------------------

def test_logout_goes_through_the_idp_and_back_signed_out(portal, citizen):
    browser = requests.Session()
    page = sign_in(browser, citizen)
    assert browser.get(ISSUER + "/account", allow_redirects=False, timeout=10).status_code == 200

    assert browser.post(SP + "/logout", data={}, timeout=10).status_code == 400  # no CSRF token
    home = browser.post(SP + "/logout", data={"csrf_token": csrf(page.text)}, timeout=10)

    to_idp = urlsplit(home.history[0].headers["Location"])
    assert f"{to_idp.scheme}://{to_idp.netloc}{to_idp.path}" == ISSUER + "/saml/slo/redirect"
    sent = parse_qs(to_idp.query)
    assert sent["SigAlg"] == [RSA_SHA256] and sent["Signature"]
    logout_request = zlib.decompress(base64.b64decode(sent["SAMLRequest"][0]), -15).decode()
    assert "LogoutRequest" in logout_request and f"{SP}/saml/metadata" in logout_request
    assert home.history[1].headers["Location"].startswith(SP + "/saml/sls?SAMLResponse=")

    assert home.url == SP + "/" and home.status_code == 200
    assert "سجّلت الخروج من هذه البوابة ومن النفاذ الوطني الموحد." in home.text
    assert browser.get(ISSUER + "/account", allow_redirects=False, timeout=10).status_code == 302  # IdP session gone
    assert browser.get(SP + "/attributes", timeout=10).url == SP + "/"


def test_a_logout_response_nobody_asked_for_is_refused(portal, citizen):
    browser = requests.Session()
    page = sign_in(browser, citizen)
    home = browser.post(SP + "/logout", data={"csrf_token": csrf(page.text)}, timeout=10)
    answer = home.history[1].headers["Location"]
    again = browser.get(answer, timeout=10)  # the LogoutResponse replayed
    assert again.status_code == 400 and "لم يكتمل تسجيل الخروج" in again.text


# --- the IdP out of reach -------------------------------------------------------------------------

def test_an_unreachable_idp_is_a_friendly_page_and_its_metadata_is_fetched_again(app, saml_keys, tmp_path,
                                                                                   sp_instance, caplog):
    sp_app = create_app(sp_settings(tmp_path))
    client = sp_app.test_client()
    page = client.get("/login")  # the IdP is not serving yet
    assert page.status_code == 503 and "تعذّر الوصول إلى النفاذ الوطني الموحد" in page.get_data(as_text=True)
    assert "cannot reach the IdP's metadata" in caplog.text

    stop = serve(app, ISSUER)
    try:
        to_idp = client.get("/login")  # the failure was not cached
        assert to_idp.status_code == 302 and to_idp.location.startswith(ISSUER + "/saml/sso/redirect?")
    finally:
        stop()


# --- configuration and catalogue ------------------------------------------------------------------

@pytest.mark.parametrize(("name", "value"), [
    ("SAMLSP_BASE_URL", "http://sp.example.gov.sa"),  # http only on loopback
    ("SAMLSP_BASE_URL", "ftp://127.0.0.1:5002"),
    ("SAMLSP_IDP_METADATA_URL", "http://127.0.0.1:5000/saml/metadata?x=1"),
])
def test_a_bad_setting_stops_start_up_with_one_line(tmp_path, name, value):
    with pytest.raises(ConfigError) as refused:
        create_app(sp_settings(tmp_path, **{name: value}))
    assert str(refused.value).startswith(name) and "\n" not in str(refused.value)


def test_every_message_is_translated_into_arabic(tmp_path):
    pot = tmp_path / "messages.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "-q", "extract", "-F",
                    "relying_parties/saml_sp/babel.cfg", "-k", "_l", "-k", "N_", "-o", str(pot),
                    "relying_parties/saml_sp"], cwd=ROOT, check=True)
    with pot.open("rb") as f:
        wanted = {m.id for m in read_po(f) if m.id}
    with (ROOT / "relying_parties/saml_sp/translations/ar/LC_MESSAGES/messages.po").open("rb") as f:
        translated = {m.id for m in read_po(f) if m.id and m.string and not m.fuzzy}
    assert wanted and sorted(wanted - translated) == []


# --- issue 12 (Deliver 5): one language across sites ---

@pytest.mark.parametrize("accept, lang", [("en-US,en;q=0.9", "en"), ("ar-SA", "ar"), ("fr-FR", "ar")])
def test_the_browsers_language_when_none_was_chosen(portal, accept, lang):
    home = requests.get(SP + "/", headers={"Accept-Language": accept}, timeout=10)
    assert f'<html lang="{lang}"' in home.text


def test_the_idp_shows_the_sps_language_for_that_request_only(portal, citizen):
    browser = requests.Session()
    browser.get(SP + "/lang/en", params={"next": "/"}, timeout=10)
    to_idp = browser.get(SP + "/login", allow_redirects=False, timeout=10)
    assert parse_qs(urlsplit(to_idp.headers["Location"]).query)["ui_locales"] == ["en"]
    sign_in_page = browser.get(to_idp.headers["Location"], timeout=10)
    assert sign_in_page.url.startswith(ISSUER + "/login") and '<html lang="en" dir="ltr">' in sign_in_page.text
    assert "idp_lang" not in browser.cookies  # the citizen's own IdP language is untouched
