"""axe-core (Deque, MPL-2.0; pinned in tests/e2e/axe/package.json, installed by `make test`) on the
main pages of the IdP, Masar and the SAML portal, in Arabic and in English, error states and the
pages of issue 12 included (the second-factor set-up, the SAML release notice, the disconnect
confirmation): zero violations of the WCAG 2.0, 2.1 and 2.2 A and AA rules. A screenshot of every
page checked is saved (see `screenshots`).

axe runs inside the page through the DevTools protocol (`page.evaluate`), which the pages' CSP
(script-src 'self', or none at Masar) does not govern, so the pages are checked as served."""
from __future__ import annotations

from pathlib import Path

import pyotp
import pytest

from tests.e2e.conftest import TIMEOUT_MS, expect, field, fill, submit

AXE = Path(__file__).parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
RUN = """async (tags) => {
  const result = await axe.run(document, {runOnly: {type: "tag", values: tags}});
  return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                      nodes: v.nodes.slice(0, 5).map(n => n.target.join(" "))}));
}"""
SSO_LINK = {"ar": "الدخول عبر النفاذ الوطني الموحد", "en": "Sign in through National SSO"}


@pytest.fixture(scope="session")
def axe_source() -> str:
    if not AXE.is_file():
        pytest.skip(f"{AXE} is missing: `make test` installs it (npm ci in tests/e2e/axe)")
    return AXE.read_text(encoding="utf-8")


@pytest.fixture
def citizen_browser(chromium, request):
    """A browser whose language is the test's (Accept-Language: all three sites follow it)."""
    lang = request.node.callspec.params["lang"]
    context = chromium.new_context(locale="ar-SA" if lang == "ar" else "en-GB",
                                   viewport={"width": 1024, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    yield context.new_page()
    context.close()


class Checker:
    """Checks each page it is given with axe, saves its screenshot, and collects the violations so
    that one run reports every page that has any."""

    def __init__(self, source: str, shot, lang: str):
        self.source, self.shot, self.lang, self.found, self.checked = source, shot, lang, {}, []

    def __call__(self, page, name: str) -> None:
        page.wait_for_load_state("load")
        expect(page.locator("html")).to_have_attribute("lang", self.lang)
        self.shot(page, name)
        page.evaluate(self.source)
        violations = page.evaluate(RUN, TAGS)
        self.checked.append(name)
        if violations:
            self.found[f"{name} ({page.url})"] = violations


@pytest.mark.parametrize("lang", ["ar", "en"])
def test_no_axe_violations_on_the_main_pages(citizen_browser, axe_source, live_idp, masar, saml_portal, people,
                                            identities, screenshots, lang):
    page = citizen_browser
    check = Checker(axe_source, screenshots.journey(f"axe-{lang}"), lang)

    # The IdP before signing in, and its error states.
    for path, name in (("/", "idp-home"), ("/login", "idp-login"), ("/register", "idp-register"),
                       ("/recover", "idp-recover"), ("/no-such-page", "idp-not-found")):
        page.goto(live_idp + path)
        check(page, name)
    page.goto(live_idp + "/login")
    submit(page, "password")
    expect(page.locator("[data-error-summary]")).to_be_focused()
    check(page, "idp-login-errors")
    page.goto(live_idp + "/register")
    submit(page, "national_id")
    expect(page.locator("[data-error-summary]")).to_be_focused()
    check(page, "idp-register-errors")

    # An identity without a second factor: the set-up after the password (the pages of issue 12).
    citizen = identities.make(people["citizen"], totp=False)
    page.goto(live_idp + "/login?next=/account")
    fill(page, username=citizen.username, password=citizen.password)
    submit(page, "password")
    expect(page.locator('a[href$="/two-step/set-up/app"]')).to_be_visible()
    check(page, "idp-second-factor-choice")
    page.locator('a[href$="/two-step/set-up/app"]').click()
    check(page, "idp-two-step-enrol")
    secret = page.locator("code.secret").inner_text().replace(" ", "")
    field(page, "otp").fill("000000")
    submit(page, "otp")
    expect(page.locator("[data-error-summary]")).to_be_focused()
    check(page, "idp-two-step-enrol-error")
    field(page, "otp").fill(pyotp.TOTP(secret).now())
    submit(page, "otp")
    expect(page.locator("ul.codes li")).to_have_count(10)
    check(page, "idp-recovery-codes")
    page.locator("main a.button").click()
    check(page, "idp-account")
    page.goto(live_idp + "/account/two-step")
    check(page, "idp-two-step-on")

    # Masar over OpenID Connect: the IdP's consent, Masar's form with errors, its profile.
    page.goto(masar.url + "/")
    check(page, "masar-home")
    page.get_by_role("link", name=SSO_LINK[lang]).click()
    expect(page.locator('button[name="decision"][value="allow"]')).to_be_visible()
    check(page, "idp-consent")
    page.locator('button[name="decision"][value="allow"]').click()
    expect(page.locator('input[name="health"]').first).to_be_visible()
    check(page, "masar-profile-form")
    field(page, "email").fill("not-an-address")
    submit(page, "email")
    expect(page.locator("[data-error-summary]")).to_be_focused()
    check(page, "masar-profile-errors")
    page.check('input[name="health"][value="healthy"]')
    page.check('input[name="disability"][value="none"]')
    field(page, "email").fill("citizen.one@example.com")
    submit(page, "email")
    expect(page.get_by_role("status")).to_be_visible()
    check(page, "masar-profile")

    # The SAML portal: the release notice the first time, then what was released.
    page.goto(saml_portal.url + "/")
    check(page, "saml-home")
    page.get_by_role("link", name=SSO_LINK[lang]).click()
    expect(page.locator("ul.claims")).to_be_visible()
    check(page, "idp-saml-release")
    page.locator('button[name="decision"][value="allow"]').click()
    expect(page.locator("table.attributes")).to_be_visible()
    check(page, "saml-attributes")

    # Disconnecting a service: asked first, then said what happened.
    page.goto(live_idp + "/account")
    page.locator('a[href*="/disconnect"]').first.click()
    check(page, "idp-disconnect-confirm")
    page.locator("main form button[type=submit]").click()
    check(page, "idp-disconnected")

    assert len(check.checked) == 23
    assert check.found == {}, "\n".join(f"{page}: {violations}" for page, violations in check.found.items())


def test_the_check_finds_what_it_should(chromium, axe_source):
    """The control: the same check on a page with known faults reports them."""
    context = chromium.new_context()
    try:
        page = context.new_page()
        page.set_content('<html><head><title>t</title></head><body><img src="x.png"><input type="text"></body></html>')
        page.evaluate(axe_source)
        ids = {violation["id"] for violation in page.evaluate(RUN, TAGS)}
    finally:
        context.close()
    assert {"image-alt", "label", "html-has-lang"} <= ids, ids
