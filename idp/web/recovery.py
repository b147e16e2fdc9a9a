"""Password recovery pages (the rules are in idp.identity.recovery)."""
from __future__ import annotations

import time

from flask import Blueprint, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from idp import audit
from idp.authn import sign_in as sign_in_steps
from idp.identity import accounts, credentials, passkeys, recovery
from idp.web import saml_logout, throttling
from idp.web.auth import second_factor_refused
from idp.web.context import actor, db_session, services, session_store
from idp.web.forms import NewPasswordForm, OtpForm, RecoveryRequestForm, show_errors, use_link
from idp.web.urls import absolute_url

bp = Blueprint("recovery", __name__, url_prefix="/recover")

GRANT_SECONDS = 15 * 60
RECOVERY_REQUESTS_PER_IP_HOUR = 20


@bp.route("", methods=["GET", "POST"])
def request_link():
    form = RecoveryRequestForm()
    if not form.validate_on_submit():
        return render_template("recover/request.html", form=form), 400 if form.errors else 200
    db, settings = db_session(), services().settings
    store = services().store
    if store.incr(f"recovery:ip:{request.remote_addr}", 3600) > RECOVERY_REQUESTS_PER_IP_HOUR:
        return render_template("recover/request.html", form=form,
                               error=_("Too many requests from your network. Try again later.")), 429
    result = recovery.request_link(
        db, services().store, services().mailer, form.national_id.data, form.email.data,
        lambda token: absolute_url("recovery.open_link", token=token),
        settings.recovery_link_minutes)
    audit.record_outcome(db, actor(), result)
    db.commit()
    # The same page whether or not the details matched an identity.
    return render_template("recover/sent.html", minutes=settings.recovery_link_minutes)


@bp.route("/link/<token>", methods=["GET", "POST"])
def open_link(token: str):
    db = db_session()
    identity_uuid, answer = use_link(recovery.link_is_live(db, token), lambda: recovery.open_link(db, token),
                                     _("Reset your password"), _("Continue"), _dead_link)
    if answer is not None:
        return answer
    db.commit()
    session["recovery"] = {"identity_uuid": identity_uuid, "at": time.time(), "mfa_done": False}
    return redirect(url_for("recovery.second_factor"))


def recovery_grant():
    grant = session.get("recovery")
    if not grant or time.time() - grant["at"] > GRANT_SECONDS:
        session.pop("recovery", None)
        return None, None
    return grant, accounts.get_by_uuid(db_session(), grant.get("identity_uuid"))


@bp.route("/verify", methods=["GET", "POST"])
def second_factor():
    """Recovery must not bypass the second factor: a TOTP or recovery code is still asked."""
    grant, identity = recovery_grant()
    if identity is None:
        return _dead_link()
    if grant["mfa_done"] or not (identity.has_totp or passkeys.has_any(db_session(), identity)):
        return redirect(url_for("recovery.new_password"))
    if not identity.has_totp:  # a passkey is this identity's only second factor: it is asked for
        return render_template("recover/passkey.html")
    form = OtpForm()
    if form.validate_on_submit():
        db = db_session()
        result = sign_in_steps.second_factor(db, services().store, services().fernet, throttling.login_throttle(),
                                             identity, form.otp.data, throttling.attempt(), recovering=True)
        audit.record_outcome(db, actor(), result)
        db.commit()
        if result.success:
            session["recovery"] = {**grant, "mfa_done": True}
            return redirect(url_for("recovery.new_password"))
        return second_factor_refused(form, result, recovering=True)
    return render_template("mfa.html", form=form, recovering=True), 400 if form.errors else 200


@bp.route("/password", methods=["GET", "POST"])
def new_password():
    grant, identity = recovery_grant()
    if identity is None:
        return _dead_link()
    if not grant["mfa_done"] and (identity.has_totp or passkeys.has_any(db_session(), identity)):
        return redirect(url_for("recovery.second_factor"))
    form = NewPasswordForm()
    if form.validate_on_submit():
        db = db_session()
        result = credentials.reset_password(db, session_store(), identity, form.new_password.data)
        show_errors(form, result)
        if result.success:
            audit.record_outcome(db, actor(), result)
            db.commit()
            recovery.tell_owner(identity, services().mailer)
            return saml_logout.end_session_then(render_template(
                "message.html", title=_("Password changed"),
                message=_("Your password was changed and every session was signed out. "
                          "Sign in with the new password."),
                link=url_for("auth.login"), link_text=_("Sign in")))
    return render_template("recover/password.html", form=form), 400 if form.errors else 200


def _dead_link():
    return render_template("message.html", title=_("This link no longer works"),
                           message=_("The link was already used or has expired. You can ask for a new one."),
                           link=url_for("recovery.request_link"), link_text=_("Ask for a new link")), 410
