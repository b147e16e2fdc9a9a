"""Ending everything an identity has open: its sessions here and its tokens at every relying party.

Used when a password is changed or reset, on "sign out of all devices", and when an administrator
locks the identity (NIST SP 800-63B §6.1.2.3: revoke on compromise).
"""
from __future__ import annotations

from sqlalchemy.orm import Session

from idp.identity.sessions import SessionStore
from idp.models import Identity
from idp.oidc import backchannel
from idp.oidc.engine import revoke_identity_tokens


def sign_out_everywhere(db: Session, sessions: SessionStore, identity: Identity,
                        keep_session: str | None = None) -> int:
    """End every session of the identity but `keep_session`, and revoke all its OIDC tokens.

    The sessions are revoked in the caller's transaction, not committed here: the caller commits
    them with the credential change that caused them, so both happen or neither does. Should the
    token revocation fail, the exception reaches the caller before it commits anything."""
    ended = sessions.revoke_all(db, identity.uuid, keep=keep_session)
    revoke_identity_tokens(db, identity.uuid)
    backchannel.sessions_ended(db, identity)  # every portal any of its sessions signed in to is told
    return ended
