"""OpenID Connect endpoints: thin views over idp.oidc (pyop with our extensions).

Discovery, JWKS, token and userinfo allow CORS (they are called from browsers of public clients);
the authorization endpoint does not.
"""
from __future__ import annotations

import secrets
import time
from urllib.parse import urlencode

from flask import Blueprint, current_app, g, jsonify, redirect, render_template, request, session, url_for
from flask_babel import lazy_gettext as _l
from oic.oic.message import AuthorizationErrorResponse
from pyop.exceptions import InvalidAccessToken, InvalidClientAuthentication, OAuthError

from idp import audit
from idp.attributes import CLAIMS_BY_SCOPE
from idp.oidc import authorization, clients, consent
from idp.oidc.authorization import LOA2, ErrorPage, ErrorRedirect
from idp.oidc.provider import discovery_metadata
from idp.web.context import actor, current_identity, db_session, services
from idp.web.forms import ConfirmForm

bp = Blueprint("oidc", __name__)


@bp.before_request
def _remember_clients():
    g.oidc_clients = clients.remember_clients()  # one read of each client per request


@bp.teardown_request
def _forget_clients(_exc):
    token = g.pop("oidc_clients", None)
    if token is not None:
        clients.forget_clients(token)

SCOPE_LABELS = {
    "profile": _l("Your name in Arabic and English, date of birth and gender"),
    "email": _l("Your email address"),
    "phone": _l("Your mobile number"),
    "national_id": _l("Your national ID number, ID type and nationality"),
}
PENDING_SECONDS = 15 * 60
MAX_PENDING = 5


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
    response = jsonify(data)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    response.headers.update(headers or {})
    return _cors(response)


# --- discovery and keys ---------------------------------------------------------------------------

@bp.get("/.well-known/openid-configuration")
def configuration():
    """OpenID Connect Discovery 1.0 §4."""
    response = _cors(jsonify(discovery_metadata(services().settings.issuer)))
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


@bp.get("/oidc/jwks")
def jwks():
    """The published signing keys: next, active and recently retired (RFC 7517)."""
    response = _cors(jsonify(provider().jwks))
    response.headers["Cache-Control"] = "public, max-age=600"
    return response


# --- authorization endpoint (OIDC Core 1.0 §3.1.2) ------------------------------------------------

def _single_valued(source) -> dict:
    """RFC 6749 §3.1: a parameter sent more than once is an error."""
    params = {}
    for key in source.keys():
        values = source.getlist(key)
        if len(values) > 1:
            raise ErrorPage(f"parameter {key} repeated")
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
        checked = authorization.check(params, provider().clients)
    except ErrorPage as e:
        return _error_page(str(e))
    except ErrorRedirect as e:
        return _error_redirect(e)
    pending = dict(session.get("oidc_pending") or {})
    if len(pending) >= MAX_PENDING:  # a few sign-ins in flight per browser are enough
        pending.pop(min(pending, key=lambda k: pending[k]["created"]))
    pending_id = secrets.token_urlsafe(12)
    pending[pending_id] = {"params": checked.params, "created": time.time()}
    session["oidc_pending"] = pending
    response = current_app.make_response(_resume(pending_id))
    if checked.ui_locale:
        from idp.web.i18n import LOCALE_COOKIE
        response.set_cookie(LOCALE_COOKIE, checked.ui_locale, max_age=365 * 24 * 3600, samesite="Lax",
                            httponly=True, secure=request.is_secure)
    return response


@bp.get("/oidc/authorize/continue/<pending_id>")
def resume(pending_id):
    return _resume(pending_id)


def _pending(pending_id):
    record = (session.get("oidc_pending") or {}).get(pending_id)
    if record is None or time.time() - record["created"] > PENDING_SECONDS:
        return None
    return record


def _drop_pending(pending_id):
    pending = dict(session.get("oidc_pending") or {})
    pending.pop(pending_id, None)
    session["oidc_pending"] = pending


def _load(pending_id):
    """(record, checked request, None) for a live pending request, else (None, None, a response)."""
    record = _pending(pending_id)
    if record is None:
        return None, None, _error_page("no pending authorization request")
    try:
        return record, authorization.check(record["params"], provider().clients), None
    except ErrorPage as e:
        return None, None, _error_page(str(e))
    except ErrorRedirect as e:
        _drop_pending(pending_id)
        return None, None, _error_redirect(e)


def _refuse(pending_id, checked, error, description):
    _drop_pending(pending_id)
    return _error_redirect(ErrorRedirect(error, description, checked.params["redirect_uri"],
                                         checked.params.get("state")))


def _authentication_gate(pending_id, checked, record):
    """None when this session may answer the request; else the step that gets it there (sign-in,
    a fresh sign-in for prompt=login or max_age, the second factor for LoA 2) or the error."""
    here = url_for("oidc.resume", pending_id=pending_id)
    identity = current_identity()
    auth_time = session.get("auth_time", 0)
    fresh_needed = "login" in checked.prompt or (
        checked.max_age is not None and time.time() - auth_time > checked.max_age)
    signed_in_after_request = session.get("signed_in_at", 0) > record["created"]
    if identity is None or (fresh_needed and not signed_in_after_request):
        if "none" in checked.prompt:
            return _refuse(pending_id, checked, "login_required", "the user is not signed in")
        return redirect(url_for("auth.login", next=here, login_hint=checked.login_hint))
    if checked.require_loa2 and session.get("acr") != LOA2:
        if "none" in checked.prompt:
            return _refuse(pending_id, checked, "interaction_required", "a second factor is required")
        if not identity.has_totp:
            return redirect(url_for("account.two_step", next=here))
        session["mfa_pending"] = {"identity_id": identity.id, "at": time.time(), "next": here}
        return redirect(url_for("auth.second_factor"))
    return None


def _resume(pending_id):
    record, checked, failed = _load(pending_id)
    if failed is not None:
        return failed
    gate = _authentication_gate(pending_id, checked, record)
    if gate is not None:
        return gate
    identity, db = current_identity(), db_session()
    rp = clients.find_oidc(db, checked.client["client_id"])
    if "consent" in checked.prompt or not consent.covers(db, identity.id, rp.id, checked.scopes):
        if "none" in checked.prompt:
            return _refuse(pending_id, checked, "consent_required", "the user has not consented")
        claims = sorted({c for s in checked.scopes for c in CLAIMS_BY_SCOPE.get(s, [])})
        return render_template("oidc/consent.html", rp=rp, scopes=checked.scopes, claims=claims,
                               form=ConfirmForm(), pending_id=pending_id)
    return _issue_code(pending_id, checked, identity, rp)


def _issue_code(pending_id, checked, identity, rp):
    pyop_request = provider().parse_authentication_request(urlencode(checked.params))
    claims = {"acr": session.get("acr"), "amr": session.get("amr"), "auth_time": session.get("auth_time")}
    response = provider().authorize(pyop_request, identity.uuid, extra_id_token_claims=claims,
                                   subject_seed=identity.subject_seed)
    response["iss"] = services().settings.issuer  # RFC 9207: the RP can tell which IdP answered
    db = db_session()
    audit.record(db, "oidc.authorized", actor(), identity.id, client_id=rp.client_id,
                 scopes=list(checked.scopes), acr=claims["acr"])
    db.commit()
    _drop_pending(pending_id)
    return redirect(response.request(checked.params["redirect_uri"]), 303)


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
    rp = clients.find_oidc(db, checked.client["client_id"])
    if request.form.get("decision") != "allow":
        audit.record(db, "oidc.consent_denied", actor(), identity.id, client_id=rp.client_id)
        db.commit()
        return _refuse(pending_id, checked, "access_denied", "the user declined")
    consent.grant(db, identity.id, rp.id, checked.scopes)
    audit.record(db, "oidc.consent_given", actor(), identity.id, client_id=rp.client_id,
                 scopes=list(checked.scopes))
    db.commit()
    return _issue_code(pending_id, checked, identity, rp)


# --- token and userinfo ------------------------------------------------------------------------

JSON_ENDPOINTS = {"oidc.token", "oidc.userinfo", "oidc.jwks", "oidc.configuration"}
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
    try:
        response = provider().handle_token_request(body, {"Authorization": request.headers.get("Authorization")})
    except OAuthError as e:
        audit.record(db_session(), "oidc.token_refused", actor(), None, error=e.oauth_error,
                     client_id=request.form.get("client_id"))
        db_session().commit()
        return _oauth_error(e)
    grant = request.form.get("grant_type")
    audit.record(db_session(), "oidc.token_issued" if grant == "authorization_code" else "oidc.token_refreshed",
                 actor(), None, client_id=_client_of(response))
    db_session().commit()
    return _json(response.to_dict())


def _client_of(response) -> str | None:
    info = provider().authz_state.access_tokens.get(response["access_token"])
    return info["client_id"] if info else None


@bp.route("/oidc/userinfo", methods=["GET", "POST", "OPTIONS"])
def userinfo():
    """OIDC Core 1.0 §5.3, with a bearer token (RFC 6750)."""
    if request.method == "OPTIONS":
        return _cors(current_app.response_class(status=204))
    try:
        header = request.headers.get("Authorization")
        token_info = _live_token(header)
        claims = provider().handle_userinfo_request(
            request.get_data(as_text=True) if request.method == "POST" else "", {"Authorization": header})
    except (InvalidAccessToken, KeyError, ValueError):
        return _json({"error": "invalid_token"}, 401, {"WWW-Authenticate": 'Bearer error="invalid_token"'})
    return _json(claims.to_dict() | {"sub": token_info["sub"]})


def _live_token(header: str | None) -> dict:
    """The token's record, refused when its client has since been disabled."""
    scheme, _sep, value = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not value:
        raise InvalidAccessToken("bearer token required")
    info = provider().authz_state.access_tokens.get(value.strip())
    if info is None or info["exp"] < time.time() or info["client_id"] not in provider().clients:
        raise InvalidAccessToken("unknown, expired or revoked token")
    return info
