"""The decision with the approval app (issue 14): an identity whose LoA 3 key is the app's passkey
on its phone is asked to approve in the app, like an identity with a passkey is asked for it."""
from __future__ import annotations

import pytest

from idp.authn import levels
from idp.authn.decision import Authentication, Refusal, Requirements, Step, decide

NOW = 10_000.0


def signed_in(level):
    return Authentication(identity="a" * 36, level=level, auth_time=NOW - 60, signed_in_at=NOW - 60)


CASES = [
    # (name, required, held, has TOTP, has passkey, has app, step)
    ("LoA 3 asked, the app only", levels.LOA3, levels.LOA1, False, False, True, Step.APP_APPROVAL),
    ("LoA 3 asked, TOTP and the app", levels.LOA3, levels.LOA2, True, False, True, Step.APP_APPROVAL),
    ("LoA 3 asked, a passkey and the app", levels.LOA3, levels.LOA2, True, True, True, Step.PASSKEY),
    ("LoA 3 asked, neither", levels.LOA3, levels.LOA2, True, False, False, Step.ENROL_PASSKEY),
    ("LoA 3 asked, LoA 3 held", levels.LOA3, levels.LOA3, False, False, True, Step.PROCEED),
    ("LoA 2 asked, TOTP and the app", levels.LOA2, levels.LOA1, True, False, True, Step.SECOND_FACTOR),
    ("LoA 2 asked, LoA 3 held", levels.LOA2, levels.LOA3, False, False, True, Step.PROCEED),
]


@pytest.mark.parametrize("name, required, held, totp, passkey, app, step", CASES, ids=[c[0] for c in CASES])
def test_app_steps(name, required, held, totp, passkey, app, step):
    decision = decide(Requirements(level=required), signed_in(held), has_second_factor=totp,
                      has_passkey=passkey, has_app_device=app, now=NOW)
    assert decision.step is step


def test_an_app_approval_reaches_loa3():
    assert levels.level_for(["hwk", "user", "mfa"]) == levels.LOA3


def test_loa3_asked_passively_of_an_app_user_needs_interaction():
    decision = decide(Requirements(level=levels.LOA3, passive=True), signed_in(levels.LOA2),
                      has_second_factor=True, has_app_device=True, now=NOW)
    assert (decision.step, decision.refusal) == (Step.REFUSE, Refusal.INTERACTION_REQUIRED)


def test_not_signed_in_is_a_sign_in_whatever_the_identity_has():
    decision = decide(Requirements(level=levels.LOA3), None, has_second_factor=False, has_app_device=True, now=NOW)
    assert decision.step is Step.SIGN_IN
