"""Signing in with the approval app (idp.approval): the browser's side — a request shown as its
number, then the approval redeemed once — and the phone's — approve with the number and the
phone's key, or deny. Each returns an `idp.outcomes.Outcome`, like the steps of idp.authn.sign_in.

The number is matched on the phone (OWASP MFA cheat sheet: number matching against push fatigue);
a wrong number refuses the request and is recorded as `approval.wrong_number`.
"""
from __future__ import annotations

import dataclasses
import hashlib
import hmac
import secrets

from sqlalchemy.orm import Session

from idp.approval import devices as phones
from idp.approval import requests as approvals
from idp.authn.sign_in import (EXPIRED, PASSKEY_REFUSED, THROTTLED, WRONG, Attempt, Verdict, known_device,
                               refuse, still_throttled)
from idp.errors import N_, Throttled, ValidationError
from idp.identity import accounts
from idp.identity.passkeys import PasskeyRefused, RelyingParty
from idp.identity.throttle import LoginThrottle, normalise_account
from idp.models import AppDevice
from idp.outcomes import Outcome
from idp.store import Store

INVALID = "invalid"  # the phone sent something that is not an answer (no such number offered)
STARTS_PER_IP_HOUR = 30  # many citizens share an address (carrier-grade NAT): generous, still bounded


@dataclasses.dataclass(frozen=True)
class AppRequest:
    """What the waiting page shows: the number, and the request behind it (None: nothing will come)."""

    request_id: str | None
    number: str


def request(db: Session, store: Store, key: bytes, login: str, portal: tuple[str, str], attempt: Attempt) -> Outcome:
    """"Sign in with the app": a request to the identity's phone, shown here as its number. A name
    with no active identity and phone gets a number that looks the same and a request that never
    comes, so the page never tells who has an account.

    Limits per source address and per name typed (known or not alike; `key` makes their store keys
    HMACs) keep a stranger from flooding a citizen's phone; a browser that signed in as the identity
    before is not held to them (an attacker's requests never lock the citizen out). `portal`: its
    Arabic and English names."""
    identity = accounts.find_by_login(db, login)
    known = identity is not None and known_device(db, identity.id, attempt) is not None
    if not known and _too_many_requests(store, key, login, attempt.ip):
        return refuse(THROTTLED, N_("Too many attempts. Please wait a few minutes and try again."))
    if identity is None or not identity.is_active or not phones.has_any(db, identity):
        return Outcome(True, value=AppRequest(None, _any_number()))
    try:
        approval = approvals.start(db, identity, portal_name_ar=portal[0], portal_name_en=portal[1], origin="web",
                                   place=None, rate_limited=not known)
    except Throttled:  # looks like any other request that is never approved
        return Outcome.done("approval.throttled", identity.id, AppRequest(None, _any_number()), origin="web")
    return Outcome.done("approval.requested", identity.id, AppRequest(approval.id, approval.binding_number),
                        origin="web")


def redeem(db: Session, throttle: LoginThrottle, request_id: str, attempt: Attempt) -> Outcome:
    """The browser that asked collects the approval, once; a locked-out identity stays locked out."""
    approval = approvals.redeem(db, request_id)
    identity = accounts.get_by_uuid(db, approval.identity_uuid) if approval else None
    if approval is None or identity is None or not identity.is_active:
        return refuse(EXPIRED, N_("The request has expired"))
    device = known_device(db, identity.id, attempt)
    if (held := still_throttled(throttle, identity, device, attempt)) is not None:
        return held
    return Outcome.done("approval.used", identity.id, Verdict(identity, amr=tuple(approval.amr), device=device),
                        origin="web", device_id=approval.device_id)


def approve(db: Session, rp: RelyingParty, phone: AppDevice, request_id: str, number: str,
            credential: dict) -> Outcome:
    """The phone's approval: its key's assertion over (request, number), then the number. Nothing
    is written on a refusal but a wrong number's denial of the request, kept with its event."""
    try:
        phones.approve(db, rp, phone, request_id, number, credential)
    except approvals.WrongNumber as e:
        return refuse(WRONG, e.message, phone.identity_id, "approval.wrong_number", device_id=phone.id)
    except approvals.NotPending as e:
        return refuse(EXPIRED, e.message, phone.identity_id)
    except PasskeyRefused as e:
        return refuse(PASSKEY_REFUSED, e.message, phone.identity_id, "approval.assertion_refused",
                      reason=e.reason[:200])
    except ValidationError as e:
        return refuse(INVALID, e.message, phone.identity_id)
    return Outcome.done("approval.approved", phone.identity_id, device_id=phone.id)


def deny(db: Session, phone: AppDevice, request_id: str) -> Outcome:
    """"This was not me": the request is refused, and the signing-in page says so."""
    try:
        approvals.deny(db, request_id, phone)
    except approvals.NotPending as e:
        return refuse(EXPIRED, e.message, phone.identity_id)
    return Outcome.done("approval.denied", phone.identity_id, device_id=phone.id)


def _too_many_requests(store: Store, key: bytes, login: str, ip: str) -> bool:
    ip_key = hmac.new(key, b"app-ip:" + ip.encode(), hashlib.sha256).hexdigest()
    name_key = hmac.new(key, b"app-login:" + normalise_account(login).encode(), hashlib.sha256).hexdigest()
    window = int(approvals.WINDOW.total_seconds())
    return store.incr(f"app-sign-in:ip:{ip_key}", 3600) > STARTS_PER_IP_HOUR or \
        store.incr(f"app-sign-in:login:{name_key}", window) > approvals.MAX_STARTS


def _any_number() -> str:
    return str(10 + secrets.randbelow(90))
