"""SAML 2.0 endpoints: metadata, Web Browser SSO and Single Logout. Thin views over idp.saml."""
from __future__ import annotations

import base64
import dataclasses
import hmac
import secrets
import time

from flask import Blueprint, current_app, redirect, render_template, request, session, url_for
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.metadata import entity_descriptor

from idp import audit
from idp.oidc import backchannel
from idp.attributes import saml_attributes
from idp.authn.decision import Refusal, Requirements, Step
from idp.authn import levels
from idp.models import RelyingParty
from idp.saml import authn_context, sps, sso
from idp.subject_salt import salt_for
from idp.web import errors, gate, saml_logout, saml_release
from idp.web.context import actor, current_identity, db_session, server_session, services, signed_in_identity
from idp.web.i18n import follow_request_locale

bp = errors.for_saml(Blueprint("saml", __name__, url_prefix="/saml"))

PENDING = "saml_pending"  # the session key of requests waiting for a sign-in (idp.authn.pending)
BOUNCE_SECONDS = 60  # the browser follows the 303 at once
RETURNING = "saml_returning"  # session: the last answer's form, for the language switch (`returning`)
RETURNING_SECONDS = 300
BOUNCES_PER_MINUTE = 20  # per client address: bounds what an anonymous flood can store


def servers():
    return current_app.extensions["idp.saml"]


def _salt() -> bytes:
    """Of persistent NameIDs: from IDP_SUBJECT_SALT, never rotated (see idp.subject_salt)."""
    return salt_for(services().settings.subject_salt, "saml")


_refuse = errors.saml_error_page


@bp.get("/metadata")
def metadata():
    """The IdP's metadata (SAML Metadata §2.4.3): entityID, signing certificate, SSO and SLO endpoints."""
    server = servers().get(signed_requests=False)
    xml = str(entity_descriptor(server.config))
    return current_app.response_class(xml, mimetype="application/samlmetadata+xml",
                                      headers={"Cache-Control": "public, max-age=3600"})


# --- Web Browser SSO (SAML Profiles §4.1) -------------------------------------------------------

@bp.get("/sso/redirect")
def sso_redirect():
    return _start(BINDING_HTTP_REDIRECT, request.args)


@bp.post("/sso/post")
def sso_post():
    return _bounce("saml.sso_post_received", "AuthnRequest")


@bp.get("/sso/post/<key>")
def sso_post_received(key):
    return _start(BINDING_HTTP_POST, _unbounce(key))


def _bounce(endpoint, expected_root):
    """HTTP-POST binding messages arrive cross-site, without our SameSite=Lax session cookie. Keep
    the message for a moment and continue with a same-site GET, which carries the cookie, so the
    citizen's session is used rather than replaced.

    Only a message that passes the guard and names an enabled SP is kept, as its decoded XML (at
    most 64 KiB, for a minute, BOUNCES_PER_MINUTE per address): anonymous posts cannot fill the store."""
    fields = {k: request.form[k] for k in ("SAMLRequest", "RelayState") if k in request.form}
    incoming = sso.receive(BINDING_HTTP_POST, fields, expected_root)
    sso.known_sp(db_session(), incoming)
    store = services().store
    if store.incr(f"saml:bounces:{request.remote_addr or ''}", 60) > BOUNCES_PER_MINUTE:
        return _refuse("too many SAML messages from this address", 429)
    key = secrets.token_urlsafe(24)
    # RelayState is printable ASCII (guard.check_relay_state), so a line break can end it.
    store.set(f"saml:bounce:{key}", (incoming.relay_state or "").encode() + b"\n" + incoming.xml, BOUNCE_SECONDS)
    return redirect(url_for(endpoint, key=key), 303)


def _unbounce(key) -> dict:
    raw = services().store.pop(f"saml:bounce:{key}") if len(key) <= 64 else None
    if not raw:
        return {}
    relay_state, _, xml = raw.partition(b"\n")
    return {"SAMLRequest": base64.b64encode(xml).decode("ascii"), "RelayState": relay_state.decode("ascii")}


def _start(binding, params):
    incoming = sso.receive(binding, params, "AuthnRequest")
    parsed = sso.parse_authn_request(servers(), db_session(), services().store, incoming)
    if parsed.authn_context is None:  # SAML Core §3.3.2.2.1: answered before any sign-in
        destination, response = sso.error_response(servers(), parsed, sso.NO_AUTHN_CONTEXT,
                                                    "the requested authentication context is not available")
        return _post(destination, "SAMLResponse", response, parsed.relay_state)
    pending_id = gate.remember(PENDING, {
        "sp": parsed.sp.entity_id, "request_id": parsed.request_id, "force_authn": parsed.force_authn,
        "is_passive": parsed.is_passive, "require_loa2": parsed.require_loa2, "transient": parsed.transient,
        "relay_state": parsed.relay_state, "response_args": _serialisable(parsed.response_args),
        "authn_context": dataclasses.asdict(parsed.authn_context), "ui_locale": _ui_locale(params)})
    if _ui_locale(params):  # the SP's language for this request's pages; the citizen's cookie stays
        follow_request_locale(PENDING, pending_id)
    return _resume(pending_id)


def _ui_locale(params) -> str | None:
    """The SP's page language, sent beside the signed parameters as OIDC's ui_locales (issue 12)."""
    tags = str(params.get("ui_locales") or "")[:64].split()
    return next((tag.split("-")[0] for tag in tags if tag.split("-")[0] in ("ar", "en")), None)


def _serialisable(args: dict) -> dict:
    return {k: v for k, v in args.items() if k in ("in_response_to", "sp_entity_id", "destination", "binding")}


@bp.get("/sso/continue/<pending_id>")
def resume(pending_id):
    return _resume(pending_id)


@dataclasses.dataclass(frozen=True)
class Pending:
    sp: RelyingParty
    request: sso.AuthnRequest
    created: float


def load(pending_id):
    """The pending request (a `Pending`), or the page refusing it."""
    record = gate.recall(PENDING, pending_id)
    if record is None:
        return _refuse("no pending SAML request")
    sp = sps.find_saml(db_session(), record["sp"])
    if sp is None or not sp.enabled:
        return _refuse("service provider disabled")
    request_ = sso.AuthnRequest(sp=sp, request_id=record["request_id"], force_authn=record["force_authn"],
                                is_passive=record["is_passive"], require_loa2=record["require_loa2"],
                                transient=record["transient"], relay_state=record["relay_state"],
                                response_args=record["response_args"],
                                authn_context=_requirement(record.get("authn_context")))
    return Pending(sp, request_, record["created"])


def _resume(pending_id):
    loaded = load(pending_id)
    if not isinstance(loaded, Pending):
        return loaded
    sp, request_, created = loaded.sp, loaded.request, loaded.created
    db = db_session()
    # SAML Profiles §4.1.4.1, through the one sign-in decision (idp.authn): IsPassive refusals are
    # NoPassive; the AuthnContext was checked for satisfiability when the request arrived.
    decision = gate.decide_now(Requirements(
        level=_level(request_), force=request_.force_authn, passive=request_.is_passive,
        requested_at=created))
    if decision.step is Step.REFUSE:
        status = sso.NO_AUTHN_CONTEXT if decision.refusal is Refusal.UNSATISFIABLE else sso.NO_PASSIVE
        return _answer_error(pending_id, request_, status, decision.reason)
    step = gate.next_page(decision, url_for("saml.resume", pending_id=pending_id))
    if step is not None:
        return step
    identity = signed_in_identity()
    shown = saml_release.notice(pending_id, sp, identity, request_)  # the first time: what it will receive
    if shown is not None:
        return shown
    destination, response, name_id = sso.authn_response(
        servers(), request_, services().settings.issuer, _salt(), identity.subject_seed,
        saml_attributes(identity, sp.allow_national_id), levels.rank(session.get("acr")) + 1,
        session.get("auth_time") or int(time.time()))
    sessions = dict(session.get("saml_sessions") or {})
    sessions[sp.entity_id] = {"name_id": name_id.text, "format": name_id.format}
    session["saml_sessions"] = sessions
    if sp.entity_id is None:  # a SAML SP's row always has one (the column is shared with OIDC clients)
        raise RuntimeError("a SAML service provider without an entity ID")
    backchannel.record_sign_in(db, identity.uuid, session.setdefault(backchannel.SESSION_KEY, backchannel.new_sid()),
                               "saml", sp.entity_id, name_id.text)
    audit.record(db, "saml.sso", actor(), identity.id, entity_id=sp.entity_id, acr=session.get("acr"))
    db.commit()
    _drop(pending_id)
    return _post(destination, "SAMLResponse", response, request_.relay_state)


def _level(request_: sso.AuthnRequest) -> str:
    """The level to perform: the request's floor (its RequestedAuthnContext and the SP's own)."""
    requirement = request_.authn_context or authn_context.Requirement()
    floor = max(requirement.floor, 2 if request_.require_loa2 else 1)
    return levels.ORDER[min(floor, len(levels.ORDER)) - 1]


def _requirement(saved) -> authn_context.Requirement:
    if not saved:
        return authn_context.Requirement()
    return authn_context.Requirement(floor=saved["floor"], ceiling=saved["ceiling"], classes=tuple(saved["classes"]),
                                     exact=bool(saved.get("exact")))


def _answer_error(pending_id, request_, status, text):
    destination, response = sso.error_response(servers(), request_, status, text)
    _drop(pending_id)
    return _post(destination, "SAMLResponse", response, request_.relay_state)


def _drop(pending_id):
    gate.forget(PENDING, pending_id)


def _post(destination, field, message, relay_state):
    """SAML Bindings §3.5: an auto-submitting form (a button without JavaScript) to the SP.

    The answer is kept in the session for a few minutes so that the page can be shown again in the
    other language (`returning`): the page's own URL would replay a single-use request."""
    shown = {"destination": destination, "field": field, "message": message, "relay_state": relay_state}
    session[RETURNING] = {**shown, "until": time.time() + RETURNING_SECONDS}
    return render_template("saml/post.html", lang_next=url_for("saml.returning"), **shown)


@bp.get("/returning")
def returning():
    """The last answer for a service provider, shown again (after the language switch, issue 12):
    this browser's own, for a few minutes; the SP still accepts each response once."""
    kept = session.get(RETURNING)
    if not isinstance(kept, dict) or kept.get("until", 0) < time.time():
        session.pop(RETURNING, None)
        return redirect(url_for("auth.home"))
    shown = {k: kept[k] for k in ("destination", "field", "message", "relay_state")}
    return render_template("saml/post.html", lang_next=url_for("saml.returning"), **shown)


# --- Single Logout (SAML Profiles §4.4) ----------------------------------------------------------

@bp.get("/slo/redirect")
def slo_redirect():
    if "SAMLResponse" in request.args:  # an SP answering our LogoutRequest (idp.web.saml_logout)
        return saml_logout.answered(request.args) or _refuse("unexpected LogoutResponse")
    return _logout(BINDING_HTTP_REDIRECT, request.args)


@bp.post("/slo/post")
def slo_post():
    return _bounce("saml.slo_post_received", "LogoutRequest")


@bp.get("/slo/post/<key>")
def slo_post_received(key):
    return _logout(BINDING_HTTP_POST, _unbounce(key))


def _logout(binding, params):
    incoming = sso.receive(binding, params, "LogoutRequest")
    answer = sso.logout(servers(), db_session(), services().store, incoming)
    identity = current_identity()
    record = (session.get("saml_sessions") or {}).get(answer.sp_entity_id)
    if identity is not None and record is not None and hmac.compare_digest(
            record["name_id"].encode(), (answer.name_id or "").encode()):
        db = db_session()
        audit.record(db, "saml.logout", actor(), identity.id, entity_id=answer.sp_entity_id)
        db.commit()
        server_session().end()
    if answer.binding == BINDING_HTTP_REDIRECT and answer.url is not None:
        return redirect(answer.url, 303)
    return _post(answer.destination, "SAMLResponse", answer.saml_response, incoming.relay_state)
