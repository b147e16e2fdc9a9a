"""The portal's pages: home, and the citizen's Masar profile (completed on first visit, then shown)."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from relying_parties.masar import auth, storage
from relying_parties.masar.forms import DISABILITY, HEALTH, ProfileForm, label

bp = Blueprint("views", __name__)


@bp.get("/")
def home():
    """The front door; also where the IdP sends the citizen back after signing out."""
    signed_out = auth.signed_out_here()
    return render_template("home.html", signed_out=signed_out)


@bp.route("/profile", methods=["GET", "POST"])
@auth.sign_in_required
def profile(sign_in):
    """The profile page; on the first visit, the form that completes it."""
    saved = storage.find_profile(sign_in["sub"])
    if saved is None or request.method == "POST":
        return _edit(sign_in, saved)
    return render_template("profile.html", claims=sign_in["claims"], profile=saved,
                           health=label(HEALTH, saved["health"]),
                           disability=label(DISABILITY, saved["disability"]))


@bp.route("/profile/edit", methods=["GET", "POST"])
@auth.sign_in_required
def edit(sign_in):
    return _edit(sign_in, storage.find_profile(sign_in["sub"]))


def _edit(sign_in, saved: dict | None):
    claims = sign_in["claims"]
    # First time: contact details from the IdP's claims, which the citizen may change for Masar.
    initial = saved or {"email": claims.get("email"), "mobile": claims.get("phone_number")}
    form = ProfileForm(data=initial)
    if form.validate_on_submit():
        storage.save_profile(sign_in["sub"], form.health.data, form.disability.data, form.email.data,
                             form.mobile.data)
        flash(_("Your details are saved."))
        return redirect(url_for("views.profile"), 303)
    status = 400 if form.is_submitted() else 200
    return render_template("profile_form.html", form=form, first=saved is None, claims=claims), status
