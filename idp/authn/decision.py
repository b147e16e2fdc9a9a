"""The one sign-in decision (OIDC Core 1.0 §3.1.2.3, SAML Profiles §4.1.4.1): given what a pending
request requires and what the browser's session holds, what happens next.

Each protocol turns its request into `Requirements` (OIDC: prompt, max_age, acr_values,
id_token_hint; SAML: ForceAuthn, IsPassive, RequestedAuthnContext) and the answer back into its
own terms (OIDC error codes, SAML status codes). A new sign-in method changes this module and
`levels`, not the protocol views.
"""
from __future__ import annotations

import dataclasses
import enum

from idp.authn import levels


class Step(enum.Enum):
    PROCEED = "proceed"  # answer the relying party now
    SIGN_IN = "sign_in"  # (again) with the password
    SECOND_FACTOR = "second_factor"  # the identity has one: ask for it
    ENROL_SECOND_FACTOR = "enrol_second_factor"  # the identity has none: set one up first
    PASSKEY = "passkey"  # sign in with one of the identity's passkeys
    ENROL_PASSKEY = "enrol_passkey"  # LoA 3 asked of an identity without a passkey: add one first
    APP_APPROVAL = "app_approval"  # LoA 3 asked of an identity with the approval app but no passkey
    REFUSE = "refuse"


class Refusal(enum.Enum):
    """Why a request cannot be answered, in protocol-neutral words."""

    LOGIN_REQUIRED = "login_required"  # passive request, no (fresh enough / matching) sign-in
    INTERACTION_REQUIRED = "interaction_required"  # passive request, a stronger sign-in is needed
    UNSATISFIABLE = "unsatisfiable"  # no method we have reaches what was asked


@dataclasses.dataclass(frozen=True)
class Requirements:
    level: str = levels.LOA1
    max_age: int | None = None  # seconds since the credentials were last verified
    force: bool = False  # prompt=login, ForceAuthn: a sign-in after the request arrived
    passive: bool = False  # prompt=none, IsPassive: never show a page
    requested_at: float = 0.0  # when the request arrived
    # id_token_hint (OIDC Core §3.1.2.1) named someone other than the signed-in identity
    other_identity_expected: bool = False


@dataclasses.dataclass(frozen=True)
class Authentication:
    """What the browser's session holds about its sign-in."""

    identity: str  # the identity's uuid
    level: str | None
    auth_time: float  # when credentials were last verified (re-authentication included)
    signed_in_at: float  # when this session's sign-in completed


@dataclasses.dataclass(frozen=True)
class Decision:
    step: Step
    refusal: Refusal | None = None
    reason: str = ""  # for logs and error descriptions; never shown with personal data

    @property
    def proceed(self) -> bool:
        return self.step is Step.PROCEED


def decide(required: Requirements, current: Authentication | None, *, has_second_factor: bool,
           now: float, has_passkey: bool = False, has_app_device: bool = False) -> Decision:
    """What the browser must do next for this request."""
    if levels.rank(required.level) < 0:
        return _refuse(Refusal.UNSATISFIABLE, "no sign-in method reaches the requested level")
    if current is None:
        return _sign_in(required, "the user is not signed in")
    # Someone else expected (OIDC Core §3.1.2.2): never answer silently for the wrong citizen; after
    # a sign-in that follows the request, whoever signed in is answered for.
    stale = required.force or required.other_identity_expected or (
        required.max_age is not None and now - current.auth_time > required.max_age)
    if stale and current.signed_in_at <= required.requested_at:
        return _sign_in(required, "a fresh sign-in is required")
    if not levels.satisfies(current.level, required.level):
        if required.passive:
            return _refuse(Refusal.INTERACTION_REQUIRED, "a stronger sign-in is required")
        return _stronger(required, has_second_factor=has_second_factor, has_passkey=has_passkey,
                         has_app_device=has_app_device)
    return Decision(Step.PROCEED)


def _stronger(required: Requirements, *, has_second_factor: bool, has_passkey: bool,
              has_app_device: bool = False) -> Decision:
    """Only a passkey, or the approval app (whose key is a passkey on the phone), reaches LoA 3;
    LoA 2 takes the TOTP code, or a passkey when that is all the identity has (`has_second_factor`
    means TOTP)."""
    if levels.rank(required.level) >= levels.rank(levels.LOA3) and has_app_device and not has_passkey:
        return Decision(Step.APP_APPROVAL)
    if levels.rank(required.level) >= levels.rank(levels.LOA3) or (has_passkey and not has_second_factor):
        return Decision(Step.PASSKEY if has_passkey else Step.ENROL_PASSKEY)
    return Decision(Step.SECOND_FACTOR if has_second_factor else Step.ENROL_SECOND_FACTOR)


def _sign_in(required: Requirements, reason: str) -> Decision:
    if required.passive:
        return _refuse(Refusal.LOGIN_REQUIRED, reason)
    return Decision(Step.SIGN_IN, reason=reason)


def _refuse(refusal: Refusal, reason: str) -> Decision:
    return Decision(Step.REFUSE, refusal, reason)


def after_password(*, has_totp: bool, has_passkey: bool) -> Step:
    """What follows a correct password (NIST SP 800-63B §4.2.1: a national identity is
    multi-factor). A second factor the identity has is asked for; an identity without one (made
    before registration asked for one) sets one up before it is signed in — never skipped."""
    if has_totp:
        return Step.SECOND_FACTOR
    if has_passkey:
        return Step.PASSKEY
    return Step.ENROL_SECOND_FACTOR
