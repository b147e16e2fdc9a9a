"""Registration wizard: who you are (checked against the civil registry, behind a captcha) →
a code sent by SMS to the mobile the registry holds for you (proofing: only you have it) →
username, password and contact details (taking back an identity someone else registered for
you, if there is one) → a second factor (idp.web.enrolment) → a link to confirm the email → an active identity."""
from __future__ import annotations

import hashlib
import hmac
import logging
import time

from flask import Blueprint, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from sqlalchemy.exc import SQLAlchemyError

from idp import audit
from idp.errors import ValidationError
from idp.identity import accounts, email_links, emails, national_id, passkeys, proofing, sms
from idp.identity.birthdate import parse_birth_date
from idp.identity.mobile_proof import MobileProof, new_flow_id, sms_text
from idp.identity.registry import RegistryUnavailable
from idp.identity.throttle import account_for
from idp.outcomes import WHOLE
from idp.web import throttling
from idp.web.captcha import captcha_service, wants_new_challenge
from idp.web.context import actor, db_session, services, session_store
from idp.web.forms import ConfirmForm, CredentialsForm, IdentityCheckForm, MobileCodeForm, show_errors, use_link
from idp.web.i18n import translate
from idp.web.urls import absolute_url

bp = Blueprint("registration", __name__, url_prefix="/register")
log = logging.getLogger(__name__)

@bp.errorhandler(RegistryUnavailable)
def registry_unavailable(e: RegistryUnavailable):
    """The registry did not answer, or not usefully, at any step: nothing of the step is kept, the
    person is asked to come back in a few minutes, and the audit log keeps the kind of failure."""
    db = db_session()
    db.rollback()
    try:
        audit.registry_unavailable(db, actor(), e.reason)
        db.commit()
    except SQLAlchemyError:
        db.rollback()
        log.warning("registry unavailable, and its audit event not written", exc_info=True)
    return render_template("error.html", status=503, reason="registry"), 503, {"Retry-After": "60"}


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
    db = db_session()
    result = proofing.check_person(services().registry, throttling.login_throttle(), nid, birth_date,
                                   form.gender.data, request.remote_addr or "")
    audit.record_outcome(db, actor(), result)
    db.commit()
    if not result.success:
        why, throttled = result.value
        if why == proofing.THROTTLED:
            return _step1(form, throttling.STATUS, throttling.message(throttled))
        if why == proofing.MISMATCH:
            return _step1(form, 400, translate(proofing.DETAILS_DO_NOT_MATCH))
        return render_template("message.html", title=translate(proofing.NO_MOBILE_ON_RECORD), message=_(
            "The civil registry has no mobile number for you, and we send a code to that number to "
            "make sure nobody else registers in your name. Register your mobile number with the civil "
            "registry (at a civil affairs office or through its services), then come back; or visit a "
            "service centre with your ID card to register in person."),
            link=url_for("auth.home"), link_text=_("Back to the home page")), 403
    person = result.value
    # Whether an identity already exists is said only after the mobile is proven.
    session["registration"] = {"national_id": nid, "at": time.time(), "flow": new_flow_id(),
                               "proven": False, "mobile": _digest(person.mobile)}
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
    person = services().registry.find(pending["national_id"])
    # The code went to the mobile the registry listed at step 1: if it lists another now, that
    # proof is not of the registry's mobile any more, and the wizard starts again.
    if person is None or not hmac.compare_digest(_digest(person.mobile), pending.get("mobile", "")):
        return None
    return person


def _digest(mobile: str | None) -> str:
    """The registry's mobile as the session keeps it: keyed (a bare hash of 10^8 numbers is no
    secret), enough to see that it changed."""
    key = services().settings.secret_key.encode()
    return hmac.new(key, (mobile or "").encode(), hashlib.sha256).hexdigest()


def _mobile_proof() -> MobileProof:
    return MobileProof(services().store, services().settings)


def _send_code(db, person) -> str | None:
    """Text a new code to the registry's mobile; the error to show, if any."""
    settings = services().settings
    result = proofing.send_mobile_code(_mobile_proof(), session["registration"]["flow"], person,
                                       sms.sender_from_settings(settings),
                                       lambda code: sms_text(code, settings.sms_code_minutes))
    if not result.success:
        return throttling.message(result.value)
    audit.record_outcome(db, actor(), result)
    db.commit()
    return None if result.value else _("We could not send the code just now. Ask for a new one in a minute.")


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
    result = proofing.prove_mobile(_mobile_proof(), pending["flow"], form.code.data, person)
    show_errors(form, result)
    if not result.success:
        return _mobile_page(form, person, 400)
    db = db_session()
    audit.record_outcome(db, actor(), result)
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
    result = proofing.register(db, session_store(), person, existing, form.username.data, form.password.data,
                               form.email.data, form.mobile.data, proven_mobile=person.mobile)
    if not result.success:
        db.rollback()  # nothing of a refused attempt stays (nor holds a write lock while the page renders)
        if WHOLE in result.errors:
            session.pop("registration", None)
            return render_template("message.html", title=_("Already registered"),
                                   message=translate(result.errors[WHOLE]), link=url_for("auth.login"),
                                   link_text=_("Sign in")), 409
        show_errors(form, result)
        return render_template("register/credentials.html", form=form, person=person, existing=existing), 400
    audit.record_outcome(db, actor(), result)
    identity, old_email = result.value
    # The link, and the mail carrying it, commit with the registration: all of it or nothing.
    send_email_link(identity)
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
    expired = proofing.expire_pending(db, person.national_id, services().settings.email_verification_hours)
    if expired.event:
        audit.record_outcome(db, actor(), expired)
        db.commit()
    return proofing.existing_identity(db, person.national_id)


def _after_reclaim(identity, old_email: str) -> None:
    """The old holder's locks go (its sessions and tokens ended with the reclaim); it is told."""
    throttling.login_throttle().unlock(account_for(identity.id, ""))
    db_session().commit()
    services().mailer.send(old_email, *emails.identity_reclaimed())


def send_email_link(identity, email: str | None = None) -> None:
    """A confirmation link for `email` (the identity's own by default), in the request's transaction
    (the caller commits): the link's row and its mail go together, and on SQLite a second writer
    beside an open transaction would wait for it in vain."""
    email_links.send(db_session(), services().mailer, identity, services().settings.email_verification_hours,
                     lambda token: absolute_url("registration.verify_email", token=token), email)


@bp.post("/resend")
def resend():
    """Send the confirmation link again, to the identity this browser just registered or signed in as."""
    form = ConfirmForm()
    identity_uuid = session.get("resend_for")
    identity = accounts.get_by_uuid(db_session(), identity_uuid) if identity_uuid and form.validate_on_submit() \
        else None
    if identity is None or identity.email_verified:
        return redirect(url_for("auth.login"))
    send_email_link(identity)
    db_session().commit()
    return render_template("register/sent.html", email=emails.mask_email(identity.email))


@bp.route("/verify/<token>", methods=["GET", "POST"])
def verify_email(token: str):
    """The link in the mail. GET only asks to confirm: mail scanners open links on their own."""
    db = db_session()
    confirmed, answer = use_link(email_links.is_live(db, token), lambda: email_links.confirm(db, token),
                                 _("Confirm your email address"), _("Confirm"), _link_dead)
    if answer is not None:
        return answer
    identity, old_email = confirmed.value
    audit.record_outcome(db, actor(), confirmed)
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
