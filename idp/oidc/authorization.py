"""The authorization endpoint's checks (OIDC Core 1.0 §3.1.2, RFC 9700), as small functions.

Until the client and its redirect_uri are known to be genuine, an error is shown on our own page
(`ErrorPage`) — never sent to an unchecked redirect_uri, which would make us an open redirector.
After that, errors go back to the relying party (`ErrorRedirect`, RFC 6749 §4.1.2.1). Both are
idp.errors classes, answered by idp.web.errors.
"""
from __future__ import annotations

import dataclasses
import re

from idp.attributes import SCOPES
from idp.authn.levels import LOA2, LOA3
from idp.errors import ErrorPage, ErrorRedirect

MAX_PARAM_LENGTH = 2048
MAX_PARAMS_LENGTH = 8192
PROMPTS = {"none", "login", "consent"}
# base64url of a SHA-256 digest (RFC 7636 §4.2); used with fullmatch, so no trailing newline slips by
PKCE_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")
UNSUPPORTED = {"request": "request_not_supported", "request_uri": "request_uri_not_supported",
               "registration": "registration_not_supported"}
# OIDC Core 1.0 §5.5: discovery says claims_parameter_supported=false, so a request that relies on
# it is refused rather than answered with fewer claims than it asked for.
REFUSED = {"claims": "the claims parameter is not supported"}


@dataclasses.dataclass(frozen=True)
class Authorization:
    """A checked request: what the relying party asked for and what it may get."""

    params: dict  # for pyop, with `scope` narrowed to what may be granted
    client: dict
    scopes: tuple[str, ...]
    prompt: frozenset
    max_age: int | None
    require_loa2: bool
    ui_locale: str | None
    login_hint: str | None
    hint_sub: str | None = None  # the subject of a verified id_token_hint
    require_loa3: bool = False  # a passkey sign-in: acr_values names LoA 3, or the client requires it


def check(params: dict, clients, verify_hint=None) -> Authorization:
    """`verify_hint(token)` returns the claims of an ID token this provider signed, or None."""
    _check_sizes(params)
    client = _check_client(params, clients)
    redirect_uri = _check_redirect_uri(params, client)

    def fail(error, description):
        raise ErrorRedirect(error, description, redirect_uri, params.get("state"))

    for name, error in UNSUPPORTED.items():
        if name in params:
            fail(error, f"the {name} parameter is not supported")
    for name, description in REFUSED.items():
        if name in params:
            fail("invalid_request", description)
    if params.get("response_type") != "code":
        fail("unsupported_response_type", "only the authorization code flow (response_type=code) is supported")
    if params.get("response_mode") not in (None, "query"):
        fail("invalid_request", "only response_mode=query is supported")
    _check_pkce(params, fail)
    scopes = _grantable_scopes(params, client, fail)
    prompt = _prompt(params, fail)
    max_age = _max_age(params, fail)
    hint = _id_token_hint(params, client, verify_hint, fail)
    acr_values = (params.get("acr_values") or "").split()
    clean = dict(params)
    clean["scope"] = " ".join(scopes)
    return Authorization(
        params=clean, client=client, scopes=scopes, prompt=prompt, max_age=max_age,
        require_loa2=bool(client.get("require_loa2")) or LOA2 in acr_values,
        ui_locale=next((tag.split("-")[0] for tag in (params.get("ui_locales") or "").split()
                        if tag.split("-")[0] in ("ar", "en")), None),
        login_hint=(params.get("login_hint") or "")[:64] or None,
        hint_sub=hint["sub"] if hint else None,
        require_loa3=bool(client.get("require_loa3")) or LOA3 in acr_values)


def _check_sizes(params: dict) -> None:
    if sum(len(k) + len(v) for k, v in params.items()) > MAX_PARAMS_LENGTH or \
            any(len(v) > MAX_PARAM_LENGTH for v in params.values()):
        raise ErrorPage("the request is too large")


def _check_client(params: dict, clients) -> dict:
    client_id = params.get("client_id")
    if not client_id or client_id not in clients:
        raise ErrorPage("unknown or disabled client")
    return clients[client_id]


def _check_redirect_uri(params: dict, client: dict) -> str:
    """RFC 9700 §2.1: exact string match against the registered list."""
    redirect_uri = params.get("redirect_uri")
    if not redirect_uri or redirect_uri not in client["redirect_uris"]:
        raise ErrorPage("redirect_uri is missing or not registered for this client")
    return redirect_uri


def _check_pkce(params: dict, fail) -> None:
    """RFC 9700 §2.1.1: PKCE for every client, S256 only (`plain` would leak the verifier)."""
    challenge, method = params.get("code_challenge"), params.get("code_challenge_method")
    if not challenge:
        fail("invalid_request", "code_challenge is required (PKCE, S256)")
    if method != "S256":
        fail("invalid_request", "code_challenge_method must be S256")
    if not PKCE_CHALLENGE.fullmatch(challenge or ""):
        fail("invalid_request", "code_challenge is not a base64url SHA-256 value")


def _id_token_hint(params: dict, client: dict, verify_hint, fail) -> dict | None:
    """OIDC Core 1.0 §3.1.2.1: an ID token we issued to this client, expired or not. It names who
    the client expects; it proves nothing, so it only ever narrows what this request may do."""
    token = params.get("id_token_hint")
    if token is None:
        return None
    claims = verify_hint(token) if token and verify_hint else None
    audience = (claims or {}).get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if not claims or not isinstance(claims.get("sub"), str) or client["client_id"] not in audiences:
        fail("invalid_request", "id_token_hint is not an ID token this provider issued to the client")
    return claims


def _grantable_scopes(params: dict, client: dict, fail) -> tuple[str, ...]:
    requested = (params.get("scope") or "").split()
    if "openid" not in requested:
        fail("invalid_scope", "the openid scope is required")
    allowed = set(client.get("scopes") or ["openid"]) & set(SCOPES)
    if not client.get("allow_national_id"):
        allowed.discard("national_id")
    # Scopes the client may not have are left out, not refused (RFC 6749 §3.3).
    return tuple(s for s in dict.fromkeys(requested) if s in allowed)


def _prompt(params: dict, fail) -> frozenset:
    prompt = frozenset((params.get("prompt") or "").split())
    if not prompt <= PROMPTS:
        fail("invalid_request", "unsupported prompt value")
    if "none" in prompt and len(prompt) > 1:
        fail("invalid_request", "prompt=none cannot be combined with other values")
    return prompt


def _max_age(params: dict, fail) -> int | None:
    raw = params.get("max_age")
    if raw is None:
        return None
    if not raw.isdigit() or len(raw) > 9:
        fail("invalid_request", "max_age must be a whole number of seconds")
    return int(raw)
