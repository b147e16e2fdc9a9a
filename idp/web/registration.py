"""Registration wizard: who you are (checked against the civil registry, behind a captcha) →
a code sent by SMS to the mobile the registry holds for you (proofing: only you have it) →
username, password and contact details (taking back an identity someone else registered for
you, if there is one) → a second factor (idp.web.enrolment) → a link to confirm the email → an active identity."""
from __future__ import annotations

import datetime as dt
import time

from flask import Blueprint, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from idp import audit
from idp.errors import Conflict, Throttled, ValidationError
from idp.identity import accounts, emails, national_id, passkeys, proofing, sms, tokens
from idp.identity.birthdate import parse_birth_date
from idp.identity.mobile_proof import MobileProof, new_flow_id, sms_text
from idp.identity.registry import DatabaseRegistry
from idp.identity.throttle import account_for
from idp.revocation import sign_out_everywhere
from idp.web.auth import login_throttle, throttled_message
from idp.web.captcha import captcha_service, wants_new_challenge
from idp.web.context import actor, db_session, services, session_store
from idp.web.forms import ConfirmForm, CredentialsForm, IdentityCheckForm, MobileCodeForm
from idp.web.i18n import translate
from idp.web.urls import absolute_url

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
    if not form.is_submitted() or wants_new_challenge(request.form):  # a new picture checks nothing
        return _step1(form)
    valid = form.validate_on_submit()
    nid, birth_date = _parse_identity_fields(form)  # every field's error shown at once
    if not valid or nid is None or birth_date is None:
        return _step1(form, 400)
    if not captcha_service().verify(form.captcha_id.data, form.captcha.data):
        form.captcha.errors.append(_("The digits do not match the picture. Try the new picture."))
        return _step1(form, 400)
    db, throttle = db_session(), login_throttle()
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
    if person.mobile is None:
        audit.registry_has_no_mobile(db, actor())
        db.commit()
        return render_template("message.html", title=_("We cannot confirm it is you online"), message=_(
            "The civil registry has no mobile number for you, and we send a code to that number to "
            "make sure nobody else registers in your name. Register your mobile number with the civil "
            "registry (at a civil affairs office or through its services), then come back; or visit a "
            "service centre with your ID card to register in person."),
            link=url_for("auth.home"), link_text=_("Back to the home page")), 403
    # Whether an identity already exists is said only after the mobile is proven.
    session["registration"] = {"national_id": nid, "at": time.time(), "flow": new_flow_id(),
                               "proven": False}
    error = _send_code(db, person)
    return _mobile_page(MobileCodeForm(), person, error=error)


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


def _registration_person(proven: bool = True):
    """The registry person this browser is registering, while the wizard is fresh; with
    `proven`, only once the code sent to the registry's mobile was entered."""
    pending = session.get("registration")
    minutes = services().settings.registration_step_minutes
    if not pending or time.time() - pending["at"] > minutes * 60 or pending.get("proven", False) != proven:
        return None
    return DatabaseRegistry(db_session()).find(pending["national_id"])


def _mobile_proof() -> MobileProof:
    return MobileProof(services().store, services().settings)


def _send_code(db, person) -> str | None:
    """Text a new code to the registry's mobile; the error to show, if any."""
    settings = services().settings
    try:
        sent = _mobile_proof().send(session["registration"]["flow"], person.national_id, person.mobile,
                                    sms.sender_from_settings(settings),
                                    lambda code: sms_text(code, settings.sms_code_minutes))
    except Throttled as e:
        return throttled_message(e)
    audit.mobile_code_sent(db, actor())
    db.commit()
    return None if sent else _("We could not send the code just now. Ask for a new one in a minute.")


def _mobile_page(form, person, status=200, error=None):
    return render_template("register/mobile.html", form=form, error=error,
                           mobile=sms.mask_mobile(person.mobile),
                           minutes=services().settings.sms_code_minutes), status


@bp.route("/mobile", methods=["GET", "POST"])
def mobile():
    """Step 2: the code sent by SMS to the mobile number the civil registry holds for the person."""
    person = _registration_person(proven=False)
    if person is None:
        return redirect(url_for("registration.credentials" if _registration_person() else
                                "registration.identity_check"))
    form = MobileCodeForm()
    if not form.validate_on_submit():
        return _mobile_page(form, person, 400 if form.errors else 200)
    pending = session["registration"]
    check = _mobile_proof().check(pending["flow"], form.code.data)
    if not check.ok or check.national_id != person.national_id:
        form.code.errors.append(_("This code no longer works. Ask for a new one.") if check.spent
                                else _("That code is not correct. Check the SMS and try again."))
        return _mobile_page(form, person, 400)
    db = db_session()
    audit.mobile_proven(db, actor())
    db.commit()
    session["registration"] = {**pending, "proven": True, "at": time.time()}
    return redirect(url_for("registration.credentials"))


@bp.post("/mobile/resend")
def resend_code():
    """A new code, for a person still at the SMS step; limited per person (mobile_proof)."""
    person, form = _registration_person(proven=False), ConfirmForm()
    if person is None or not form.validate_on_submit():
        return redirect(url_for("registration.identity_check"))
    error = _send_code(db_session(), person)
    return _mobile_page(MobileCodeForm(), person, 429 if error else 200, error)


@bp.route("/account", methods=["GET", "POST"])
def credentials():
    """Step 3: username, password, email and mobile for the person who proved the registry's
    mobile. If someone else registered an identity for them, these take it back."""
    person = _registration_person()
    if person is None:
        return redirect(url_for("registration.mobile" if _registration_person(proven=False)
                                else "registration.identity_check"))
    db, form = db_session(), CredentialsForm()
    existing = _existing_identity(db, person)
    if not form.validate_on_submit():
        return render_template("register/credentials.html", form=form, person=person, existing=existing), \
            400 if form.errors else 200
    try:
        if existing is not None:
            # The previous holder's sessions and tokens end in the same transaction as the reclaim.
            sign_out_everywhere(db, session_store(), existing)
            identity, old_email = existing, proofing.reclaim(
                db, existing, person, form.username.data, form.password.data, form.email.data, form.mobile.data)
        else:
            identity, old_email = accounts.create(db, person, form.username.data, form.password.data,
                                                  form.email.data, form.mobile.data), None
    except accounts.FieldErrors as e:
        db.rollback()  # nothing of a refused attempt stays (nor holds a write lock while the page renders)
        for field, message in e.errors.items():
            getattr(form, field).errors.append(translate(message))
        return render_template("register/credentials.html", form=form, person=person, existing=existing), 400
    except Conflict as e:
        db.rollback()
        session.pop("registration", None)
        return render_template("message.html", title=_("Already registered"),
                               message=translate(e.message), link=url_for("auth.login"),
                               link_text=_("Sign in")), 409
    if old_email is None:
        audit.registered(db, actor(), identity.id)
    else:
        audit.identity_reclaimed(db, actor(), identity.id)
    # The link, and the mail carrying it, commit with the registration: all of it or nothing.
    send_email_link(identity.email, issue_email_token(identity))
    db.commit()
    if old_email is not None:
        _after_reclaim(identity, old_email)
    session.pop("registration", None)
    session["resend_for"] = identity.uuid
    # The last step: a second factor, before "confirm your email". (Imported here: enrolment uses
    # the passkey views, which use recovery, which uses this module.)
    from idp.web import enrolment
    enrolment.start(identity, url_for("registration.done"), registration=True)
    return redirect(url_for("enrolment.choose"))


@bp.get("/done")
def done():
    """After the second factor: the link to confirm the email is on its way."""
    identity_uuid = session.get("resend_for")
    identity = accounts.get_by_uuid(db_session(), identity_uuid) if identity_uuid else None
    if identity is None or identity.email_verified:
        return redirect(url_for("auth.login"))
    if not (identity.has_totp or passkeys.has_any(db_session(), identity)):
        return redirect(url_for("enrolment.choose"))  # registration is not finished without one
    return render_template("register/sent.html", email=emails.mask_email(identity.email))


def _existing_identity(db, person):
    """Who holds this person's identity now; an unconfirmed registration past its time is discarded."""
    if proofing.discard_expired_pending(db, person.national_id, services().settings.email_verification_hours):
        audit.pending_expired(db, actor())
        db.commit()
    return proofing.existing_identity(db, person.national_id)


def _after_reclaim(identity, old_email: str) -> None:
    """The old holder's locks go (its sessions and tokens ended with the reclaim); it is told."""
    login_throttle().unlock(account_for(identity.id, ""))
    db_session().commit()
    services().mailer.send(old_email, *emails.identity_reclaimed())


def issue_email_token(identity, email=None) -> str:
    hours = services().settings.email_verification_hours
    # The password's timestamp rides along: a link issued before a password change or reset
    # (perhaps by an intruder changing the email) stops working with it.
    return tokens.issue(db_session(), EMAIL_PURPOSE,
                        {"identity_uuid": identity.uuid, "email": email or identity.email,
                         "password_stamp": password_stamp(identity)}, hours * 3600)


def password_stamp(identity) -> int:
    """When the password last changed, in milliseconds (SQLite returns naive UTC datetimes)."""
    changed = identity.password_changed_at
    return int(changed.replace(tzinfo=changed.tzinfo or dt.UTC).timestamp() * 1000)


def send_email_link(address: str, token: str) -> None:
    link = absolute_url("registration.verify_email", token=token)  # never from the Host header
    # In the request's transaction (the caller commits): the link's row and its mail go together,
    # and on SQLite a second writer beside an open transaction would wait for it in vain.
    services().mailer.send(address, *emails.verify_email(link, services().settings.email_verification_hours),
                           session=db_session())


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
    db_session().commit()
    return render_template("register/sent.html", email=emails.mask_email(identity.email))


@bp.route("/verify/<token>", methods=["GET", "POST"])
def verify_email(token: str):
    """The link in the mail. GET only asks to confirm: mail scanners open links on their own."""
    db, form = db_session(), ConfirmForm()
    if tokens.peek(db, EMAIL_PURPOSE, token) is None:
        return _link_dead()
    if not form.validate_on_submit():
        return render_template("confirm.html", form=form, title=_("Confirm your email address"),
                               button=_("Confirm"))
    payload = tokens.redeem(db, EMAIL_PURPOSE, token)
    identity = accounts.get_by_uuid(db, payload.get("identity_uuid", "")) if payload else None
    if payload is None or identity is None or payload.get("password_stamp") != password_stamp(identity):
        return _link_dead()
    old_email = identity.email if identity.email_verified and identity.email != payload["email"] else None
    accounts.activate_email(identity, payload["email"])
    audit.email_verified(db, actor(), identity.id)
    if old_email is not None:  # a change of address, now done: the old address is told (it was asked first)
        services().mailer.send(old_email, *emails.email_changed(emails.mask_email(identity.email)), session=db)
    db.commit()
    return render_template("message.html", title=_("Email confirmed"),
                           message=_("Your email address is confirmed. Your digital identity is ready."),
                           link=url_for("auth.login"), link_text=_("Sign in"))


def _link_dead():
    return render_template("message.html", title=_("This link no longer works"),
                           message=_("The link was already used or has expired. Sign in to ask for a new one."),
                           link=url_for("auth.login"), link_text=_("Sign in")), 410
