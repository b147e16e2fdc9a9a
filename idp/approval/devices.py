"""The citizen's approval app on a phone: enrolment by a single-use link and a WebAuthn credential
made on that phone, and the approval itself — an assertion whose challenge binds the request and
the number chosen (idp.approval.requests.challenge), checked by Duo Labs' `webauthn`.

- Enrolment (WebAuthn §7.1): the account page issues a 5-minute, single-use link (`tokens`, purpose
  "app_enrolment", stored as a SHA-256). The phone opening it registers a discoverable credential
  with user verification required, under a random user handle of its own (so it never replaces a
  passkey the citizen keeps on the same phone), and receives a random bearer token: the app shows
  it nothing but the identity's pending request. Only an assertion approves.
- Approval (WebAuthn §7.2): allowCredentials names the device's credential; UV required; the sign
  count must grow (§6.1.1) unless the authenticator keeps none.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import secrets

import webauthn
from sqlalchemy import select
from sqlalchemy.orm import Session
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url, parse_authentication_credential_json
from webauthn.helpers.exceptions import InvalidJSONStructure
from webauthn.helpers.structs import (PublicKeyCredentialDescriptor, UserVerificationRequirement)

from idp.approval import requests
from idp.errors import N_, ValidationError
from idp.identity import accounts, passkeys, tokens
from idp.identity.passkeys import TIMEOUT_MS, PasskeyRefused, RelyingParty, clean_name, kept_challenge
from idp.models import AppDevice, Identity, utcnow

ENROLMENT = "app_enrolment"
ENROLMENT_SECONDS = 300
MAX_DEVICES = 5


@dataclasses.dataclass(frozen=True)
class Enrolled:
    device: AppDevice
    token: str  # the app's bearer token; shown once, kept only as a SHA-256


# --- enrolment ---------------------------------------------------------------------------------

def enrolment_link_token(db: Session, identity: Identity) -> str:
    """A single-use token for the enrolment link, valid for `ENROLMENT_SECONDS`."""
    return tokens.issue(db, ENROLMENT, {"identity_uuid": identity.uuid}, ENROLMENT_SECONDS)


def enrolling_identity(db: Session, link_token: str) -> Identity | None:
    """The active identity an unused, unexpired enrolment link was made for; the link stays unused."""
    payload = tokens.peek(db, ENROLMENT, link_token or "")
    identity = accounts.get_by_uuid(db, payload["identity_uuid"]) if payload else None
    return identity if identity is not None and identity.is_active else None


def registration_options(db: Session, rp: RelyingParty, identity: Identity, now: float) -> tuple[str, dict]:
    """Creation options for a new phone (a user id of its own: not the passkeys' user handle)."""
    phones = list_for(db, identity)
    if len(phones) >= MAX_DEVICES:
        raise ValidationError(N_("You have enrolled the most phones allowed. Remove one first."))
    return passkeys.creation_options(rp, identity, secrets.token_bytes(32), [d.credential_id for d in phones], now)


def enrol(db: Session, rp: RelyingParty, link_token: str, credential: dict, state: dict | None, name: str,
          now: float) -> Enrolled:
    """Verify the phone's new credential, spend the link (once, whatever races) and keep the device."""
    identity = enrolling_identity(db, link_token)
    if identity is None:
        raise ValidationError(N_("This enrolment link was already used or has expired. Make a new one "
                                 "from your account page."))
    challenge = kept_challenge(state, now, identity.uuid)
    name = clean_name(name)
    verified, credential_id = passkeys.verify_registration(rp, credential, challenge, identity, "app registration")
    if db.scalar(select(AppDevice.id).where(AppDevice.credential_id == credential_id)) is not None:
        raise PasskeyRefused("app registration: credential already registered", identity_id=identity.id)
    if tokens.redeem(db, ENROLMENT, link_token) is None:  # a second phone raced us to the same link
        raise ValidationError(N_("This enrolment link was already used or has expired. Make a new one "
                                 "from your account page."))
    token = secrets.token_urlsafe(32)
    device = AppDevice(identity_id=identity.id, credential_id=credential_id,
                       public_key=bytes_to_base64url(verified.credential_public_key),
                       sign_count=verified.sign_count,
                       backup_eligible=verified.credential_device_type.value == "multi_device",
                       token_hash=_hash(token), name=name, created_at=utcnow())
    db.add(device)
    db.flush()
    return Enrolled(device=device, token=token)


# --- the app's own requests -----------------------------------------------------------------------

def by_token(db: Session, token: str | None) -> AppDevice | None:
    """The device whose bearer token this is (looked up by its SHA-256: nothing to time)."""
    if not token or len(token) > 100:
        return None
    return db.scalar(select(AppDevice).where(AppDevice.token_hash == _hash(token)))


def approval_options(rp: RelyingParty, device: AppDevice, request: requests.ApprovalRequest, number: str) -> str:
    """PublicKeyCredentialRequestOptions whose challenge binds `request` and `number`."""
    _check_choice(request, number)
    options = webauthn.generate_authentication_options(
        rp_id=rp.rp_id, challenge=requests.challenge(request, number), timeout=TIMEOUT_MS,
        allow_credentials=[PublicKeyCredentialDescriptor(id=base64url_to_bytes(device.credential_id))],
        user_verification=UserVerificationRequirement.REQUIRED)
    return webauthn.options_to_json(options)


def approve(db: Session, rp: RelyingParty, device: AppDevice, request_id: str, number: str, credential: dict,
            now: dt.datetime | None = None) -> requests.ApprovalRequest:
    """Check the assertion over (request, number) from this device, then decide the request.

    Raises NotPending, ValidationError (a number not offered), PasskeyRefused (the assertion), or
    WrongNumber (checked assertion, wrong number: the request is now denied)."""
    now = now or utcnow()
    request = requests.get(db, request_id, now)
    if request is None or request.status != "pending":
        raise requests.NotPending()
    _check_choice(request, number)
    try:
        parsed = parse_authentication_credential_json(credential)
    except (InvalidJSONStructure, ValueError, KeyError, TypeError) as e:
        raise PasskeyRefused(f"app assertion: {e}") from None
    if bytes_to_base64url(parsed.raw_id) != device.credential_id:
        raise PasskeyRefused("app assertion: another credential", identity_id=device.identity_id)
    verified = passkeys.verify_assertion(rp, parsed, requests.challenge(request, number), device.public_key,
                                         device.sign_count, device.identity_id, "app assertion")
    device.sign_count = verified.new_sign_count
    device.last_used_at = now
    device.backup_eligible = verified.credential_device_type.value == "multi_device"
    return requests.approve(db, request_id, device, number, amr_for(device), now)


def amr_for(device: AppDevice) -> list[str]:
    """RFC 8176 §2, as for passkeys: the key ("hwk" bound to the phone, "swk" if it may be synced),
    "user" (the phone verified its user), "mfa"."""
    return ["swk" if device.backup_eligible else "hwk", "user", "mfa"]


# --- the citizen's list ---------------------------------------------------------------------------

def list_for(db: Session, identity: Identity) -> list[AppDevice]:
    return list(db.scalars(select(AppDevice).where(AppDevice.identity_id == identity.id).order_by(AppDevice.id)))


def has_any(db: Session, identity: Identity) -> bool:
    return db.scalar(select(AppDevice.id).where(AppDevice.identity_id == identity.id).limit(1)) is not None


def remove(db: Session, identity: Identity, device_id: int) -> AppDevice:
    device = db.get(AppDevice, device_id)
    if device is None or device.identity_id != identity.id:
        raise ValidationError(N_("No such phone."))
    db.delete(device)
    db.flush()
    return device


def _check_choice(request: requests.ApprovalRequest, number: str) -> None:
    if not isinstance(number, str) or number not in request.choices:
        raise ValidationError(N_("Pick one of the numbers shown."), field="number")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
