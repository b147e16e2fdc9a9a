"""The no-JavaScript "Returning to the service" page: its language switch shows the same answer in
the other language and never replays the single-use AuthnRequest (issue 12, Deliver 5)."""
from __future__ import annotations

import re
from html import unescape
from urllib.parse import unquote

from tests.saml.service_provider import post_form
from tests.saml.test_sso import follow_to_form


def language_switch(html: str) -> str:
    return unescape(re.search(r'<a class="lang" href="([^"]+)"', html).group(1))


def test_switching_language_shows_the_same_answer_again(web, saml_sp, people, identities):
    made = identities.make(people["citizen"])
    sp = saml_sp()
    form, response = follow_to_form(web, sp.login_url(), made)
    switch = language_switch(response.get_data(as_text=True))
    assert "SAMLRequest" not in unquote(switch) and "/saml/sso" not in unquote(switch)
    switched = web.get(switch)
    assert switched.status_code == 302
    again = web.get(switched.location)
    html = again.get_data(as_text=True)
    assert again.status_code == 200 and '<html lang="en" dir="ltr">' in html and "Returning to the service" in html
    assert post_form(html) == form  # the same response, not a new one and not an error
    auth = sp.accept(form["SAMLResponse"], sp.last_request_id)
    assert auth.is_authenticated(), auth.get_last_error_reason()


def test_nothing_kept_means_the_home_page(client):
    response = client.get("/saml/returning")
    assert response.status_code == 302 and response.location.endswith("/")


def test_an_old_answer_is_not_shown_again(web, saml_sp, people, identities, monkeypatch):
    import time

    made = identities.make(people["citizen"])
    follow_to_form(web, saml_sp().login_url(), made)
    later = time.time() + 301
    monkeypatch.setattr("idp.web.saml.time.time", lambda: later)
    assert web.get("/saml/returning").status_code == 302
