"""LoA 3 (a passkey sign-in): its amr → level mapping and the decision's passkey steps."""
from __future__ import annotations

import pytest

from idp.authn import levels
from idp.authn.decision import Authentication, Refusal, Requirements, Step, decide

NOW = 10_000.0


def signed_in(level):
    return Authentication(identity="a" * 36, level=level, auth_time=NOW - 60, signed_in_at=NOW - 60)


@pytest.mark.parametrize("amr, level", [
    (["hwk", "user", "mfa"], levels.LOA3),
    (["swk", "user", "mfa"], levels.LOA3),
    (["pwd", "hwk", "user", "mfa"], levels.LOA3),
    (["hwk"], levels.LOA1),  # a key without user verification is one factor
    (["user"], levels.LOA1),
    (["pwd", "otp"], levels.LOA2),
])
def test_level_for_passkey_methods(amr, level):
    assert levels.level_for(amr) == level


def test_loa3_is_the_strongest_and_is_advertised():
    assert levels.ORDER[-1] == levels.LOA3 == "urn:idp:loa:3"
    assert levels.satisfies(levels.LOA3, levels.LOA2) and not levels.satisfies(levels.LOA2, levels.LOA3)
    assert levels.SAML_LEVEL_OF[levels.SAML_CLASS_FOR[levels.LOA3]] == levels.LOA3


CASES = [
    # (name, required, held, has TOTP, has passkey, step)
    ("LoA 3 asked, has a passkey", levels.LOA3, levels.LOA2, True, True, Step.PASSKEY),
    ("LoA 3 asked, no passkey", levels.LOA3, levels.LOA2, True, False, Step.ENROL_PASSKEY),
    ("LoA 3 asked, password only", levels.LOA3, levels.LOA1, False, False, Step.ENROL_PASSKEY),
    ("LoA 3 asked, LoA 3 held", levels.LOA3, levels.LOA3, False, True, Step.PROCEED),
    ("LoA 2 asked, passkey is the only second factor", levels.LOA2, levels.LOA1, False, True, Step.PASSKEY),
    ("LoA 2 asked, TOTP and a passkey", levels.LOA2, levels.LOA1, True, True, Step.SECOND_FACTOR),
    ("LoA 2 asked, LoA 3 held", levels.LOA2, levels.LOA3, False, True, Step.PROCEED),
]


@pytest.mark.parametrize("name, required, held, totp, passkey, step", CASES, ids=[c[0] for c in CASES])
def test_passkey_steps(name, required, held, totp, passkey, step):
    decision = decide(Requirements(level=required), signed_in(held), has_second_factor=totp,
                      has_passkey=passkey, now=NOW)
    assert decision.step is step


def test_loa3_asked_passively_needs_interaction():
    decision = decide(Requirements(level=levels.LOA3, passive=True), signed_in(levels.LOA2),
                      has_second_factor=True, has_passkey=True, now=NOW)
    assert (decision.step, decision.refusal) == (Step.REFUSE, Refusal.INTERACTION_REQUIRED)
