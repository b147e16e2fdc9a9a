"""The approval app at /app/ (issue 14): an installable web app (Web App Manifest, a service worker
that caches the shell only), enrolled on a phone by a single-use link, and its JSON API.

- Enrolment (`/app/enrol/<link>`): a page of ours with the CSRF token; the WebAuthn registration
  challenge lives in the phone's server-side session; the link is spent when the device is kept.
- The API (`/app/api/...`) authenticates the phone by its bearer token (`Authorization: Bearer`),
  which a browser never attaches by itself: no cookie is involved, so it is exempt from the CSRF
  token (idp.web.init_web) and a cross-site page cannot call it (no CORS is offered). Only a
  WebAuthn assertion whose challenge binds the request and the number chosen approves. Responses
  are `no-store`; the service worker never caches them. Each device and each address is rate limited.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import time

from flask import Blueprint, abort, current_app, jsonify, render_template, request, send_from_directory, session
from flask_babel import gettext as _
from sqlalchemy import select

from idp import audit
from idp.approval import devices, requests
from idp.authn import app as app_steps
from idp.authn.sign_in import EXPIRED, PASSKEY_REFUSED, WRONG
from idp.errors import ValidationError
from idp.identity import credentials
from idp.identity.passkeys import RelyingParty
from idp.models import AppDevice, Identity
from idp.outcomes import WHOLE
from idp.web.context import actor, db_session, services
from idp.web.i18n import RIYADH, translate
from idp.web.passkeys import relying_party

bp = Blueprint("app", __name__, url_prefix="/app")

ENROL = "app_enrol"  # the session key of the registration challenge
CALLS_PER_DEVICE_MINUTE = 60  # a poll every two seconds, and room for the approval itself
BAD_TOKENS_PER_IP_MINUTE = 20
# The shell's pages load a manifest and register a worker: the default policy forbids both.
APP_CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'self'; connect-src 'self'; "
           "manifest-src 'self'; worker-src 'self'; frame-ancestors 'none'; base-uri 'none'")


def _offered() -> RelyingParty:
    rp = relying_party()
    if rp is None:  # no RP ID for an issuer on an IP address: no app either
        abort(404)
    return rp


def _page(template: str, status: int = 200, **context):
    response = current_app.make_response((render_template(template, **context), status))
    response.headers["Content-Security-Policy"] = APP_CSP
    return response


def _json(code: int = 200, **body):
    response = jsonify(body)
    response.status_code = code
    response.headers["Cache-Control"] = "no-store"
    return response


def _error(message: str, status: int):
    return _json(status, error=message)


# --- the shell ---------------------------------------------------------------------------------

@bp.get("/")
def shell():
    _offered()
    return _page("app/index.html")


@bp.get("/manifest.webmanifest")
def manifest():
    """Web App Manifest (W3C): Arabic first, right to left, scoped to /app/."""
    _offered()
    response = jsonify({
        "name": "النفاذ الوطني الموحد — National SSO", "short_name": "النفاذ الوطني",
        "lang": "ar", "dir": "rtl", "start_url": "/app/", "scope": "/app/", "display": "standalone",
        "background_color": "#f5f7f6", "theme_color": "#0b6b4f",
        "icons": [{"src": "/static/app-icon.svg", "sizes": "any", "type": "image/svg+xml", "purpose": "any"}]})
    response.mimetype = "application/manifest+json"
    return response


@bp.get("/sw.js")
def service_worker():
    """Served from /app/ so that its scope is the app (Service Workers §2.1), never the IdP's pages."""
    _offered()
    response = send_from_directory(current_app.static_folder or "", "app-sw.js", max_age=0)
    response.headers["Cache-Control"] = "no-cache"
    response.mimetype = "text/javascript"
    return response


# --- enrolment ----------------------------------------------------------------------------------

@bp.get("/enrol/<link>")
def enrol_page(link: str):
    """Opening the link shows a button; only the button's registration spends the link (a GET must
    not: mail and chat previews open links)."""
    _offered()
    identity = devices.enrolling_identity(db_session(), link)
    return _page("app/enrol.html", status=200 if identity else 410, link=link if identity else None)


@bp.post("/api/enrol/options")
def enrol_options():
    rp = _offered()
    db, body = db_session(), request.get_json(silent=True) or {}
    identity = devices.enrolling_identity(db, str(body.get("link") or ""))
    if identity is None:
        return _error(_("This enrolment link was already used or has expired. Make a new one from your "
                        "account page."), 410)
    try:
        options, state = devices.registration_options(db, rp, identity, time.time())
    except ValidationError as e:
        return _error(translate(e.message), 400)
    session[ENROL] = state
    return options, 200, {"Content-Type": "application/json", "Cache-Control": "no-store"}


@bp.post("/api/enrol")
def enrol():
    """Keep the phone's credential (WebAuthn §7.1) and give the app its bearer token, once."""
    rp = _offered()
    db, body, state = db_session(), request.get_json(silent=True) or {}, session.pop(ENROL, None)
    credential = body.get("credential")
    if not isinstance(credential, dict):
        return _error(_("That passkey could not be used. Try again."), 400)
    name = str(body.get("name") or "").strip() or _("My phone")
    result = credentials.enrol_phone(db, rp, str(body.get("link") or ""), credential, state, name, time.time())
    audit.record_outcome(db, actor(), result)
    db.commit()
    if not result.success:
        return _error(translate(result.errors[WHOLE]), 400)
    enrolled = result.value
    return _json(token=enrolled.token, name=enrolled.device.name)


# --- the app's API (bearer token) -----------------------------------------------------------------

def _ip_key() -> str:
    secret = services().settings.secret_key.encode()
    return hmac.new(secret, b"app-api-ip:" + (request.remote_addr or "").encode(), hashlib.sha256).hexdigest()


def _authenticated():
    """(the calling phone, None) or (None, the error response). Each phone has its own limit; an
    unknown token counts against the address it came from."""
    scheme, _sep, token = request.headers.get("Authorization", "").partition(" ")
    device = devices.by_token(db_session(), token.strip()) if scheme.lower() == "bearer" else None
    store = services().store
    if device is None:
        if store.incr(f"app-api:bad:{_ip_key()}", 60) > BAD_TOKENS_PER_IP_MINUTE:
            return None, _error(_("Too many attempts. Please wait and try again."), 429)
        return None, _error(_("This phone is not enrolled. Enrol it again from your account page."), 401)
    if store.incr(f"app-api:device:{device.id}", 60) > CALLS_PER_DEVICE_MINUTE:
        return None, _error(_("Too many attempts. Please wait and try again."), 429)
    return device, None


@bp.get("/api/pending")
def pending():
    """The identity's pending request, as the app shows it: portal, time (Riyadh), place, numbers."""
    _offered()
    device, refused = _authenticated()
    if refused:
        return refused
    identity_uuid = db_session().scalar(_identity_uuid(device))
    found = requests.pending_for(db_session(), identity_uuid) if identity_uuid else None
    if found is None:
        return _json(request=None)
    now = dt.datetime.now(dt.UTC)
    return _json(request={
        "id": found.id, "portal_ar": found.portal_name_ar, "portal_en": found.portal_name_en,
        "time": found.created_at.astimezone(RIYADH).strftime("%H:%M"), "place": found.place,
        "choices": found.choices, "expires_in": max(0, int((found.expires_at - now).total_seconds()))})


@bp.post("/api/requests/<request_id>/options")
def approval_options(request_id: str):
    rp = _offered()
    device, refused = _authenticated()
    if refused:
        return refused
    found = requests.get(db_session(), request_id)
    if found is None or found.status != "pending" or found.identity_uuid != db_session().scalar(_identity_uuid(device)):
        return _error(translate(requests.NotPending().message), 409)
    try:
        options = devices.approval_options(rp, device, found, _number())
    except ValidationError as e:
        return _error(translate(e.message), 400)
    return options, 200, {"Content-Type": "application/json", "Cache-Control": "no-store"}


@bp.post("/api/requests/<request_id>/approve")
def approve(request_id: str):
    """Verify the assertion over (request, number), then the number (OWASP: number matching against
    push fatigue). A wrong number refuses the request and is audited as possible fatigue."""
    rp = _offered()
    device, refused = _authenticated()
    if refused:
        return refused
    db, body = db_session(), request.get_json(silent=True) or {}
    credential = body.get("credential") if isinstance(body.get("credential"), dict) else None
    if credential is None:
        return _error(_("That passkey could not be used. Try again."), 400)
    result = app_steps.approve(db, rp, device, request_id, _number(), credential)
    audit.record_outcome(db, actor(), result)
    db.commit()  # a wrong number's denial of the request, with its event
    if result.success:
        return _json(status="approved")
    message, refusal = translate(result.errors[WHOLE]), result.value.refusal
    if refusal == WRONG:
        return _json(409, status="denied", error=message)
    return _error(message, {EXPIRED: 409, PASSKEY_REFUSED: 401}.get(refusal, 400))


@bp.post("/api/requests/<request_id>/deny")
def deny(request_id: str):
    """"This was not me": the request is refused; the signing-in page says so."""
    _offered()
    device, refused = _authenticated()
    if refused:
        return refused
    db = db_session()
    result = app_steps.deny(db, device, request_id)
    audit.record_outcome(db, actor(), result)
    db.commit()
    if not result.success:
        return _error(translate(result.errors[WHOLE]), 409)
    return _json(status="denied")


def _number() -> str:
    body = request.get_json(silent=True) or {}
    number = body.get("number") if isinstance(body, dict) else None
    return number if isinstance(number, str) else ""


def _identity_uuid(device: AppDevice):
    """The device's identity's uuid, while the identity is active (a locked identity sees nothing)."""
    return select(Identity.uuid).where(Identity.id == device.identity_id, Identity.status == "active")
