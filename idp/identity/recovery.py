"""Password recovery (NIST SP 800-63B §6.1.2.3): national ID + registered email → a single-use
link valid for a short time → the second factor, when the identity has one → a new password →
every session revoked and a notification mailed.

The request answers the same whether or not the two match, so it reveals nothing. The link names
the identity by its uuid: an integer id may belong to someone else after a database restore.
"""
from __future__ import annotations

import hashlib
import hmac
from sqlalchemy.orm import Session

from idp.identity import accounts, emails, tokens
from idp.identity.national_id import is_valid, normalise_digits
from idp.identity.sessions import SessionStore
from idp.identity.sign_out import sign_out_everywhere
from idp.mail import Mailer
from idp.models import Identity
from idp.outcomes import Outcome
from idp.store import Store

PURPOSE = "recovery"
LINKS_PER_HOUR = 5


def request_link(session: Session, store: Store, mailer: Mailer, national_id: str, email: str,
                 link_for, minutes: int) -> Outcome:
    """Queue a recovery link when national ID and email belong to one active identity.

    `link_for(token)` makes the absolute URL. The outcome is "recovery.requested", with the
    identity when a link was sent (for the audit log only: the page shown must not depend on it).
    Matched or not, the request does the same work — a lookup, a counter, a row added to the
    caller's transaction (the mail is queued, not sent) — so its timing does not tell whether the
    two belong together either."""
    national_id = normalise_digits(national_id or "")
    identity = accounts.find_by_login(session, national_id) if is_valid(national_id) else None
    given = (email or "").strip().lower().encode()
    matched = identity is not None and identity.status != "locked" and hmac.compare_digest(
        identity.email.lower().encode(), given)
    counter = f"recovery:identity:{identity.id}" if matched and identity is not None else \
        f"recovery:unmatched:{hashlib.sha256(national_id.encode()).hexdigest()[:32]}"
    if store.incr(counter, 3600) > LINKS_PER_HOUR or not matched or identity is None:
        return Outcome.done("recovery.requested", None)  # the same answer, no more mail: inboxes are no target
    # The uuid, not the id: an identity taken back by the person in the civil registry gets a new
    # uuid, so a link its previous holder asked for dies with it.
    token = tokens.issue(session, PURPOSE, {"identity_uuid": identity.uuid}, minutes * 60)
    mailer.send(identity.email, *emails.password_recovery(link_for(token), minutes), session=session)
    return Outcome.done("recovery.requested", identity.id)


def open_link(session: Session, token: str) -> str | None:
    """Use the link: the uuid of the identity it was made for, once (when the caller commits)."""
    payload = tokens.redeem(session, PURPOSE, token)
    return payload.get("identity_uuid") if payload else None


def link_is_live(session: Session, token: str) -> bool:
    return tokens.peek(session, PURPOSE, token) is not None


def set_new_password(session: Session, sessions: SessionStore, identity: Identity, new_password: str) -> int:
    """Set the new password and end every session and token of the identity, in the caller's
    transaction (the caller commits both, or neither). The tokens end through the
    `credentials_changed` announcement (idp.events), so this layer need not know the protocols.
    Returns how many sessions ended."""
    accounts.set_password(identity, new_password)
    if identity.status == "pending":  # the link reached the registered address: it is proven
        accounts.activate_email(identity)
    return sign_out_everywhere(session, sessions, identity)


def tell_owner(identity: Identity, mailer: Mailer) -> None:
    """Once the new password is committed: tell its owner."""
    mailer.send(identity.email, *emails.password_changed())
