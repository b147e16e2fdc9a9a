"""Finding a presented token, of either kind, for revocation (RFC 7009) and introspection (RFC 7662).

Access tokens live in the store; refresh tokens and the families both belong to in the database.
A `token_type_hint` only decides which is looked up first (RFC 7009 §2.1, RFC 7662 §2.1): a wrong
hint still finds the token.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import time

from idp.oidc import token_families

MAX_TOKEN_LENGTH = 512
HINTS = ("access_token", "refresh_token")


@dataclasses.dataclass(frozen=True)
class Found:
    kind: str  # "access_token" or "refresh_token"
    client_id: str
    family_id: str
    sub: str
    scope: str
    iat: int
    exp: int
    live: bool  # unexpired, not rotated, its family not revoked and its identity active


def find(authz_state, token, hint: str | None) -> Found | None:
    """The token's facts, or None when it is not one of ours (or not a string of a sane size)."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    order = ("refresh_token", "access_token") if hint == "refresh_token" else ("access_token", "refresh_token")
    for kind in order:
        found = _find_access(authz_state, token) if kind == "access_token" else _find_refresh(authz_state, token)
        if found is not None:
            return found
    return None


def _find_access(authz_state, token: str) -> Found | None:
    record = authz_state.access_tokens.get(token)
    if record is None or not isinstance(record.get("family"), str):
        return None
    with authz_state.session_factory() as session:
        identity = token_families.live_identity(session, record["family"])
    live = record["exp"] >= int(time.time()) and identity is not None and identity.is_active
    return Found("access_token", record["client_id"], record["family"], record["sub"], record["scope"],
                 int(record.get("iat", 0)), int(record["exp"]), live)


def _find_refresh(authz_state, token: str) -> Found | None:
    with authz_state.session_factory() as session:
        presented = token_families.find_refresh_token(session, token)
        if presented is None:
            return None
        row, family = presented.token, presented.family
        expires = token_families.aware(family.expires_at)
        issued = token_families.aware(row.issued_at)
        assert expires is not None and issued is not None  # noqa: S101 - NOT NULL columns (for mypy)
        live = (family.revoked_at is None and presented.rotated_at is None and presented.identity_status == "active"
                and expires > dt.datetime.now(dt.UTC))
        return Found("refresh_token", row.client_id, row.family_id, family.sub, row.granted_scope,
                     int(issued.timestamp()), int(expires.timestamp()), live)
