"""Client authentication at the token endpoint (RFC 6749 §2.3, OIDC Core 1.0 §9):
client_secret_basic, client_secret_post, private_key_jwt (RFC 7523) and none (public clients).

A client uses exactly the method it was registered with, and one method per request.
"""
from __future__ import annotations

import base64
import binascii
import json
import logging
import time
import urllib.request
from urllib.parse import unquote_plus

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from pyop.exceptions import InvalidClientAuthentication

from idp import used_once
from idp.oidc import clients
from idp.store import Store

log = logging.getLogger(__name__)

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_ALGS = ["RS256", "PS256", "ES256"]  # never HS* or none
MAX_ASSERTION_LIFETIME = 300
CLOCK_SKEW = 30  # seconds a client's clock may run ahead of ours
JWKS_CACHE_SECONDS = 300


class ClientAuthenticator:
    def __init__(self, session_factory, store: Store, token_endpoint: str, issuer: str, fetch_jwks=None):
        self.session_factory = session_factory
        self.store = store
        self.audiences = {token_endpoint, issuer}
        self.fetch_jwks = fetch_jwks or fetch_remote_jwks

    def authenticate(self, request: dict, authorization_header: str | None) -> str:
        """The authenticated client_id, or InvalidClientAuthentication."""
        method, client_id, credential = self._presented(request, authorization_header)
        with self.session_factory() as session:
            rp = clients.find_oidc(session, client_id) if client_id else None
            if rp is None or not rp.enabled:
                raise InvalidClientAuthentication("unknown or disabled client")
            if method != rp.auth_method:
                raise InvalidClientAuthentication(f"this client must authenticate with {rp.auth_method}")
            if method in ("client_secret_basic", "client_secret_post"):
                if not clients.secret_matches(rp, credential):
                    raise InvalidClientAuthentication("client authentication failed")
            elif method == "private_key_jwt":
                self._check_assertion(rp, credential or "")
            return client_id or ""  # rp was found by it: never empty here

    @staticmethod
    def _presented(request: dict, header: str | None) -> tuple[str, str | None, str | None]:
        methods: list[tuple[str, str | None, str | None]] = []
        if header:
            scheme, _, value = header.partition(" ")
            if scheme.lower() != "basic":
                raise InvalidClientAuthentication("only Basic client authentication is accepted in the header")
            try:
                decoded = base64.b64decode(value.strip(), validate=True).decode()
                client_id, secret = decoded.split(":", 1)
            except (binascii.Error, UnicodeDecodeError, ValueError):
                raise InvalidClientAuthentication("malformed Basic credentials") from None
            # RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
            methods.append(("client_secret_basic", unquote_plus(client_id), unquote_plus(secret)))
        if "client_secret" in request:
            methods.append(("client_secret_post", request.get("client_id"), request["client_secret"]))
        if "client_assertion" in request or "client_assertion_type" in request:
            if request.get("client_assertion_type") != ASSERTION_TYPE:
                raise InvalidClientAuthentication("unsupported client_assertion_type")
            methods.append(("private_key_jwt", _assertion_issuer(request.get("client_assertion", "")),
                            request.get("client_assertion")))
        if len(methods) > 1:
            raise InvalidClientAuthentication("more than one client authentication method used")
        if methods:
            method, presented_id, credential = methods[0]
            if request.get("client_id") not in (None, presented_id):
                raise InvalidClientAuthentication("client_id does not match the authenticated client")
            return method, presented_id, credential
        return "none", request.get("client_id"), None

    def _check_assertion(self, rp, assertion: str) -> None:
        keys = rp.jwks if rp.jwks else self._remote_keys(rp.jwks_uri)
        try:
            # a JWK Set, checked when the client was registered or fetched from its jwks_uri
            token = jwt.decode(assertion, KeySet.import_key_set(keys), algorithms=ASSERTION_ALGS)  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError) as e:
            raise InvalidClientAuthentication(f"client assertion rejected: {e.__class__.__name__}") from None
        claims, now = token.claims, int(time.time())
        audience = claims.get("aud")
        audiences = {a for a in (audience if isinstance(audience, list) else [audience]) if isinstance(a, str)}
        exp, nbf, iat = claims.get("exp"), claims.get("nbf"), claims.get("iat")
        problems = [name for name, ok in (
            ("iss", claims.get("iss") == rp.client_id),
            ("sub", claims.get("sub") == rp.client_id),
            ("aud", bool(self.audiences & audiences)),
            ("exp", isinstance(exp, int) and now - 30 <= exp <= now + MAX_ASSERTION_LIFETIME),
            # RFC 7523 §3 (4, 5, 6): not before nbf; an iat in the future is no assertion made yet.
            ("nbf", nbf is None or (_is_time(nbf) and nbf <= now + CLOCK_SKEW)),
            ("iat", iat is None or (_is_time(iat) and iat <= now + CLOCK_SKEW)),
            ("jti", isinstance(claims.get("jti"), str) and 0 < len(claims["jti"]) <= 200),
        ) if not ok]
        if problems:
            raise InvalidClientAuthentication(f"client assertion claims rejected: {', '.join(problems)}")
        # RFC 7523 §3: a jti is used once, for as long as the assertion could be valid; the mark is in
        # the database, committed at once, so that a Redis restart cannot make an assertion reusable.
        if not self._spend(f"oidc:jti:{rp.client_id}:{claims['jti']}", MAX_ASSERTION_LIFETIME + 60):
            raise InvalidClientAuthentication("client assertion replayed")

    def _spend(self, key: str, ttl_seconds: int) -> bool:
        with self.session_factory() as session:
            first = used_once.spend(session, key, ttl_seconds)
            session.commit()
            return first

    def _remote_keys(self, uri: str) -> dict:
        cache_key = f"oidc:jwks-cache:{uri}"
        cached = self.store.get(cache_key)
        if cached:
            return json.loads(cached)
        keys = self.fetch_jwks(uri)
        self.store.set(cache_key, json.dumps(keys).encode(), JWKS_CACHE_SECONDS)
        return keys


def _is_time(value) -> bool:
    """A NumericDate (RFC 7519 §2): a number of seconds, not a string or a boolean."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _assertion_issuer(assertion: str) -> str | None:
    """The iss of an unverified assertion, only to find the client whose keys will verify it."""
    try:
        payload = assertion.split(".")[1]
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return data.get("iss") if isinstance(data.get("iss"), str) else None
    except (IndexError, ValueError, AttributeError):
        return None


def fetch_remote_jwks(uri: str) -> dict:
    """The RP's published keys (registered jwks_uri: https, or http on loopback only)."""
    try:
        with urllib.request.urlopen(uri, timeout=5) as response:  # noqa: S310 - scheme checked at registration
            return json.loads(response.read(256 * 1024))
    except (OSError, ValueError) as e:
        log.warning("could not fetch a client's jwks_uri: %s", e)
        raise InvalidClientAuthentication("the client's keys could not be fetched") from None
