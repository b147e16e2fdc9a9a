"""RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): the end_session_endpoint."""
from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from idp import audit
from idp.oidc import backchannel, token_families
from idp.web import errors, saml_logout
from idp.web.context import actor, current_identity, db_session
from idp.web.forms import ConfirmForm
from idp.web.errors import oidc_error_page
from idp.web.oidc import provider, single_valued, subject_for, verified_id_token

bp = errors.for_oauth(Blueprint("end_session", __name__))


@bp.route("/oidc/logout", methods=["GET", "POST"])
def end_session():
    """Sign out at the relying party's request, then back to its registered post-logout URI
    (OpenID Connect RP-Initiated Logout 1.0 §2, §3).

    A hint identifies, it does not authorise (§2): anyone who once saw an ID token holds one.
    Only this browser's own IdP session (its cookie) is ended, and without asking only when the
    hint names the citizen signed in to it; a client's tokens are revoked only when the session
    ending is one that signed in to that client. A request without a session ends nothing."""
    params = single_valued(request.form if request.method == "POST" else request.args)
    hint_token = params.get("id_token_hint")
    hint = verified_id_token(hint_token) if hint_token else None
    if hint_token and hint is None:
        return oidc_error_page("id_token_hint not issued by us")
    client_id = params.get("client_id") or _audience(hint)
    if hint and params.get("client_id") and params["client_id"] not in _audiences(hint):
        return oidc_error_page("client_id does not match the id_token_hint")
    target = params.get("post_logout_redirect_uri")
    if target and (client_id not in provider().clients
                   or target not in provider().clients[client_id].get("post_logout_redirect_uris", [])):
        return oidc_error_page("post_logout_redirect_uri not registered")
    logout = {"target": target, "state": params.get("state"), "client_id": client_id}
    identity = current_identity()
    if identity is None:  # no session here: nothing to end, nothing to revoke, nothing to store
        return _goodbye(logout)
    if _hint_is_for(hint, client_id, identity):
        return _finish_logout(logout)
    session["oidc_logout"] = logout
    rp_name = provider().clients[client_id]["name"] if client_id in provider().clients else None
    return render_template("oidc/logout_confirm.html", form=ConfirmForm(), rp_name=rp_name)


@bp.post("/oidc/logout/confirm")
def confirm_logout():
    """The signed-in citizen agreed to sign out (the request had no hint naming them)."""
    if not ConfirmForm().validate_on_submit() or "oidc_logout" not in session:
        return oidc_error_page("logout confirmation without a request")
    return _finish_logout(session["oidc_logout"])


def _audiences(hint: dict | None) -> list:
    aud = (hint or {}).get("aud")
    return [a for a in (aud if isinstance(aud, list) else [aud]) if isinstance(a, str)]


def _audience(hint: dict | None) -> str | None:
    audiences = _audiences(hint)
    return audiences[0] if audiences else None


def _hint_is_for(hint: dict | None, client_id: str | None, identity) -> bool:
    """Whether the hint's `sub` is the one `client_id` knows the signed-in identity by."""
    if not hint or client_id is None or client_id not in provider().clients or client_id not in _audiences(hint):
        return False
    return hint.get("sub") == subject_for(identity, client_id)


def _finish_logout(logout: dict):
    """End this browser's IdP session; revoke the client's tokens for the signed-in identity if
    this session signed in to that client (another device's sign-in there is not ours to end)."""
    identity = current_identity()
    client_id = logout.get("client_id")
    if identity is not None:
        known = client_id in provider().clients if client_id else False
        revoked = known and client_id in (session.get("oidc_clients") or [])
        db = db_session()
        if revoked and client_id:
            token_families.revoke_client_tokens(db, identity.uuid, client_id)
        backchannel.session_ended(db, identity, session.get(backchannel.SESSION_KEY))
        audit.record(db, "oidc.logout", actor(), identity.id, client_id=client_id if known else None,
                     tokens_revoked=revoked)
        db.commit()
    return saml_logout.end_session_then(_goodbye(logout))


def _goodbye(logout: dict):
    target = logout.get("target")
    if target:
        query = urlencode({"state": logout["state"]}) if logout.get("state") else ""
        return redirect(target + (("&" if "?" in target else "?") + query if query else ""), 303)
    return render_template("message.html", title=_("Signed out"), message=_("You have signed out."),
                           link=url_for("auth.login"), link_text=_("Sign in again"))
