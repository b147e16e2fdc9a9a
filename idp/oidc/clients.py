"""The relying-party registry: which portals may sign citizens in, and how they prove who they are.

Relying parties are registered by an administrator (there is no dynamic registration). The rules
follow RFC 9700 (OAuth 2.0 Security BCP): redirect URIs are stored to be compared as exact
strings, so no wildcards (§2.1, §4.1); https only, except http on loopback for native apps
(RFC 8252 §7.3); absolute and without fragment (RFC 6749 §3.1.2); the code flow only (§2.1.2).
Client secrets are 256-bit random values kept only as SHA-256 hashes; private_key_jwt clients
register public keys only (OIDC Core 1.0 §9).

Functions take the session and do not commit: the caller owns the transaction. Messages are read by
administrators only, so they name the offending value and are not marked for translation.
"""
from __future__ import annotations

import copy
import hashlib
import hmac
import ipaddress
import secrets
import warnings
from collections.abc import Iterable, Mapping
from contextvars import ContextVar, Token
from urllib.parse import urlsplit

from joserfc.errors import JoseError, SecurityWarning
from joserfc.jwk import KeySet
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from idp.attributes import SCOPES
from idp.errors import NotFound, ValidationError
from idp.models import RelyingParty

AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt", "none")
SECRET_METHODS = frozenset({"client_secret_basic", "client_secret_post"})
SUBJECT_TYPES = ("pairwise", "public")
ID_TOKEN_ALGS = ("RS256", "ES256")
MAX_NAME = 200
MAX_URI = 1024
MAX_SECRET = 256  # our secrets are 43 characters; anything far longer is not one of them
MAX_KEYS = 10
KEY_TYPES: dict[str, set[str] | None] = {"RSA": None, "EC": {"P-256", "P-384", "P-521"}}  # kty → accepted curves
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})  # RFC 7518 §6


# --- registration ---------------------------------------------------------------------------


def new_client_id() -> str:
    """192 random bits, base64url; never starting with "-", which a command line would read as an
    option (`idp rp disable -x…`)."""
    while True:
        client_id = secrets.token_urlsafe(24)
        if not client_id.startswith("-"):
            return client_id


def register_oidc(session: Session, *, name: str, redirect_uris: Iterable[str],
                  post_logout_redirect_uris: Iterable[str] = (), scopes: Iterable[str] = ("openid",),
                  auth_method: str = "client_secret_basic", jwks: dict | None = None,
                  jwks_uri: str | None = None, require_loa2: bool = False,
                  require_loa3: bool = False, allow_national_id: bool = False, subject_type: str = "pairwise",
                  id_token_alg: str = "RS256", introspection: bool = False,  # noqa: S107 (an algorithm name)
                  backchannel_logout_uri: str | None = None,
                  backchannel_logout_session_required: bool = False,
                  ciba: bool = False) -> tuple[RelyingParty, str | None]:
    """Register an OpenID Connect relying party. Returns it and its client secret, which exists
    only for the client_secret_* methods and is shown this once (only its hash is kept)."""
    rp = RelyingParty(
        protocol="oidc", client_id=new_client_id(), name=check_name(name),
        redirect_uris=check_uris(redirect_uris, "redirect URI", required=True),
        post_logout_redirect_uris=check_uris(post_logout_redirect_uris, "post-logout redirect URI"),
        scopes=check_scopes(scopes, allow_national_id),
        auth_method=_choice(auth_method, AUTH_METHODS, "client authentication method"),
        subject_type=_choice(subject_type, SUBJECT_TYPES, "subject type"),
        id_token_alg=_choice(id_token_alg, ID_TOKEN_ALGS, "ID token signing algorithm"),
        require_loa2=bool(require_loa2) or bool(require_loa3), require_loa3=bool(require_loa3),
        allow_national_id=bool(allow_national_id), enabled=True, require_signed_requests=False,
        introspection=bool(introspection),
        backchannel_logout_uri=check_uri(backchannel_logout_uri, "back-channel logout URI")
        if backchannel_logout_uri else None,
        backchannel_logout_session_required=bool(backchannel_logout_session_required),
        ciba=bool(ciba),
    )
    if rp.backchannel_logout_session_required and not rp.backchannel_logout_uri:
        raise ValidationError("--backchannel-logout-session-required needs --backchannel-logout-uri")
    if rp.ciba and rp.auth_method == "none":  # CIBA Core 1.0 §7.1: the request is client-authenticated
        raise ValidationError("a CIBA client (--ciba) must authenticate; not --auth-method none")
    if rp.introspection and rp.auth_method == "none":
        raise ValidationError("a resource server (--introspection) must authenticate; not --auth-method none")
    # auth_method was set just above from a checked choice
    rp.jwks, rp.jwks_uri = check_client_keys(rp.auth_method, jwks, jwks_uri)  # type: ignore[arg-type]
    check_sector(rp.subject_type, rp.redirect_uris)
    secret = _new_secret(rp) if rp.auth_method in SECRET_METHODS else None
    session.add(rp)
    session.flush()
    return rp, secret


def check_name(name) -> str:
    name = name.strip() if isinstance(name, str) else ""
    if not 1 <= len(name) <= MAX_NAME:
        raise ValidationError(f"the name must have 1 to {MAX_NAME} characters", field="name")
    if not name.isprintable():
        raise ValidationError("the name must not contain control or formatting characters", field="name")
    return name


def check_uris(uris: Iterable[str], what: str, required: bool = False) -> list[str]:
    uris = [uris] if isinstance(uris, str) else list(uris or ())
    if required and not uris:
        raise ValidationError(f"register at least one {what}", field="redirect_uris")
    return list(dict.fromkeys(check_uri(uri, what) for uri in uris))


def check_uri(uri, what: str) -> str:
    """An absolute https URI (http only on a loopback host), to be matched as an exact string."""
    if not isinstance(uri, str) or not uri:
        raise ValidationError(f"a {what} is empty")
    if len(uri) > MAX_URI:
        raise ValidationError(f"{what} is longer than {MAX_URI} characters: {uri[:60]}…")
    if not uri.isascii() or any(c.isspace() or not c.isprintable() or c == "\\" for c in uri):
        raise ValidationError(f"{what} must be plain ASCII without spaces or backslashes "
                              f"(percent-encode other characters): {uri!r}")
    if "*" in uri:
        raise ValidationError(f"{what} must not contain wildcards; register each URI exactly: {uri}")
    if "#" in uri:
        raise ValidationError(f"{what} must not have a fragment (#): {uri}")
    try:
        parts = urlsplit(uri)
        _ = parts.port  # raises ValueError on a bad port
    except ValueError:
        raise ValidationError(f"{what} is not a valid URI: {uri}") from None
    if not parts.scheme or not parts.netloc:
        raise ValidationError(f"{what} must be an absolute https URI: {uri}")
    if "@" in parts.netloc:
        raise ValidationError(f"{what} must not contain a user name or password: {uri}")
    if not parts.hostname:
        raise ValidationError(f"{what} has no host: {uri}")
    if not (parts.scheme == "https" or parts.scheme == "http" and is_loopback(parts.hostname)):
        raise ValidationError(f"{what} must use https (http only on 127.0.0.1, [::1] or localhost): {uri}")
    return uri


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_scopes(scopes: Iterable[str], allow_national_id: bool) -> list[str]:
    scopes = list(dict.fromkeys(scopes.split() if isinstance(scopes, str) else scopes))
    for scope in scopes:
        if scope not in SCOPES:
            raise ValidationError(f"unknown scope {scope!r}; known scopes: {', '.join(SCOPES)}",
                                  field="scopes")
    if "openid" not in scopes:
        raise ValidationError("the scopes must include openid", field="scopes")
    if "national_id" in scopes and not allow_national_id:
        raise ValidationError("the national_id scope is only for relying parties allowed the "
                              "national ID (allow_national_id)", field="scopes")
    return scopes


def _choice(value, allowed: tuple[str, ...], what: str) -> str:
    if value not in allowed:
        raise ValidationError(f"unknown {what} {value!r}; use one of: {', '.join(allowed)}")
    return value


def check_client_keys(auth_method: str, jwks, jwks_uri) -> tuple[dict | None, str | None]:
    """private_key_jwt needs the client's public keys, by value or by URI; no other method takes any."""
    if auth_method != "private_key_jwt":
        if jwks is not None or jwks_uri:
            raise ValidationError(f"jwks and jwks_uri are only for private_key_jwt, not {auth_method}")
        return None, None
    if (jwks is None) == (not jwks_uri):
        raise ValidationError("private_key_jwt needs exactly one of jwks or jwks_uri")
    if jwks_uri:
        return None, check_uri(jwks_uri, "jwks_uri")
    return check_jwks(jwks), None


def check_jwks(jwks) -> dict:
    """A JWK Set (RFC 7517 §5) of public RSA (≥ 2048 bits) or NIST-curve EC signing keys."""
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list) or not 1 <= len(keys) <= MAX_KEYS:
        raise ValidationError(f'jwks must be a JSON object {{"keys": [...]}} with 1 to {MAX_KEYS} keys')
    for key in keys:
        if not isinstance(key, dict):
            raise ValidationError("each key in jwks must be a JSON object")
        private = sorted(PRIVATE_MEMBERS & key.keys())
        if private:
            raise ValidationError(f"jwks holds private key material ({', '.join(private)}); "
                                  "register public keys only")
        kty, crv = key.get("kty"), key.get("crv")
        if kty not in KEY_TYPES:
            raise ValidationError(f"jwks key type {kty!r} not accepted; use RSA or EC")
        curves = KEY_TYPES[kty]
        if curves and crv not in curves:
            raise ValidationError(f"jwks curve {crv!r} not accepted; use P-256, P-384 or P-521")
        if key.get("use", "sig") != "sig":
            raise ValidationError("jwks keys must be signing keys (use: sig)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", SecurityWarning)  # e.g. an RSA key under 2048 bits
            imported = KeySet.import_key_set({"keys": keys})
    except (JoseError, SecurityWarning, ValueError, TypeError, KeyError) as e:
        raise ValidationError(f"jwks holds a key that cannot be used: {e or type(e).__name__}") from None
    if len(imported.keys) != len(keys):
        raise ValidationError("jwks holds a key that cannot be used")
    return {"keys": copy.deepcopy(keys)}


def check_sector(subject_type: str, redirect_uris: list[str]) -> None:
    """OIDC Core 1.0 §8.1: without a sector_identifier_uri, pairwise identifiers are derived from
    the one host of the redirect URIs, so they must share it."""
    if subject_type == "pairwise" and len({urlsplit(u).hostname for u in redirect_uris}) > 1:
        raise ValidationError("pairwise subject identifiers need all redirect URIs on one host "
                              "(OIDC Core 1.0 §8.1); register one relying party per host, or use "
                              "the public subject type")


# --- secrets --------------------------------------------------------------------------------

def _digest(secret: str) -> str:
    # A 256-bit random secret cannot be guessed, so a fast hash suffices (no password hashing).
    return hashlib.sha256(secret.encode()).hexdigest()


def _new_secret(rp: RelyingParty) -> str:
    secret = secrets.token_urlsafe(32)
    rp.secret_hash = _digest(secret)
    return secret


def secret_matches(rp: RelyingParty, presented) -> bool:
    """Whether `presented` is the relying party's client secret (constant-time comparison)."""
    if not rp.secret_hash or not isinstance(presented, str) or not 0 < len(presented) <= MAX_SECRET:
        return False
    try:
        digest = _digest(presented)
    except UnicodeEncodeError:  # lone surrogates: not a secret we issued
        return False
    return hmac.compare_digest(digest, rp.secret_hash)


def rotate_secret(session: Session, client_id: str) -> str:
    """A new client secret, returned once; the old one stops working at commit."""
    rp = find_oidc(session, client_id)
    if rp is None:
        raise NotFound(f"no OpenID Connect relying party with client_id {client_id!r}")
    if rp.auth_method not in SECRET_METHODS:
        raise ValidationError(f"{client_id} authenticates with {rp.auth_method}; it has no client secret")
    secret = _new_secret(rp)
    session.flush()
    return secret


# --- lookup and administration --------------------------------------------------------------

# Built once (issue 10): SQLAlchemy memoizes a statement's cache key, so a prebuilt statement skips
# the construction and cache-key work a per-call select() repeats (about 0.15 ms of CPU per query).
_FIND_OIDC = select(RelyingParty).where(RelyingParty.protocol == "oidc",
                                        RelyingParty.client_id == bindparam("client_id"))


def find_oidc(session: Session, client_id) -> RelyingParty | None:
    """The OIDC relying party with this client_id, enabled or not."""
    if not isinstance(client_id, str) or not 0 < len(client_id) <= 64 or "\x00" in client_id:
        return None  # PostgreSQL refuses NUL in text: such an id cannot be registered anyway
    return session.scalar(_FIND_OIDC, {"client_id": client_id})


def get(session: Session, ident: str) -> RelyingParty:
    """A relying party by OIDC client_id or SAML entityID."""
    if isinstance(ident, str) and 0 < len(ident) <= MAX_URI:
        for column in (RelyingParty.client_id, RelyingParty.entity_id):
            rp = session.scalar(select(RelyingParty).where(column == ident))
            if rp is not None:
                return rp
    raise NotFound(f"no relying party with client_id or entityID {ident!r}")


def list_all(session: Session) -> list[RelyingParty]:
    return list(session.scalars(select(RelyingParty).order_by(RelyingParty.created_at, RelyingParty.id)))


def set_enabled(session: Session, ident: str, enabled: bool) -> RelyingParty:
    """Enable or disable a relying party; a disabled one is refused at the next request."""
    rp = get(session, ident)
    rp.enabled = bool(enabled)
    session.flush()
    return rp


def remove(session: Session, ident: str) -> RelyingParty:
    """Delete a relying party (its consents go with it)."""
    rp = get(session, ident)
    session.delete(rp)
    session.flush()
    return rp


def describe(rp: RelyingParty) -> dict:
    """What an administrator may see of a relying party: everything but the secret hash, and only
    the settings of its own protocol (a SAML SP's metadata is summarised by idp.saml.sps)."""
    common = {
        "protocol": rp.protocol, "client_id": rp.client_id, "entity_id": rp.entity_id,
        "name": rp.name, "enabled": rp.enabled,
        "require_loa2": rp.require_loa2, "allow_national_id": rp.allow_national_id,
        "require_signed_requests": rp.require_signed_requests,
        "created_at": rp.created_at.isoformat() if rp.created_at else None,
    }
    if rp.protocol != "oidc":
        return common
    return {
        **common, "redirect_uris": list(rp.redirect_uris or []),
        "post_logout_redirect_uris": list(rp.post_logout_redirect_uris or []),
        "scopes": list(rp.scopes or []), "auth_method": rp.auth_method,
        "has_client_secret": bool(rp.secret_hash), "jwks": rp.jwks, "jwks_uri": rp.jwks_uri,
        "id_token_alg": rp.id_token_alg, "subject_type": rp.subject_type,
        "introspection": bool(rp.introspection), "backchannel_logout_uri": rp.backchannel_logout_uri,
        "backchannel_logout_session_required": bool(rp.backchannel_logout_session_required),
        "ciba": bool(rp.ciba),
    }


# --- the view pyop reads --------------------------------------------------------------------

def client_metadata(rp: RelyingParty) -> dict:
    """Client metadata in the names of OIDC Dynamic Client Registration 1.0 §2, as pyop reads them.
    There is no client_secret: pyop would compare it in plain text; engine.py uses secret_matches."""
    host = urlsplit(rp.redirect_uris[0]).hostname if rp.redirect_uris else ""
    return {
        "client_id": rp.client_id, "relying_party_id": rp.id, "name": rp.name,
        "redirect_uris": list(rp.redirect_uris), "post_logout_redirect_uris": list(rp.post_logout_redirect_uris),
        "response_types": ["code"],
        "token_endpoint_auth_method": rp.auth_method,
        "subject_type": rp.subject_type,
        # pyop takes the pairwise sector from this URI's host[:port]; without it, from the request's
        # redirect_uri — and a loopback client's changing port would change its users' `sub`.
        "sector_identifier_uri": f"https://[{host}]/" if ":" in host else f"https://{host}/",
        "id_token_signed_response_alg": rp.id_token_alg,
        "scopes": list(rp.scopes), "require_loa2": rp.require_loa2, "require_loa3": bool(rp.require_loa3),
        "allow_national_id": rp.allow_national_id,
        "jwks": copy.deepcopy(rp.jwks), "jwks_uri": rp.jwks_uri,
        "introspection": bool(rp.introspection), "backchannel_logout_uri": rp.backchannel_logout_uri,
        "backchannel_logout_session_required": bool(rp.backchannel_logout_session_required),
        "ciba": bool(rp.ciba),
    }


def _enabled_oidc():
    return RelyingParty.protocol == "oidc", RelyingParty.enabled.is_(True)


class ClientMetadata(Mapping):
    """The read-only client registry for pyop's `Provider(clients=…)`: enabled OIDC relying parties
    only. Outside a request scope each lookup uses its own short session. Inside one (the web layer
    opens a scope per HTTP request) each client is read once and remembered until the scope ends:
    one authorization request asks for its client about ten times. Nothing outlives the request,
    so a client disabled by `idp rp disable` is refused at the very next request."""

    def __init__(self, session_factory):
        self._session_factory = session_factory
        self._memo: ContextVar[dict | None] = ContextVar(f"client-metadata-{id(self)}", default=None)

    def open_scope(self) -> Token:
        """Start remembering lookups (call at the start of a request); returns what close_scope needs."""
        return self._memo.set({})

    def close_scope(self, token: Token) -> None:
        """Forget every lookup made since the matching open_scope."""
        try:
            self._memo.reset(token)
        except (ValueError, RuntimeError):  # closed from another context, or twice: forget anyway
            self._memo.set(None)

    def prime(self, client_id: str, metadata: dict | None) -> None:
        """Remember a client the caller read itself (in a query that fetched more with it), for the
        rest of the open scope; nothing outside a scope."""
        memo = self._memo.get()
        if memo is not None and isinstance(client_id, str):
            memo[client_id] = metadata

    def __getitem__(self, client_id) -> dict:
        memo = self._memo.get()
        key = client_id if isinstance(client_id, str) else None  # unhashable ids are never ours
        if memo is None or key is None:
            metadata = self._load(client_id)
        elif key in memo:
            metadata = memo[key]
        else:
            metadata = memo[key] = self._load(client_id)
        if metadata is None:
            raise KeyError(client_id)
        return metadata

    def _load(self, client_id) -> dict | None:
        with self._session_factory() as session:
            rp = find_oidc(session, client_id)
            return client_metadata(rp) if rp is not None and rp.enabled else None

    def __iter__(self):
        with self._session_factory() as session:
            return iter(list(session.scalars(select(RelyingParty.client_id).where(*_enabled_oidc())
                                             .order_by(RelyingParty.id))))

    def __len__(self) -> int:
        with self._session_factory() as session:
            return session.scalar(select(func.count()).select_from(RelyingParty).where(*_enabled_oidc()))

