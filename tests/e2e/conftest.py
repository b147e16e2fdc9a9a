"""Browser journeys: headless Chromium (Playwright, sync API) against the real IdP and the real
relying parties, each serving over HTTP on its own loopback port in a thread of this process.

Everything runs on 127.0.0.1 (never `localhost`): cookies belong to a host name, and the browser,
the IdP's issuer and the portals' registered URIs must all agree on it. Cookies are shared
between the ports of one host, which is why every app here names its cookies differently.

The captcha is the one thing not read by a person: the IdP runs under TESTING with
TEST_CAPTCHA_ANSWER, a setting honoured only there (see idp.web.captcha).
"""
from __future__ import annotations

import os
import re
import secrets
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.live import free_port, serve

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
HOW_TO_INSTALL = ("Browser tests need Playwright for Python and Debian's Chromium: "
                  ".venv/bin/pip install -e '.[dev]' and sudo apt-get install -y chromium (make test does both)")
CAPTCHA_ANSWER = "12345"
TIMEOUT_MS = 15_000  # argon2 and the SMTP round trip happen inside some page loads


def expect(target):
    """Playwright's auto-waiting assertions, imported when used, so that a machine without
    Playwright still collects these tests (and skips them, see `chromium`)."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


# --- the browser ------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def chromium():
    """Debian's Chromium, driven by Playwright. Never a downloaded browser."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as e:
        pytest.skip(f"Playwright for Python is missing ({e}). {HOW_TO_INSTALL}")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} is missing. {HOW_TO_INSTALL}")
    from playwright.sync_api import expect as playwright_expect

    playwright_expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def screenshots(tmp_path):
    """`shot = screenshots.journey("a")`, then `shot(page, "register")` saves a full-page
    `a-01-register.png` into $IDP_E2E_SCREENSHOTS, or else the test's tmp_path."""
    folder = Path(os.environ.get("IDP_E2E_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return Screenshots(folder)


class Screenshots:
    def __init__(self, folder: Path):
        self.folder, self.prefix, self.count = folder, "e2e", 0

    def journey(self, letter: str):
        self.prefix, self.count = letter, 0
        return self.take

    def take(self, page, name: str) -> Path:
        self.count += 1
        path = self.folder / f"{self.prefix}-{self.count:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def browser_context(chromium, request, screenshots):
    """A fresh browser profile (no cookies) whose language is Arabic, as a citizen's would be.
    A failing journey leaves a screenshot of where it stopped."""
    context = chromium.new_context(locale="ar-SA", viewport={"width": 1024, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    yield context
    failed = getattr(request.node, "report_call", None)
    if failed is not None and failed.failed:
        for number, open_page in enumerate(context.pages):
            screenshots.take(open_page, f"failed-{number}")
    context.close()


@pytest.fixture
def page(browser_context):
    return browser_context.new_page()


@pytest.fixture
def other_device(chromium):
    """A second browser profile: the citizen's other device."""
    context = chromium.new_context(locale="ar-SA", viewport={"width": 400, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    yield context.new_page()
    context.close()


# --- the servers ------------------------------------------------------------------------------

@pytest.fixture
def idp_url():
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def app_overrides(idp_url):
    return {"issuer": idp_url, "TEST_CAPTCHA_ANSWER": CAPTCHA_ANSWER}


@pytest.fixture
def live_idp(app, signing_keys, idp_url):
    """The real IdP (tests/conftest.py's `app`), serving at its issuer URL."""
    stop = serve(app, idp_url)
    yield idp_url
    stop()


@pytest.fixture
def masar(live_idp, rps, tmp_path):
    """The Masar portal, registered at the IdP like any portal, serving on its own port."""
    from relying_parties.masar.app import create_app

    url = f"http://127.0.0.1:{free_port()}"
    client = rps.register(name="Masar", redirect_uris=[url + "/auth/callback"],
                          post_logout_redirect_uris=[url + "/"])
    portal = create_app({"MASAR_IDP_ISSUER": live_idp, "MASAR_CLIENT_ID": client.client_id,
                         "MASAR_CLIENT_SECRET": client.secret, "MASAR_BASE_URL": url,
                         "MASAR_DATABASE": str(tmp_path / "masar.sqlite3"),
                         "MASAR_SECRET_KEY": secrets.token_urlsafe(32)})
    stop = serve(portal, url)
    yield SimpleNamespace(url=url, client=client)
    stop()


@pytest.fixture
def saml_portal(live_idp, saml_keys, services, tmp_path):
    """The SAML service provider (python3-saml), registered at the IdP from its own metadata
    (as `idp rp register-saml` does), serving on its own port."""
    import requests

    from idp.saml import sps
    from relying_parties.saml_sp.app import create_app

    url = f"http://127.0.0.1:{free_port()}"
    portal = create_app({"SAMLSP_BASE_URL": url, "SAMLSP_IDP_METADATA_URL": live_idp + "/saml/metadata",
                         "SAMLSP_INSTANCE_PATH": str(tmp_path / "saml_sp"),
                         "SAMLSP_SECRET_KEY": secrets.token_urlsafe(32)})
    stop = serve(portal, url)
    metadata = requests.get(url + "/saml/metadata", timeout=10).text
    with services.db.session() as session:
        sps.register_saml(session, name="SAML test portal", metadata_xml=metadata, require_signed_requests=True)
        session.commit()
    yield SimpleNamespace(url=url)
    stop()


# --- the citizen's authenticator app ------------------------------------------------------------

class Authenticator:
    """An authenticator app holding one TOTP secret (RFC 6238, 30-second steps).

    The IdP accepts each step's code once, and the current step ± 1. A person who needs a second
    code within the same 30 seconds waits for the next one; a test cannot wait, so it types the
    next step's code, which the IdP accepts as clock drift."""

    def __init__(self, secret: str):
        import pyotp

        self.totp, self.used = pyotp.TOTP(secret), set()

    def code(self) -> str:
        now = int(time.time() // 30)
        step = now if now not in self.used else now + 1
        assert step not in self.used, "more than two codes asked for within 30 seconds"
        self.used.add(step)
        return self.totp.at(step * 30)


# --- what a citizen does, step by step ---------------------------------------------------------

def field(page, name: str):
    return page.locator(f'[name="{name}"]')


def fill(page, **values) -> None:
    """Type into the form fields with these names."""
    for name, value in values.items():
        field(page, name).fill(value)


def submit(page, field_name: str) -> None:
    """Press the submit button of the form that holds the field `field_name`."""
    page.locator("form", has=field(page, field_name)).locator('button[type="submit"]').first.click()


def expect_page(page, heading: str, lang: str = "ar") -> None:
    """The page a person sees: its main heading, in the language and direction expected."""
    expect(page.locator("h1")).to_have_text(heading)
    expect(page.locator("html")).to_have_attribute("lang", lang)
    expect(page.locator("html")).to_have_attribute("dir", "rtl" if lang == "ar" else "ltr")


SIGN_IN = {"ar": "تسجيل الدخول", "en": "Sign in"}
CONSENT = {"ar": "مشاركة بياناتك؟", "en": "Share your information?"}


def sign_in_at_idp(page, username: str, password: str, authenticator: Authenticator | None = None,
                   lang: str = "ar", shot=None) -> None:
    """The IdP's sign-in form, then its second-factor form when the identity has one."""
    expect_page(page, SIGN_IN[lang], lang)
    fill(page, username=username, password=password)
    if shot:
        shot(page, "sign-in")
    submit(page, "password")
    if authenticator is not None:
        enter_code(page, authenticator.code(), shot=shot)


def enter_code(page, code: str, shot=None) -> None:
    expect(field(page, "otp")).to_be_visible()
    field(page, "otp").fill(code)
    if shot:
        shot(page, "second-factor")
    submit(page, "otp")


def consent(page, lang: str = "ar", shot=None) -> None:
    """Allow the portal to receive what it asked for."""
    expect_page(page, CONSENT[lang], lang)
    if shot:
        shot(page, "consent")
    page.locator('button[name="decision"][value="allow"]').click()


def link_in_mail(smtp, address: str, path_part: str) -> str:
    """The link in the last mail the IdP sent to `address` through the SMTP server."""
    link = smtp.link(address, path_part)
    assert re.match(r"http://127\.0\.0\.1:\d+/", link), link  # the browser's host name: cookies follow
    return link


def complete_masar_profile(page, health: str, disability: str, shot=None) -> None:
    """Masar's first-visit form: two choices; email and mobile come pre-filled from the IdP."""
    page.check(f'input[name="health"][value="{health}"]')
    page.check(f'input[name="disability"][value="{disability}"]')
    if shot:
        shot(page, "masar-profile-form")
    submit(page, "health")
