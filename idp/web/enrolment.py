"""Setting up a second factor before the identity is used (NIST SP 800-63B §4.2.1, §6.1.2.1): the
last step of registration, and the step right after the password for an identity made before
registration asked for one. TOTP (RFC 6238, with recovery codes) or, where passkeys are offered,
a passkey (WebAuthn §7.1). Nobody reaches a portal with a password alone.

Who is setting up is kept in the session under `enrolment`: the identity (whose password was just
checked, or who just registered), when, where to go next, and whether it is a registration (then
the email is still to be confirmed and nobody is signed in) or a sign-in (signed in once done).
"""
from __future__ import annotations

import time

from flask import Blueprint, jsonify, make_response, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from idp import audit
from idp.identity import accounts, credentials, emails, passkeys, totp
from idp.web import auth, throttling
from idp.web.account import TOTP_ISSUER_NAME, turn_on_totp
from idp.web import passkeys as passkey_views
from idp.web.context import actor, db_session, services
from idp.web.forms import OtpForm
from idp.web.i18n import safe_next, translate
from idp.outcomes import WHOLE

bp = Blueprint("enrolment", __name__, url_prefix="/two-step/set-up")

KEY = "enrolment"
TOTP_KEY = "enrolment_totp"  # the session key of the key being set up
# Long enough to install an authenticator app; short enough that a forgotten tab is no way in.
STEP_SECONDS = 20 * 60



def start(identity, next_url: str, *, registration: bool) -> None:
    """Begin the set-up for `identity` (its password just proven, or just registered)."""
    session[KEY] = {"identity_uuid": identity.uuid, "at": time.time(), "next": next_url,
                    "registration": registration}
    session.pop(TOTP_KEY, None)


def _pending():
    """(record, identity) while a set-up is fresh, else (None, None)."""
    record = session.get(KEY)
    if not record or time.time() - record.get("at", 0) > STEP_SECONDS:
        session.pop(KEY, None)
        return None, None
    identity = accounts.get_by_uuid(db_session(), record["identity_uuid"])
    if identity is None or identity.status == "locked":
        session.pop(KEY, None)
        return None, None
    return record, identity


def _expired():
    return redirect(url_for("auth.login"))


@bp.get("")
def choose():
    """Why a second factor, and the choice: an authenticator app, or a passkey."""
    record, identity = _pending()
    if record is None:
        return _expired()
    if identity.has_totp or passkeys.has_any(db_session(), identity):
        return _already_set_up(record)
    return render_template("enrolment/choose.html", registration=record["registration"],
                           offered=passkey_views.passkeys_offered())


@bp.route("/app", methods=["GET", "POST"])
def authenticator_app():
    """TOTP: the QR code (and otpauth:// link, and the key in groups of four), then a code."""
    record, identity = _pending()
    if record is None:
        return _expired()
    if identity.has_totp:
        return _already_set_up(record)
    secret = session.get(TOTP_KEY) or totp.new_secret()
    session[TOTP_KEY] = secret
    form = OtpForm()
    if form.validate_on_submit() and (codes := turn_on_totp(identity, secret, form, TOTP_KEY)):
        return _finish(record, identity, codes)
    uri = totp.provisioning_uri(secret, identity.username, TOTP_ISSUER_NAME)
    return render_template("account/two_step_enrol.html", form=form, secret=secret, otpauth_uri=uri,
                           qr_svg=totp.qr_svg(uri), registration=record["registration"], setting_up=True), \
        400 if form.errors else 200


@bp.post("/passkey/options")
def passkey_options():
    record, identity = _pending()
    if record is None:
        return passkey_views._error(_("This page has expired. Sign in again."), 410)
    db = db_session()
    response = passkey_views._options(passkey_views.REGISTER, lambda rp: passkeys.registration_options(
        db, rp, identity, time.time()))
    db.commit()  # the user handle, made on first use
    return response


@bp.post("/passkey")
def passkey():
    """Keep the passkey just made (WebAuthn §7.1); then carry on as after a TOTP set-up."""
    record, identity = _pending()
    if record is None:
        return passkey_views._error(_("This page has expired. Sign in again."), 410)
    rp, state = passkey_views.relying_party(), session.pop(passkey_views.REGISTER, None)
    credential = passkey_views._credential()
    if rp is None or credential is None:
        return passkey_views._error(_("That passkey could not be used. Try again."), 400)
    db = db_session()
    name = str((request.get_json(silent=True) or {}).get("name") or "").strip() or _("Passkey")
    result = credentials.add_passkey(db, rp, identity, credential, state, name, time.time())
    audit.record_outcome(db, actor(), result)
    db.commit()
    if not result.success:
        return passkey_views._error(translate(result.errors[WHOLE]), 400)
    services().mailer.send(identity.email, *emails.passkey_changed(added=True))
    response = _finish(record, identity, None, amr=passkeys.amr_for(result.value))
    return jsonify(redirect=response.location)


def _already_set_up(record: dict):
    """Set up meanwhile (another tab): a registration is done; a sign-in asks for the factor."""
    session.pop(KEY, None)
    if record["registration"]:
        return redirect(url_for("registration.done"))
    return redirect(url_for("auth.login", next=record.get("next")))


def _finish(record: dict, identity, codes: list[str] | None, amr: list[str] | None = None):
    """Registration: on to "confirm your email". Sign-in: signed in now (the password, and the
    factor just proven by a code from it or by the new passkey's user verification)."""
    session.pop(KEY, None)
    if record["registration"]:
        next_url = url_for("registration.done")
        return render_template("account/recovery_codes.html", codes=codes, next=next_url) if codes \
            else redirect(next_url)
    db = db_session()
    next_url = safe_next(record.get("next"))
    page = make_response() if codes else None
    method = ["otp"] if codes else (amr or [])
    response = auth.complete_sign_in(db, identity, ["pwd", *method], next_url,
                                     throttling.known_device(db, identity.id), response=page)
    if codes:  # shown once, on the page that completes the sign-in (rendered signed in)
        response.set_data(render_template("account/recovery_codes.html", codes=codes, next=next_url))
    return response
