"""The account page's approval-app section (issue 14): after re-authentication, a QR code carrying
a single-use, 5-minute enrolment link for the phone; the enrolled phones, each removable."""
from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for
from flask_babel import gettext as _

from idp import audit
from idp.approval import devices
from idp.identity import credentials, totp
from idp.outcomes import WHOLE
from idp.web.context import actor, db_session, recent_auth_required, signed_in_identity
from idp.web.forms import ConfirmForm
from idp.web.i18n import translate
from idp.web.passkeys import relying_party
from idp.web.urls import absolute_url

bp = Blueprint("app_account", __name__)


def _page(status: int = 200, **extra):
    identity = signed_in_identity()
    return render_template("account/app.html", devices=devices.list_for(db_session(), identity), form=ConfirmForm(),
                           offered=relying_party() is not None, minutes=devices.ENROLMENT_SECONDS // 60,
                           **extra), status


@bp.get("/account/app")
@recent_auth_required
def manage():
    return _page()


@bp.post("/account/app/link")
@recent_auth_required
def enrolment_link():
    """A new enrolment link, shown once as a QR code (and as text, for a phone without a camera)."""
    if not ConfirmForm().validate_on_submit() or relying_party() is None:
        return _page(400, error=_("The enrolment link could not be made. Try again."))
    identity, db = signed_in_identity(), db_session()
    result = credentials.phone_link(db, identity)
    audit.record_outcome(db, actor(), result)
    db.commit()
    link = absolute_url("app.enrol_page", link=result.value)
    return _page(link=link, qr=totp.qr_svg(link))


@bp.post("/account/app/<int:device_id>/remove")
@recent_auth_required
def remove(device_id: int):
    identity, db = signed_in_identity(), db_session()
    if ConfirmForm().validate_on_submit():
        result = credentials.remove_phone(db, identity, device_id)
        if not result.success:
            return _page(400, error=translate(result.errors[WHOLE]))
        audit.record_outcome(db, actor(), result)
        db.commit()
    return redirect(url_for("app_account.manage"))
