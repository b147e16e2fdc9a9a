"""pyop, extended: every change we make to pyop's behaviour is in this module, each with its reason.

pyop (IdentityPython) stays the engine: it parses and validates authentication and token
requests, runs the code exchange, and builds responses. We extend it where a national IdP needs
more than it does:

1. Signing: ID tokens are signed by our key ring (several published keys, rotation, RS256 or ES256
   per relying party, through `cryptography`); pyop publishes and signs with one key only.
2. Client authentication: secrets are stored hashed and compared in constant time, and
   `private_key_jwt` (RFC 7523) is supported; pyop compares plain secrets with `!=`.
3. Codes: single use is enforced atomically in the store, and a replayed code revokes every token
   issued from it (RFC 9700 §4.5, RFC 6749 §4.1.2); pyop only flags the code as used.
4. PKCE: S256 is required of every client, and a code_verifier for a code issued without a
   challenge is refused (RFC 9700 §2.1.1); pyop checks PKCE only when a challenge was sent.
5. Refresh tokens rotate on every use and a reused one revokes its whole family (RFC 9700 §4.14);
   they are bound to the client that received them. pyop keeps one refresh token and does not
   check the client.
6. Subject identifiers are computed (HMAC, pairwise per sector by default) and looked up through an
   index; pyop's lookup scans every user it ever saw.
7. acr, amr and auth_time of each authorization travel with its code into the ID token.
8. An http:// issuer is accepted on loopback only (the demo); oic refuses any http issuer.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from jwkest.jws import left_hash
from oic.oic.message import ProviderConfigurationResponse
from pyop.access_token import AccessToken
from pyop.authz_state import AuthorizationState
from pyop.exceptions import (InvalidAccessToken, InvalidAuthorizationCode, InvalidRefreshToken,
                             InvalidScope, InvalidSubjectIdentifier, InvalidTokenRequest)
from pyop.provider import Provider

from idp.oidc.storage import StoreMapping, token_hash
from idp.settings import is_loopback_host
from idp.store import Store


class SubjectIdentifiers:
    """OIDC Core 1.0 §8.1: a pairwise `sub` is an HMAC of the sector and the local id, so a
    relying party cannot correlate citizens with another; a public `sub` is the same for all."""

    def __init__(self, salt: bytes):
        self.salt = salt

    def _mac(self, data: str) -> str:
        return hmac.new(self.salt, data.encode(), hashlib.sha256).hexdigest()

    def create_public_identifier(self, user_id: str) -> str:
        return self._mac(f"public|{user_id}")

    def create_pairwise_identifier(self, user_id: str, sector_identifier: str) -> str:
        return self._mac(f"pairwise|{sector_identifier}|{user_id}")


class StoreAuthorizationState(AuthorizationState):
    def __init__(self, store: Store, subject_salt: bytes, *, code_lifetime: int, access_token_lifetime: int,
                 refresh_token_lifetime: int):
        super().__init__(
            SubjectIdentifiers(subject_salt),
            authorization_code_db=StoreMapping(store, "code", code_lifetime + 5),
            access_token_db=StoreMapping(store, "access", access_token_lifetime + 5),
            refresh_token_db=StoreMapping(store, "refresh", refresh_token_lifetime + 5),
            authorization_code_lifetime=code_lifetime, access_token_lifetime=access_token_lifetime,
            refresh_token_lifetime=refresh_token_lifetime)
        self.store = store
        self.family_ttl = refresh_token_lifetime + 60

    # --- subject identifiers (6) ---------------------------------------------------------------

    def get_subject_identifier(self, subject_type, user_id, sector_identifier=None):
        factory = self._subject_identifier_factory
        if subject_type == "public":
            sub = factory.create_public_identifier(user_id)
        elif subject_type == "pairwise" and sector_identifier:
            sub = factory.create_pairwise_identifier(user_id, sector_identifier)
        else:
            raise ValueError(f"unknown subject_type {subject_type!r} or no sector")
        self.store.set(f"oidc:sub:{sub}", str(user_id).encode(), self.family_ttl)
        return sub

    def get_user_id_for_subject_identifier(self, subject_identifier):
        user_id = self.store.get(f"oidc:sub:{subject_identifier}")
        if user_id is None:
            raise InvalidSubjectIdentifier("unknown subject identifier")
        return user_id.decode()

    # --- codes (3, 7) --------------------------------------------------------------------------

    def extra_claims_for_code(self, code: str) -> dict:
        """acr, amr, auth_time recorded with the code at authorization (pyop keeps them only when stateless)."""
        record = self.authorization_codes.get(code) if isinstance(code, str) else None
        return dict(record.get(self.KEY_EXTRA_ID_TOKEN_CLAIMS) or {}) if record else {}

    def create_authorization_code(self, authorization_request, subject_identifier, scope=None,
                                  user_info=None, extra_id_token_claims=None):
        code = super().create_authorization_code(authorization_request, subject_identifier, scope=scope)
        record = self.authorization_codes[code]
        record[self.KEY_EXTRA_ID_TOKEN_CLAIMS] = extra_id_token_claims or {}
        record["family"] = secrets.token_urlsafe(16)
        self.authorization_codes[code] = record
        self.store.sadd(f"oidc:sub-families:{subject_identifier}", record["family"], self.family_ttl)
        user_id = self.get_user_id_for_subject_identifier(subject_identifier)
        self.store.sadd(f"oidc:user-families:{user_id}", record["family"], self.family_ttl)
        client_id = authorization_request["client_id"]
        self.store.sadd(f"oidc:client-user-families:{client_id}:{user_id}", record["family"], self.family_ttl)
        return code

    def exchange_code_for_token(self, authorization_code):
        record = self.authorization_codes.get(authorization_code)
        if record is None:
            raise InvalidAuthorizationCode("unknown or expired code")
        first_use = self.store.add(f"oidc:code-used:{token_hash(authorization_code)}", b"1",
                                   self.family_ttl)
        if not first_use:
            # RFC 6749 §4.1.2: a code used twice revokes what was issued from it.
            self.revoke_family(record["family"])
            raise InvalidAuthorizationCode("code already used; tokens issued from it are revoked")
        if record["exp"] < int(time.time()):
            raise InvalidAuthorizationCode("code expired")
        if family_revoked(self.store, record["family"]):
            raise InvalidAuthorizationCode("the tokens of this sign-in were revoked")
        return self._issue_access_token(record["sub"], record[self.KEY_AUTHORIZATION_REQUEST],
                                        record["granted_scope"], record["family"])

    # --- access and refresh tokens (5) -----------------------------------------------------------

    def _issue_access_token(self, sub, auth_req, granted_scope, family, scope=None) -> AccessToken:
        token = self._create_access_token(sub, auth_req, granted_scope, scope)
        record = self.access_tokens[token.value]
        record["family"] = family
        self.access_tokens[token.value] = record
        self._remember(family, self.access_tokens.key(token.value))
        return token

    def create_refresh_token(self, access_token_value):
        access = self.access_tokens.get(access_token_value)
        if access is None:
            raise InvalidAccessToken("unknown access token")
        now = int(time.time())
        return self._issue_refresh_token(access, now + self.refresh_token_lifetime)

    def _issue_refresh_token(self, access: dict, family_exp: int) -> str:
        token = secrets.token_urlsafe(32)
        self.refresh_tokens[token] = {
            "sub": access["sub"], "client_id": access["client_id"], "family": access["family"],
            "granted_scope": access["granted_scope"], "exp": family_exp,
            self.KEY_AUTHORIZATION_REQUEST: access[self.KEY_AUTHORIZATION_REQUEST]}
        self._remember(access["family"], self.refresh_tokens.key(token))
        return token

    def use_refresh_token(self, refresh_token, scope=None, client_id=None):
        used_key = f"oidc:refresh-used:{token_hash(refresh_token)}"
        record = self.refresh_tokens.get(refresh_token)
        if record is None:
            family = self.store.get(used_key)
            if family is not None:  # a rotated-out token came back: someone holds a stolen copy
                self.revoke_family(family.decode())
                raise InvalidRefreshToken("refresh token reused; its family is revoked")
            raise InvalidRefreshToken("unknown or revoked refresh token")
        if client_id is not None and record["client_id"] != client_id:
            raise InvalidRefreshToken("refresh token was issued to another client")
        if not self.store.add(used_key, record["family"].encode(), self.family_ttl):
            self.revoke_family(record["family"])  # two uses raced: end the whole family
            raise InvalidRefreshToken("refresh token reused; its family is revoked")
        if record["exp"] < int(time.time()):
            raise InvalidRefreshToken("refresh token expired")
        if family_revoked(self.store, record["family"]):
            raise InvalidRefreshToken("refresh token revoked")
        granted = record["granted_scope"]
        if scope and not set(scope) <= set(granted.split()):
            raise InvalidScope("requested scope exceeds the granted scope")
        access = self._issue_access_token(record["sub"], record[self.KEY_AUTHORIZATION_REQUEST], granted,
                                          record["family"], " ".join(scope) if scope else None)
        del self.refresh_tokens[refresh_token]
        new_refresh = self._issue_refresh_token(self.access_tokens[access.value], record["exp"])
        return access, new_refresh

    # --- revocation -------------------------------------------------------------------------------

    def _remember(self, family: str, store_key: str) -> None:
        self.store.sadd(f"oidc:family:{family}", store_key, self.family_ttl)

    def revoke_family(self, family: str) -> None:
        revoke_family(self.store, family, self.family_ttl)

    def delete_state_for_subject_identifier(self, subject_identifier):
        """Revoke every token issued to this subject (pyop scans all tokens; we keep an index)."""
        revoke_index(self.store, f"oidc:sub-families:{subject_identifier}")


FAMILY_MARK_SECONDS = 48 * 3600  # longer than any refresh-token family lives


def revoke_family(store: Store, family: str, ttl: int = FAMILY_MARK_SECONDS) -> None:
    """Delete a sign-in's tokens and mark the family revoked, so a code or refresh token that was
    in flight cannot mint new ones afterwards."""
    store.set(f"oidc:family-revoked:{family}", b"1", max(ttl, FAMILY_MARK_SECONDS))
    keys = store.smembers(f"oidc:family:{family}")
    if keys:
        store.delete(*keys)
    store.delete(f"oidc:family:{family}")


def family_revoked(store: Store, family: str) -> bool:
    return store.get(f"oidc:family-revoked:{family}") is not None


def revoke_index(store: Store, index: str) -> None:
    for family in store.smembers(index):
        revoke_family(store, family)
    store.delete(index)


def revoke_identity_tokens(store: Store, user_id) -> None:
    """Revoke every token of one identity, at every client: after a password reset, "sign out of
    all devices", or an administrator's lock."""
    revoke_index(store, f"oidc:user-families:{user_id}")


class LoopbackProviderConfiguration(ProviderConfigurationResponse):
    """Discovery metadata that accepts an http:// issuer on loopback only (8).

    oic's check refuses every http issuer; for a loopback one we run all its other checks on the
    same metadata with the scheme shown as https. Any other http issuer is still refused."""

    def verify(self, **kwargs):
        parts = urlsplit(self["issuer"])
        if parts.scheme == "http" and is_loopback_host(parts.hostname):
            probe = ProviderConfigurationResponse(**self.to_dict())
            probe["issuer"] = urlunsplit(("https",) + tuple(parts[1:]))
            return probe.verify(**kwargs)
        return super().verify(**kwargs)


class NationalProvider(Provider):
    def __init__(self, keyring, configuration, authz_state, clients, userinfo, client_authenticator,
                 *, id_token_lifetime: int, extra_scopes: dict):
        issuer = configuration["issuer"]
        parts = urlsplit(issuer)
        loopback_http = parts.scheme == "http" and is_loopback_host(parts.hostname)
        checked = dict(configuration, issuer=urlunsplit(("https",) + tuple(parts[1:]))) if loopback_http \
            else configuration
        super().__init__(None, checked, authz_state, clients, userinfo,
                         id_token_lifetime=id_token_lifetime, extra_scopes=extra_scopes)
        if loopback_http:
            self.configuration_information = LoopbackProviderConfiguration(
                **dict(self.configuration_information.to_dict(), issuer=issuer))
            self.configuration_information.verify()
        self.keyring = keyring
        self.client_authenticator = client_authenticator

    def revoke_for(self, user_id: str, client_id: str) -> None:
        """Revoke the tokens one identity gave one client (consent withdrawn, RP-initiated logout);
        other clients' tokens stay, even where they share a subject identifier."""
        revoke_index(self.authz_state.store, f"oidc:client-user-families:{client_id}:{user_id}")

    # --- signing (1) ---------------------------------------------------------------------------

    @property
    def jwks(self):
        return self.keyring.jwks()

    def _create_signed_id_token(self, client_id, sub, user_claims=None, nonce=None,
                                authorization_code=None, access_token_value=None,
                                extra_id_token_claims=None):
        alg = self.clients[client_id].get("id_token_signed_response_alg", "RS256")
        now = int(time.time())
        claims = dict(user_claims or {})
        claims.update(extra_id_token_claims or {})
        claims.update(iss=self.configuration_information["issuer"], sub=sub, aud=client_id,
                      iat=now, exp=now + self.id_token_lifetime)
        if nonce:
            claims["nonce"] = nonce
        # OIDC Core §3.1.3.6 / §3.3.2.11: left half of the SHA-256 of the token (both algs use SHA-256).
        if access_token_value:
            claims["at_hash"] = left_hash(access_token_value.encode(), "HS256")
        if authorization_code:
            claims["c_hash"] = left_hash(authorization_code.encode(), "HS256")
        return self.keyring.sign(claims, alg=alg)

    # --- client authentication (2) ---------------------------------------------------------------

    def _verify_client_authentication(self, request_body, http_headers=None):
        request = dict(parse_qsl(request_body))
        request["client_id"] = self.client_authenticator.authenticate(
            request, (http_headers or {}).get("Authorization"))
        return request

    # --- token endpoint (3, 4, 5, 7) -------------------------------------------------------------

    def handle_token_request(self, request_body, http_headers=None, extra_id_token_claims=None):
        request = self._verify_client_authentication(request_body, http_headers)
        grant_type = request.get("grant_type")
        if grant_type == "authorization_code":
            return self._do_code_exchange(request, self.authz_state.extra_claims_for_code(request.get("code")))
        if grant_type == "refresh_token":
            return self._do_token_refresh(request)
        if not grant_type:
            raise InvalidTokenRequest("grant_type missing", request)
        raise InvalidTokenRequest(f"grant_type {grant_type!r} is not supported", request,
                                  oauth_error="unsupported_grant_type")

    def _verify_code_exchange_req(self, token_request, authentication_request):
        if "code_challenge" not in authentication_request and "code_verifier" in token_request:
            raise InvalidTokenRequest("code_verifier sent for a code issued without a challenge", token_request,
                                      oauth_error="invalid_grant")
        if "code_challenge" in authentication_request and "code_verifier" not in token_request:
            raise InvalidTokenRequest("code_verifier missing", token_request, oauth_error="invalid_grant")
        try:
            super()._verify_code_exchange_req(token_request, authentication_request)
        except InvalidTokenRequest as e:
            e.oauth_error = "invalid_grant"  # RFC 6749 §5.2: a PKCE or redirect_uri mismatch
            raise

    def _do_token_refresh(self, request):
        from oic.oic.message import AccessTokenResponse, RefreshAccessTokenRequest
        from oic.exception import MessageException

        token_request = RefreshAccessTokenRequest().from_dict(request)
        try:
            token_request.verify()
        except MessageException as e:
            raise InvalidTokenRequest(str(e), token_request) from e
        access, refresh = self.authz_state.use_refresh_token(
            token_request["refresh_token"], scope=token_request.get("scope"), client_id=request["client_id"])
        response = AccessTokenResponse()
        self._add_access_token_to_response(response, access)
        response["refresh_token"] = refresh
        return response
