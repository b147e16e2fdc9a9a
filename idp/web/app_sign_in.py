""""Sign in with the app" (issue 14): the citizen types a national ID or username, this page shows
a two-digit number, the citizen picks it among three in the approval app and confirms with the
phone's passkey; the session is then signed in at LoA 3 through the same code as a passkey sign-in,
so pending OIDC and SAML requests resume (idp.web.gate).

Never reveals whether an account exists: a name with no active identity or no enrolled phone gets
the same waiting page and number, and the request simply expires. The request id lives only in
this browser's server-side session; an approval signs in once (`requests.redeem`).
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import time

from flask import Blueprint, abort, jsonify, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from idp import audit
from idp.approval import devices, requests
from idp.errors import Throttled
from idp.identity import accounts
from idp.identity.throttle import account_for, normalise_account
from idp.models import Identity
from idp.web import auth
from idp.web.context import actor, current_identity, db_session, services
from idp.web.forms import AppSignInForm, ConfirmForm
from idp.web.i18n import safe_next
from idp.web.passkeys import relying_party
from idp.web.requesting import service_name

bp = Blueprint("app_sign_in", __name__)

KEY = "app_sign_in"
STARTS_PER_IP_HOUR = 30  # many citizens share an address (carrier-grade NAT): generous, still bounded
IDP_NAME_AR, IDP_NAME_EN = "النفاذ الوطني الموحد", "National Single Sign-On"


@bp.app_template_global()
def app_sign_in_offered() -> bool:
    """Like passkeys, the app needs a host-name RP ID: hidden for an issuer on an IP address."""
    return relying_party() is not None


@bp.route("/login/app", methods=["GET", "POST"])
def start():
    if relying_party() is None:
        abort(404)
    form, next_url = AppSignInForm(), safe_next(request.args.get("next"))
    if request.method == "GET" and not form.username.data:
        signed_in = current_identity()
        form.username.data = signed_in.username if signed_in else (request.args.get("login_hint") or "")[:64]
    if not form.validate_on_submit():
        return render_template("app_sign_in.html", form=form, next=next_url, service=service_name(next_url)), \
            400 if form.errors else 200
    db = db_session()
    identity = accounts.find_by_login(db, form.username.data)
    # This browser signed in as that identity before: the limits that guard a citizen's phone
    # against strangers do not apply to the citizen (an attacker's requests never lock them out).
    known = identity is not None and auth._known_device(db, identity.id) is not None
    if not known and _too_many(form.username.data):
        return render_template("app_sign_in.html", form=form, next=next_url, service=service_name(next_url),
                               error=_("Too many attempts. Please wait a few minutes and try again.")), 429
    request_id, number = _start(identity, next_url, known)
    session[KEY] = {"id": request_id, "number": number, "expires": time.time() + requests.LIFETIME.total_seconds(),
                    "next": next_url}
    return redirect(url_for(".wait"))


@bp.get("/login/app/wait")
def wait():
    return _wait_page(status=200)


@bp.get("/login/app/status")
def status():
    """What the waiting page's script polls: pending, approved, refused or expired."""
    response = jsonify(status=_status())
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/login/app/continue")
def finish():
    """The "Continue" button (and the script once approved): sign in if the phone approved."""
    pending = session.get(KEY)
    if not ConfirmForm().validate_on_submit() or not pending:
        return _wait_page(status=400)
    if _status() != "approved":
        return _wait_page(status=200)
    db = db_session()
    approval = requests.redeem(db, pending["id"])
    identity = accounts.get_by_uuid(db, approval.identity_uuid) if approval else None
    if approval is None or identity is None or not identity.is_active:
        db.commit()
        session.pop(KEY, None)
        return _wait_page(status=409, final="expired")
    throttle, account = auth.login_throttle(), account_for(identity.id, "")
    device = auth._known_device(db, identity.id)
    try:  # a locked-out identity stays locked out, whichever way it signs in
        throttle.check(account, request.remote_addr or "", device=device, captcha_solved=True, delay=False)
    except Throttled as e:
        db.commit()
        session.pop(KEY, None)
        return _wait_page(status=429, final="expired", error=auth.throttled_message(e))
    audit.record(db, "approval.used", actor(), identity.id, origin="web", device_id=approval.device_id)
    return auth._signed_in(db, throttle, account, identity, approval.amr, pending.get("next"), device,
                           second_factor=True)


# --- internals -----------------------------------------------------------------------------------

def _start(identity: Identity | None, next_url: str, known: bool) -> tuple[str | None, str]:
    """A request for an active identity with an enrolled phone; otherwise nothing, and a number
    that looks the same, so the page never tells who has an account."""
    db = db_session()
    if identity is None or not identity.is_active or not devices.has_any(db, identity):
        return None, str(10 + secrets.randbelow(90))
    portal = service_name(next_url)
    try:
        approval = requests.start(db, identity, portal_name_ar=portal or IDP_NAME_AR,
                                  portal_name_en=portal or IDP_NAME_EN, origin="web", place=None,
                                  rate_limited=not known)
    except Throttled:  # looks like any other request that is never approved
        db.rollback()
        audit.record(db, "approval.throttled", actor(), identity.id, origin="web")
        db.commit()
        return None, str(10 + secrets.randbelow(90))
    audit.record(db, "approval.requested", actor(), identity.id, origin="web")
    db.commit()
    return approval.id, approval.binding_number


def _too_many(login: str) -> bool:
    """Per client IP and per name typed (known or not alike): a stranger's browser meets the same
    limit whether or not the name has an account."""
    store, secret = services().store, services().settings.secret_key.encode()
    ip = hmac.new(secret, b"app-ip:" + (request.remote_addr or "").encode(), hashlib.sha256).hexdigest()
    name = hmac.new(secret, b"app-login:" + normalise_account(login).encode(), hashlib.sha256).hexdigest()
    window = int(requests.WINDOW.total_seconds())
    return store.incr(f"app-sign-in:ip:{ip}", 3600) > STARTS_PER_IP_HOUR or \
        store.incr(f"app-sign-in:login:{name}", window) > requests.MAX_STARTS


def _status() -> str:
    pending = session.get(KEY)
    if not pending:
        return "expired"
    live = time.time() < pending["expires"]
    if pending["id"] is None:
        return "pending" if live else "expired"
    approval = requests.get(db_session(), pending["id"])
    if approval is None or approval.status == "expired":
        return "expired"
    if approval.status == "cancelled":  # superseded: waits out its time as an unknown name's would
        return "pending" if live else "expired"
    if approval.status == "denied":
        return "refused"
    if approval.status == "approved":  # collected within requests.REDEEM_WINDOW, or not at all
        return "approved" if approval.redeemed_at is None else "expired"
    return "pending"


def _wait_page(status: int, final: str | None = None, error: str | None = None):
    pending = session.get(KEY)
    if not pending:
        return render_template("app_sign_in.html", form=AppSignInForm(), next=safe_next(None), service=None), status
    state = final or _status()
    seconds = max(0, int(pending["expires"] - time.time()))
    return render_template("app_wait.html", number=pending["number"], state=state, seconds=seconds,
                           form=ConfirmForm(), error=error, status_url=url_for(".status"),
                           again=url_for(".start", next=pending.get("next"))), status
