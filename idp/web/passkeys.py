"""Passkey pages and their JSON endpoints (the rules are in idp.identity.passkeys).

The browser side is idp/static/passkeys.js: it fetches options, calls navigator.credentials and
posts the result back with the CSRF token in `X-CSRFToken`. Each challenge lives in the server-side
session and is removed on its first use, whatever the outcome (WebAuthn §13.4.3).
"""
from __future__ import annotations

import time

from flask import Blueprint, jsonify, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from idp import audit
from idp.authn import sign_in as sign_in_steps
from idp.identity import accounts, credentials, emails, passkeys
from idp.outcomes import WHOLE
from idp.web import auth, throttling
from idp.web.context import actor, db_session, recent_auth_required, services, signed_in_identity
from idp.web.forms import ConfirmForm
from idp.web.i18n import safe_next, translate
from idp.web.recovery import recovery_grant

bp = Blueprint("passkeys", __name__)

RP_NAME = "National SSO"  # what the authenticator shows next to the passkey; fixed, like TOTP's issuer
SIGN_IN, REGISTER, RECOVER = "passkey_sign_in", "passkey_register", "passkey_recover"


def relying_party() -> passkeys.RelyingParty | None:
    return passkeys.relying_party(services().settings.issuer, RP_NAME)


@bp.app_template_global()
def passkeys_offered() -> bool:
    """Whether pages show passkey buttons (not for an issuer on an IP address: no RP ID there)."""
    return relying_party() is not None


def _options(kind: str, made):
    rp = relying_party()
    if rp is None:
        return _error(_("Passkeys are not available here."), 404)
    options, state = made(rp)
    session[kind] = state
    return options, 200, {"Content-Type": "application/json", "Cache-Control": "no-store"}


def _error(message: str, status: int):
    return jsonify(error=message), status


def _credential() -> dict | None:
    body = request.get_json(silent=True)
    return body["credential"] if isinstance(body, dict) and isinstance(body.get("credential"), dict) else None


# --- sign-in: the login page's button, autofill, and the step after a password -----------------

@bp.get("/login/passkey")
def sign_in_page():
    """The page a relying party's LoA 3 request (or a passkey-only identity's password) leads to."""
    return render_template("passkey_sign_in.html", next=safe_next(request.args.get("next")),
                           expected=bool(session.get("passkey_expected")))


@bp.post("/login/passkey/options")
def sign_in_options():
    """PublicKeyCredentialRequestOptions (WebAuthn §5.5) for a discoverable sign-in."""
    return _options(SIGN_IN, lambda rp: passkeys.authentication_options(rp, time.time()))


@bp.post("/login/passkey")
def sign_in():
    """Verify the assertion (WebAuthn §7.2) and sign in: the passkey alone is multi-factor."""
    rp, state, credential = relying_party(), session.pop(SIGN_IN, None), _credential()
    if rp is None or credential is None:
        return _error(_("That passkey could not be used. Try again."), 400)
    db = db_session()
    expected = session.get("passkey_expected")
    if expected and time.time() - expected.get("at", 0) > auth.MFA_STEP_SECONDS:
        session.pop("passkey_expected", None)
        expected = None
    expected_identity = accounts.get_by_uuid(db, expected["identity_uuid"]) if expected else None
    result = sign_in_steps.passkey(db, throttling.login_throttle(), rp, credential, state, time.time(),
                                   expected_identity, throttling.attempt())
    audit.record_outcome(db, actor(), result)
    if not result.success:
        db.commit()
        return _sign_in_refused(result)
    next_url = safe_next(request.args.get("next") or (expected or {}).get("next"))
    return auth.complete_sign_in(db, result.value.identity, result.value.amr, next_url, result.value.device,
                                 response=jsonify(redirect=safe_next(next_url)))


def _sign_in_refused(result):
    verdict = result.value
    if verdict.throttled is not None:
        return _error(throttling.message(verdict.throttled), throttling.STATUS)
    status = {sign_in_steps.LOCKED: 403, sign_in_steps.PENDING: 403}.get(verdict.refusal, 401)
    return _error(translate(result.errors[WHOLE]), status)


# --- the account's passkeys ------------------------------------------------------------------

@bp.get("/account/passkeys")
@recent_auth_required
def manage():
    identity = signed_in_identity()
    return render_template("account/passkeys.html", passkeys=passkeys.list_for(db_session(), identity),
                           form=ConfirmForm(), offered=passkeys_offered())


@bp.post("/account/passkeys/options")
@recent_auth_required
def register_options():
    identity, db = signed_in_identity(), db_session()
    response = _options(REGISTER, lambda rp: passkeys.registration_options(db, rp, identity, time.time()))
    db.commit()  # the user handle, made on first use
    return response


@bp.post("/account/passkeys")
@recent_auth_required
def register():
    """Keep a new passkey (WebAuthn §7.1) the citizen just made, under the name they gave."""
    identity, db = signed_in_identity(), db_session()
    rp, state, credential = relying_party(), session.pop(REGISTER, None), _credential()
    if rp is None or credential is None:
        return _error(_("That passkey could not be used. Try again."), 400)
    name = str(request.get_json().get("name") or "").strip() or _("Passkey")
    result = credentials.add_passkey(db, rp, identity, credential, state, name, time.time())
    audit.record_outcome(db, actor(), result)
    db.commit()
    if not result.success:
        return _error(translate(result.errors[WHOLE]), 400)
    services().mailer.send(identity.email, *emails.passkey_changed(added=True))
    return jsonify(redirect=safe_next(request.args.get("next") or url_for("passkeys.manage")))


@bp.post("/account/passkeys/<int:passkey_id>/rename")
@recent_auth_required
def rename(passkey_id: int):
    return _change(lambda db, identity: credentials.rename_passkey(db, identity, passkey_id,
                                                                   request.form.get("name", "")))


@bp.post("/account/passkeys/<int:passkey_id>/remove")
@recent_auth_required
def remove(passkey_id: int):
    return _change(lambda db, identity: credentials.remove_passkey(db, identity, passkey_id),
                   emails.passkey_changed(added=False))


def _change(change, mail: tuple[str, str] | None = None):
    """A change to one of the signed-in identity's passkeys: made, audited and committed together;
    its owner mailed after the commit when `mail` is given; back to the list."""
    identity, db = signed_in_identity(), db_session()
    if ConfirmForm().validate_on_submit():
        result = change(db, identity)
        if not result.success:
            return _manage_error(identity, translate(result.errors[WHOLE]))
        audit.record_outcome(db, actor(), result)
        db.commit()
        if mail is not None:
            services().mailer.send(identity.email, *mail)
    return redirect(url_for("passkeys.manage"))


def _manage_error(identity, message: str):
    return render_template("account/passkeys.html", passkeys=passkeys.list_for(db_session(), identity),
                           form=ConfirmForm(), offered=passkeys_offered(), error=message), 400


# --- password recovery: a passkey-only identity proves its passkey --------------------------

@bp.post("/recover/passkey/options")
def recover_options():
    grant, identity = recovery_grant()
    if identity is None:
        return _error(_("The link was already used or has expired. You can ask for a new one."), 410)
    return _options(RECOVER, lambda rp: passkeys.authentication_options(rp, time.time()))


@bp.post("/recover/passkey")
def recover():
    """Recovery never bypasses the second factor: the passkey must be the identity's own."""
    grant, identity = recovery_grant()
    rp, state, credential = relying_party(), session.pop(RECOVER, None), _credential()
    if identity is None:
        return _error(_("The link was already used or has expired. You can ask for a new one."), 410)
    if rp is None or credential is None:
        return _error(_("That passkey could not be used. Try again."), 400)
    db = db_session()
    try:
        passkeys.authenticate(db, rp, credential, state, time.time(), expected_identity_id=identity.id)
    except passkeys.PasskeyRefused as e:
        result = sign_in_steps.passkey_refused(e, "recovery_passkey")
        audit.record_outcome(db, actor(), result)
        db.commit()
        return _sign_in_refused(result)
    db.commit()
    session["recovery"] = {**grant, "mfa_done": True}
    return jsonify(redirect=url_for("recovery.new_password"))
