"""Ending everything an identity has open: its sessions here, and — through `idp.events` — its
tokens and sign-ins at every relying party.

Used when a password is changed or reset, on "sign out of all devices", when the person in the civil
registry takes an identity back, and when an administrator locks the identity (NIST SP 800-63B
§6.1.2.3: revoke on compromise). This layer does not know the protocols: it announces the event and
the OIDC and SAML layers, subscribed in `create_app` (idp.revocation), end what they issued.
"""
from __future__ import annotations

from sqlalchemy.orm import Session

from idp import events
from idp.identity.sessions import SessionStore
from idp.models import Identity


def sign_out_everywhere(db: Session, sessions: SessionStore, identity: Identity,
                        keep_session: str | None = None, event: events.Signal = events.credentials_changed) -> int:
    """End every session of the identity but `keep_session` and announce `event`.

    Nothing is committed here: the caller commits the sessions' end and what the subscribers did
    with the credential change that caused them, so all happen or none does. Should a subscriber
    fail, the exception reaches the caller before it commits anything. Returns how many sessions ended."""
    ended = sessions.revoke_all(db, identity.uuid, keep=keep_session)
    event.send(db, identity)
    return ended
