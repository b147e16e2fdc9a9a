"""Email confirmation links: a single-use token that proves a person reads an address (NIST SP
800-63A §5.1.4's address confirmation, used here for the registered and a changed email).

The link is issued and its mail queued in the caller's transaction (the caller commits both, or
neither); the link names the identity by its uuid and carries the password's timestamp, so a link
issued before a password change or reset — perhaps by an intruder changing the email — dies with it.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy.orm import Session

from idp.identity import accounts, emails, tokens
from idp.mail import Mailer
from idp.models import Identity
from idp.outcomes import Outcome

PURPOSE = "verify-email"


def password_stamp(identity: Identity) -> int:
    """When the password last changed, in milliseconds (SQLite returns naive UTC datetimes)."""
    changed = identity.password_changed_at
    return int(changed.replace(tzinfo=changed.tzinfo or dt.UTC).timestamp() * 1000)


def send(session: Session, mailer: Mailer, identity: Identity, hours: int, link_for: Callable[[str], str],
         email: str | None = None) -> None:
    """Issue a link for `email` (the identity's own when None) and queue its mail, in the caller's
    transaction. `link_for(token)` makes the absolute URL (never from the Host header)."""
    address = email or identity.email
    token = tokens.issue(session, PURPOSE, {"identity_uuid": identity.uuid, "email": address,
                                            "password_stamp": password_stamp(identity)}, hours * 3600)
    mailer.send(address, *emails.verify_email(link_for(token), hours), session=session)


def is_live(session: Session, token: str) -> bool:
    return tokens.peek(session, PURPOSE, token) is not None


def confirm(session: Session, token: str) -> Outcome | None:
    """Use the link (once, when the caller commits): "identity.email_verified", its `value` the
    identity whose address it confirms, now active with that address, and the confirmed address it
    replaced (a change; None for a first confirmation); None for a used, expired or superseded link."""
    payload = tokens.redeem(session, PURPOSE, token)
    identity = accounts.get_by_uuid(session, payload.get("identity_uuid", "")) if payload else None
    if payload is None or identity is None or payload.get("password_stamp") != password_stamp(identity):
        return None
    old_email = identity.email if identity.email_verified and identity.email != payload["email"] else None
    accounts.activate_email(identity, payload["email"])
    return Outcome.done("identity.email_verified", identity.id, (identity, old_email))
