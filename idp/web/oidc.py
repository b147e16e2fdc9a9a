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

from flask import Blueprint, current_app, g, redirect, render_template, request, session, url_for
from flask_babel import lazy_gettext as _l
from oic.exception import PyoidcError
from pyop.exceptions import InvalidAccessToken, OAuthError

from idp import audit
from idp.attributes import CLAIMS_BY_SCOPE
from idp.authn.decision import Refusal, Requirements, Step
from idp.authn.levels import LOA1, LOA2, LOA3
from idp.oidc import authorization, backchannel, clients, consent, prefetch
from idp.oidc.ciba import GRANT_TYPE as GRANT_TYPE_CIBA
from idp.oidc.provider import discovery_metadata
from idp.errors import ErrorPage, ErrorRedirect, OAuthJsonError
from idp.web import errors, gate
from idp.web.context import actor, adopt_identity, current_identity, db_session, services, signed_in_identity
from idp.web.forms import ConfirmForm
from idp.web.i18n import follow_request_locale
from idp.web.responses import cors, json_response

bp = errors.for_oauth(Blueprint("oidc", __name__))

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
    response = cors(current_app.response_class(body, mimetype="application/json"))
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

def single_valued(source) -> dict:
    """RFC 6749 §3.1: a parameter sent more than once is an error."""
    params = {}
    for key in source.keys():
        values = source.getlist(key)
        if len(values) > 1:
            raise ErrorPage(f"parameter {key[:40]!r} repeated")  # logged: bounded
        params[key] = values[0]
    return params


@bp.route("/oidc/authorize", methods=["GET", "POST"])
def authorize():
    if request.method == "POST":
        # A cross-site POST arrives without our SameSite=Lax session cookie: answering it here would
        # start a new session over the citizen's. A same-site GET carries the cookie.
        return redirect(url_for("oidc.authorize", **single_valued(request.form)), 303)
    params = single_valued(request.args)
    _prefetch(params.get("client_id"))
    checked = authorization.check(params, provider().clients, verified_id_token)
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
        return None, None, errors.oidc_error_page("no pending authorization request")
    errors.ends_pending(PENDING, pending_id)  # an error answered to the client ends the request
    _prefetch(record["params"].get("client_id"))
    return record, authorization.check(record["params"], provider().clients, verified_id_token), None


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
    """Answer the client with an OAuth error and end the pending request (idp.web.errors)."""
    errors.ends_pending(PENDING, pending_id)
    raise ErrorRedirect(error, description, checked.params["redirect_uri"], checked.params.get("state"))


def _authentication_gate(pending_id, checked, record):
    """None when this session may answer the request; else the step that gets it there (sign-in,
    a fresh sign-in for prompt=login, max_age or a hint naming someone else, the second factor for
    LoA 2) or the OAuth error (OIDC Core 1.0 §3.1.2.6). The decision itself is idp.authn's."""
    identity = current_identity()
    decision = gate.decide_now(Requirements(
        level=LOA3 if checked.require_loa3 else LOA2 if checked.require_loa2 else LOA1, max_age=checked.max_age,
        force="login" in checked.prompt, passive="none" in checked.prompt, requested_at=record["created"],
        other_identity_expected=identity is not None and _hint_is_someone_else(checked, identity)))
    if decision.step is Step.REFUSE and decision.refusal is not None:  # decide() names every refusal
        return _refuse(pending_id, checked, OAUTH_ERRORS[decision.refusal], decision.reason)
    return gate.next_page(decision, url_for("oidc.resume", pending_id=pending_id), checked.login_hint)


def _signed_in_for(pending_id):
    """(checked request, identity, None) when this session may answer the pending request now;
    else (None, None, the response that gets it there: an error, a sign-in or second-factor page)."""
    record, checked, failed = _load(pending_id)
    if failed is not None:
        return None, None, failed
    step = _authentication_gate(pending_id, checked, record)
    if step is not None:
        return None, None, step
    return checked, signed_in_identity(), None


def _resume(pending_id):
    checked, identity, answer = _signed_in_for(pending_id)
    if answer is not None:
        return answer
    db = db_session()
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
        return errors.oidc_error_page("consent without a valid form")
    # The same sign-in, freshness and assurance checks as before the consent page was shown.
    checked, identity, answer = _signed_in_for(pending_id)
    if answer is not None:
        return answer
    db = db_session()
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

@bp.route("/oidc/token", methods=["POST", "OPTIONS"])
def token():
    """OIDC Core 1.0 §3.1.3; RFC 6749 §5 for the answers."""
    if request.method == "OPTIONS":
        return cors(current_app.response_class(status=204))
    if request.mimetype != "application/x-www-form-urlencoded":
        raise OAuthJsonError("invalid_request", "form-encoded body required")
    body = request.get_data(as_text=True)
    pairs = parse_qsl(body, keep_blank_values=True)  # the same parse pyop's side makes of the body
    try:
        refuse_repeated(pairs)
        response = provider().handle_token_request(body, {"Authorization": request.headers.get("Authorization")})
    except OAuthError as e:  # audited here, answered by idp.web.errors
        replay = getattr(e, "replay", None)  # a reused code or refresh token: its family was revoked
        if replay is not None:
            audit.record(db_session(), replay["kind"], actor(), None, client_id=replay["client_id"])
        if e.oauth_error != "authorization_pending":  # a CIBA client's every poll: routine, not an event
            audit.record(db_session(), "oidc.token_refused", actor(), None, error=e.oauth_error,
                         **claimed_client(pairs, request.headers.get("Authorization")))
            db_session().commit()
        raise
    grant = dict(pairs).get("grant_type")
    kind = TOKEN_EVENTS.get(grant or "", "oidc.token_refreshed")
    audit.record(db_session(), kind, actor(), None, client_id=_client_of(response))
    db_session().commit()
    return json_response(response.to_dict())


TOKEN_EVENTS = {"authorization_code": "oidc.token_issued", GRANT_TYPE_CIBA: "ciba.token_issued"}


def refuse_repeated(pairs: list[tuple[str, str]]) -> None:
    """RFC 6749 §3.2: request parameters MUST NOT be included more than once. (Otherwise one
    reader takes the first client_id and another the last.)"""
    seen = set()
    for name, _value in pairs:
        if name in seen:
            raise OAuthError(f"parameter {name[:40]} repeated", "invalid_request")
        seen.add(name)


MAX_CLIENT_ID_LENGTH = 200


def claimed_client(pairs: list[tuple[str, str]], authorization: str | None) -> dict:
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
        return cors(current_app.response_class(status=204))
    header = _bearer_header()
    token_info = _live_token(header)
    try:
        claims = provider().handle_userinfo_request("", {"Authorization": header}, record=token_info)
    except (InvalidAccessToken, KeyError, ValueError):  # pyop's untyped refusals of the token
        raise _invalid_token() from None
    return json_response(claims.to_dict() | {"sub": token_info["sub"]})


def _invalid_request(description: str) -> OAuthJsonError:
    """RFC 6750 §3.1: a malformed request to a protected resource."""
    return OAuthJsonError("invalid_request", description, 400, 'Bearer error="invalid_request"')


def _invalid_token() -> OAuthJsonError:
    """RFC 6750 §3.1: the token is unknown, expired, revoked or its client disabled."""
    return OAuthJsonError("invalid_token", "", 401, 'Bearer error="invalid_token"')


def _bearer_header() -> str | None:
    """The token as an Authorization header value, from the header or the form body; exactly one
    method per request (RFC 6750 §2)."""
    if "access_token" in request.args:
        raise _invalid_request("access_token in the query string is not accepted (RFC 6750 §2.3)")
    header = request.headers.get("Authorization")
    in_body = request.method == "POST" and request.mimetype == "application/x-www-form-urlencoded" \
        and "access_token" in request.form
    if not in_body:
        return header
    if header:
        raise _invalid_request("send the access token in one place only (RFC 6750 §2)")
    values = request.form.getlist("access_token")
    if len(values) != 1 or not values[0]:
        raise _invalid_request("access_token must be sent once")
    return "Bearer " + values[0]


def _live_token(header: str | None) -> dict:
    """The token's record, refused when unknown or expired. (A token whose client has since been
    disabled is refused by handle_userinfo_request, in the query that reads the claims.)"""
    scheme, _sep, value = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not value:
        raise _invalid_token()
    info = provider().authz_state.access_tokens.get(value.strip())
    if info is None or info["exp"] < time.time() or not isinstance(info.get("client_id"), str):
        raise _invalid_token()
    return info
