"""Links and hosts come from IDP_ISSUER, never from the Host header (issue 15, finding 2:
password-reset poisoning), and the CSRF origin check compares with the issuer."""
import re

import pytest

from tests.conftest import Web

ISSUER = "https://sso.example.gov.sa"
HTTPS_ONLY = {"issuer": ISSUER}
HTTPS = {"issuer": ISSUER, "trusted_hosts": "idp.internal"}


class At:
    """A test client that sends every request to `base_url` (scheme and host), cookies included."""

    def __init__(self, client, base_url):
        self.client, self.base_url = client, base_url

    def get(self, url, **kwargs):
        return self.client.get(url, base_url=self.base_url, **kwargs)

    def post(self, url, **kwargs):
        return self.client.post(url, base_url=self.base_url, **kwargs)


def browser_at(app, base_url):
    return Web(At(app.test_client(), base_url))


def attack(attacker, made, people, headers=None):
    """What the attacker does with a forged Host: get the form (with its CSRF token, if our server
    gives one), then post the citizen's details."""
    page = attacker.get("/recover")
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.get_data(as_text=True))
    data = {"national_id": people["citizen"].national_id, "email": made.email}
    return page, attacker.client.post("/recover", data={**data, "csrf_token": token.group(1) if token else ""},
                                      headers=headers)


def ask_for_a_link(web, made, people, headers=None):
    return web.submit("/recover", {"national_id": people["citizen"].national_id, "email": made.email},
                      headers=headers)


# --- a loopback (development) issuer ----------------------------------------------------------

def test_a_forged_host_is_refused_and_nothing_is_mailed(app, people, identities, smtp):
    """The attacker talks to our server naming its own host, page and post alike."""
    made = identities.make(people["citizen"])
    page, response = attack(browser_at(app, "http://evil.example"), made, people)
    assert page.status_code == 400 and response.status_code == 400
    assert "unknown host" in response.get_data(as_text=True)
    assert smtp.messages == []


@pytest.mark.parametrize("host", ["evil.example", "127.0.0.1.evil.example", "evil.example:5000",
                                  "", "a b", "evil.example/x"])
def test_any_page_refuses_an_unknown_host(client, host):
    assert client.get("/login", headers={"Host": host}).status_code == 400


def test_the_mailed_link_is_the_issuers_whatever_loopback_name_was_used(web, people, identities, smtp):
    made = identities.make(people["citizen"])
    assert ask_for_a_link(web, made, people).status_code == 200     # the test client says Host: localhost
    assert smtp.link(made.email, "/recover/link/").startswith("http://127.0.0.1:5000/recover/link/")


# --- an https issuer, with an extra host name accepted (e.g. for probes) -------------------------

@pytest.fixture
def https_web(app):
    return browser_at(app, ISSUER)


def referer(path="/recover"):
    return {"Referer": ISSUER + path}


@pytest.mark.parametrize("app_overrides", [HTTPS_ONLY])
def test_https_reset_link_comes_from_the_issuer(https_web, people, identities, smtp):
    made = identities.make(people["citizen"])
    assert ask_for_a_link(https_web, made, people, headers=referer()).status_code == 200
    assert smtp.link(made.email, "/recover/link/").startswith(ISSUER + "/recover/link/")


@pytest.mark.parametrize("app_overrides", [HTTPS_ONLY])
def test_https_forged_host_is_refused(app, people, identities, smtp):
    """Under https too: Flask-WTF compared the Referer with the same forged Host, so it passed."""
    made = identities.make(people["citizen"])
    page, response = attack(browser_at(app, "https://evil.example"), made, people,
                            headers={"Referer": "https://evil.example/recover"})
    assert page.status_code == 400 and response.status_code == 400
    assert smtp.messages == []


@pytest.mark.parametrize("app_overrides", [HTTPS])
def test_https_an_accepted_alias_still_mails_the_issuers_link(app, people, identities, smtp):
    made = identities.make(people["citizen"])
    alias = browser_at(app, "https://idp.internal")
    assert ask_for_a_link(alias, made, people, headers=referer()).status_code == 200
    link = smtp.link(made.email, "/recover/link/")
    assert link.startswith(ISSUER + "/recover/link/") and "idp.internal" not in link


@pytest.mark.parametrize("app_overrides", [HTTPS])
@pytest.mark.parametrize("headers", [
    {},                                                                  # neither Origin nor Referer
    {"Origin": "null"},
    {"Origin": "https://evil.example", **referer()},
    {"Referer": "https://evil.example/recover"},
    {"Referer": "http://sso.example.gov.sa/recover"},                    # not the issuer's scheme
    {"Referer": "https://sso.example.gov.sa.evil.example/recover"},
    {"Referer": "https://idp.internal/recover"},                         # an accepted host, not the issuer
])
def test_https_csrf_origin_is_the_issuers(https_web, people, identities, smtp, headers):
    made = identities.make(people["citizen"])
    response = ask_for_a_link(https_web, made, people, headers=headers)
    assert response.status_code == 400 and smtp.messages == []


@pytest.mark.parametrize("app_overrides", [HTTPS])
@pytest.mark.parametrize("headers", [{"Origin": ISSUER}, {"Origin": "null", **referer()},
                                     {"Origin": "https://SSO.example.gov.sa:443"}, referer("/")])
def test_https_posts_from_our_own_pages_pass(https_web, people, identities, smtp, headers):
    made = identities.make(people["citizen"])
    assert ask_for_a_link(https_web, made, people, headers=headers).status_code == 200
    assert len(smtp.messages) == 1


@pytest.mark.parametrize("app_overrides", [HTTPS])
def test_https_email_confirmation_link_comes_from_the_issuer(app, people, identities, smtp):
    made = identities.make(people["citizen"], active=False)
    alias = browser_at(app, "https://idp.internal")
    response = alias.submit("/login", {"username": made.username, "password": made.password}, headers=referer())
    assert response.status_code == 403                                # pending: confirm your email first
    response = alias.submit("/register/resend", {}, page="/login", headers=referer())
    assert response.status_code == 200
    assert smtp.link(made.email, "/register/verify/").startswith(ISSUER + "/register/verify/")


def test_our_pages_send_a_same_origin_referrer_policy(client):
    # Under no-referrer browsers post our forms with Origin: null and no Referer (seen in Chromium).
    assert client.get("/login").headers["Referrer-Policy"] == "same-origin"


@pytest.mark.parametrize("value", ["https://idp.internal", "idp.internal:8443", "idp.internal/x", "a b"])
def test_a_trusted_host_must_be_a_bare_host_name(value, tmp_path):
    from idp.errors import ConfigError
    from idp.settings import load_settings

    with pytest.raises(ConfigError, match="IDP_TRUSTED_HOSTS"):
        load_settings({"trusted_hosts": value, "instance_path": str(tmp_path)}, environ={})


@pytest.mark.parametrize("app_overrides", [HTTPS_ONLY])
def test_https_protocol_endpoints_posted_from_portals_are_not_origin_checked(app):
    """Relying parties post to the token endpoint from their own origin: the protocol's checks apply."""
    client = At(app.test_client(), ISSUER)
    response = client.post("/oidc/token", data={"grant_type": "authorization_code", "code": "x",
                                                "client_id": "nobody"},
                           headers={"Origin": "https://masar.example.gov.sa"})
    assert response.status_code == 401 and response.json["error"] == "invalid_client"
