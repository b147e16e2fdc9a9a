"""Sign-in (password, then the second factor when the identity has one) and sign-out."""
from __future__ import annotations

import time

from flask import Blueprint, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from idp import audit
from idp.authn.decision import Step, after_password
from idp.identity import accounts, devices, mfa, passkeys, totp
from idp.identity.throttle import CaptchaRequired, account_for
from idp.oidc import backchannel
from idp.identity.sign_out import sign_out_everywhere
from idp.web import saml_logout, throttling
from idp.web.captcha import captcha_service, wants_new_challenge
from idp.web.requesting import service_name
from idp.web.context import actor, current_identity, db_session, services, session_store, sign_in
from idp.web.forms import ConfirmForm, LoginForm, OtpForm
from idp.web.i18n import safe_next, translate

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
    """Step 1: username (or national ID) and password. NIST SP 800-63B §5.2.2: failures slow and
    lock only the source they come from; under attack, unknown sources solve a captcha first."""
    form = LoginForm()
    next_url = safe_next(request.args.get("next"))
    if request.method == "GET" and request.args.get("login_hint"):
        form.username.data = request.args["login_hint"][:64]  # OIDC login_hint
    if form.is_submitted() and wants_new_challenge(request.form):  # nothing checked, nothing counted
        return _login_page(form, next_url, captcha=True)
    if not form.validate_on_submit():
        return _login_page(form, next_url, 400 if form.errors else 200, captcha=bool(form.captcha_id.data))
    db, throttle = db_session(), throttling.login_throttle()
    candidate = accounts.find_by_login(db, form.username.data)
    account = account_for(candidate.id if candidate else None, form.username.data)
    device = throttling.known_device(db, candidate.id if candidate else None)
    solved = bool(form.captcha_id.data) and captcha_service().verify(form.captcha_id.data, form.captcha.data)
    refused = throttling.refusal(throttle, account, device=device, captcha_solved=solved)
    if isinstance(refused, CaptchaRequired):
        wrong = bool(form.captcha.data)
        return _login_page(form, next_url, 401, captcha=True, error=_(
            "The digits do not match the picture. Try the new picture.") if wrong else translate(refused.message))
    if refused is not None:
        return _login_page(form, next_url, throttling.STATUS, error=throttling.message(refused))
    identity = accounts.check_password(candidate, form.password.data)
    if identity is None:
        return _failed(db, throttle, account, candidate.id if candidate else None, device, form, next_url)
    has_passkey = not identity.has_totp and passkeys.has_any(db, identity)
    throttle.release(account)  # the password was right; what follows is not a guess
    if identity.status == "locked":
        audit.sign_in_failed(db, actor(), identity.id, "locked")
        db.commit()
        return _login_page(form, next_url, 403, error=_("This identity is locked. Contact support."))
    if identity.status == "pending":
        db.commit()  # a rehashed password is kept
        session["resend_for"] = identity.uuid
        return _login_page(form, next_url, 403, pending=True,
                           error=_("Confirm your email address first: open the link we sent you."))
    db.commit()
    step = after_password(has_totp=identity.has_totp, has_passkey=has_passkey)
    if step is Step.SECOND_FACTOR:
        session["mfa_pending"] = {"identity_uuid": identity.uuid, "at": time.time(), "next": next_url}
        return redirect(url_for("auth.second_factor"))
    if step is Step.PASSKEY:  # the passkey is this identity's second factor: the password alone is not enough
        session["passkey_expected"] = {"identity_uuid": identity.uuid, "at": time.time(), "next": next_url}
        return redirect(url_for("passkeys.sign_in_page", next=next_url))
    # No second factor yet (made before registration asked for one): set one up, then signed in.
    from idp.web import enrolment  # enrolment signs in through this module
    enrolment.start(identity, next_url, registration=False)
    return redirect(url_for("enrolment.choose"))


@bp.route("/login/verify", methods=["GET", "POST"])
def second_factor():
    """Step 2: a TOTP code, or a recovery code when the phone is lost. No exponential delay here
    (a code retyped after a slip is not refused); the hard cap per identity bounds guessing."""
    pending = session.get("mfa_pending")
    if not pending or time.time() - pending["at"] > MFA_STEP_SECONDS:
        session.pop("mfa_pending", None)
        return redirect(url_for("auth.login"))
    form = OtpForm()
    if not form.validate_on_submit():
        return render_template("mfa.html", form=form), 400 if form.errors else 200
    db, throttle, ip = db_session(), throttling.login_throttle(), request.remote_addr or ""
    identity = accounts.get_by_uuid(db, pending.get("identity_uuid"))
    if identity is None:  # gone since the password step (or a session from before the upgrade)
        session.pop("mfa_pending", None)
        return redirect(url_for("auth.login"))
    account = account_for(identity.id, "")
    device = throttling.known_device(db, identity.id)
    # the password step passed any captcha the account asked for
    if (refused := throttling.refusal(throttle, account, device=device, delay=False)) is not None:
        return render_template("mfa.html", form=form, error=throttling.message(refused)), throttling.STATUS
    if throttle.second_factor_locked(account) and not is_recovery_code(form.otp.data):
        throttle.release(account)
        return render_template("mfa.html", form=form, error=totp_locked_message()), 403
    method = mfa.verify(db, services().store, services().fernet, identity, form.otp.data)
    if method is None:
        if throttle.record_failure(account, ip, device=device, second_factor=True) and \
                throttle.second_factor_locked(account):
            audit.second_factor_locked(db, actor(), identity.id)
        audit.sign_in_failed(db, actor(), identity.id, "second_factor")
        db.commit()
        return render_template("mfa.html", form=form, error=_("That code is not correct.")), 401
    if method == "recovery":
        audit.recovery_code_used(db, actor(), identity.id, mfa.unused_recovery_codes(identity))
    return complete_sign_in(db, throttle, account, identity, ["pwd", method], pending["next"], device,
                      second_factor=True)


def is_recovery_code(code: str | None) -> bool:
    """Whether `code` is shaped like a recovery code (not a 6-digit TOTP code)."""
    return len(totp.normalise_recovery_code((code or "").strip())) >= 8


def totp_locked_message() -> str:
    return _("Two-step verification is locked after too many wrong codes. Enter one of your recovery "
             "codes, or contact support.")


def _failed(db, throttle, account, identity_id, device, form, next_url):
    ip = request.remote_addr or ""
    locked = throttle.record_failure(account, ip, device=device)
    audit.sign_in_failed(db, actor(), identity_id, "password")
    if locked:
        audit.account_locked(db, actor(), identity_id)
    db.commit()
    # One message whether the username exists or not; the next try asks for a captcha at once
    # when this source will need one.
    return _login_page(form, next_url, 401, captcha=device is None and throttle.needs_captcha(account, ip),
                       error=_("The username or password is not correct."))


def complete_sign_in(db, throttle, account, identity, amr, next_url, device, second_factor=False, response=None):
    throttle.record_success(account, request.remote_addr or "", device=device, second_factor=second_factor)
    audit.sign_in_succeeded(db, actor(), identity.id, "+".join(amr))
    token = request.cookies.get(devices.COOKIE)
    token = token if devices.is_token(token) else devices.new_token()
    devices.remember(db, identity.id, token)  # commits
    sign_in(identity, amr)
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
        everywhere = request.form.get("everywhere") == "1"
        if everywhere:  # committed with the audit event below, or not at all
            sign_out_everywhere(db, session_store(), identity)
        backchannel.session_ended(db, identity, session.get(backchannel.SESSION_KEY))
        audit.signed_out(db, actor(), identity.id, everywhere=everywhere)
        db.commit()
    return saml_logout.end_session_then(render_template("message.html", title=_("Signed out"),
                           message=_("You have signed out."), link=url_for("auth.login"),
                           link_text=_("Sign in again")))
