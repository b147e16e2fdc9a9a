"""Identity proofing at registration: who may hold the digital identity of a registry person.

Knowing a national ID, birth date and gender proves nothing (none is secret); holding the mobile
the civil registry lists for the person does (`mobile_proof`, NIST SP 800-63A §5.3.3). So:

- a registration nobody confirmed within `email_verification_hours` is discarded, never blocking
  the person it names;
- a person who proved the registry's mobile may take back an identity someone else registered
  for them: new credentials replace the old, the second factor and remembered devices are reset,
  consents dropped, and its uuid changes so that no session or token made before can find it.
  The caller revokes sessions and tokens, tells the old address and records the event.
"""
from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from idp.errors import N_, Conflict
from idp.identity import accounts, devices, mfa, passwords
from idp.models import Consent, Identity, Passkey, PasskeyHandle, RegistryPerson, utcnow

LOCKED = N_("This digital identity is locked. Contact support to take it back.")


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)  # SQLite: naive UTC


def discard_expired_pending(session: Session, national_id: str, pending_hours: int) -> bool:
    """Delete the identity for `national_id` if nobody confirmed it within `pending_hours`: an
    abandoned or squatted registration expires and never blocks the person. True if it did."""
    identity = existing_identity(session, national_id)
    if identity is None or identity.status != "pending" or identity.email_verified:
        return False
    if utcnow() - _aware(identity.created_at) <= dt.timedelta(hours=pending_hours):
        return False
    session.delete(identity)
    session.flush()
    return True


def existing_identity(session: Session, national_id: str) -> Identity | None:
    return session.scalar(select(Identity).where(Identity.national_id == national_id))


def reclaim(session: Session, identity: Identity, person: RegistryPerson, username: str, password: str,
            email: str, mobile: str | None) -> str:
    """Give `identity` to the person who proved the registry's mobile; returns the old email.
    Pending until the new email is confirmed. Does not commit."""
    if identity.status == "locked":
        raise Conflict(LOCKED)
    old_email = identity.email
    values = accounts.check_new_credentials(session, person, username, password, email, mobile)
    mfa.disable_totp(session, identity)
    devices.forget_all(session, identity.id)
    session.execute(delete(Consent).where(Consent.identity_id == identity.id))
    # The previous holder's passkeys would otherwise still sign in as the identity taken back.
    session.execute(delete(Passkey).where(Passkey.identity_id == identity.id))
    session.execute(delete(PasskeyHandle).where(PasskeyHandle.identity_id == identity.id))
    identity.uuid = str(uuid.uuid4())  # every session and token that referred to it is now dangling
    identity.username = values["username"]
    identity.email = values["email"]
    identity.email_verified = False
    identity.mobile = values["mobile"]
    identity.password_hash = passwords.hash_password(password)
    identity.password_changed_at = utcnow()
    identity.status = "pending"
    session.flush()
    return old_email
