"""OAuth 2.0 Token Revocation (RFC 7009): a client says it no longer needs a token.

- A refresh token revokes its whole family: every refresh and access token of that sign-in
  (RFC 7009 §2.1 "SHOULD also invalidate all access tokens based on the same authorization grant").
- An access token revokes itself and its family too (§2.1 allows it): an access token lives in the
  store, and only the family's revocation is durable in the database, so revoking just the store's
  copy could be undone by restoring a Redis snapshot. A client that wants to keep refreshing
  discards an access token without revoking it.
- A token that is unknown, expired, or another client's is answered like a revoked one (§2.2: 200),
  and nothing is revoked: a client may only revoke its own tokens, and the answer does not tell it
  whether someone else's token exists.
"""
from __future__ import annotations

import dataclasses

from idp.oidc import token_families, token_lookup


@dataclasses.dataclass(frozen=True)
class Result:
    """What happened, for the audit log (never the token)."""

    outcome: str  # "revoked", "unknown" or "other_client"
    kind: str | None = None
    family_id: str | None = None


def revoke(authz_state, client_id: str, token, hint: str | None) -> Result:
    """RFC 7009 §2.1 for an authenticated `client_id`. The caller answers 200 whatever the outcome."""
    found = token_lookup.find(authz_state, token, hint)
    if found is None:
        return Result("unknown")
    if found.client_id != client_id:
        return Result("other_client", found.kind)
    if found.kind == "access_token":
        authz_state.access_tokens.pop(token)
    with authz_state.session_factory() as session:
        token_families.revoke_family(session, found.family_id)
        session.commit()
    return Result("revoked", found.kind, found.family_id)
