"""The first-time release notice for SAML service providers (idp.web.saml_release): what the SP will
receive is shown before its first answer, remembered like OIDC consent, withdrawable, and a
declined release answers the SP Responder / RequestDenied (SAML Core §3.2.2.2)."""
import base64
import re
from xml.etree.ElementTree import fromstring

from sqlalchemy import select

from idp.models import AuditEvent, Consent
from tests.conftest import csrf_token
from tests.saml.service_provider import post_form
from tests.saml.test_sso import follow_to_form, local

SAMLP = "{urn:oasis:names:tc:SAML:2.0:protocol}"


def to_the_notice(web, sp, made):
    """Signed in, at the notice: (its page, its form's action)."""
    web.client.set_cookie("idp_lang", "en")
    response = web.get(local(sp.login_url()))
    next_url = response.location.split("next=", 1)[1]
    from urllib.parse import unquote
    response = web.get(web.login(made.username, made.password, next_url=unquote(next_url)).location)
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "<h1>Share your information?</h1>" in page, page[:400]
    return page, re.search(r'action="(/saml/sso/release/[^"]+)"', page).group(1)


def status_codes(form) -> list[str]:
    xml = fromstring(base64.b64decode(form["SAMLResponse"]))
    return [code.get("Value").rsplit(":", 1)[1] for code in xml.iter(f"{SAMLP}StatusCode")]


def test_the_notice_lists_what_the_sp_will_receive_and_allowing_is_remembered(web, saml_sp, people, identities, db):
    made = identities.make(people["citizen"])
    sp = saml_sp()
    page, action = to_the_notice(web, sp, made)
    assert "<bdi>Test SP</bdi>" in page
    for label in ("Name in Arabic", "Date of birth (Hijri)", "Email address", "Mobile number"):
        assert f"<li>{label}</li>" in page
    assert "National ID" not in page                      # this SP is not allowed the national ID
    assert "/saml/sso/continue/" in page                  # the language switch never replays the request
    answered = web.client.post(action, data={"csrf_token": csrf_token(page), "decision": "allow"})
    form = post_form(answered.get_data(as_text=True))
    auth = sp.accept(form["SAMLResponse"], sp.last_request_id)
    assert auth.get_errors() == [] and auth.is_authenticated()
    [given] = db.scalars(select(Consent)).all()
    assert "email" in given.scopes and "nationalId" not in given.scopes
    # The next sign-in to it goes straight back: the release is remembered.
    again, _ = follow_to_form(web, sp.login_url(), made, release="deny")
    assert sp.accept(again["SAMLResponse"], sp.last_request_id).is_authenticated()
    # It is listed on the account page, and disconnecting it brings the notice back.
    link = re.search(r'href="(/account/services/\d+/disconnect)"', web.get("/account").get_data(as_text=True))
    assert link and "Test SP is disconnected" in web.submit(link.group(1), {}).get_data(as_text=True)
    assert db.scalars(select(Consent)).all() == []
    response = web.get(local(sp.login_url()))
    assert "<h1>Share your information?</h1>" in response.get_data(as_text=True)


def test_a_declined_release_answers_request_denied(web, saml_sp, people, identities, db):
    made = identities.make(people["citizen"])
    sp = saml_sp()
    page, action = to_the_notice(web, sp, made)
    answered = web.client.post(action, data={"csrf_token": csrf_token(page), "decision": "deny"})
    form = post_form(answered.get_data(as_text=True))
    assert status_codes(form) == ["Responder", "RequestDenied"]
    assert not sp.accept(form["SAMLResponse"], sp.last_request_id).is_authenticated()
    assert db.scalars(select(Consent)).all() == []
    assert "saml.release_denied" in db.scalars(select(AuditEvent.kind)).all()
    # Answered once: the same pending request cannot be answered again.
    assert web.client.post(action, data={"csrf_token": csrf_token(page), "decision": "allow"}).status_code == 400


def test_an_sp_allowed_the_national_id_lists_it(web, saml_sp, people, identities):
    made = identities.make(people["citizen"])
    page, _ = to_the_notice(web, saml_sp(allow_national_id=True), made)
    assert "<li>National ID</li>" in page


def test_a_passive_request_cannot_show_the_notice(web, saml_sp, people, identities):
    made = identities.make(people["citizen"])
    sp = saml_sp()
    to_the_notice(web, sp, made)                           # signed in, never answered
    response = web.get(local(sp.login_url(is_passive=True)))
    assert status_codes(post_form(response.get_data(as_text=True))) == ["Responder", "NoPassive"]


def test_the_release_needs_the_form(web, saml_sp, people, identities):
    made = identities.make(people["citizen"])
    _, action = to_the_notice(web, saml_sp(), made)
    assert web.client.post(action, data={"decision": "allow"}).status_code == 400  # no CSRF token
    page = web.get("/account").get_data(as_text=True)
    assert web.client.post("/saml/sso/release/unknown", data={"csrf_token": csrf_token(page),
                                                             "decision": "allow"}).status_code == 400

