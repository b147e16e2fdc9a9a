"""Signing in, step by step (NIST SP 800-63B §5.2.2 throttling, §4.2 multi-factor): the rules of
each step in one place, each returning an `idp.outcomes.Outcome` that the web renders and
`idp.audit.record_outcome` records under the event named here.

The web brings what only it can see — the source address, the browser's device cookie, whether a
captcha was solved — as an `Attempt`, and keeps what is only its own: pages, status codes, the
session. Nothing here commits: the caller records the outcome and commits once, so a lock, its
audit event and a rehashed password are written together, or not at all.

Signing in with the approval app is idp.authn.app. Every refusal's `value` is a `Verdict` whose
`refusal` says why, in one of the words below, and whose `throttled` carries the throttle's own
answer (how long to wait, or "solve a captcha").
"""
from __future__ import annotations

import dataclasses
from typing import Any

from cryptography.fernet import Fernet, MultiFernet
from sqlalchemy.orm import Session

from idp.authn.decision import Step, after_password
from idp.errors import N_, Throttled
from idp.identity import accounts, devices, mfa, passkeys, totp
from idp.identity.sessions import SessionStore
from idp.identity.sign_out import sign_out_everywhere
from idp.identity.throttle import CaptchaRequired, LoginThrottle, account_for
from idp.models import Identity
from idp.outcomes import WHOLE, Outcome
from idp.store import Store

# Why a step refused; the web picks the page and status for each.
THROTTLED = "throttled"  # too many tries from here, or the account is locked: `Verdict.throttled` says which
CAPTCHA = "captcha"  # this source must solve a captcha first (`Verdict.throttled` is the CaptchaRequired)
WRONG = "wrong"  # the password, or the code, was not right
LOCKED = "locked"  # an administrator locked the identity
PENDING = "pending"  # the identity's email address is not confirmed yet
SECOND_FACTOR_LOCKED = "second_factor_locked"  # too many wrong codes: only a recovery code now
PASSKEY_REFUSED = "passkey_refused"  # the assertion did not check out
EXPIRED = "expired"  # the app's request was not there to approve or redeem (expired, used, decided)

WRONG_PASSWORD = N_("The username or password is not correct.")
WRONG_CODE = N_("That code is not correct.")
IDENTITY_LOCKED = N_("This identity is locked. Contact support.")
EMAIL_NOT_CONFIRMED = N_("Confirm your email address first: open the link we sent you.")
TOTP_LOCKED = N_("Two-step verification is locked after too many wrong codes. Enter one of your recovery "
                 "codes, or contact support.")


@dataclasses.dataclass(frozen=True)
class Attempt:
    """Where an attempt comes from, as the web saw it."""

    ip: str
    device_token: str | None = None  # the browser's device cookie, as sent (checked here)
    captcha_solved: bool = False


@dataclasses.dataclass(frozen=True)
class Verdict:
    """A step's answer beyond success and errors: who, what next, or why not."""

    identity: Identity | None = None
    next_step: Step | None = None  # after the password: what the identity proves next
    amr: tuple[str, ...] = ()  # RFC 8176 methods proven so far, when the step completes a sign-in
    device: str | None = None  # the device token, when this browser signed in to the identity before
    refusal: str | None = None
    throttled: Throttled | None = None
    captcha_next: bool = False  # the next try from this source must solve a captcha


def password(db: Session, throttle: LoginThrottle, login: str, secret: str, attempt: Attempt) -> Outcome:
    """Step 1: a username or national ID and its password. Costs the same whether or not the
    name exists, and says the same (NIST SP 800-63B §5.2.2; OWASP ASVS 2.2.1)."""
    candidate = accounts.find_by_login(db, login)
    identity_id = candidate.id if candidate else None
    account = account_for(identity_id, login)
    device = known_device(db, identity_id, attempt)
    try:
        throttle.check(account, attempt.ip, device=device, captcha_solved=attempt.captcha_solved)
    except Throttled as e:
        return throttled_outcome(e)
    identity = accounts.check_password(candidate, secret)
    if identity is None:
        locked = throttle.record_failure(account, attempt.ip, device=device)
        # the next try asks for a captcha at once when this source will need one
        captcha_next = device is None and throttle.needs_captcha(account, attempt.ip)
        wrong = refuse(WRONG, WRONG_PASSWORD, identity_id, "sign_in.failed", reason="password",
                       captcha_next=captcha_next)
        return wrong.then("sign_in.locked") if locked else wrong
    has_passkey = not identity.has_totp and passkeys.has_any(db, identity)
    throttle.release(account)  # the password was right; what follows is not a guess
    if identity.status == "locked":
        return refuse(LOCKED, IDENTITY_LOCKED, identity.id, "sign_in.failed", reason="locked")
    if identity.status == "pending":
        return refuse(PENDING, EMAIL_NOT_CONFIRMED, identity.id, verdict_identity=identity)
    step = after_password(has_totp=identity.has_totp, has_passkey=has_passkey)
    return Outcome(True, None, identity.id, value=Verdict(identity, next_step=step, amr=("pwd",), device=device))


def second_factor(db: Session, store: Store, fernet: Fernet | MultiFernet, throttle: LoginThrottle,
                  identity: Identity, code: str, attempt: Attempt, recovering: bool = False) -> Outcome:
    """Step 2: a TOTP code, or a recovery code when the phone is lost — at sign-in, or before a
    password reset (`recovering`: recovery is no way round the second factor or its lockout).

    No growing delay here (a code retyped after a slip is not refused); the hard cap per identity
    bounds guessing, and once it is reached only a recovery code is taken."""
    account = account_for(identity.id, "")
    device = None if recovering else known_device(db, identity.id, attempt)
    try:  # the password step (or the emailed link) passed any captcha
        throttle.check(account, attempt.ip, device=device, delay=False)
    except Throttled as e:
        return throttled_outcome(e)
    if throttle.second_factor_locked(account) and not is_recovery_code(code):
        throttle.release(account)
        return refuse(SECOND_FACTOR_LOCKED, TOTP_LOCKED, identity.id)
    method = mfa.verify(db, store, fernet, identity, code)
    if method is None:
        reason = "recovery_second_factor" if recovering else "second_factor"
        if throttle.record_failure(account, attempt.ip, device=device, second_factor=True) and \
                throttle.second_factor_locked(account):
            return refuse(WRONG, WRONG_CODE, identity.id, "mfa.locked").then("sign_in.failed", reason=reason)
        return refuse(WRONG, WRONG_CODE, identity.id, "sign_in.failed", reason=reason)
    if recovering:  # sign-in's success is recorded when the sign-in completes (`succeeded`)
        throttle.release(account)
    verdict = Verdict(identity, amr=("pwd", method), device=device)
    if method == "recovery":
        return Outcome.done("mfa.recovery_code_used", identity.id, verdict, left=mfa.unused_recovery_codes(identity))
    return Outcome(True, None, identity.id, value=verdict)


def passkey(db: Session, throttle: LoginThrottle, rp: passkeys.RelyingParty, credential: dict,
            state: dict | None, now: float, expected: Identity | None, attempt: Attempt) -> Outcome:
    """A passkey's assertion (WebAuthn §7.2): on its own a multi-factor sign-in; after the password
    (`expected`), the passkey must be that identity's. A locked-out identity stays locked out,
    whichever way it signs in."""
    try:
        result = passkeys.authenticate(db, rp, credential, state, now,
                                       expected_identity_id=expected.id if expected else None)
    except passkeys.PasskeyRefused as e:
        return passkey_refused(e, "passkey")
    identity = result.identity
    if identity.status != "active":
        return refuse(LOCKED if identity.status == "locked" else PENDING,
                      IDENTITY_LOCKED if identity.status == "locked" else EMAIL_NOT_CONFIRMED,
                      identity.id, "sign_in.failed", reason=identity.status)
    device = known_device(db, identity.id, attempt)
    if (held := still_throttled(throttle, identity, device, attempt)) is not None:
        return held
    amr = (("pwd",) if expected else ()) + tuple(result.amr)
    return Outcome.done("passkey.used", identity.id, Verdict(identity, amr=amr, device=device),
                        passkey_id=result.passkey.id, backed_up=result.passkey.backed_up)


def passkey_refused(e: passkeys.PasskeyRefused, what: str) -> Outcome:
    """A refused assertion, at sign-in (`what` "passkey") or recovery: a counter that went back
    (a possible clone, WebAuthn §6.1.1) is recorded as such before the failure."""
    reason = f"{what}: {e.reason}"[:200]
    if isinstance(e, passkeys.SignCountRegressed):
        return refuse(PASSKEY_REFUSED, e.message, e.identity_id, "passkey.sign_count_regressed",
                        detail=e.reason).then("sign_in.failed", reason=reason)
    return refuse(PASSKEY_REFUSED, e.message, e.identity_id, "sign_in.failed", reason=reason)


def succeeded(throttle: LoginThrottle, identity: Identity, amr: tuple[str, ...] | list[str],
              attempt: Attempt, device: str | None) -> Outcome:
    """The last step: every factor proven. The identity's failure counts start again."""
    throttle.record_success(account_for(identity.id, ""), attempt.ip, device=device, second_factor=True)
    return Outcome.done("sign_in.succeeded", identity.id, method="+".join(amr))


def signed_out(db: Session, sessions: SessionStore, identity: Identity, everywhere: bool) -> Outcome:
    """Sign-out; `everywhere` ends every session of the identity and, through the
    credentials-changed announcement, what the relying parties hold (idp.identity.sign_out)."""
    if everywhere:
        sign_out_everywhere(db, sessions, identity)
    return Outcome.done("sign_out", identity.id, everywhere=everywhere)


def reauthenticated(db: Session, store: Store, fernet: Fernet | MultiFernet, throttle: LoginThrottle,
                    identity: Identity, secret: str, code: str, attempt: Attempt) -> Outcome:
    """"Confirm it is still you" before a sensitive change: the password and, when the identity has
    one, a second-factor code; the same counters as sign-in, so a stolen session gives no free guesses."""
    account = account_for(identity.id, "")
    try:
        throttle.check(account, attempt.ip)
    except Throttled as e:
        return throttled_outcome(e)
    password_ok = accounts.check_password(identity, secret) is identity
    if password_ok and (not identity.has_totp or mfa.verify(db, store, fernet, identity, code) is not None):
        throttle.release(account)
        return Outcome(True, None, identity.id, value=Verdict(identity))
    throttle.record_failure(account, attempt.ip)
    return refuse(WRONG, N_("That was not correct. Try again."), identity.id, "sign_in.failed",
                    reason="reauthentication")


def is_recovery_code(code: str | None) -> bool:
    """Whether `code` is shaped like a recovery code (not a 6-digit TOTP code)."""
    return len(totp.normalise_recovery_code((code or "").strip())) >= 8


# --- shared with idp.authn.app ---------------------------------------------------------------

def known_device(db: Session, identity_id: int | None, attempt: Attempt) -> str | None:
    """The browser's device token if it completed a sign-in for this identity before."""
    token = attempt.device_token
    return token if devices.is_known(db, identity_id, token) else None


def still_throttled(throttle: LoginThrottle, identity: Identity, device: str | None,
                    attempt: Attempt) -> Outcome | None:
    """For methods that prove everything at once (a passkey, the app): a lock still holds."""
    try:
        throttle.check(account_for(identity.id, ""), attempt.ip, device=device, captcha_solved=True, delay=False)
    except Throttled as e:
        return throttled_outcome(e)
    return None


def throttled_outcome(e: Throttled) -> Outcome:
    """The throttle said no before anything was checked: not an attempt, so no event."""
    return Outcome(False, None, None, {WHOLE: e.message},
                   value=Verdict(refusal=CAPTCHA if isinstance(e, CaptchaRequired) else THROTTLED, throttled=e))


def refuse(refusal: str, message: str, identity_id: int | None = None, event: str | None = None, *,
           captcha_next: bool = False, verdict_identity: Identity | None = None, **extra: Any) -> Outcome:
    """A refusal saying why (`refusal`, one of the words at the top) and what to show (`message`)."""
    return Outcome(False, event, identity_id, {WHOLE: message}, extra,
                   Verdict(verdict_identity, refusal=refusal, captcha_next=captcha_next))
