"""The protocols' side of an identity's credentials changing or its lock: every OIDC token family
revoked and every portal it signed in to told (OIDC Back-Channel Logout; SAML sign-ins recorded as
ended), in the announcer's transaction.

`subscribe()` is called once per app, in `create_app`; the identity layer announces through
`idp.events` and never imports this module (issue 13: no layer reaches up).
"""
from __future__ import annotations

from sqlalchemy.orm import Session

from idp import events
from idp.models import Identity
from idp.oidc import backchannel
from idp.oidc.engine import revoke_identity_tokens


def end_tokens_and_sign_ins(db: Session, identity: Identity, **_detail) -> None:
    """Revoke every token of the identity and tell every portal its sessions signed in to. Not
    committed here: the announcer commits it with the change that caused it."""
    revoke_identity_tokens(db, identity.uuid)
    backchannel.sessions_ended(db, identity)


def subscribe() -> None:
    for signal in (events.credentials_changed, events.identity_locked):
        signal.connect(end_tokens_and_sign_ins)
