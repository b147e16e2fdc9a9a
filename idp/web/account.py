"""The account page: who the registry says you are, your credentials, your recent activity."""
from __future__ import annotations

import time

from flask import Blueprint, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from idp import audit
from idp.authn import sign_in as sign_in_steps
from idp.identity import credentials, emails, mfa, passkeys, totp
from idp.identity.throttle import account_for
from idp.models import AuditEvent
from idp.oidc import backchannel, consent, token_families
from idp.outcomes import WHOLE
from idp.web import throttling
from idp.web.context import (actor, db_session, login_required, recent_auth_required,
                             server_session, services, session_store, signed_in_identity)
from idp.web.forms import ChangePasswordForm, ConfirmForm, EmailForm, OtpForm, PasswordForm, show_errors
from idp.web.i18n import safe_next, translate
from idp.web.urls import absolute_url

bp = Blueprint("account", __name__, url_prefix="/account")

TOTP_ISSUER_NAME = "National SSO"

ACTIVITY_LABELS = {
    "sign_in.succeeded": _l("Signed in"),
    "sign_in.failed": _l("Failed sign-in attempt"),
    "sign_in.locked": _l("Locked after too many attempts"),
    "password.changed": _l("Password changed"),
    "mfa.totp_enabled": _l("Two-step verification turned on"),
    "mfa.totp_disabled": _l("Two-step verification turned off"),
    "mfa.recovery_code_used": _l("Recovery code used"),
    "sign_out": _l("Signed out"),
    "passkey.added": _l("Passkey added"),
    "passkey.removed": _l("Passkey removed"),
    "passkey.sign_count_regressed": _l("Passkey refused: it may have been copied"),
    "app.enrolled": _l("Phone enrolled for the app"),
    "app.removed": _l("Phone removed from the app"),
    "approval.approved": _l("Sign-in approved in the app"),
    "approval.denied": _l("Sign-in refused in the app"),
    "approval.wrong_number": _l("Wrong number picked in the app: request refused"),
}
ACTIVITY_KINDS = tuple(ACTIVITY_LABELS)


@bp.app_template_global()
def activity_label(kind: str) -> str:
    return str(ACTIVITY_LABELS.get(kind, kind))


@bp.get("")
@login_required
def overview():
    identity = signed_in_identity()
    connected = consent.connected_services(db_session(), identity.id)
    activity = db_session().scalars(
        select(AuditEvent).where(AuditEvent.identity_id == identity.id, AuditEvent.kind.in_(ACTIVITY_KINDS))
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(10)).all()
    return render_template("account/overview.html", identity=identity, person=identity,
                           activity=activity, form=ConfirmForm(),
                           services=connected,
                           # SAML services signed in to before release notices (those have a release now)
                           saml_services=[sp for sp in backchannel.saml_services(db_session(), identity.uuid)
                                          if sp.id not in {given.relying_party_id for given in connected}],
                           recovery_left=mfa.unused_recovery_codes(identity),
                           sessions=session_store().count(identity.uuid))


@bp.route("/confirm", methods=["GET", "POST"])
@login_required
def reauth():
    """Confirm it is still you (password, and the second factor when there is one)."""
    identity, form = signed_in_identity(), PasswordForm()
    next_url = safe_next(request.args.get("next"))
    if form.validate_on_submit():
        db = db_session()
        result = sign_in_steps.reauthenticated(db, services().store, services().fernet, throttling.login_throttle(),
                                               identity, form.password.data, form.otp.data or "", throttling.attempt())
        audit.record_outcome(db, actor(), result)
        db.commit()
        if result.success:
            session["auth_time"] = int(time.time())
            return redirect(next_url)
        throttled = result.value.throttled
        return render_template("account/reauth.html", form=form, identity=identity, next=next_url,
                               error=throttling.message(throttled) if throttled else translate(result.errors[WHOLE])), \
            throttling.STATUS if throttled else 401
    return render_template("account/reauth.html", form=form, identity=identity, next=next_url), \
        400 if form.errors else 200


@bp.route("/password", methods=["GET", "POST"])
@recent_auth_required
def change_password():
    identity, form = signed_in_identity(), ChangePasswordForm()
    if form.validate_on_submit():
        db, throttle = db_session(), throttling.login_throttle()
        account = account_for(identity.id, "")
        if (refused := throttling.refusal(throttle, account)) is not None:
            return render_template("account/password.html", form=form,
                                   error=throttling.message(refused)), throttling.STATUS
        result = None
        try:
            result = credentials.change_password(db, session_store(), identity, form.current_password.data,
                                                 form.new_password.data, keep_session=server_session().sid)
        finally:  # even when the change fails (a refused revocation), the check in progress ends
            if result is not None and "current_password" in result.errors:  # a guess counts; a weak new one not
                throttle.record_failure(account, request.remote_addr or "")
            else:
                throttle.release(account)
        show_errors(form, result)
        if result.success:
            # One transaction: the new password and the end of the other sessions, or neither.
            audit.record_outcome(db, actor(), result)
            db.commit()
            services().mailer.send(identity.email, *emails.password_changed())
            return _done(_("Your password was changed. Your other sessions were signed out."))
    return render_template("account/password.html", form=form), 400 if form.errors else 200


@bp.route("/email", methods=["GET", "POST"])
@recent_auth_required
def change_email():
    """The new address is used only once a link sent to it is opened."""
    identity, form = signed_in_identity(), EmailForm()
    if form.validate_on_submit():
        db = db_session()
        result = credentials.request_email_change(
            db, services().mailer, identity, form.email.data, services().settings.email_verification_hours,
            lambda token: absolute_url("registration.verify_email", token=token))
        show_errors(form, result)
        if result.success:
            audit.record_outcome(db, actor(), result)
            db.commit()
            return _done(_("We sent a link to %(email)s. Your email changes when you open it.",
                           email=result.value))
    return render_template("account/email.html", form=form, identity=identity), 400 if form.errors else 200


@bp.route("/two-step", methods=["GET", "POST"])
@recent_auth_required
def two_step():
    """Turn on TOTP (or, with `replace`, move it to a new phone): scan the QR code, then prove it
    with a code; the old key keeps working until then. Shows recovery codes once."""
    identity = signed_in_identity()
    next_url = safe_next(request.args.get("next") or url_for("account.overview"))
    if identity.has_totp and not request.args.get("replace"):
        return _two_step_on(identity)
    secret = session.get("totp_enrolment") or totp.new_secret()
    session["totp_enrolment"] = secret
    form = OtpForm()
    if form.validate_on_submit() and (codes := turn_on_totp(identity, secret, form, "totp_enrolment")):
        return render_template("account/recovery_codes.html", codes=codes, next=next_url)
    # A fixed issuer name: the authenticator app keeps it, whatever language the page was in.
    uri = totp.provisioning_uri(secret, identity.username, TOTP_ISSUER_NAME)
    return render_template("account/two_step_enrol.html", form=form, secret=secret, otpauth_uri=uri,
                           qr_svg=totp.qr_svg(uri)), 400 if form.errors else 200


@bp.post("/two-step/off")
@recent_auth_required
def two_step_off():
    identity, db = signed_in_identity(), db_session()
    if identity.has_totp and not passkeys.has_any(db, identity):  # every identity keeps a second factor
        return _two_step_on(identity, _(
            "Two-step verification is your only second step, so it cannot be turned off. Add a passkey "
            "first, or move it to a new phone."), 409)
    if ConfirmForm().validate_on_submit() and identity.has_totp:
        audit.record_outcome(db, actor(), credentials.disable_totp(db, identity))
        db.commit()
        services().mailer.send(identity.email, *emails.second_factor_changed(enabled=False))
    return redirect(url_for("account.overview"))


def turn_on_totp(identity, secret: str, form, session_key: str) -> list[str] | None:
    """TOTP on once the form's code proves the app holds `secret` (kept under `session_key` until
    then): recorded, committed, the owner mailed; the new recovery codes, or None (the form says why)."""
    db = db_session()
    result = credentials.enable_totp(db, services().store, services().fernet, identity, secret, form.otp.data)
    show_errors(form, result)
    if not result.success:
        return None
    audit.record_outcome(db, actor(), result)
    db.commit()
    session.pop(session_key, None)
    services().mailer.send(identity.email, *emails.second_factor_changed(enabled=True))
    return result.value


def _two_step_on(identity, error: str | None = None, status: int = 200):
    return render_template("account/two_step_on.html", form=ConfirmForm(), error=error,
                           recovery_left=mfa.unused_recovery_codes(identity),
                           can_turn_off=passkeys.has_any(db_session(), identity)), status


@bp.post("/two-step/recovery-codes")
@recent_auth_required
def new_recovery_codes():
    identity, db = signed_in_identity(), db_session()
    if not (ConfirmForm().validate_on_submit() and identity.has_totp):
        return redirect(url_for("account.overview"))
    result = credentials.regenerate_recovery_codes(db, identity)
    audit.record_outcome(db, actor(), result)
    db.commit()
    return render_template("account/recovery_codes.html", codes=result.value, next=url_for("account.overview"))


@bp.route("/services/<int:relying_party_id>/disconnect", methods=["GET", "POST"])
@login_required
def disconnect(relying_party_id: int):
    """Withdraw consent (or, for a SAML service, the release notice): asked first, then done; the
    service must ask again, and its tokens stop working now."""
    identity, db, form = signed_in_identity(), db_session(), ConfirmForm()
    given = consent.find(db, identity.id, relying_party_id)
    if given is None:  # nothing (or no longer anything) to disconnect
        return redirect(url_for("account.overview"))
    rp = given.relying_party
    if not form.validate_on_submit():
        return render_template("account/disconnect.html", form=form, service=rp.name,
                               saml=rp.protocol == "saml"), 400 if form.errors else 200
    consent.revoke(db, identity.id, relying_party_id)
    if rp.client_id:
        token_families.revoke_client_tokens(db, identity.uuid, rp.client_id)
        backchannel.sessions_ended(db, identity, client_id=rp.client_id)
    audit.record(db, "oidc.consent_revoked", actor(), identity.id, client_id=rp.client_id or rp.entity_id)
    db.commit()
    return _done(_("%(service)s is disconnected. It no longer receives your information, and it will ask "
                   "you again the next time you sign in to it.", service=rp.name), title=_("Disconnected"))


def _done(message: str, title: str | None = None):
    return render_template("message.html", title=title or _("Done"), message=message,
                           link=url_for("account.overview"), link_text=_("Back to your account"))
