"""Sign-in (password, then the second factor when the identity has one) and sign-out."""
from __future__ import annotations

import time

from flask import Blueprint, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from idp import audit
from idp.authn import sign_in as sign_in_steps
from idp.authn.decision import Step
from idp.identity import accounts, devices
from idp.oidc import backchannel
from idp.outcomes import WHOLE
from idp.web import saml_logout, throttling
from idp.web.captcha import captcha_service, wants_new_challenge
from idp.web.context import actor, current_identity, db_session, services, session_store, sign_in
from idp.web.forms import ConfirmForm, LoginForm, OtpForm
from idp.web.i18n import safe_next, translate
from idp.web.requesting import service_name

bp = Blueprint("auth", __name__)

MFA_STEP_SECONDS = 300


@bp.get("/")
def home():
    if current_identity() is not None:
        return redirect(url_for("account.overview"))
    return render_template("home.html")


def _login_page(form, next_url, status=200, error=None, captcha=False, **extra):
    if captcha:  # a fresh single-use challenge on every page that asks for one
        form.captcha_id.data = captcha_service().new()
        form.captcha.data = ""
    return render_template("login.html", form=form, next=next_url, error=error, captcha=captcha,
                           service=service_name(next_url), **extra), status


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Step 1: username (or national ID) and password (idp.authn.sign_in.password). Failures slow
    and lock only the source they come from; under attack, unknown sources solve a captcha first."""
    form = LoginForm()
    next_url = safe_next(request.args.get("next"))
    if request.method == "GET" and request.args.get("login_hint"):
        form.username.data = request.args["login_hint"][:64]  # OIDC login_hint
    if form.is_submitted() and wants_new_challenge(request.form):  # nothing checked, nothing counted
        return _login_page(form, next_url, captcha=True)
    if not form.validate_on_submit():
        return _login_page(form, next_url, 400 if form.errors else 200, captcha=bool(form.captcha_id.data))
    db = db_session()
    solved = bool(form.captcha_id.data) and captcha_service().verify(form.captcha_id.data, form.captcha.data)
    result = sign_in_steps.password(db, throttling.login_throttle(), form.username.data, form.password.data,
                                    throttling.attempt(captcha_solved=solved))
    audit.record_outcome(db, actor(), result)
    db.commit()  # the failure, its lock and event; or a password rehashed on the way
    verdict = result.value
    if not result.success:
        return _login_refused(form, next_url, verdict, wrong_captcha=bool(form.captcha.data))
    identity = verdict.identity
    if verdict.next_step is Step.SECOND_FACTOR:
        session["mfa_pending"] = {"identity_uuid": identity.uuid, "at": time.time(), "next": next_url}
        return redirect(url_for("auth.second_factor"))
    if verdict.next_step is Step.PASSKEY:  # its second factor: the password alone is not enough
        session["passkey_expected"] = {"identity_uuid": identity.uuid, "at": time.time(), "next": next_url}
        return redirect(url_for("passkeys.sign_in_page", next=next_url))
    # No second factor yet (made before registration asked for one): set one up, then signed in.
    from idp.web import enrolment  # enrolment signs in through this module
    enrolment.start(identity, next_url, registration=False)
    return redirect(url_for("enrolment.choose"))


def _login_refused(form, next_url, verdict, wrong_captcha: bool):
    """The sign-in page again, saying why; one message whether the username exists or not."""
    refusal = verdict.refusal
    if refusal == sign_in_steps.CAPTCHA:
        return _login_page(form, next_url, 401, captcha=True, error=_(
            "The digits do not match the picture. Try the new picture.") if wrong_captcha
            else translate(verdict.throttled.message))
    if refusal == sign_in_steps.THROTTLED:
        return _login_page(form, next_url, throttling.STATUS, error=throttling.message(verdict.throttled))
    if refusal == sign_in_steps.PENDING:
        session["resend_for"] = verdict.identity.uuid
        return _login_page(form, next_url, 403, pending=True, error=translate(sign_in_steps.EMAIL_NOT_CONFIRMED))
    if refusal == sign_in_steps.LOCKED:
        return _login_page(form, next_url, 403, error=translate(sign_in_steps.IDENTITY_LOCKED))
    return _login_page(form, next_url, 401, captcha=verdict.captcha_next, error=translate(sign_in_steps.WRONG_PASSWORD))


@bp.route("/login/verify", methods=["GET", "POST"])
def second_factor():
    """Step 2: a TOTP code, or a recovery code when the phone is lost (idp.authn.sign_in.second_factor)."""
    pending = session.get("mfa_pending")
    if not pending or time.time() - pending["at"] > MFA_STEP_SECONDS:
        session.pop("mfa_pending", None)
        return redirect(url_for("auth.login"))
    form = OtpForm()
    if not form.validate_on_submit():
        return render_template("mfa.html", form=form), 400 if form.errors else 200
    db = db_session()
    identity = accounts.get_by_uuid(db, pending.get("identity_uuid"))
    if identity is None:  # gone since the password step (or a session from before the upgrade)
        session.pop("mfa_pending", None)
        return redirect(url_for("auth.login"))
    result = sign_in_steps.second_factor(db, services().store, services().fernet, throttling.login_throttle(),
                                         identity, form.otp.data, throttling.attempt())
    audit.record_outcome(db, actor(), result)
    if not result.success:
        db.commit()
        return second_factor_refused(form, result)
    return complete_sign_in(db, identity, result.value.amr, pending["next"], result.value.device)


def second_factor_refused(form, result, recovering: bool = False):
    """The code page again, saying why: wait (429), only a recovery code now (403), or wrong (401)."""
    verdict = result.value
    status = {sign_in_steps.THROTTLED: throttling.STATUS, sign_in_steps.SECOND_FACTOR_LOCKED: 403}
    error = throttling.message(verdict.throttled) if verdict.throttled else translate(result.errors[WHOLE])
    return render_template("mfa.html", form=form, error=error, recovering=recovering), \
        status.get(verdict.refusal, 401)


def complete_sign_in(db, identity, amr, next_url, device, response=None):
    """Every factor proven: record it, remember this browser, sign in, and go on to `next_url`."""
    audit.record_outcome(db, actor(), sign_in_steps.succeeded(throttling.login_throttle(), identity, amr,
                                                              throttling.attempt(), device))
    token = request.cookies.get(devices.COOKIE)
    token = token if devices.is_token(token) else devices.new_token()
    devices.remember(db, identity.id, token)  # commits
    sign_in(identity, list(amr))
    response = response or redirect(safe_next(next_url))
    settings = services().settings
    response.set_cookie(devices.COOKIE, token, max_age=settings.device_cookie_days * 86400,
                        secure=settings.is_https, httponly=True, samesite="Lax")
    return response


@bp.route("/logout", methods=["GET", "POST"])
def logout():
    """GET asks for confirmation (a link must not sign anyone out); POST signs out."""
    form = ConfirmForm()
    if request.method == "GET" or not form.validate_on_submit():
        return render_template("logout.html", form=form)
    identity = current_identity()
    if identity is not None:
        db = db_session()
        # everything at once: the sessions' end, the relying parties told, the audit event; or nothing
        result = sign_in_steps.signed_out(db, session_store(), identity, request.form.get("everywhere") == "1")
        backchannel.session_ended(db, identity, session.get(backchannel.SESSION_KEY))
        audit.record_outcome(db, actor(), result)
        db.commit()
    return saml_logout.end_session_then(render_template("message.html", title=_("Signed out"),
                           message=_("You have signed out."), link=url_for("auth.login"),
                           link_text=_("Sign in again")))
