"""pyop, extended: every change we make to pyop's behaviour is in this module, each with its reason.

pyop (IdentityPython) stays the engine: it parses and validates authentication and token
requests, runs the code exchange, and builds responses. We extend it where a national IdP needs
more than it does. Every pyop (or oic) method we replace (R), extend and call through super (E), or
call although it is private (C), with why (the numbered notes below) and the test that covers it
(in tests/oidc/). pyop 3.5.0 and oic 1.7.0 are pinned exactly in setup.cfg: an upgrade may change
what a private method does, and these tests say whether it did.

pyop method                          |   | why   | test (in tests/oidc/)
-------------------------------------+---+-------+-------------------------------------------------------------------
Provider (ours: NationalProvider)
  __init__                           | E | 8     | test_discovery::test_metadata_is_complete_and_truthful
  authorize                          | R | 6,7,9 | test_code_flow::test_code_flow_id_token_and_userinfo
  jwks                               | R | 1     | test_discovery::test_jwks_publishes_public_keys_only
  _create_signed_id_token            | R | 1     | test_token::test_es256_id_token_for_a_client_that_asks
  _verify_client_authentication      | R | 2     | test_token::test_wrong_secret_is_401_with_www_authenticate
                                     |   |       | test_token::test_private_key_jwt
  handle_token_request               | R | 3,7,11| test_token::test_grant_types
  _do_code_exchange                  | R | 3     | test_token::test_a_code_works_once_and_replay_revokes_its_tokens
  _verify_code_exchange_req          | E | 4     | test_token::test_pkce_is_checked
                                     |   |       | test_token::test_redirect_uri_must_match
  _do_token_refresh                  | R | 5     | test_token::test_refresh_token_of_another_client
  handle_userinfo_request            | R | 10    | test_userinfo::test_a_locked_identity_gets_no_claims
  _check_subject_identifier_matches_ | C | 9     | test_code_flow::test_code_flow_id_token_and_userinfo
    requested                        |   |       |
  _get_requested_claims_in           | C | 10    | test_userinfo::test_claims_follow_the_granted_scopes
  _add_access_token_to_response      | C | 3,5,11| test_code_flow::test_code_flow_id_token_and_userinfo
                                     |   |       | test_ciba::test_approved_request_gets_tokens_once
AuthorizationState (ours: StoreAuthorizationState)
  __init__                           | E | 3,5   | test_refresh::test_refresh_tokens_and_revocations_outlive_the_store
  create_authorization_code          | R | 3,7   | test_code_flow::test_code_flow_id_token_and_userinfo
  _create_access_token               | R | 3     | test_code_flow::test_code_flow_id_token_and_userinfo
  create_refresh_token               | R | 5     | test_token::test_refresh_tokens_rotate_and_reuse_revokes_the_family
  use_refresh_token                  | R | 5     | test_refresh::
                                     |   |       |   test_a_retry_within_the_grace_gets_a_new_pair_of_the_same_family
                                     |   |       | test_refresh::test_reuse_after_the_grace_revokes_the_family
  get_subject_identifier             | R | 6     | test_engine_overrides::test_subjects_public_or_pairwise
  get_user_id_for_subject_identifier | R | 6     | test_engine_overrides::test_nothing_maps_a_sub_back_to_an_identity
  delete_state_for_subject_          | R | 5     | test_engine_overrides::test_state_is_never_deleted_by_subject
    identifier                       |   |       |
HashBasedSubjectIdentifierFactory (ours: SubjectIdentifiers)
  the whole class                    | R | 6     | test_refresh::test_sub_is_made_from_the_subject_seed
                                     |   |       | test_userinfo::test_pairwise_subjects_differ_between_portals
oic ProviderConfigurationResponse (ours: LoopbackProviderConfiguration)
  verify                             | E | 8     | test_engine_overrides::test_an_http_issuer_on_loopback_only

1. Signing: ID tokens are signed by our key ring (several published keys, rotation, RS256 or ES256
   per relying party, through `cryptography`); pyop publishes and signs with one key only.
2. Client authentication: secrets are stored hashed and compared in constant time, and
   `private_key_jwt` (RFC 7523) is supported; pyop compares plain secrets with `!=`.
3. Codes: single use is enforced atomically in the store, and a replayed code revokes every token
   issued from it (RFC 9700 §4.5, RFC 6749 §4.1.2); pyop only flags the code as used. The code
   exchange is ours (`_do_code_exchange`): the identity comes from the code's record and its family,
   checked not revoked in the same query, not from a store-held sub → user map.
4. PKCE: S256 is required of every client, and a code_verifier for a code issued without a
   challenge is refused (RFC 9700 §2.1.1); pyop checks PKCE only when a challenge was sent. A
   verifier outside RFC 7636 §4.1's alphabet is invalid_grant (oic raised on non-ASCII: a 500).
5. Refresh tokens live in the database (idp.oidc.token_families), rotate on every use, and a reused
   one revokes its whole family (RFC 9700 §4.14) — except a retry within
   IDP_REFRESH_REUSE_GRACE_SECONDS, which gets a fresh pair of the same family and voids the
   successor of the first use. They are bound to the client that received them. pyop keeps one
   refresh token in its store and does not check the client.
6. Subject identifiers are computed (HMAC, pairwise per sector by default) from the identity's
   subject seed, never from its database id or uuid; nothing maps a sub back to a person (pyop
   scans every user it ever saw). pyop's `user_id` is the identity's uuid.
7. acr, amr and auth_time of each authorization travel with its code into the ID token.
8. An http:// issuer is accepted on loopback only (the demo); oic refuses any http issuer.
9. Authorization (`authorize`) is code-only and takes the subject seed from the caller; it reads
   the client once and opens the token family. pyop looks the user up twice to build claims it
   uses only for implicit flows.
10. Userinfo (`handle_userinfo_request`) refuses an access token whose family was revoked, and
    reads the claims in the same query (OIDC Core 1.0 §5.3).
11. The CIBA grant (CIBA Core 1.0 §10): the state machine is idp.oidc.ciba_grant's; the tokens are
    made here as for a code, in a new family, with acr, amr and auth_time from the approval and
    no nonce. `ciba_clock` is the time both CIBA endpoints read (tests move it).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
import time
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from jwkest.jws import left_hash
from oic.exception import MessageException
from oic.oic import scope2claims
from oic.oic.message import AccessTokenResponse, AuthorizationResponse, OpenIDSchema, ProviderConfigurationResponse
from pyop.access_token import AccessToken, extract_bearer_token_from_http_request
from pyop.authz_state import AuthorizationState, rand_str
from pyop.exceptions import (InvalidAccessToken, InvalidAuthorizationCode, InvalidRefreshToken,
                             InvalidScope, InvalidSubjectIdentifier, InvalidTokenRequest)
from pyop.message import AccessTokenRequest, AuthorizationRequest
from pyop.provider import Provider
from pyop.userinfo import Userinfo

from idp.db import commit_unless_request
from idp.identity import accounts
from idp.models import utcnow
from idp.oidc import backchannel, ciba, ciba_grant, token_families
from idp.oidc.storage import StoreMapping, token_hash
from idp.settings import is_loopback_host
from idp.store import Store


def ReplayDetected(error_class, message: str, *, kind: str, client_id: str | None):  # noqa: N802
    """`error_class` (pyop's, so the OAuth answer is unchanged) marked as a detected replay: the
    token view records it as its own audit event (`kind`), which monitoring alerts on."""
    error = error_class(message)
    error.replay = {"kind": kind, "client_id": client_id}
    return error


CODE_VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")


class SubjectIdentifiers:
    """OIDC Core 1.0 §8.1: a pairwise `sub` is an HMAC of the sector and the subject seed, so a
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
    """Codes and access tokens in the store; families and refresh tokens in the database."""

    def __init__(self, store: Store, session_factory, subject_salt: bytes, *, code_lifetime: int,
                 access_token_lifetime: int, refresh_token_lifetime: int, refresh_reuse_grace: int = 10):
        super().__init__(
            SubjectIdentifiers(subject_salt),
            authorization_code_db=StoreMapping(store, "code", code_lifetime + 5),
            access_token_db=StoreMapping(store, "access", access_token_lifetime + 5),
            refresh_token_db=None,
            authorization_code_lifetime=code_lifetime, access_token_lifetime=access_token_lifetime,
            refresh_token_lifetime=refresh_token_lifetime)
        self.refresh_tokens = None  # in the database: see idp.oidc.token_families
        self.store = store
        self.session_factory = session_factory
        self.refresh_reuse_grace = refresh_reuse_grace

    # --- subject identifiers (6) ---------------------------------------------------------------

    def get_subject_identifier(self, subject_type, user_id, sector_identifier=None):
        """`user_id` here is the identity's subject seed (see NationalProvider.authorize)."""
        factory = self._subject_identifier_factory
        if subject_type == "public":
            return factory.create_public_identifier(user_id)
        if subject_type == "pairwise" and sector_identifier:
            return factory.create_pairwise_identifier(user_id, sector_identifier)
        raise ValueError(f"unknown subject_type {subject_type!r} or no sector")

    def get_user_id_for_subject_identifier(self, subject_identifier):
        raise InvalidSubjectIdentifier("subjects are not mapped back to identities; use the token's record")

    # --- codes (3, 7) --------------------------------------------------------------------------

    def extra_claims_for_code(self, code: str) -> dict:
        """acr, amr, auth_time recorded with the code at authorization (pyop keeps them only when stateless)."""
        record = self.authorization_codes.get(code) if isinstance(code, str) else None
        return dict(record.get(self.KEY_EXTRA_ID_TOKEN_CLAIMS) or {}) if record else {}

    def create_authorization_code(self, authorization_request, subject_identifier, scope=None,
                                  user_info=None, extra_id_token_claims=None, *, user_id: str,
                                  id_token_alg: str = "RS256"):
        """A code in the store, and its family in the database (so a revocation while the code is
        in flight holds, RFC 9700 §4.14). pyop's own would look the sub up in a sub → user map."""
        code = secrets.token_urlsafe(32)
        record = {"exp": int(time.time()) + self.authorization_code_lifetime, "sub": subject_identifier,
                  "granted_scope": " ".join(scope or authorization_request["scope"]),
                  self.KEY_AUTHORIZATION_REQUEST: authorization_request.to_dict(),
                  self.KEY_EXTRA_ID_TOKEN_CLAIMS: extra_id_token_claims or {},
                  "family": secrets.token_urlsafe(16), "user_id": user_id, "id_token_alg": id_token_alg}
        self.authorization_codes[code] = record
        with self.session_factory() as session:
            token_families.open_family(session, record["family"], user_id, authorization_request["client_id"],
                                       subject_identifier, self.refresh_token_lifetime)
            commit_unless_request(session)  # in a request: committed with its audit record
        return code

    def redeem_code(self, authorization_code, record: dict | None = None) -> dict:
        """The code's record, once. A code used twice revokes its family (RFC 6749 §4.1.2). After a
        store loss the record is gone too, so a replayed code mints nothing. `record`: the code's
        record as the caller already read it (one store round trip fewer)."""
        if record is None:
            record = self.authorization_codes.get(authorization_code)
        if record is None:
            raise InvalidAuthorizationCode("unknown or expired code")
        if not self.store.add(f"oidc:code-used:{token_hash(authorization_code)}", b"1",
                              self.authorization_code_lifetime + 60):
            self.revoke_family(record["family"])
            raise ReplayDetected(InvalidAuthorizationCode, "code already used; tokens issued from it are revoked",
                                 kind="oidc.code_reuse",
                                 client_id=record[self.KEY_AUTHORIZATION_REQUEST].get("client_id"))
        if record["exp"] < int(time.time()):
            raise InvalidAuthorizationCode("code expired")
        return record

    # --- access and refresh tokens (5) -----------------------------------------------------------

    def issue_access_token(self, sub, auth_req, granted_scope, family, user_id, scope=None) -> AccessToken:
        """pyop's access token record (its _create_access_token: the same keys and token format)
        with the family and identity added, written once (pyop's writes it, then we rewrote it)."""
        now = int(time.time())
        value = rand_str()
        self.access_tokens[value] = {
            "iat": now, "exp": now + self.access_token_lifetime, "sub": sub, "client_id": auth_req["client_id"],
            "aud": [auth_req["client_id"]], "scope": scope or granted_scope, "granted_scope": granted_scope,
            "token_type": AccessToken.BEARER_TOKEN_TYPE, self.KEY_AUTHORIZATION_REQUEST: auth_req,
            "family": family, "user_id": user_id}
        return AccessToken(value, self.access_token_lifetime)

    def create_refresh_token(self, access_token_value, access: dict | None = None):
        """The first refresh token of a family, for the access token a code was exchanged for
        (`access`: that token's record, when the caller has it)."""
        if access is None:
            access = self.access_tokens.get(access_token_value)
        if access is None:
            raise InvalidAccessToken("unknown access token")
        token = secrets.token_urlsafe(32)
        with self.session_factory() as session:
            token_families.add_refresh_token(session, token, access["family"], access["client_id"],
                                             access["user_id"], access["granted_scope"],
                                             access[self.KEY_AUTHORIZATION_REQUEST])
            commit_unless_request(session)  # in a request: committed with its audit record
        return token

    def use_refresh_token(self, refresh_token, scope=None, client_id=None):
        """RFC 6749 §6 with rotation (RFC 9700 §4.14): a new access and refresh token of the same
        family. A rotated token presented again within the grace is a retry (the answer was lost):
        it gets a new pair and the successor of its first use is voided; later, or once that
        successor was used, it is a stolen copy, and the family is revoked."""
        with self.session_factory() as session:
            presented = token_families.find_refresh_token(session, refresh_token)
            if presented is None:
                raise InvalidRefreshToken("unknown or revoked refresh token")
            row, family = presented.token, presented.family
            if client_id is not None and row.client_id != client_id:
                raise InvalidRefreshToken("refresh token was issued to another client")
            if family.revoked_at is not None:
                raise InvalidRefreshToken("refresh token revoked")
            if presented.identity_status != "active":
                raise InvalidRefreshToken("the identity of this refresh token is gone or not active")
            if token_families.aware(family.expires_at) < utcnow():
                raise InvalidRefreshToken("refresh token expired")
            if scope and not set(scope) <= set(row.granted_scope.split()):
                raise InvalidScope("requested scope exceeds the granted scope")
            new_token = secrets.token_urlsafe(32)
            rotated_at = presented.rotated_at
            if rotated_at is None and token_families.rotate(session, row, new_token):
                commit_unless_request(session)  # in a request: committed with its audit record
            elif self._within_grace(rotated_at) and token_families.replace_successor(session, row, new_token):
                commit_unless_request(session)
            else:
                token_families.revoke_family(session, row.family_id)
                session.commit()
                raise ReplayDetected(InvalidRefreshToken, "refresh token reused; its family is revoked",
                                     kind="oidc.refresh_reuse", client_id=row.client_id)
            access = self.issue_access_token(family.sub, row.auth_request, row.granted_scope, row.family_id,
                                             row.identity_uuid, " ".join(scope) if scope else None)
        return access, new_token

    def _within_grace(self, rotated_at) -> bool:
        """A rotation too recent to be theft; None means another request rotated it this instant."""
        return rotated_at is None or (utcnow() - rotated_at).total_seconds() <= self.refresh_reuse_grace

    # --- revocation -------------------------------------------------------------------------------

    def revoke_family(self, family: str) -> None:
        with self.session_factory() as session:
            token_families.revoke_family(session, family)
            session.commit()

    def delete_state_for_subject_identifier(self, subject_identifier):
        """Refused on purpose (not a stub): pyop's version scans every token; ours revoke by identity
        or client in PostgreSQL (idp.oidc.token_families), and nothing of ours calls this."""
        raise NotImplementedError("revoke through idp.oidc.token_families, by identity or client")


# Re-exported: idp.revocation revokes an identity's tokens in the caller's transaction.
revoke_identity_tokens = token_families.revoke_identity_tokens


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
    def __init__(self, keyring, configuration, authz_state, clients, identity_claims, client_authenticator,
                 *, id_token_lifetime: int, extra_scopes: dict):
        issuer = configuration["issuer"]
        parts = urlsplit(issuer)
        loopback_http = parts.scheme == "http" and is_loopback_host(parts.hostname)
        checked = dict(configuration, issuer=urlunsplit(("https",) + tuple(parts[1:]))) if loopback_http \
            else configuration
        super().__init__(None, checked, authz_state, clients, Userinfo(identity_claims),
                         id_token_lifetime=id_token_lifetime, extra_scopes=extra_scopes)
        if loopback_http:
            self.configuration_information = LoopbackProviderConfiguration(
                **dict(self.configuration_information.to_dict(), issuer=issuer))
            self.configuration_information.verify()
        self.keyring = keyring
        self.client_authenticator = client_authenticator
        self.identity_claims = identity_claims
        self.ciba_clock = time.time  # (11)

    # --- authorization (6, 9) ----------------------------------------------------------------------

    def authorize(self, authentication_request, user_id, extra_id_token_claims=None, *, subject_seed: str):
        """OIDC Core 1.0 §3.1.2.5: the code for `user_id` (an identity's uuid); its `sub` is made
        from `subject_seed`, so it never changes with the identity's database id or uuid."""
        if list(authentication_request["response_type"]) != ["code"]:
            raise ValueError("only the authorization code flow is supported")
        client = self.clients[authentication_request["client_id"]]  # read once for the whole request
        sector = urlsplit(client.get("sector_identifier_uri", authentication_request["redirect_uri"])).netloc
        sub = self.authz_state.get_subject_identifier(client.get("subject_type", "pairwise"), subject_seed, sector)
        self._check_subject_identifier_matches_requested(authentication_request, sub)
        response = AuthorizationResponse(code=self.authz_state.create_authorization_code(
            authentication_request, sub, extra_id_token_claims=extra_id_token_claims or {}, user_id=user_id,
            id_token_alg=client.get("id_token_signed_response_alg", "RS256")))
        if "state" in authentication_request:
            response["state"] = authentication_request["state"]
        return response

    def subject_for(self, client_id: str, subject_seed: str) -> str:
        """The `sub` `client_id` knows an identity by: pairwise per sector (the host of its redirect
        URIs, OIDC Core 1.0 §8.1) or public, as registered."""
        client = self.clients[client_id]
        sector = urlsplit(client.get("sector_identifier_uri", client["redirect_uris"][0])).netloc
        return self.authz_state.get_subject_identifier(client.get("subject_type", "pairwise"), subject_seed, sector)

    def subject_of(self, sub: str, client_id: str, identity_uuid: str) -> bool:
        """Whether `sub`, as given to `client_id`, is this identity's (for an id_token_hint)."""
        with self.authz_state.session_factory() as session:
            return token_families.subject_belongs_to(session, client_id, sub, identity_uuid)

    # --- userinfo (10) -------------------------------------------------------------------------------

    def handle_userinfo_request(self, request=None, http_headers=None, record: dict | None = None):
        """OIDC Core 1.0 §5.3: the claims of the token's scopes, while its family is not revoked.
        `record`: the access token's record when the caller has already read it."""
        if record is None:
            userinfo_request = dict(parse_qsl(request or ""))
            bearer = extract_bearer_token_from_http_request(userinfo_request,
                                                            (http_headers or {}).get("Authorization"))
            record = self.authz_state.access_tokens.get(bearer)
        if record is None or record["exp"] < int(time.time()):
            raise InvalidAccessToken("unknown or expired access token")
        # KeyError when revoked, or when the token's client has since been disabled
        claims = self.identity_claims.of_live_family(record.get("family"), enabled_client=record.get("client_id"))
        requested = self._claims_of_scope(record["scope"])
        requested.update(self._get_requested_claims_in(record[self.authz_state.KEY_AUTHORIZATION_REQUEST],
                                                       "userinfo"))
        user_claims = {claim: claims[claim] for claim in requested if claim in claims}
        user_claims["sub"] = record["sub"]
        return OpenIDSchema(**user_claims)

    def _claims_of_scope(self, scope: str) -> dict:
        """oic's scope2claims, remembered per scope string (a handful per deployment; it was a
        tenth of userinfo's CPU)."""
        cache = self.__dict__.setdefault("_scope_claims", {})
        if scope not in cache:
            if len(cache) > 256:  # scope strings come from registered clients' grants: few; bound anyway
                cache.clear()
            cache[scope] = scope2claims(scope.split(), extra_scope_dict=self.extra_scopes)
        return dict(cache[scope])

    # --- signing (1) ---------------------------------------------------------------------------

    @property
    def jwks(self):
        return self.keyring.jwks()

    def _create_signed_id_token(self, client_id, sub, user_claims=None, nonce=None,
                                authorization_code=None, access_token_value=None,
                                extra_id_token_claims=None, alg=None):
        alg = alg or self.clients[client_id].get("id_token_signed_response_alg", "RS256")
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
        grants = {"authorization_code": self._do_code_exchange, "refresh_token": self._do_token_refresh,
                  ciba.GRANT_TYPE: self._do_ciba_grant}
        if grant_type in grants:
            response = grants[grant_type](request)
            response.issued_to = request["client_id"]  # for the audit record, not part of the answer
            return response
        if not grant_type:
            raise InvalidTokenRequest("grant_type missing", request)
        raise InvalidTokenRequest(f"grant_type {grant_type!r} is not supported", request,
                                  oauth_error="unsupported_grant_type")

    def _do_code_exchange(self, request, extra_id_token_claims=None):
        """OIDC Core 1.0 §3.1.3: tokens for a code, once. The identity is the one the code was issued
        for, read with its family's revocation in one query (3)."""
        token_request = AccessTokenRequest().from_dict(request)
        try:
            token_request.verify()
        except MessageException as e:
            raise InvalidTokenRequest(str(e), token_request) from e
        code = token_request["code"]
        # The code's record is read once (pyop's helpers would read it three times).
        record = self.authz_state.authorization_codes.get(code) if isinstance(code, str) else None
        if record is None:
            raise InvalidAuthorizationCode(f"{code} unknown")  # pyop's answer for an unknown code
        state = self.authz_state
        authentication_request = AuthorizationRequest().from_dict(record[state.KEY_AUTHORIZATION_REQUEST])
        if extra_id_token_claims is None:
            extra_id_token_claims = dict(record.get(state.KEY_EXTRA_ID_TOKEN_CLAIMS) or {})
        self._verify_code_exchange_req(token_request, authentication_request)
        record = state.redeem_code(code, record)
        try:
            claims = self.identity_claims.of_live_family(record["family"])
        except KeyError:
            raise InvalidAuthorizationCode("the tokens of this sign-in were revoked") from None
        access = state.issue_access_token(record["sub"], record[state.KEY_AUTHORIZATION_REQUEST],
                                          record["granted_scope"], record["family"], record["user_id"])
        response = AccessTokenResponse()
        self._add_access_token_to_response(response, access)
        response["refresh_token"] = state.create_refresh_token(access.value, {
            "family": record["family"], "client_id": record[state.KEY_AUTHORIZATION_REQUEST]["client_id"],
            "user_id": record["user_id"], "granted_scope": record["granted_scope"],
            state.KEY_AUTHORIZATION_REQUEST: record[state.KEY_AUTHORIZATION_REQUEST]})
        requested = self._get_requested_claims_in(authentication_request, "id_token")
        response["id_token"] = self._create_signed_id_token(
            authentication_request["client_id"], record["sub"],
            {claim: claims[claim] for claim in requested if claim in claims},
            authentication_request.get("nonce"), None, access.value, extra_id_token_claims,
            alg=record.get("id_token_alg"))
        return response

    def _verify_code_exchange_req(self, token_request, authentication_request):
        if "code_challenge" not in authentication_request and "code_verifier" in token_request:
            raise InvalidTokenRequest("code_verifier sent for a code issued without a challenge", token_request,
                                      oauth_error="invalid_grant")
        if "code_challenge" in authentication_request and "code_verifier" not in token_request:
            raise InvalidTokenRequest("code_verifier missing", token_request, oauth_error="invalid_grant")
        # RFC 7636 §4.1: oic hashes the verifier as ASCII, and anything else made it raise (a 500)
        if "code_verifier" in token_request and not CODE_VERIFIER.fullmatch(str(token_request["code_verifier"])):
            raise InvalidTokenRequest("code_verifier is not 43-128 unreserved characters", token_request,
                                      oauth_error="invalid_grant")
        try:
            super()._verify_code_exchange_req(token_request, authentication_request)
        except InvalidTokenRequest as e:
            e.oauth_error = "invalid_grant"  # RFC 6749 §5.2: a PKCE or redirect_uri mismatch
            raise

    def _do_ciba_grant(self, request):
        """CIBA Core 1.0 §10.1.1 (11): the tokens of an approved request, once, in a new family."""
        now = dt.datetime.fromtimestamp(self.ciba_clock(), dt.UTC)
        with self.authz_state.session_factory() as session:
            approved = ciba_grant.poll(session, request.get("auth_req_id"), request["client_id"], now)
        client = self.clients[approved.client_id]
        family, sid = secrets.token_urlsafe(16), backchannel.new_sid()
        with self.authz_state.session_factory() as session:
            identity = accounts.get_by_uuid(session, approved.identity_uuid)
            if identity is None or not identity.is_active:
                raise InvalidTokenRequest("the identity is gone or not active", request, oauth_error="invalid_grant")
            sub = self.subject_for(approved.client_id, identity.subject_seed)
            token_families.open_family(session, family, identity.uuid, approved.client_id, sub,
                                       self.authz_state.refresh_token_lifetime)
            backchannel.record_sign_in(session, identity.uuid, sid, "oidc", approved.client_id, sub)
            session.commit()
        access = self.authz_state.issue_access_token(sub, {"client_id": approved.client_id, "scope": approved.scope},
                                                     approved.scope, family, approved.identity_uuid)
        response = AccessTokenResponse()
        self._add_access_token_to_response(response, access)
        response["refresh_token"] = self.authz_state.create_refresh_token(access.value)
        claims = {"acr": approved.acr, "amr": approved.amr, "auth_time": approved.auth_time, "sid": sid}
        response["id_token"] = self._create_signed_id_token(approved.client_id, sub, {}, None, None, access.value,
                                                            claims, alg=client.get("id_token_signed_response_alg"))
        return response

    def _do_token_refresh(self, request):
        from oic.oic.message import RefreshAccessTokenRequest

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
