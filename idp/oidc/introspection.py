"""OAuth 2.0 Token Introspection (RFC 7662), for resource servers only.

A client registered with `idp rp register-oidc … --introspection` is a resource server: it may ask
about any token of this IdP. Every other client is refused (§4: the endpoint must not become an
oracle for token scanning). An inactive token is `{"active": false}` and nothing else (§2.2).
"""
from __future__ import annotations

from idp.errors import OAuthJsonError
from idp.oidc import token_lookup

INACTIVE = {"active": False}


class NotAResourceServer(OAuthJsonError):
    """The authenticated client is not registered for introspection (RFC 7662 §2.3: 403 suits)."""

    def __init__(self, client_id: str):
        super().__init__("unauthorized_client", "this client is not registered for introspection", 403)
        self.client_id = client_id


def introspect(authz_state, clients, issuer: str, client_id: str, token, hint: str | None) -> dict:
    """RFC 7662 §2.2: the token's standard fields while it is active."""
    if not clients[client_id].get("introspection"):
        raise NotAResourceServer(client_id)
    found = token_lookup.find(authz_state, token, hint)
    if found is None or not found.live or found.client_id not in clients:
        return dict(INACTIVE)
    return {"active": True, "scope": found.scope, "client_id": found.client_id, "sub": found.sub,
            "exp": found.exp, "iat": found.iat, "iss": issuer, "aud": found.client_id,
            "token_type": "Bearer" if found.kind == "access_token" else "refresh_token"}
