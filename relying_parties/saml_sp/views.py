"""The portal's pages: home, and what the IdP released about the signed-in citizen."""
from __future__ import annotations

from flask import Blueprint, render_template

from relying_parties.saml_sp import attributes as labels
from relying_parties.saml_sp import auth

bp = Blueprint("views", __name__)


@bp.get("/")
def home():
    """The front door; also where the citizen lands after signing out."""
    return render_template("home.html")


@bp.get("/attributes")
@auth.sign_in_required
def attributes(sign_in):
    """The released attributes with friendly names, the NameID and its format, the authentication context."""
    contexts = [(ref, labels.context_label(ref)) for ref in sign_in["authn_contexts"]]
    return render_template("attributes.html", sign_in=sign_in, rows=labels.rows(sign_in["attributes"]),
                           contexts=contexts)
