"""SAML and LoA 3 (a passkey sign-in): only a request that names urn:idp:loa:3 demands it."""
import pytest

from idp.authn import levels
from idp.saml.authn_context import PASSWORD, REFEDS_MFA, requirement

LOA3 = levels.LOA3


@pytest.mark.parametrize("refs, comparison, floor, ceiling", [
    ([LOA3], "exact", 3, 3),
    ([LOA3], "minimum", 3, 3),
    ([PASSWORD, LOA3], "exact", 1, 3),
    ([REFEDS_MFA], "minimum", 2, 2),      # a passkey satisfies it; the statement stays at level 2
    ([LOA3], "maximum", 1, 3),
])
def test_loa3_requests(refs, comparison, floor, ceiling):
    found = requirement(refs, comparison)
    assert (found.floor, found.ceiling) == (floor, ceiling)


def test_a_passkey_sign_in_is_stated_as_loa3_where_the_request_allows_it():
    assert requirement([LOA3], "exact").class_for(3) == LOA3
    assert requirement(None, None).class_for(3) == LOA3
    assert requirement([REFEDS_MFA], "minimum").class_for(3) == REFEDS_MFA
    assert requirement([PASSWORD], "exact").class_for(3) == PASSWORD
    assert requirement([PASSWORD, LOA3], "exact").class_for(2) == PASSWORD  # exact: a requested class


def test_better_than_loa3_is_unsatisfiable():
    assert requirement([LOA3], "better") is None
