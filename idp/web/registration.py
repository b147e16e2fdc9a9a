"""Registration wizard: who you are (checked against the civil registry, behind a captcha) →
username, password and contact details → a link to confirm the email → an active identity."""
from __future__ import annotations

import datetime as dt
import time

from flask import Blueprint, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from idp import audit
from idp.errors import Conflict, Throttled, ValidationError
from idp.identity import accounts, emails, national_id, tokens
from idp.identity.birthdate import parse_birth_date
from idp.identity.registry import DatabaseRegistry
from idp.identity.throttle import LoginThrottle
from idp.web.auth import throttled_message
from idp.web.captcha import captcha_service
from idp.web.context import actor, db_session, services
from idp.web.forms import ConfirmForm, CredentialsForm, IdentityCheckForm
from idp.web.i18n import translate

bp = Blueprint("registration", __name__, url_prefix="/register")

EMAIL_PURPOSE = "verify-email"


def _step1(form, status=200, error=None):
    form.captcha_id.data = captcha_service().new()
    form.captcha.data = ""
    return render_template("register/identity.html", form=form, error=error), status


@bp.route("", methods=["GET", "POST"])
def identity_check():
    """Step 1: national ID, birth date (Hijri or Gregorian), gender and a captcha."""
    form = IdentityCheckForm()
    if not form.is_submitted():
        return _step1(form)
    valid = form.validate_on_submit()
    nid, birth_date = _parse_identity_fields(form)  # every field's error shown at once
    if not valid or nid is None or birth_date is None:
        return _step1(form, 400)
    if not captcha_service().verify(form.captcha_id.data, form.captcha.data):
        form.captcha.errors.append(_("The digits do not match the picture. Try the new picture."))
        return _step1(form, 400)
    db, throttle = db_session(), LoginThrottle(services().store, services().settings)
    guesses = f"registration:{nid}"  # birth dates are guessable: count misses per national ID
    try:
        throttle.check(guesses, request.remote_addr or "")
    except Throttled as e:
        return _step1(form, 429, throttled_message(e))
    person = DatabaseRegistry(db).match(nid, birth_date, form.gender.data)
    if person is None:
        throttle.record_failure(guesses, request.remote_addr or "")
        audit.registry_mismatch(db, actor())
        db.commit()
        # One message: never say which field did not match.
        return _step1(form, 400, _("These details do not match the civil registry. Check them and try again."))
    throttle.release(guesses)
    if accounts.identity_exists_for(db, nid):
        return _step1(form, 409, _("A digital identity already exists for this person. Sign in, or "
                                   "recover your password."))
    session["registration"] = {"national_id": nid, "at": time.time()}
    return redirect(url_for("registration.credentials"))


def _parse_identity_fields(form):
    """National ID and birth date checked by the identity services, errors put on their fields."""
    values = []
    for field, parse in ((form.national_id, national_id.parse),
                         (form.birth_date, lambda text: parse_birth_date(text, form.calendar.data or ""))):
        try:
            values.append(parse(field.data) if field.data and not field.errors else None)
        except ValidationError as e:
            field.errors = [*field.errors, translate(e.message)]
            values.append(None)
    return values


def _registration_person():
    pending = session.get("registration")
    minutes = services().settings.registration_step_minutes
    if not pending or time.time() - pending["at"] > minutes * 60:
        return None
    return DatabaseRegistry(db_session()).find(pending["national_id"])


@bp.route("/account", methods=["GET", "POST"])
def credentials():
    """Step 2: username, password, email and mobile for the matched person."""
    person = _registration_person()
    if person is None:
        session.pop("registration", None)
        return redirect(url_for("registration.identity_check"))
    form = CredentialsForm()
    if not form.validate_on_submit():
        return render_template("register/credentials.html", form=form, person=person), \
            400 if form.errors else 200
    db = db_session()
    try:
        identity = accounts.create(db, person, form.username.data, form.password.data,
                                   form.email.data, form.mobile.data)
    except accounts.FieldErrors as e:
        for field, message in e.errors.items():
            getattr(form, field).errors.append(translate(message))
        return render_template("register/credentials.html", form=form, person=person), 400
    except Conflict as e:
        session.pop("registration", None)
        return render_template("message.html", title=_("Already registered"),
                               message=translate(e.message), link=url_for("auth.login"),
                               link_text=_("Sign in")), 409
    audit.registered(db, actor(), identity.id)
    token = issue_email_token(identity)  # before the commit: if the store is down, nothing is kept
    db.commit()
    send_email_link(identity.email, token)
    session.pop("registration", None)
    session["resend_for"] = identity.uuid
    return render_template("register/sent.html", email=emails.mask_email(identity.email))


def issue_email_token(identity, email=None) -> str:
    hours = services().settings.email_verification_hours
    # The password's timestamp rides along: a link issued before a password change or reset
    # (perhaps by an intruder changing the email) stops working with it.
    return tokens.issue(services().store, EMAIL_PURPOSE,
                        {"identity_id": identity.id, "email": email or identity.email,
                         "password_stamp": password_stamp(identity)}, hours * 3600)


def password_stamp(identity) -> int:
    """When the password last changed, in milliseconds (SQLite returns naive UTC datetimes)."""
    changed = identity.password_changed_at
    return int(changed.replace(tzinfo=changed.tzinfo or dt.timezone.utc).timestamp() * 1000)


def send_email_link(address: str, token: str) -> None:
    link = url_for("registration.verify_email", token=token, _external=True)
    services().mailer.send(address, *emails.verify_email(link, services().settings.email_verification_hours))


@bp.post("/resend")
def resend():
    """Send the confirmation link again, to the identity this browser just registered or signed in as."""
    form = ConfirmForm()
    identity_uuid = session.get("resend_for")
    identity = accounts.get_by_uuid(db_session(), identity_uuid) if identity_uuid and form.validate_on_submit() \
        else None
    if identity is None or identity.email_verified:
        return redirect(url_for("auth.login"))
    send_email_link(identity.email, issue_email_token(identity))
    return render_template("register/sent.html", email=emails.mask_email(identity.email))


@bp.route("/verify/<token>", methods=["GET", "POST"])
def verify_email(token: str):
    """The link in the mail. GET only asks to confirm: mail scanners open links on their own."""
    store, form = services().store, ConfirmForm()
    if tokens.peek(store, EMAIL_PURPOSE, token) is None:
        return _link_dead()
    if not form.validate_on_submit():
        return render_template("confirm.html", form=form, title=_("Confirm your email address"),
                               button=_("Confirm"))
    payload = tokens.redeem(store, EMAIL_PURPOSE, token)
    db = db_session()
    identity = accounts.get(db, payload["identity_id"]) if payload else None
    if identity is None or payload.get("password_stamp") != password_stamp(identity):
        return _link_dead()
    accounts.activate_email(identity, payload["email"])
    audit.email_verified(db, actor(), identity.id)
    db.commit()
    return render_template("message.html", title=_("Email confirmed"),
                           message=_("Your email address is confirmed. Your digital identity is ready."),
                           link=url_for("auth.login"), link_text=_("Sign in"))


def _link_dead():
    return render_template("message.html", title=_("This link no longer works"),
                           message=_("The link was already used or has expired. Sign in to ask for a new one."),
                           link=url_for("auth.login"), link_text=_("Sign in")), 410
