"""Passkeys: WebAuthn Level 3 discoverable credentials with user verification, through Duo Labs'
`webauthn` library (it parses CBOR/COSE, checks signatures, origins, RP ID hashes and flags).

What this module adds to the library:
- the RP ID is the issuer's host name (WebAuthn §5.1.3: a registrable domain, never an IP address);
- the user handle is a random 32 bytes per identity (WebAuthn §14.6.1: no personal data in it);
- a challenge is single-use and expires: the caller keeps `state` (in the server-side session) and
  hands it back once; the caller removes it before calling, whatever the outcome;
- a sign count that did not grow (§6.1.1) is refused after the signature checked out, so the
  refusal is evidence of a cloned authenticator, and is reported as such for the audit log;
- backup flags (§6.3.3 BE/BS) are recorded; they choose the RFC 8176 `amr` value.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import secrets
import unicodedata
from urllib.parse import urlsplit

import webauthn
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url, parse_authentication_credential_json
from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.exceptions import InvalidAuthenticationResponse, InvalidRegistrationResponse, \
    InvalidJSONStructure
from webauthn.helpers.structs import (AttestationConveyancePreference, AuthenticatorSelectionCriteria,
                                      AuthenticatorTransport, PublicKeyCredentialDescriptor,
                                      ResidentKeyRequirement, UserVerificationRequirement)

from idp.errors import N_, ValidationError
from idp.models import Identity, Passkey, PasskeyHandle, utcnow

CHALLENGE_SECONDS = 300  # a challenge not answered within this is refused (WebAuthn §13.4.3)
TIMEOUT_MS = 120_000  # what the browser is told to wait for the citizen
ALGORITHMS = [COSEAlgorithmIdentifier.ECDSA_SHA_256, COSEAlgorithmIdentifier.RSASSA_PKCS1_v1_5_SHA_256]
NAME_LENGTH = 64
TRANSPORTS = {t.value for t in AuthenticatorTransport}


class PasskeyRefused(ValidationError):
    """A registration or assertion that does not check out. `reason` is for logs, never shown."""

    def __init__(self, reason: str, message: str = N_("That passkey could not be used. Try again."),
                 identity_id: int | None = None):
        super().__init__(message)
        self.reason = reason
        self.identity_id = identity_id


class SignCountRegressed(PasskeyRefused):
    """A valid signature with a counter that did not grow: the credential may have been cloned."""


@dataclasses.dataclass(frozen=True)
class RelyingParty:
    rp_id: str
    name: str
    origin: str


@dataclasses.dataclass(frozen=True)
class Authenticated:
    identity: Identity
    passkey: Passkey
    amr: list[str]


def relying_party(issuer: str, name: str) -> RelyingParty | None:
    """The WebAuthn relying party for an issuer URL; None when its host is an IP address, which
    cannot be an RP ID (WebAuthn §5.1.3, HTML "valid domain") — passkeys are then not offered."""
    parts = urlsplit(issuer)
    host = (parts.hostname or "").lower()
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    if not host:
        return None
    origin = f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")
    return RelyingParty(rp_id=host, name=name, origin=origin)


# --- registration (WebAuthn §7.1) ----------------------------------------------------------------

def registration_options(session: Session, rp: RelyingParty, identity: Identity, now: float) -> tuple[str, dict]:
    """PublicKeyCredentialCreationOptions (JSON for the browser) and the state to keep for `register`."""
    return creation_options(rp, identity, base64url_to_bytes(user_handle(session, identity)),
                            [p.credential_id for p in list_for(session, identity)], now)


def creation_options(rp: RelyingParty, identity: Identity, user_id: bytes, exclude: list[str],
                     now: float) -> tuple[str, dict]:
    """Options for a discoverable credential with user verification and no attestation (we trust
    no vendor statement), none of the `exclude` credential ids again; the state to keep. Passkeys
    and the approval app's phones ask alike."""
    options = webauthn.generate_registration_options(
        rp_id=rp.rp_id, rp_name=rp.name, user_id=user_id,
        user_name=identity.username, user_display_name=identity.username, timeout=TIMEOUT_MS,
        attestation=AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED, require_resident_key=True,
            user_verification=UserVerificationRequirement.REQUIRED),
        exclude_credentials=[PublicKeyCredentialDescriptor(id=base64url_to_bytes(credential_id))
                             for credential_id in exclude],
        supported_pub_key_algs=ALGORITHMS)
    return webauthn.options_to_json(options), _state(options.challenge, now, identity.uuid)


def verify_registration(rp: RelyingParty, credential: dict, challenge: bytes, identity: Identity, what: str):
    """A new credential checked by py_webauthn (our challenge, RP ID and origin, user verification,
    our algorithms): (the verified registration, its credential id in base64url). `what` names the
    ceremony in the refusal (a passkey's "registration", the app's "app registration")."""
    try:
        verified = webauthn.verify_registration_response(
            credential=credential, expected_challenge=challenge, expected_rp_id=rp.rp_id,
            expected_origin=rp.origin, require_user_verification=True, supported_pub_key_algs=ALGORITHMS)
    except (InvalidRegistrationResponse, InvalidJSONStructure, ValueError, KeyError, TypeError) as e:
        raise PasskeyRefused(f"{what}: {e}", identity_id=identity.id) from None
    return verified, bytes_to_base64url(verified.credential_id)


def register(session: Session, rp: RelyingParty, identity: Identity, credential: dict, state: dict | None,
             name: str, now: float) -> Passkey:
    """Verify a new credential (attestation "none": we trust no vendor statement) and keep it."""
    challenge = kept_challenge(state, now, identity.uuid)
    name = clean_name(name)
    verified, credential_id = verify_registration(rp, credential, challenge, identity, "registration")
    if session.scalar(select(Passkey.id).where(Passkey.credential_id == credential_id)) is not None:
        raise PasskeyRefused("registration: credential already registered", identity_id=identity.id)
    transports = credential.get("response", {}).get("transports") if isinstance(credential, dict) else None
    passkey = Passkey(
        identity_id=identity.id, credential_id=credential_id,
        public_key=bytes_to_base64url(verified.credential_public_key), sign_count=verified.sign_count,
        transports=[t for t in (transports or []) if t in TRANSPORTS][:8],
        backup_eligible=verified.credential_device_type.value == "multi_device",
        backed_up=bool(verified.credential_backed_up), aaguid=verified.aaguid, name=name, created_at=utcnow())
    session.add(passkey)
    session.flush()
    return passkey


# --- authentication (WebAuthn §7.2) --------------------------------------------------------------

def authentication_options(rp: RelyingParty, now: float) -> tuple[str, dict]:
    """Options for a discoverable sign-in: no allowCredentials, so the authenticator offers the
    citizen's passkeys for this RP and the assertion names its identity through the user handle."""
    options = webauthn.generate_authentication_options(
        rp_id=rp.rp_id, timeout=TIMEOUT_MS, allow_credentials=[],
        user_verification=UserVerificationRequirement.REQUIRED)
    return webauthn.options_to_json(options), _state(options.challenge, now, None)


def authenticate(session: Session, rp: RelyingParty, credential: dict, state: dict | None, now: float,
                 expected_identity_id: int | None = None) -> Authenticated:
    """Check an assertion; returns who signed in with which passkey and the `amr` to record.

    `expected_identity_id`: the passkey must be that identity's (a second step after the password,
    or password recovery). Raises PasskeyRefused (SignCountRegressed for a possible clone)."""
    challenge = kept_challenge(state, now, None)
    try:
        parsed = parse_authentication_credential_json(credential)
    except (InvalidJSONStructure, ValueError, KeyError, TypeError) as e:
        raise PasskeyRefused(f"assertion: {e}") from None
    passkey = session.scalar(select(Passkey).where(Passkey.credential_id == bytes_to_base64url(parsed.raw_id)))
    if passkey is None:
        raise PasskeyRefused("assertion: unknown credential")
    if expected_identity_id is not None and passkey.identity_id != expected_identity_id:
        raise PasskeyRefused("assertion: another identity's passkey", identity_id=expected_identity_id)
    # §7.2 step 6: the ceremony named no user (empty allowCredentials), so the user handle must
    # be present and be the credential's owner's.
    handle = parsed.response.user_handle
    if handle is None or bytes_to_base64url(handle) != _handle_of(session, passkey.identity_id):
        raise PasskeyRefused("assertion: user handle does not match", identity_id=passkey.identity_id)
    verified = verify_assertion(rp, parsed, challenge, passkey.public_key, passkey.sign_count,
                                passkey.identity_id, "assertion")
    passkey.sign_count = verified.new_sign_count
    passkey.backed_up = bool(verified.credential_backed_up)
    passkey.backup_eligible = verified.credential_device_type.value == "multi_device"
    passkey.last_used_at = utcnow()
    identity = session.get(Identity, passkey.identity_id)
    if identity is None:  # the row cascades with its identity; a race with a deletion refuses cleanly
        raise PasskeyRefused("the passkey's identity is gone")
    return Authenticated(identity=identity, passkey=passkey, amr=amr_for(passkey))


def verify_assertion(rp: RelyingParty, parsed, challenge: bytes, public_key: str, sign_count: int,
                     identity_id: int, what: str):
    """py_webauthn's check of an assertion (WebAuthn §7.2: challenge, RP ID, origin, signature,
    user verification), then the counter's: authenticators that keep none send 0 forever, any other
    value must grow (§6.1.1) — judged here, after the signature (the library would refuse first).
    `what` names the ceremony in the refusal. Raises PasskeyRefused, or SignCountRegressed (a
    possible clone)."""
    try:
        verified = webauthn.verify_authentication_response(
            credential=parsed, expected_challenge=challenge, expected_rp_id=rp.rp_id, expected_origin=rp.origin,
            credential_public_key=base64url_to_bytes(public_key), credential_current_sign_count=0,
            require_user_verification=True)
    except (InvalidAuthenticationResponse, InvalidJSONStructure, ValueError, KeyError, TypeError) as e:
        raise PasskeyRefused(f"{what}: {e}", identity_id=identity_id) from None
    if (verified.new_sign_count or sign_count) and verified.new_sign_count <= sign_count:
        raise SignCountRegressed(f"{what}: sign count {verified.new_sign_count} after {sign_count}",
                                 identity_id=identity_id)
    return verified


def amr_for(passkey: Passkey) -> list[str]:
    """RFC 8176 §2 methods of a passkey sign-in. The key: "hwk" when the authenticator says it is
    bound to one device (BE flag clear, signed in the authenticator data), "swk" when it may be
    synced off it (the key then exists outside any one piece of hardware). "user": the
    authenticator verified its user (UV flag); it does not say whether by PIN or fingerprint, so
    neither "pin" nor "fpt" is claimed. "mfa": possession of the key plus that verification."""
    return ["swk" if passkey.backup_eligible else "hwk", "user", "mfa"]


# --- the citizen's list -------------------------------------------------------------------------

def list_for(session: Session, identity: Identity) -> list[Passkey]:
    return list(session.scalars(select(Passkey).where(Passkey.identity_id == identity.id).order_by(Passkey.id)))


def has_any(session: Session, identity: Identity) -> bool:
    return bool(session.scalar(select(func.count(Passkey.id)).where(Passkey.identity_id == identity.id)))


def rename(session: Session, identity: Identity, passkey_id: int, name: str) -> Passkey:
    passkey = _own(session, identity, passkey_id)
    passkey.name = clean_name(name)
    session.flush()
    return passkey


def remove(session: Session, identity: Identity, passkey_id: int) -> Passkey:
    """Remove one passkey. The last second factor stays: a passkey is removed only while the
    identity keeps TOTP or another passkey (else password recovery and LoA 2 would fall back to the
    password alone); the citizen adds another factor first."""
    passkey = _own(session, identity, passkey_id)
    others = session.scalar(select(func.count(Passkey.id)).where(
        Passkey.identity_id == identity.id, Passkey.id != passkey.id))
    if not others and not identity.has_totp:
        raise ValidationError(N_("This is your only second factor. Add another passkey or turn on "
                                 "two-step verification before removing it."))
    session.delete(passkey)
    session.flush()
    return passkey


def clean_name(name: str) -> str:
    name = unicodedata.normalize("NFC", " ".join((name or "").split()))
    if not name or len(name) > NAME_LENGTH or any(unicodedata.category(c).startswith("C") for c in name):
        raise ValidationError(N_("Give the passkey a name of up to 64 characters."), field="name")
    return name


def user_handle(session: Session, identity: Identity) -> str:
    """The identity's WebAuthn user handle (base64url), made on first use."""
    handle = _handle_of(session, identity.id)
    if handle is None:
        handle = bytes_to_base64url(secrets.token_bytes(32))
        session.add(PasskeyHandle(identity_id=identity.id, handle=handle))
        session.flush()
    return handle


def _handle_of(session: Session, identity_id: int) -> str | None:
    return session.scalar(select(PasskeyHandle.handle).where(PasskeyHandle.identity_id == identity_id))


def _own(session: Session, identity: Identity, passkey_id: int) -> Passkey:
    passkey = session.get(Passkey, passkey_id)
    if passkey is None or passkey.identity_id != identity.id:
        raise ValidationError(N_("No such passkey."))
    return passkey


def _state(challenge: bytes, now: float, identity_uuid: str | None) -> dict:
    return {"challenge": bytes_to_base64url(challenge), "at": now, "for": identity_uuid}


def kept_challenge(state: dict | None, now: float, identity_uuid: str | None) -> bytes:
    """The challenge the caller kept, if still live and made for this identity (registration)."""
    if not isinstance(state, dict) or not isinstance(state.get("challenge"), str):
        raise PasskeyRefused("no challenge: none issued, or already used")
    if not 0 <= now - float(state.get("at") or 0) <= CHALLENGE_SECONDS:
        raise PasskeyRefused("challenge expired")
    if state.get("for") != identity_uuid:
        raise PasskeyRefused("challenge issued for another purpose")
    return base64url_to_bytes(state["challenge"])
