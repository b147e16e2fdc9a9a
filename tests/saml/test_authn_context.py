"""RequestedAuthnContext, SAML Core §3.3.2.2.1: exact, minimum, better, maximum over our two levels."""
import base64
from urllib.parse import unquote

import pyotp
import pytest

from idp.saml.authn_context import (LOA1, LOA2, MOBILE_TWO_FACTOR, PASSWORD, PASSWORD_PROTECTED_TRANSPORT,
                                    REFEDS_MFA, requirement)
from tests.saml import crafted
from tests.saml.service_provider import post_form
from tests.saml.test_sso import answer_release, follow_to_form

SMARTCARD = "urn:oasis:names:tc:SAML:2.0:ac:classes:Smartcard"
NO_AUTHN_CONTEXT = b"urn:oasis:names:tc:SAML:2.0:status:NoAuthnContext"


@pytest.mark.parametrize("refs, comparison, floor, ceiling", [
    ([PASSWORD_PROTECTED_TRANSPORT], None, 1, 1),          # exact is the default
    ([PASSWORD], "exact", 1, 1),
    ([PASSWORD, REFEDS_MFA], "exact", 1, 2),
    ([REFEDS_MFA], "exact", 2, 2),
    ([PASSWORD], "minimum", 1, 2),
    ([LOA2, PASSWORD], "minimum", 1, 2),
    ([MOBILE_TWO_FACTOR], "minimum", 2, 2),
    ([PASSWORD_PROTECTED_TRANSPORT], "better", 2, 2),
    ([LOA1], "maximum", 1, 1),
    ([LOA2], "maximum", 1, 2),
    ([SMARTCARD, PASSWORD], "exact", 1, 1),                 # unknown classes are not ours to state
])
def test_satisfiable(refs, comparison, floor, ceiling):
    found = requirement(refs, comparison)
    assert (found.floor, found.ceiling) == (floor, ceiling)


@pytest.mark.parametrize("refs, comparison, sp_floor", [
    ([SMARTCARD], "exact", 1),
    ([SMARTCARD], "minimum", 1),
    ([LOA2], "better", 1),
    ([SMARTCARD], "exact", 2),
    ([REFEDS_MFA], "better", 2),
    ([], "exact", 1),
])
def test_unsatisfiable(refs, comparison, sp_floor):
    assert requirement(refs, comparison, sp_floor=sp_floor) is None


@pytest.mark.parametrize("comparison", ["exact", "maximum"])
def test_an_sp_that_needs_a_second_factor_gets_it_and_the_class_it_asked_for(comparison):
    """SP registered --require-loa2, request for a password (python3-saml's default): the second
    factor is performed, the statement names the password class the request allows."""
    found = requirement([PASSWORD_PROTECTED_TRANSPORT], comparison, sp_floor=2)
    assert found.requires_second_factor and found.class_for(2) == PASSWORD_PROTECTED_TRANSPORT


def test_declarations_are_not_supported():
    assert requirement(None, None, has_declarations=True) is None


def test_the_stated_class_is_a_requested_one_at_the_level_reached():
    assert requirement([PASSWORD, REFEDS_MFA], "exact").class_for(1) == PASSWORD
    assert requirement([PASSWORD, REFEDS_MFA], "exact").class_for(2) == REFEDS_MFA
    assert requirement([PASSWORD], "maximum").class_for(2) == PASSWORD    # never above the maximum
    assert requirement([PASSWORD], "minimum").class_for(2) == LOA2
    assert requirement(None, None).class_for(1) == PASSWORD_PROTECTED_TRANSPORT


# --- through the SSO endpoint -----------------------------------------------------------------------

def _answer(web, sp, context):
    response = crafted.post(web, crafted.authn_request(sp, inside=context))
    return response


@pytest.mark.parametrize("context", [
    crafted.requested_context(SMARTCARD, comparison="exact"),
    crafted.requested_context(LOA2, comparison="better"),
    crafted.requested_context(SMARTCARD),
])
def test_unsatisfiable_context_is_answered_no_authn_context(web, saml_sp, context):
    """Before any sign-in, a signed error Response to the ACS: not a password assertion."""
    sp = saml_sp(sign_requests=False)
    response = _answer(web, sp, context)
    assert response.status_code == 200
    form = post_form(response.get_data(as_text=True))
    assert NO_AUTHN_CONTEXT in base64.b64decode(form["SAMLResponse"])
    assert form["action"] == sp.settings["sp"]["assertionConsumerService"]["url"]


def test_better_than_a_password_asks_for_the_second_factor(web, saml_sp, people, identities):
    made = identities.make(people["citizen"], totp=True)
    sp = saml_sp(sign_requests=False)
    response = _answer(web, sp, crafted.requested_context(PASSWORD_PROTECTED_TRANSPORT, comparison="better"))
    assert response.status_code == 302 and "/login" in response.location
    next_url = unquote(response.location.split("next=", 1)[1])
    response = web.login(made.username, made.password, otp=pyotp.TOTP(made.secret).now(), next_url=next_url)
    page = answer_release(web, web.get(response.location))  # the first time: the release notice
    assertion = sp.accept(post_form(page.get_data(as_text=True))["SAMLResponse"])
    assert assertion.get_errors() == [], assertion.get_last_error_reason()
    assert assertion.get_last_authn_contexts() == [LOA2]


def _signed_in_with_second_factor(web, saml_sp, people, identities):
    made = identities.make(people["citizen"], totp=True)
    sp = saml_sp(sign_requests=False)
    form, _ = follow_to_form(web, sp.login_url(), made, otp=pyotp.TOTP(made.secret).now())
    return sp


@pytest.mark.parametrize("context, stated", [
    (crafted.requested_context(PASSWORD, comparison="maximum"), PASSWORD),   # never above the maximum
    (crafted.requested_context(REFEDS_MFA, comparison="exact"), REFEDS_MFA),
    (crafted.requested_context(PASSWORD, REFEDS_MFA), REFEDS_MFA),
    (crafted.requested_context(PASSWORD, comparison="minimum"), LOA2),
])
def test_the_statement_names_a_class_the_request_allows(web, saml_sp, people, identities, context, stated):
    sp = _signed_in_with_second_factor(web, saml_sp, people, identities)
    response = _answer(web, sp, context)
    assertion = sp.accept(post_form(response.get_data(as_text=True))["SAMLResponse"])
    assert assertion.get_errors() == [], assertion.get_last_error_reason()
    assert assertion.get_last_authn_contexts() == [stated]
