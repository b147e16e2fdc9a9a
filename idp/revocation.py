"""Ending everything an identity has open: its sessions here and its tokens at every relying party.

Used when a password is changed or reset, on "sign out of all devices", and when an administrator
locks the identity (NIST SP 800-63B §6.1.2.3: revoke on compromise).
"""
from __future__ import annotations

from sqlalchemy.orm import object_session

from idp.identity.sessions import SessionStore
from idp.oidc import backchannel
from idp.oidc.engine import revoke_identity_tokens


def sign_out_everywhere(sessions: SessionStore, identity, keep_session: str | None = None) -> int:
    """End every session of the identity but `keep_session`, and revoke all its OIDC tokens."""
    ended = sessions.revoke_all(identity.id, keep=keep_session)
    db = object_session(identity)
    revoke_identity_tokens(db, identity.uuid)
    backchannel.sessions_ended(db, identity)  # every portal any of its sessions signed in to is told
    db.commit()  # the token revocation is durable; the sessions helper folds it into the caller's commit
    return ended
