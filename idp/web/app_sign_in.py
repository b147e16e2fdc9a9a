""""Sign in with the app" (issue 14): the citizen types a national ID or username, this page shows
a two-digit number, the citizen picks it among three in the approval app and confirms with the
phone's passkey; the session is then signed in at LoA 3 through the same code as a passkey sign-in,
so pending OIDC and SAML requests resume (idp.web.gate).

Never reveals whether an account exists: a name with no active identity or no enrolled phone gets
the same waiting page and number, and the request simply expires. The request id lives only in
this browser's server-side session; an approval signs in once (`requests.redeem`).
"""
from __future__ import annotations

import time

from flask import Blueprint, abort, jsonify, redirect, render_template, request, session, url_for

from idp import audit
from idp.approval import requests
from idp.authn import app as app_steps
from idp.outcomes import WHOLE
from idp.web import auth, throttling
from idp.web.context import actor, current_identity, db_session, services
from idp.web.forms import AppSignInForm, ConfirmForm
from idp.web.i18n import safe_next, translate
from idp.web.passkeys import relying_party
from idp.web.requesting import service_name

bp = Blueprint("app_sign_in", __name__)

KEY = "app_sign_in"
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
    portal = service_name(next_url)
    result = app_steps.request(db, services().store, services().settings.secret_key.encode(),
                                       form.username.data, (portal or IDP_NAME_AR, portal or IDP_NAME_EN),
                                       throttling.attempt())
    audit.record_outcome(db, actor(), result)
    db.commit()
    if not result.success:
        return render_template("app_sign_in.html", form=form, next=next_url, service=portal,
                               error=translate(result.errors[WHOLE])), 429
    session[KEY] = {"id": result.value.request_id, "number": result.value.number,
                    "expires": time.time() + requests.LIFETIME.total_seconds(), "next": next_url}
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
    result = app_steps.redeem(db, throttling.login_throttle(), pending["id"], throttling.attempt())
    audit.record_outcome(db, actor(), result)
    if not result.success:
        db.commit()
        session.pop(KEY, None)
        if result.value.throttled is not None:
            return _wait_page(status=429, final="expired", error=throttling.message(result.value.throttled))
        return _wait_page(status=409, final="expired")
    return auth.complete_sign_in(db, result.value.identity, result.value.amr, pending.get("next"),
                                 result.value.device)


# --- internals -----------------------------------------------------------------------------------

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
