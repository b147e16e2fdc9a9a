"""One OpenID Connect provider per app: pyop's engine (see engine.py) wired to our settings,
store, database, key ring and attribute map."""
from __future__ import annotations

from collections.abc import Mapping

from idp.attributes import ATTRIBUTES, CLAIMS_BY_SCOPE, SCOPES, oidc_claims
from idp.identity import accounts
from idp.oidc import ciba, client_auth, clients, token_families
from idp.authn import levels
from idp.oidc.engine import NationalProvider, StoreAuthorizationState
from idp.subject_salt import salt_for

PATHS = {"authorization_endpoint": "/oidc/authorize", "token_endpoint": "/oidc/token",
         "userinfo_endpoint": "/oidc/userinfo", "jwks_uri": "/oidc/jwks",
         "end_session_endpoint": "/oidc/logout", "revocation_endpoint": "/oidc/revoke",
         "introspection_endpoint": "/oidc/introspect", "backchannel_authentication_endpoint": "/oidc/backchannel"}
CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]
ID_TOKEN_CLAIMS = ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "at_hash", "sid"]


def discovery_metadata(issuer: str) -> dict:
    """OpenID Connect Discovery 1.0 §3: what this provider does, and nothing it does not."""
    return {
        "issuer": issuer,
        **{name: issuer + path for name, path in PATHS.items()},
        "scopes_supported": list(SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", ciba.GRANT_TYPE],
        "subject_types_supported": ["pairwise", "public"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        "token_endpoint_auth_methods_supported": CLIENT_AUTH_METHODS + ["none"],
        "token_endpoint_auth_signing_alg_values_supported": client_auth.ASSERTION_ALGS,
        # RFC 8414 §2: authenticated as at the token endpoint; a public client may revoke its own
        "revocation_endpoint_auth_methods_supported": CLIENT_AUTH_METHODS + ["none"],
        "revocation_endpoint_auth_signing_alg_values_supported": client_auth.ASSERTION_ALGS,
        "introspection_endpoint_auth_methods_supported": CLIENT_AUTH_METHODS,
        "introspection_endpoint_auth_signing_alg_values_supported": client_auth.ASSERTION_ALGS,
        # OpenID Connect Back-Channel Logout 1.0 §2.1
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        # CIBA Core 1.0 §4: poll mode; the client authenticates as at the token endpoint
        "backchannel_token_delivery_modes_supported": ["poll"],
        "backchannel_user_code_parameter_supported": False,
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": ID_TOKEN_CLAIMS + [a.claim for a in ATTRIBUTES if a.claim],
        "claims_locales_supported": ["ar", "en"],
        "ui_locales_supported": ["ar", "en"],
        "acr_values_supported": list(levels.ORDER),
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "authorization_response_iss_parameter_supported": True,
        "userinfo_signing_alg_values_supported": [],
    }


class IdentityClaims(Mapping):
    """pyop's user database: every claim of an active identity, by uuid (pyop then keeps only the
    claims of the granted scopes). A uuid is never reused, so a database restore can end a token
    but never hand it another citizen's claims."""

    def __init__(self, session_factory):
        self.session_factory = session_factory

    def __getitem__(self, user_id):
        with self.session_factory() as session:
            return self._claims(accounts.get_by_uuid(session, user_id))

    def of_live_family(self, family_id, enabled_client: str | None = None) -> dict:
        """The claims of the identity a token family was issued to, while the family is not
        revoked (and, with `enabled_client`, that client enabled): one query for the checks and the claims."""
        with self.session_factory() as session:
            return self._claims(token_families.live_identity(session, family_id, enabled_client))

    @staticmethod
    def _claims(identity) -> dict:
        if identity is None or not identity.is_active:
            raise KeyError("no such active identity, or its tokens were revoked")
        return oidc_claims(identity, SCOPES, allow_national_id=True)

    def __iter__(self):
        return iter(())  # never listed: pyop only looks identities up

    def __len__(self):
        return 0


def build_provider(services, keyring) -> NationalProvider:
    settings, store = services.settings, services.store
    # Inside a request, the request's own session (one connection, no session per lookup).
    session_factory = services.db.borrow
    metadata = discovery_metadata(settings.issuer)
    authz_state = StoreAuthorizationState(
        store, session_factory, salt_for(settings.subject_salt, "oidc"),
        code_lifetime=settings.oidc_code_seconds,
        access_token_lifetime=settings.oidc_access_token_seconds,
        refresh_token_lifetime=settings.oidc_refresh_token_hours * 3600,
        refresh_reuse_grace=settings.refresh_reuse_grace_seconds)
    authenticator = client_auth.ClientAuthenticator(session_factory, store, metadata["token_endpoint"],
                                                    settings.issuer)
    return NationalProvider(
        keyring, metadata, authz_state, clients.ClientMetadata(session_factory),
        IdentityClaims(session_factory), authenticator,
        id_token_lifetime=settings.oidc_id_token_seconds,
        extra_scopes={scope: claims for scope, claims in CLAIMS_BY_SCOPE.items() if scope != "openid"})
