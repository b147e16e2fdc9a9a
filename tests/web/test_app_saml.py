"""A SAML request for urn:idp:loa:3 answered through the approval app (issue 14): the same sign-in
as for OIDC, resumed through idp.web.gate, and stated in the assertion's AuthnContext."""
import copy
import re
from urllib.parse import unquote

import pytest

from idp.authn import levels
from tests.saml.service_provider import post_form
from tests.saml.test_sso import answer_release
from tests.web.test_app import ISSUER, Phone, enrolment_link, finish, start_sign_in


@pytest.fixture
def app_overrides():
    return {"issuer": ISSUER}


@pytest.fixture
def saml_keys(services):
    return services.keyring.generate_saml("localhost")


def test_a_saml_loa3_request_is_answered_through_the_app(app, web, saml_sp, people, identities):
    made = identities.make(people["citizen"])
    phone = Phone(app)
    assert phone.enrol(enrolment_link(web, made)).status_code == 200
    web.logout()
    sp = saml_sp()
    settings = copy.deepcopy(sp.settings)
    settings["security"]["requestedAuthnContext"] = [levels.LOA3]
    settings["security"]["requestedAuthnContextComparison"] = "exact"
    response = web.get(sp.login_url(settings=settings).replace(ISSUER, ""))
    assert response.status_code == 302 and "/login" in response.location
    resume = unquote(response.location.split("next=", 1)[1])
    number = start_sign_in(web, made.username, next_url=resume)
    shown = phone.pending().json["request"]
    assert shown["portal_en"] == "Test SP"
    assert phone.pick(shown["id"], number).json == {"status": "approved"}
    response = finish(web)
    assert response.status_code == 302 and response.location == resume
    page = answer_release(web, web.get(resume))  # the first time: what the SP will receive
    assert page.status_code == 200, page.headers.get("Location")
    form = post_form(page.get_data(as_text=True))
    auth = sp.accept(form["SAMLResponse"], sp.last_request_id)
    assert auth.get_errors() == [], auth.get_last_error_reason()
    assert re.search(r"AuthnContextClassRef>urn:idp:loa:3<", auth.get_last_response_xml())
