"""Changing an identity's credentials (NIST SP 800-63B §6.1.2.3): the rules, in one place, each
returning an `idp.outcomes.Outcome` that the web renders and the audit log records.

A password change or reset ends the identity's other sessions and — through the
`credentials_changed` announcement — its tokens at every relying party, in the caller's transaction:
the caller commits the change and its consequences together, or neither. Mail telling the owner is
the caller's, after the commit (a rolled-back change must not be announced).
"""
from __future__ import annotations

from collections.abc import Callable

from cryptography.fernet import Fernet, MultiFernet
from sqlalchemy.orm import Session

from idp.errors import ValidationError
from idp.approval import devices as phones
from idp.identity import accounts, contact, email_links, emails, mfa, passkeys, recovery
from idp.identity.sessions import SessionStore
from idp.identity.sign_out import sign_out_everywhere
from idp.mail import Mailer
from idp.models import Identity
from idp.outcomes import WHOLE, Outcome
from idp.store import Store


def change_password(db: Session, sessions: SessionStore, identity: Identity, current: str, new: str,
                    keep_session: str | None) -> Outcome:
    """The account page: the current password, then the new one; every other session ends."""
    try:
        accounts.change_password(identity, current, new)
    except ValidationError as e:  # accounts names the field: the current or the new password
        return Outcome.refused(e.field or "new_password", e.message, identity.id)
    sign_out_everywhere(db, sessions, identity, keep_session=keep_session)
    return Outcome.done("password.changed", identity.id, via="account")


def reset_password(db: Session, sessions: SessionStore, identity: Identity, new: str) -> Outcome:
    """Recovery's last step: the new password; every session ends."""
    try:
        recovery.set_new_password(db, sessions, identity, new)
    except ValidationError as e:
        return Outcome.refused("new_password", e.message, identity.id)
    return Outcome.done("password.changed", identity.id, via="recovery")


def request_email_change(db: Session, mailer: Mailer, identity: Identity, new_email: str, hours: int,
                         link_for: Callable[[str], str]) -> Outcome:
    """A link to the new address (used only once opened) and a word to the old one. `value`: the
    new address, masked, to show."""
    try:
        address = contact.normalise_email(new_email)
    except ValidationError as e:
        return Outcome.refused("email", e.message, identity.id)
    email_links.send(db, mailer, identity, hours, link_for, address)
    mailer.send(identity.email, *emails.email_change_requested(emails.mask_email(address), hours), session=db)
    return Outcome.done("identity.email_change_requested", identity.id, value=emails.mask_email(address))


def enable_totp(db: Session, store: Store, fernet: Fernet | MultiFernet, identity: Identity, secret: str,
                code: str) -> Outcome:
    """TOTP on, once the app proves it holds `secret`. `value`: the new recovery codes, shown once."""
    try:
        codes = mfa.enable_totp(db, store, fernet, identity, secret, code)
    except ValidationError as e:
        return Outcome.refused("otp", e.message, identity.id)
    return Outcome.done("mfa.totp_enabled", identity.id, value=codes)


def disable_totp(db: Session, identity: Identity) -> Outcome:
    mfa.disable_totp(db, identity)
    return Outcome.done("mfa.totp_disabled", identity.id)


def regenerate_recovery_codes(db: Session, identity: Identity) -> Outcome:
    """`value`: the new codes, shown once; the old ones stop working."""
    codes = mfa.regenerate_recovery_codes(db, identity)
    return Outcome.done("mfa.recovery_codes_regenerated", identity.id, value=codes)


# --- passkeys (WebAuthn §7.1) and the approval app's phones ----------------------------------------

def add_passkey(db: Session, rp: passkeys.RelyingParty, identity: Identity, credential: dict, state: dict | None,
                name: str, now: float) -> Outcome:
    """Keep a passkey the citizen just made. `value`: the passkey. A refused credential is
    recorded (`reason` for logs only); a bad name is not."""
    try:
        made = passkeys.register(db, rp, identity, credential, state, name, now)
    except passkeys.PasskeyRefused as e:
        return Outcome.refused(WHOLE, e.message, identity.id, "passkey.refused", reason=e.reason[:200])
    except ValidationError as e:
        return Outcome.refused(WHOLE, e.message, identity.id)
    return Outcome.done("passkey.added", identity.id, made, passkey_id=made.id,
                        backup_eligible=made.backup_eligible, aaguid=made.aaguid)


def rename_passkey(db: Session, identity: Identity, passkey_id: int, name: str) -> Outcome:
    return _passkey_change(identity, passkey_id, "passkey.renamed",
                           lambda: passkeys.rename(db, identity, passkey_id, name))


def remove_passkey(db: Session, identity: Identity, passkey_id: int) -> Outcome:
    """Never the last second factor (idp.identity.passkeys.remove says why)."""
    return _passkey_change(identity, passkey_id, "passkey.removed", lambda: passkeys.remove(db, identity, passkey_id))


def phone_link(db: Session, identity: Identity) -> Outcome:
    """A single-use enrolment link's token for a new phone. `value`: the token, shown once."""
    return Outcome.done("app.link_issued", identity.id, phones.enrolment_link_token(db, identity))


def enrol_phone(db: Session, rp: passkeys.RelyingParty, link_token: str, credential: dict, state: dict | None,
                name: str, now: float) -> Outcome:
    """The phone's credential, through its enrolment link. `value`: the enrolment (the app's token)."""
    try:
        enrolled = phones.enrol(db, rp, link_token, credential, state, name, now)
    except passkeys.PasskeyRefused as e:
        return Outcome.refused(WHOLE, e.message, e.identity_id, "app.refused", reason=e.reason[:200])
    except ValidationError as e:
        return Outcome.refused(WHOLE, e.message)
    return Outcome.done("app.enrolled", enrolled.device.identity_id, enrolled, device_id=enrolled.device.id)


def remove_phone(db: Session, identity: Identity, device_id: int) -> Outcome:
    try:
        phones.remove(db, identity, device_id)
    except ValidationError as e:
        return Outcome.refused(WHOLE, e.message, identity.id)
    return Outcome.done("app.removed", identity.id, device_id=device_id)


def _passkey_change(identity: Identity, passkey_id: int, event: str, change: Callable[[], object]) -> Outcome:
    try:
        change()
    except ValidationError as e:
        return Outcome.refused(WHOLE, e.message, identity.id)
    return Outcome.done(event, identity.id, passkey_id=passkey_id)
