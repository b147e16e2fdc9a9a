"""The first-time release notice for SAML service providers (issue 12): before an SP first receives
a citizen's attributes, the citizen sees what it will receive and allows or declines. A release is
remembered like OIDC consent (idp.oidc.consent, the `consents` table, its "scopes" holding the SAML
attribute names) until the SP may receive more, and is withdrawn from the account page.

Declined: the SP gets a signed Response with the status Responder / RequestDenied (SAML Core
§3.2.2.2). A passive request (IsPassive) cannot show the notice: NoPassive."""
from __future__ import annotations

from flask import Blueprint, render_template, request, url_for
from flask_babel import lazy_gettext as _l

from idp import audit
from idp.attributes import saml_release_names
from idp.oidc import consent
from idp.saml import sso
from idp.web.context import actor, current_identity, db_session
from idp.web.forms import ConfirmForm

bp = Blueprint("saml_release", __name__, url_prefix="/saml")

LABELS = {
    "nationalId": _l("National ID"), "idType": _l("ID type (citizen or resident)"),
    "nationality": _l("Nationality"), "nameAr": _l("Name in Arabic"), "nameEn": _l("Name in English"),
    "givenName": _l("First name in English"), "surname": _l("Family name in English"),
    "birthDate": _l("Date of birth (Gregorian)"), "birthDateHijri": _l("Date of birth (Hijri)"),
    "gender": _l("Gender"), "email": _l("Email address"), "mobile": _l("Mobile number"),
}


def notice(pending_id: str, sp, identity, request_) -> object | None:
    """The page to show (or the SP's answer) when `sp` has no release covering what it would
    receive; None when it has one."""
    names = saml_release_names(sp.allow_national_id)
    if consent.covers(db_session(), identity.id, sp.id, names):
        return None
    if request_.is_passive:
        from idp.web import saml
        return saml._answer_error(pending_id, request_, sso.NO_PASSIVE, "the release notice was not seen yet")
    # The language switch comes back through the pending request: the SAML request's own URL works once.
    return render_template("saml/release.html", sp=sp, pending_id=pending_id, form=ConfirmForm(),
                           labels=[str(LABELS.get(name, name)) for name in names],
                           lang_next=url_for("saml.resume", pending_id=pending_id))


@bp.post("/sso/release/<pending_id>")
def decide(pending_id):
    """Allow (remembered) or decline the release, then answer the SP as `saml.resume` does."""
    from idp.web import saml  # saml shows this module's notice

    if not ConfirmForm().validate_on_submit():
        return saml._refuse("release without a valid form")
    loaded = saml.load(pending_id)
    if not isinstance(loaded, saml.Pending):
        return loaded
    sp, request_ = loaded.sp, loaded.request
    identity = current_identity()
    if identity is None:  # signed out meanwhile: sign in again, then see the notice again
        return saml._resume(pending_id)
    db = db_session()
    if request.form.get("decision") != "allow":
        audit.record(db, "saml.release_denied", actor(), identity.id, entity_id=sp.entity_id)
        db.commit()
        return saml._answer_error(pending_id, request_, sso.DENIED, "the user declined")
    consent.grant(db, identity.id, sp.id, saml_release_names(sp.allow_national_id))
    audit.record(db, "saml.release_given", actor(), identity.id, entity_id=sp.entity_id)
    db.commit()
    return saml._resume(pending_id)  # the same sign-in and assurance checks, then the answer
