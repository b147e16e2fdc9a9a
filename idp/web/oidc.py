"""OpenID Connect endpoints: thin views over idp.oidc (pyop with our extensions).

Discovery, JWKS, token and userinfo allow CORS (they are called from browsers of public clients);
the authorization endpoint does not.
"""
from __future__ import annotations

import base64
import hashlib
import json
import time
from urllib.parse import parse_qsl, unquote_plus, urlencode

from flask import Blueprint, current_app, g, jsonify, redirect, render_template, request, session, url_for
from flask_babel import lazy_gettext as _l
from oic.exception import PyoidcError
from oic.oic.message import AuthorizationErrorResponse
from pyop.exceptions import InvalidAccessToken, InvalidClientAuthentication, OAuthError

from idp import audit
from idp.attributes import CLAIMS_BY_SCOPE
from idp.authn.decision import Refusal, Requirements, Step
from idp.authn.levels import LOA1, LOA2, LOA3
from idp.oidc import authorization, backchannel, clients, consent, prefetch
from idp.oidc.authorization import ErrorPage, ErrorRedirect
from idp.oidc.provider import discovery_metadata
from idp.web import gate
from idp.web.context import actor, adopt_identity, current_identity, db_session, services
from idp.web.forms import ConfirmForm
from idp.web.i18n import follow_request_locale

bp = Blueprint("oidc", __name__)

SCOPE_LABELS = {
    "profile": _l("Your name in Arabic and English, date of birth and gender"),
    "email": _l("Your email address"),
    "phone": _l("Your mobile number"),
    "national_id": _l("Your national ID number, ID type and nationality"),
}
PENDING = "oidc_pending"  # the session key of requests waiting for a sign-in (idp.authn.pending)
# OIDC Core 1.0 §3.1.2.6 for a refused sign-in; "unmet_authentication_requirements" from the
# OpenID Connect Core errata (acr_values no method of ours reaches).
OAUTH_ERRORS = {Refusal.LOGIN_REQUIRED: "login_required", Refusal.INTERACTION_REQUIRED: "interaction_required",
                Refusal.UNSATISFIABLE: "unmet_authentication_requirements"}


@bp.app_template_global()
def scope_label(scope: str) -> str:
    return str(SCOPE_LABELS.get(scope, scope))


def provider():
    return current_app.extensions["idp.oidc"]


def _cors(response):
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
    response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
    return response


def _json(data, status=200, headers=None):
    """Token, userinfo and their errors: never cached (RFC 6749 §5.1 names both headers)."""
    response = jsonify(data)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    response.headers.update(headers or {})
    return _cors(response)


# --- discovery and keys ---------------------------------------------------------------------------

def _prepared(name: str, version, build) -> tuple[bytes, str]:
    """(JSON bytes, ETag) of a public document, rebuilt only when `version` changes: these are
    fetched far more often than they change, and building them per request was most of their cost."""
    cache = current_app.extensions.setdefault("idp.oidc.prepared", {})
    entry = cache.get(name)
    if entry is None or entry[0] != version:
        body = json.dumps(build(), separators=(",", ":"), sort_keys=True).encode()
        entry = cache[name] = (version, body, hashlib.sha256(body).hexdigest()[:32])
    return entry[1], entry[2]


def _public_document(body: bytes, etag: str, max_age: int):
    """The document with a strong ETag (RFC 9110 §8.8.3): a client that has it gets 304."""
    response = _cors(current_app.response_class(body, mimetype="application/json"))
    response.headers["Cache-Control"] = f"public, max-age={max_age}"
    response.set_etag(etag)
    return response.make_conditional(request)


@bp.get("/.well-known/openid-configuration")
def configuration():
    """OpenID Connect Discovery 1.0 §4."""
    issuer = services().settings.issuer
    body, etag = _prepared("configuration", issuer, lambda: discovery_metadata(issuer))
    return _public_document(body, etag, 3600)


@bp.get("/oidc/jwks")
def jwks():
    """The published signing keys: next, active and recently retired (RFC 7517). Rebuilt when the
    set of published keys changes (the key ring re-reads its metadata file when it changes)."""
    published = tuple((e["kid"], e["state"]) for e in services().keyring.list() if e["published"])
    body, etag = _prepared("jwks", published, lambda: provider().jwks)
    return _public_document(body, etag, 600)


@bp.before_app_request
def _open_client_scope():
    """One read of each client per request (idp.oidc.clients.ClientMetadata), forgotten at its end."""
    g.oidc_client_scope = provider().clients.open_scope()


@bp.teardown_app_request
def _close_client_scope(_exc):
    token = g.pop("oidc_client_scope", None)
    if token is not None:
        provider().clients.close_scope(token)


# --- authorization endpoint (OIDC Core 1.0 §3.1.2) ------------------------------------------------

def _single_valued(source) -> dict:
    """RFC 6749 §3.1: a parameter sent more than once is an error."""
    params = {}
    for key in source.keys():
        values = source.getlist(key)
        if len(values) > 1:
            raise ErrorPage(f"parameter {key[:40]!r} repeated")  # logged: bounded
        params[key] = values[0]
    return params


def _error_page(reason: str, status: int = 400):
    current_app.logger.info("authorization request refused: %s", reason)
    return render_template("oidc/error.html"), status


def _error_redirect(e: ErrorRedirect):
    response = AuthorizationErrorResponse(error=e.error, error_description=e.description)
    if e.state:
        response["state"] = e.state
    response["iss"] = services().settings.issuer  # RFC 9207
    return redirect(response.request(e.redirect_uri), 303)


@bp.route("/oidc/authorize", methods=["GET", "POST"])
def authorize():
    if request.method == "POST":
        # A cross-site POST arrives without our SameSite=Lax session cookie: answering it here would
        # start a new session over the citizen's. A same-site GET carries the cookie.
        try:
            params = _single_valued(request.form)
        except ErrorPage as e:
            return _error_page(str(e))
        return redirect(url_for("oidc.authorize", **params), 303)
    try:
        params = _single_valued(request.args)
        _prefetch(params.get("client_id"))
        checked = authorization.check(params, provider().clients, verified_id_token)
    except ErrorPage as e:
        return _error_page(str(e))
    except ErrorRedirect as e:
        return _error_redirect(e)
    pending_id = gate.remember(PENDING, {"params": checked.params, "ui_locale": checked.ui_locale})
    if checked.ui_locale:  # this request's pages only; the citizen's language cookie is left alone
        follow_request_locale(PENDING, pending_id)
    return _resume(pending_id)


@bp.get("/oidc/authorize/continue/<pending_id>")
def resume(pending_id):
    return _resume(pending_id)


def _pending(pending_id):
    return gate.recall(PENDING, pending_id)


def _drop_pending(pending_id):
    gate.forget(PENDING, pending_id)


def _load(pending_id):
    """(record, checked request, None) for a live pending request, else (None, None, a response)."""
    record = _pending(pending_id)
    if record is None:
        return None, None, _error_page("no pending authorization request")
    try:
        _prefetch(record["params"].get("client_id"))
        return record, authorization.check(record["params"], provider().clients, verified_id_token), None
    except ErrorPage as e:
        return None, None, _error_page(str(e))
    except ErrorRedirect as e:
        _drop_pending(pending_id)
        return None, None, _error_redirect(e)


def _prefetch(client_id) -> None:
    """The client, the signed-in identity and its consent to the client in one query, remembered for
    this request (the client by ClientMetadata, the identity by current_identity, the consent here)."""
    identity_uuid = session.get("identity_uuid")
    if "identity" in g or not identity_uuid:
        return
    found = prefetch.load_with_identity(db_session(), client_id, identity_uuid)
    if found is None:
        return
    provider().clients.prime(client_id, found.metadata)
    adopt_identity(identity_uuid, found.identity)
    if found.metadata is not None and g.identity is not None:
        g.oidc_consent = (found.metadata["relying_party_id"], g.identity.id, found.consented_scopes)


def _consent_covers(db, identity, relying_party_id, scopes) -> bool:
    """consent.covers, answered from the prefetched consent when there is one for this pair."""
    known = g.get("oidc_consent")
    if known is not None and known[:2] == (relying_party_id, identity.id):
        return known[2] is not None and set(scopes) <= set(known[2])
    return consent.covers(db, identity.id, relying_party_id, scopes)


def verified_id_token(token: str) -> dict | None:
    """The claims of an ID token this provider signed (expired or not), else None: an
    id_token_hint names a citizen, it never proves anything (RP-Initiated Logout §2)."""
    if not token or len(token) > 8192:
        return None
    try:
        claims = provider().keyring.verify(token)
    except Exception:  # any failure means "not ours"; the detail is not the caller's business
        return None
    if not isinstance(claims, dict) or claims.get("iss") != services().settings.issuer:
        return None
    return claims


def subject_for(identity, client_id: str) -> str:
    """The `sub` this client knows `identity` by (pairwise or public, as registered)."""
    return provider().subject_for(client_id, identity.subject_seed)


def _hint_is_someone_else(checked, identity) -> bool:
    return checked.hint_sub is not None and checked.hint_sub != subject_for(identity, checked.client["client_id"])


def _refuse(pending_id, checked, error, description):
    _drop_pending(pending_id)
    return _error_redirect(ErrorRedirect(error, description, checked.params["redirect_uri"],
                                         checked.params.get("state")))


def _authentication_gate(pending_id, checked, record):
    """None when this session may answer the request; else the step that gets it there (sign-in,
    a fresh sign-in for prompt=login, max_age or a hint naming someone else, the second factor for
    LoA 2) or the OAuth error (OIDC Core 1.0 §3.1.2.6). The decision itself is idp.authn's."""
    identity = current_identity()
    decision = gate.decide_now(Requirements(
        level=LOA3 if checked.require_loa3 else LOA2 if checked.require_loa2 else LOA1, max_age=checked.max_age,
        force="login" in checked.prompt, passive="none" in checked.prompt, requested_at=record["created"],
        other_identity_expected=identity is not None and _hint_is_someone_else(checked, identity)))
    if decision.step is Step.REFUSE:
        return _refuse(pending_id, checked, OAUTH_ERRORS[decision.refusal], decision.reason)
    return gate.next_page(decision, url_for("oidc.resume", pending_id=pending_id), checked.login_hint)


def _resume(pending_id):
    record, checked, failed = _load(pending_id)
    if failed is not None:
        return failed
    gate = _authentication_gate(pending_id, checked, record)
    if gate is not None:
        return gate
    identity, db = current_identity(), db_session()
    client = checked.client  # the relying party's row, read once for this request (clients.py)
    if "consent" in checked.prompt or not _consent_covers(db, identity, client["relying_party_id"],
                                                          checked.scopes):
        if "none" in checked.prompt:
            return _refuse(pending_id, checked, "consent_required", "the user has not consented")
        claims = sorted({c for s in checked.scopes for c in CLAIMS_BY_SCOPE.get(s, [])})
        return render_template("oidc/consent.html", rp=clients.find_oidc(db, client["client_id"]),
                               scopes=checked.scopes, claims=claims, form=ConfirmForm(), pending_id=pending_id)
    return _issue_code(pending_id, checked, identity)


def _issue_code(pending_id, checked, identity):
    # The hint was verified with our key ring (authorization.check); pyop would try to parse it again.
    params = {k: v for k, v in checked.params.items() if k != "id_token_hint"}
    try:
        pyop_request = provider().parse_authentication_request(urlencode(params))
    except (PyoidcError, ValueError, KeyError, TypeError) as e:  # pyop's own checks (oic's verify)
        current_app.logger.info("authorization request refused by pyop: %s", e.__class__.__name__)
        return _refuse(pending_id, checked, "invalid_request", "the request is not valid")
    sid = session.setdefault(backchannel.SESSION_KEY, backchannel.new_sid())  # Back-Channel Logout §2.1
    claims = {"acr": session.get("acr"), "amr": session.get("amr"), "auth_time": session.get("auth_time"),
              "sid": sid}
    response = provider().authorize(pyop_request, identity.uuid, extra_id_token_claims=claims,
                                   subject_seed=identity.subject_seed)
    response["iss"] = services().settings.issuer  # RFC 9207: the RP can tell which IdP answered
    db = db_session()
    client_id = checked.client["client_id"]
    if client_id not in (session.get("oidc_clients") or []):  # recorded once per IdP session and portal
        backchannel.record_sign_in(db, identity.uuid, sid, "oidc", client_id, subject_for(identity, client_id))
    audit.record(db, "oidc.authorized", actor(), identity.id, client_id=client_id,
                 scopes=list(checked.scopes), acr=claims["acr"])
    db.commit()
    _drop_pending(pending_id)
    _remember_client(checked.client["client_id"])
    return redirect(response.request(checked.params["redirect_uri"]), 303)


def _remember_client(client_id: str) -> None:
    """Which clients this IdP session signed in to: RP-initiated logout revokes a client's tokens
    only when the session ending is one that gave that client tokens (see end_session)."""
    signed_in_to = list(session.get("oidc_clients") or [])
    if client_id not in signed_in_to:
        session["oidc_clients"] = (signed_in_to + [client_id])[-50:]


@bp.post("/oidc/consent/<pending_id>")
def give_consent(pending_id):
    if not ConfirmForm().validate_on_submit():
        return _error_page("consent without a valid form")
    record, checked, failed = _load(pending_id)
    if failed is not None:
        return failed
    # The same sign-in, freshness and assurance checks as before the consent page was shown.
    gate = _authentication_gate(pending_id, checked, record)
    if gate is not None:
        return gate
    identity, db = current_identity(), db_session()
    client_id = checked.client["client_id"]
    if request.form.get("decision") != "allow":
        audit.record(db, "oidc.consent_denied", actor(), identity.id, client_id=client_id)
        db.commit()
        return _refuse(pending_id, checked, "access_denied", "the user declined")
    consent.grant(db, identity.id, checked.client["relying_party_id"], checked.scopes)
    audit.record(db, "oidc.consent_given", actor(), identity.id, client_id=client_id,
                 scopes=list(checked.scopes))
    db.commit()
    return _issue_code(pending_id, checked, identity)


# --- token and userinfo ------------------------------------------------------------------------

JSON_ENDPOINTS = {"oidc.token", "oidc.userinfo", "oidc.jwks", "oidc.configuration",
                  "oidc_tokens.revoke", "oidc_tokens.introspect"}
RETRY_AFTER_SECONDS = 5


def json_error(status: int):
    """The JSON answer (RFC 6749 §5.2) when PostgreSQL or Redis fails (503) or anything else does
    (500) on an endpoint that clients call from code; None on the others, which show a page."""
    if request.endpoint not in JSON_ENDPOINTS:
        return None
    if status == 503:
        return _json({"error": "temporarily_unavailable", "error_description": "try again shortly"}, 503,
                     {"Retry-After": str(RETRY_AFTER_SECONDS)})
    return _json({"error": "server_error"}, 500)


def _oauth_error(e: OAuthError, status=400):
    headers = {}
    if isinstance(e, InvalidClientAuthentication):
        status, headers = 401, {"WWW-Authenticate": 'Basic realm="token"'}
    return _json({"error": e.oauth_error, "error_description": str(e)}, status, headers)


@bp.route("/oidc/token", methods=["POST", "OPTIONS"])
def token():
    """OIDC Core 1.0 §3.1.3; RFC 6749 §5 for the answers."""
    if request.method == "OPTIONS":
        return _cors(current_app.response_class(status=204))
    if request.mimetype != "application/x-www-form-urlencoded":
        return _json({"error": "invalid_request", "error_description": "form-encoded body required"}, 400)
    body = request.get_data(as_text=True)
    pairs = parse_qsl(body, keep_blank_values=True)  # the same parse pyop's side makes of the body
    try:
        _refuse_repeated(pairs)
        response = provider().handle_token_request(body, {"Authorization": request.headers.get("Authorization")})
    except OAuthError as e:
        replay = getattr(e, "replay", None)  # a reused code or refresh token: its family was revoked
        if replay is not None:
            audit.record(db_session(), replay["kind"], actor(), None, client_id=replay["client_id"])
        audit.record(db_session(), "oidc.token_refused", actor(), None, error=e.oauth_error,
                     **_claimed_client(pairs, request.headers.get("Authorization")))
        db_session().commit()
        return _oauth_error(e)
    grant = dict(pairs).get("grant_type")
    audit.record(db_session(), "oidc.token_issued" if grant == "authorization_code" else "oidc.token_refreshed",
                 actor(), None, client_id=_client_of(response))
    db_session().commit()
    return _json(response.to_dict())


def _refuse_repeated(pairs: list[tuple[str, str]]) -> None:
    """RFC 6749 §3.2: request parameters MUST NOT be included more than once. (Otherwise one
    reader takes the first client_id and another the last.)"""
    seen = set()
    for name, _value in pairs:
        if name in seen:
            raise OAuthError(f"parameter {name[:40]} repeated", "invalid_request")
        seen.add(name)


MAX_CLIENT_ID_LENGTH = 200


def _claimed_client(pairs: list[tuple[str, str]], authorization: str | None) -> dict:
    """What a refused request claimed to be, bounded: a registered client_id as it is; anything
    else only as a short hash (an anonymous caller must not write what it likes into the audit).
    Nothing when client_id was repeated: no one claim stands for the request."""
    claims = [value for name, value in pairs if name == "client_id"]
    if len(claims) > 1:
        return {}
    claimed = claims[0] if claims else None
    scheme, _sep, value = (authorization or "").partition(" ")
    if not claimed and scheme.lower() == "basic":
        try:
            claimed = unquote_plus(base64.b64decode(value.strip()[:1024], validate=True).decode().split(":", 1)[0])
        except (ValueError, UnicodeDecodeError):
            claimed = value
    if not claimed:
        return {}
    if len(claimed) <= MAX_CLIENT_ID_LENGTH and claimed in provider().clients:
        return {"client_id": claimed}
    return {"unregistered_client": hashlib.sha256(claimed.encode("utf-8", "replace")).hexdigest()[:16]}


def _client_of(response) -> str | None:
    """The authenticated client the tokens were issued to (NationalProvider.handle_token_request)."""
    return getattr(response, "issued_to", None)


@bp.route("/oidc/userinfo", methods=["GET", "POST", "OPTIONS"])
def userinfo():
    """OIDC Core 1.0 §5.3, with a bearer token (RFC 6750) in the Authorization header (§2.1) or in
    a form-encoded POST body (§2.2). The query-string form (§2.3) is refused: URLs end up in logs."""
    if request.method == "OPTIONS":
        return _cors(current_app.response_class(status=204))
    try:
        header = _bearer_header()
        token_info = _live_token(header)
        claims = provider().handle_userinfo_request("", {"Authorization": header}, record=token_info)
    except _InvalidUserinfoRequest as e:
        return _json({"error": "invalid_request", "error_description": str(e)}, 400,
                     {"WWW-Authenticate": 'Bearer error="invalid_request"'})
    except (InvalidAccessToken, KeyError, ValueError):
        return _json({"error": "invalid_token"}, 401, {"WWW-Authenticate": 'Bearer error="invalid_token"'})
    return _json(claims.to_dict() | {"sub": token_info["sub"]})


class _InvalidUserinfoRequest(Exception):
    pass


def _bearer_header() -> str | None:
    """The token as an Authorization header value, from the header or the form body; exactly one
    method per request (RFC 6750 §2)."""
    if "access_token" in request.args:
        raise _InvalidUserinfoRequest("access_token in the query string is not accepted (RFC 6750 §2.3)")
    header = request.headers.get("Authorization")
    in_body = request.method == "POST" and request.mimetype == "application/x-www-form-urlencoded" \
        and "access_token" in request.form
    if not in_body:
        return header
    if header:
        raise _InvalidUserinfoRequest("send the access token in one place only (RFC 6750 §2)")
    values = request.form.getlist("access_token")
    if len(values) != 1 or not values[0]:
        raise _InvalidUserinfoRequest("access_token must be sent once")
    return "Bearer " + values[0]


def _live_token(header: str | None) -> dict:
    """The token's record, refused when unknown or expired. (A token whose client has since been
    disabled is refused by handle_userinfo_request, in the query that reads the claims.)"""
    scheme, _sep, value = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not value:
        raise InvalidAccessToken("bearer token required")
    info = provider().authz_state.access_tokens.get(value.strip())
    if info is None or info["exp"] < time.time() or not isinstance(info.get("client_id"), str):
        raise InvalidAccessToken("unknown, expired or revoked token")
    return info
