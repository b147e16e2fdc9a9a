"""Sign-in (password, then the second factor when the identity has one) and sign-out."""
from __future__ import annotations

import time

from flask import Blueprint, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import ngettext

from idp import audit
from idp.errors import Throttled
from idp.identity import accounts, mfa
from idp.identity.throttle import LoginThrottle, account_for
from idp.oidc import backchannel
from idp.revocation import sign_out_everywhere
from idp.web import saml_logout
from idp.web.context import actor, current_identity, db_session, services, session_store, sign_in
from idp.web.forms import ConfirmForm, LoginForm, OtpForm
from idp.web.i18n import safe_next

bp = Blueprint("auth", __name__)

MFA_STEP_SECONDS = 300


@bp.get("/")
def home():
    if current_identity() is not None:
        return redirect(url_for("account.overview"))
    return render_template("home.html")


def _throttle() -> LoginThrottle:
    return LoginThrottle(services().store, services().settings)


def throttled_message(e: Throttled) -> str:
    minutes = max(1, -(-e.retry_after // 60))
    if e.retry_after < 60:
        return ngettext("Too many attempts. Try again in %(num)d second.",
                        "Too many attempts. Try again in %(num)d seconds.", max(1, e.retry_after))
    return ngettext("Too many attempts. Try again in %(num)d minute.",
                    "Too many attempts. Try again in %(num)d minutes.", minutes)


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Step 1: username (or national ID) and password."""
    form = LoginForm()
    next_url = safe_next(request.args.get("next"))
    if request.method == "GET" and request.args.get("login_hint"):
        form.username.data = request.args["login_hint"][:64]  # OIDC login_hint
    if not form.validate_on_submit():
        return render_template("login.html", form=form, next=next_url), 400 if form.errors else 200
    db, throttle = db_session(), _throttle()
    candidate = accounts.find_by_login(db, form.username.data)
    account = account_for(candidate.id if candidate else None, form.username.data)
    try:
        throttle.check(account, request.remote_addr or "")
    except Throttled as e:
        return render_template("login.html", form=form, next=next_url, error=throttled_message(e)), 429
    identity = accounts.check_password(candidate, form.password.data)
    if identity is None:
        return _failed(db, throttle, account, candidate.id if candidate else None, "password", form, next_url)
    if identity.status != "active" or identity.has_totp:
        throttle.release(account)  # the password was right; what follows is not a guess
    if identity.status == "locked":
        audit.sign_in_failed(db, actor(), identity.id, "locked")
        db.commit()
        return render_template("login.html", form=form, next=next_url,
                               error=_("This identity is locked. Contact support.")), 403
    if identity.status == "pending":
        db.commit()  # a rehashed password is kept
        session["resend_for"] = identity.id
        return render_template("login.html", form=form, next=next_url, pending=True,
                               error=_("Confirm your email address first: open the link we sent you.")), 403
    if identity.has_totp:
        db.commit()
        session["mfa_pending"] = {"identity_id": identity.id, "at": time.time(), "next": next_url}
        return redirect(url_for("auth.second_factor"))
    return _signed_in(db, throttle, account, identity, ["pwd"], next_url)


@bp.route("/login/verify", methods=["GET", "POST"])
def second_factor():
    """Step 2: a TOTP code, or a recovery code when the phone is lost."""
    pending = session.get("mfa_pending")
    if not pending or time.time() - pending["at"] > MFA_STEP_SECONDS:
        session.pop("mfa_pending", None)
        return redirect(url_for("auth.login"))
    form = OtpForm()
    if not form.validate_on_submit():
        return render_template("mfa.html", form=form), 400 if form.errors else 200
    db, throttle = db_session(), _throttle()
    identity = accounts.get(db, pending["identity_id"])
    account = account_for(identity.id, "")
    try:
        throttle.check(account, request.remote_addr or "")
    except Throttled as e:
        return render_template("mfa.html", form=form, error=throttled_message(e)), 429
    method = mfa.verify(db, services().store, services().fernet, identity, form.otp.data)
    if method is None:
        throttle.record_failure(account, request.remote_addr or "")
        audit.sign_in_failed(db, actor(), identity.id, "second_factor")
        db.commit()
        return render_template("mfa.html", form=form, error=_("That code is not correct.")), 401
    if method == "recovery":
        audit.recovery_code_used(db, actor(), identity.id, mfa.unused_recovery_codes(identity))
    return _signed_in(db, throttle, account, identity, ["pwd", method], pending["next"])


def _failed(db, throttle, account, identity_id, reason, form, next_url):
    locked = throttle.record_failure(account, request.remote_addr or "")
    audit.sign_in_failed(db, actor(), identity_id, reason)
    if locked:
        audit.account_locked(db, actor(), identity_id)
    db.commit()
    # One message whether the username exists or not.
    return render_template("login.html", form=form, next=next_url,
                           error=_("The username or password is not correct.")), 401


def _signed_in(db, throttle, account, identity, amr, next_url):
    throttle.record_success(account)
    audit.sign_in_succeeded(db, actor(), identity.id, "+".join(amr))
    db.commit()
    sign_in(identity, amr)
    return redirect(safe_next(next_url))


@bp.route("/logout", methods=["GET", "POST"])
def logout():
    """GET asks for confirmation (a link must not sign anyone out); POST signs out."""
    form = ConfirmForm()
    if request.method == "GET" or not form.validate_on_submit():
        return render_template("logout.html", form=form)
    identity = current_identity()
    if identity is not None:
        db = db_session()
        everywhere = request.form.get("everywhere") == "1"
        if everywhere:
            sign_out_everywhere(session_store(), identity)
        backchannel.session_ended(db, identity, session.get(backchannel.SESSION_KEY))
        audit.signed_out(db, actor(), identity.id, everywhere=everywhere)
        db.commit()
    return saml_logout.end_session_then(render_template("message.html", title=_("Signed out"),
                           message=_("You have signed out."), link=url_for("auth.login"),
                           link_text=_("Sign in again")))
