"""The backchannel authentication endpoint: OpenID Connect Client-Initiated Backchannel
Authentication (CIBA) Core 1.0, poll mode (§7, §13). The grant it starts is idp.oidc.ciba_grant.

A portal (the consumption device's side) names a citizen by national ID (`login_hint`) or by an
ID token we issued it (`id_token_hint`); the citizen approves in the national app (idp.approval) by
picking the two-digit number the portal shows (`binding_message`). The portal then polls the token
endpoint with the `auth_req_id` we return.

Our extension: when the client sends no binding_message, we pick one (10-99) and return it as
`binding_message` in the response, for the portal to show. A binding_message that is sent must be
such a number (the app matches numbers, not text) — else `invalid_binding_message`.

A national ID with no identity gets the same answer as one with an identity (§7.3); its request
only ever polls `authorization_pending` and then `expired_token`. So does a request the approval
service refused (another pending request for the citizen): a portal cannot tell who has an account.

Checks are small functions (node-oidc-provider style), each raising CibaError with the §13 code.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import logging
import re
import secrets

from sqlalchemy.orm import Session

from idp.approval import requests as approvals
from idp.attributes import SCOPES
from idp.authn.levels import ORDER
from idp.errors import IdpError
from idp.identity import accounts
from idp.identity.national_id import is_valid, normalise_digits
from idp.models import CibaRequest, Identity
from idp.oidc import token_families
from idp.store import Store

log = logging.getLogger(__name__)

GRANT_TYPE = "urn:openid:params:grant-type:ciba"
MAX_EXPIRY = 120  # seconds; an approval request lives two minutes (issue 14)
INTERVAL = 5  # seconds between polls (§7.3), raised by SLOW_DOWN_STEP at each slow_down (§11)
SLOW_DOWN_STEP = 5
BINDING_MESSAGE = re.compile(r"[1-9][0-9]")  # two digits: the number the app offers among three
MAX_PARAM_LENGTH = 4096
# Rate limits (ASVS V11.1.4): (requests, window in seconds). The per-citizen one is counted for any
# national ID, with or without an identity, so hitting it reveals nothing.
PER_CLIENT = (30, 60)
PER_HINT = (3, 120)
UNSUPPORTED = {"login_hint_token": "login_hint_token is not supported; use login_hint (the national ID)",
               "user_code": "user_code is not supported (backchannel_user_code_parameter_supported is false)",
               "request": "signed authentication requests (request) are not supported",
               "client_notification_token": "only the poll delivery mode is supported"}


class CibaError(Exception):
    """An error response of CIBA Core 1.0 §13: JSON, 400 (401 for invalid_client)."""

    def __init__(self, error: str, description: str, status: int = 400, retry_after: int | None = None):
        super().__init__(description)
        self.error, self.description, self.status, self.retry_after = error, description, status, retry_after


@dataclasses.dataclass(frozen=True)
class Checked:
    """A valid authentication request of an authenticated CIBA client."""

    client: dict
    scope: str
    national_id: str | None  # from login_hint
    hint_sub: str | None  # from a verified id_token_hint
    binding_message: str
    expires_in: int
    acr: str | None  # the strongest level acr_values named (the app's approval reaches LoA 3)


def check(params: dict, client: dict, verify_hint) -> Checked:
    """§7.1 for `client` (already authenticated, §7.1 "authenticated as at the token endpoint").
    `verify_hint(token)` returns the claims of an ID token this provider signed, or None."""
    if not client.get("ciba"):
        raise CibaError("unauthorized_client", "this client is not registered for CIBA")
    if sum(len(k) + len(v) for k, v in params.items()) > MAX_PARAM_LENGTH:
        raise CibaError("invalid_request", "the request is too large")
    for name, description in UNSUPPORTED.items():
        if name in params:
            raise CibaError("invalid_request", description)
    national_id, hint_sub = _hint(params, client, verify_hint)
    return Checked(client=client, scope=_scope(params, client), national_id=national_id, hint_sub=hint_sub,
                   binding_message=_binding_message(params), expires_in=_requested_expiry(params),
                   acr=_acr(params))


def _hint(params: dict, client: dict, verify_hint) -> tuple[str | None, str | None]:
    """§7.1: exactly one hint. login_hint is a national ID; id_token_hint an ID token we issued
    to this client (expired or not), checked with our key ring."""
    given = [name for name in ("login_hint", "id_token_hint") if params.get(name)]
    if len(given) != 1:
        raise CibaError("invalid_request", "send exactly one of login_hint (the national ID) or id_token_hint")
    if given[0] == "login_hint":
        national_id = normalise_digits(params["login_hint"])
        if not is_valid(national_id):
            raise CibaError("invalid_request", "login_hint must be a 10-digit national ID or iqama number")
        return national_id, None
    claims = verify_hint(params["id_token_hint"]) if verify_hint else None
    audience = (claims or {}).get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if not claims or not isinstance(claims.get("sub"), str) or client["client_id"] not in audiences:
        raise CibaError("invalid_request", "id_token_hint is not an ID token this provider issued to the client")
    return None, claims["sub"]


def _scope(params: dict, client: dict) -> str:
    """§7.1: scope is required and includes openid; scopes the client may not have are left out
    (RFC 6749 §3.3), as at the authorization endpoint."""
    requested = (params.get("scope") or "").split()
    if "openid" not in requested:
        raise CibaError("invalid_scope", "the openid scope is required")
    allowed = set(client.get("scopes") or ["openid"]) & set(SCOPES)
    if not client.get("allow_national_id"):
        allowed.discard("national_id")
    return " ".join(s for s in dict.fromkeys(requested) if s in allowed)


def _binding_message(params: dict) -> str:
    message = params.get("binding_message")
    if message is None:
        return str(10 + secrets.randbelow(90))  # our extension: returned for the portal to show
    if not BINDING_MESSAGE.fullmatch(normalise_digits(message)):
        raise CibaError("invalid_binding_message", "binding_message must be a two-digit number (10-99): "
                        "the citizen picks it among three in the national app")
    return normalise_digits(message)


def _requested_expiry(params: dict) -> int:
    raw = params.get("requested_expiry")
    if raw is None:
        return MAX_EXPIRY
    if not raw.isascii() or not raw.isdigit() or not 0 < int(raw[:6]) <= MAX_EXPIRY:
        raise CibaError("invalid_request", f"requested_expiry must be 1 to {MAX_EXPIRY} seconds")
    return int(raw)


def _acr(params: dict) -> str | None:
    """acr_values (§7.1): the strongest level named that we know; unknown values are ignored, as
    at the authorization endpoint. The app's approval reaches every level we have."""
    named = [value for value in (params.get("acr_values") or "").split() if value in ORDER]
    return max(named, key=ORDER.index) if named else None


# --- rate limits ---------------------------------------------------------------------------------

def limit_client(store: Store, client_id: str) -> None:
    """Per client, before anything else is looked at."""
    _count(store, f"client:{client_id}", PER_CLIENT)


def limit_citizen(store: Store, key: bytes, checked: Checked) -> None:
    """Per citizen named (a keyed hash of the national ID or hint's sub, never the value)."""
    named = f"id:{checked.national_id}" if checked.national_id \
        else f"sub:{checked.client['client_id']}:{checked.hint_sub}"
    _count(store, "hint:" + hmac.new(key, named.encode(), hashlib.sha256).hexdigest(), PER_HINT)


def _count(store: Store, name: str, rule: tuple[int, int]) -> None:
    most, window = rule
    if store.incr(f"ciba:rate:{name}", window) > most:
        raise CibaError("slow_down", "too many backchannel authentication requests; try again later",
                        status=429, retry_after=window)


# --- the request's grant -------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Started:
    auth_req_id: str
    row: CibaRequest
    identity: Identity | None  # None: no identity has this national ID (the answer is the same)


def auth_req_id_hash(auth_req_id: str) -> str:
    return hashlib.sha256(auth_req_id.encode("utf-8", "replace")).hexdigest()


def identity_for(db: Session, checked: Checked) -> Identity | None:
    """The active identity the hint names, else None (never an error: see the module docstring)."""
    if checked.national_id is not None:
        identity = accounts.find_by_login(db, checked.national_id)
    else:
        uuid = token_families.identity_of_subject(db, checked.client["client_id"], checked.hint_sub or "")
        identity = accounts.get_by_uuid(db, uuid) if uuid else None
    return identity if identity is not None and identity.is_active else None


def begin(db: Session, checked: Checked, now: dt.datetime) -> Started:
    """Ask the named citizen's app for approval, and open the grant. The caller commits."""
    identity = identity_for(db, checked)
    approval_id = _ask_approval(db, identity, checked, now) if identity is not None else None
    return open_request(db, checked, identity, approval_id, now)


def _ask_approval(db: Session, identity: Identity, checked: Checked, now: dt.datetime) -> str | None:
    """The citizen's approval request. The portal has one name; the app shows it in both languages.
    There is no place: the request comes from the portal's server, not from where the citizen is."""
    name = checked.client.get("name") or checked.client["client_id"]
    try:
        request = approvals.start(db, identity, portal_name_ar=name, portal_name_en=name, origin="ciba",
                                  binding_number=checked.binding_message, place=None, now=now)
    except IdpError as e:  # too many for this citizen: answered as for an unknown ID (module docstring)
        log.info("ciba: the approval service refused a request: %s", e.__class__.__name__)
        return None
    return request.id


def open_request(db: Session, checked: Checked, identity: Identity | None, approval_id: str | None,
                 now: dt.datetime) -> Started:
    """The grant's row, pending (§7.3). The auth_req_id has 256 random bits (§7.3: "MUST be
    sufficiently random"); only its hash is kept. The caller commits."""
    auth_req_id = secrets.token_urlsafe(32)
    row = CibaRequest(id=auth_req_id_hash(auth_req_id), client_id=checked.client["client_id"],
                      identity_uuid=identity.uuid if identity is not None else None, approval_id=approval_id,
                      scope=checked.scope, acr=checked.acr, binding_message=checked.binding_message,
                      interval=INTERVAL, created_at=now, expires_at=now + dt.timedelta(seconds=checked.expires_in),
                      state="pending")
    db.add(row)
    db.flush()
    return Started(auth_req_id, row, identity)


def response(started: Started, checked: Checked) -> dict:
    """§7.3, with our binding_message extension."""
    return {"auth_req_id": started.auth_req_id, "expires_in": checked.expires_in, "interval": INTERVAL,
            "binding_message": checked.binding_message}
