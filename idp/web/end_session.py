"""RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): the end_session_endpoint."""
from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from idp import audit
from idp.oidc import token_families
from idp.oidc.authorization import ErrorPage
from idp.web.context import actor, current_identity, db_session, services
from idp.web.forms import ConfirmForm
from idp.web.oidc import _error_page, _single_valued, provider

bp = Blueprint("end_session", __name__)


@bp.route("/oidc/logout", methods=["GET", "POST"])
def end_session():
    """Sign out at the relying party's request, then back to its registered post-logout URI.

    Without a valid id_token_hint for the person signed in here, the person is asked first,
    so that no third party can sign citizens out."""
    try:
        params = _single_valued(request.form if request.method == "POST" else request.args)
    except ErrorPage as e:
        return _error_page(str(e))
    hint = _verified_hint(params.get("id_token_hint"))
    if params.get("id_token_hint") and hint is None:
        return _error_page("id_token_hint not issued by us")
    client_id = params.get("client_id") or (hint or {}).get("aud")
    if hint and params.get("client_id") and params["client_id"] != hint.get("aud"):
        return _error_page("client_id does not match the id_token_hint")
    target = params.get("post_logout_redirect_uri")
    if target and (client_id not in provider().clients
                   or target not in provider().clients[client_id].get("post_logout_redirect_uris", [])):
        return _error_page("post_logout_redirect_uri not registered")
    session["oidc_logout"] = {"target": target, "state": params.get("state"), "client_id": client_id,
                              "sub": (hint or {}).get("sub")}
    identity = current_identity()
    if identity is not None and not _hint_is_for(hint, identity):
        rp_name = provider().clients[client_id]["name"] if client_id in provider().clients else None
        return render_template("oidc/logout_confirm.html", form=ConfirmForm(), rp_name=rp_name)
    return _finish_logout()


@bp.post("/oidc/logout/confirm")
def confirm_logout():
    if not ConfirmForm().validate_on_submit() or "oidc_logout" not in session:
        return _error_page("logout confirmation without a request")
    return _finish_logout()


def _verified_hint(token: str | None) -> dict | None:
    if not token or len(token) > 8192:
        return None
    try:
        claims = provider().keyring.verify(token)
    except Exception:  # any failure means "not ours"; the detail is not the caller's business
        return None
    if claims.get("iss") != services().settings.issuer:
        return None
    aud = claims.get("aud")
    claims["aud"] = aud[0] if isinstance(aud, list) and aud else aud
    return claims


def _hint_is_for(hint: dict | None, identity) -> bool:
    if not hint:
        return False
    return isinstance(hint.get("sub"), str) and isinstance(hint.get("aud"), str) and \
        provider().subject_of(hint["sub"], hint["aud"], identity.uuid)


def _finish_logout():
    request_ = session.get("oidc_logout") or {}
    identity = current_identity()
    if identity is not None:
        db = db_session()
        audit.record(db, "oidc.logout", actor(), identity.id, client_id=request_.get("client_id"))
        db.commit()
    if request_.get("sub") and request_.get("client_id"):
        db = db_session()
        token_families.revoke_subject_tokens(db, request_["client_id"], request_["sub"])
        db.commit()
    session.end()
    target = request_.get("target")
    if target:
        query = urlencode({"state": request_["state"]}) if request_.get("state") else ""
        return redirect(target + (("&" if "?" in target else "?") + query if query else ""), 303)
    return render_template("message.html", title=_("Signed out"), message=_("You have signed out."),
                           link=url_for("auth.login"), link_text=_("Sign in again"))
