"""The one sign-in decision, table-driven: every protocol's rules meet here."""
from __future__ import annotations

import pytest

from idp.authn import levels
from idp.authn.decision import Authentication, Refusal, Requirements, Step, decide

NOW = 10_000.0
ALICE = "a" * 36


def signed_in(level=levels.LOA1, auth_age=60, signed_in_at=NOW - 60, identity=ALICE):
    return Authentication(identity=identity, level=level, auth_time=NOW - auth_age, signed_in_at=signed_in_at)


CASES = [
    # (name, requirements, session, has_second_factor, step, refusal)
    ("not signed in", Requirements(), None, False, Step.SIGN_IN, None),
    ("not signed in, passive", Requirements(passive=True), None, False, Step.REFUSE, Refusal.LOGIN_REQUIRED),
    ("signed in, password enough", Requirements(), signed_in(), False, Step.PROCEED, None),
    ("LoA 2 asked, has TOTP", Requirements(level=levels.LOA2), signed_in(), True, Step.SECOND_FACTOR, None),
    ("LoA 2 asked, no second factor", Requirements(level=levels.LOA2), signed_in(), False,
     Step.ENROL_SECOND_FACTOR, None),
    ("LoA 2 asked, passive", Requirements(level=levels.LOA2, passive=True), signed_in(), True,
     Step.REFUSE, Refusal.INTERACTION_REQUIRED),
    ("LoA 2 asked, LoA 2 held", Requirements(level=levels.LOA2), signed_in(levels.LOA2), True, Step.PROCEED, None),
    ("LoA 1 asked, LoA 2 held", Requirements(), signed_in(levels.LOA2), True, Step.PROCEED, None),
    ("unknown level asked", Requirements(level="urn:idp:loa:9"), signed_in(levels.LOA2), True,
     Step.REFUSE, Refusal.UNSATISFIABLE),
    ("force, sign-in older than request", Requirements(force=True, requested_at=NOW - 10), signed_in(), False,
     Step.SIGN_IN, None),
    ("force, signed in after the request", Requirements(force=True, requested_at=NOW - 100), signed_in(), False,
     Step.PROCEED, None),
    ("force, passive", Requirements(force=True, passive=True, requested_at=NOW - 10), signed_in(), False,
     Step.REFUSE, Refusal.LOGIN_REQUIRED),
    ("max_age exceeded", Requirements(max_age=30, requested_at=NOW - 10), signed_in(auth_age=60), False,
     Step.SIGN_IN, None),
    ("max_age met", Requirements(max_age=120, requested_at=NOW - 10), signed_in(auth_age=60), False,
     Step.PROCEED, None),
    ("max_age=0 right after signing in for this request", Requirements(max_age=0, requested_at=NOW - 100),
     signed_in(auth_age=5), False, Step.PROCEED, None),
    ("hint names another identity", Requirements(other_identity_expected=True, requested_at=NOW), signed_in(), False,
     Step.SIGN_IN, None),
    ("hint names another identity, passive", Requirements(other_identity_expected=True, passive=True,
                                                            requested_at=NOW), signed_in(),
     False, Step.REFUSE, Refusal.LOGIN_REQUIRED),
    ("hint names another identity, signed in again since", Requirements(other_identity_expected=True,
     requested_at=NOW - 100), signed_in(), False, Step.PROCEED, None),
    ("session without a level (older session)", Requirements(), signed_in(level=None), False,
     Step.ENROL_SECOND_FACTOR, None),
]


@pytest.mark.parametrize("name, required, current, has_second_factor, step, refusal", CASES,
                         ids=[case[0] for case in CASES])
def test_decide(name, required, current, has_second_factor, step, refusal):
    decision = decide(required, current, has_second_factor=has_second_factor, now=NOW)
    assert decision.step is step
    assert decision.refusal is refusal
    assert decision.proceed is (step is Step.PROCEED)


def test_levels_are_ordered_and_reached_by_methods():
    assert levels.level_for(["pwd"]) == levels.LOA1
    assert levels.level_for(["pwd", "otp"]) == levels.LOA2
    assert levels.level_for(["pwd", "recovery"]) == levels.LOA2
    assert levels.satisfies(levels.LOA2, levels.LOA1) and not levels.satisfies(levels.LOA1, levels.LOA2)
    assert not levels.satisfies(None, levels.LOA1) and not levels.satisfies("urn:x", levels.LOA1)
    assert levels.highest() == levels.ORDER[-1]
    for level in levels.ORDER:
        assert levels.SAML_LEVEL_OF[levels.SAML_CLASS_FOR[level]] == level


@pytest.mark.parametrize("has_totp, has_passkey, step", [
    (True, False, Step.SECOND_FACTOR),
    (True, True, Step.SECOND_FACTOR),        # the code first; the passkey button is on the login page
    (False, True, Step.PASSKEY),
    (False, False, Step.ENROL_SECOND_FACTOR),  # never signed in by the password alone
])
def test_after_the_password_a_second_factor_is_asked_or_set_up(has_totp, has_passkey, step):
    from idp.authn.decision import after_password

    assert after_password(has_totp=has_totp, has_passkey=has_passkey) is step
