"""Telling SAML service providers that the IdP session ended in this browser: each SP it signed in
to is sent a signed LogoutRequest in turn, front-channel (idp.saml.logout_requests), and its
LogoutResponse brings the browser back for the next one. Then the signed-out page, or the relying
party's post-logout URI when the sign-out was RP-initiated."""
from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, session, url_for
from flask_babel import gettext as _

from idp import audit
from idp.oidc import backchannel
from idp.saml import logout_requests
from idp.saml.guard import MessageRejected
from idp.web.context import actor, db_session, server_session, services

bp = Blueprint("saml_logout", __name__, url_prefix="/saml/logout")
STATE_KEY = "saml_logout"


def end_session_then(response):
    """End this browser's IdP session; if it had signed in to SAML SPs, visit their logout services
    first and show `response` (or follow its redirect) after the last one."""
    response = current_app.make_response(response)
    queue = {(sp, record["name_id"]): {"sp": sp, **record}
             for sp, record in (session.get("saml_sessions") or {}).items()}
    # and the SAML sign-ins of this identity's other sessions that this request ended (sign out of
    # all devices, a password reset): the SP ends every sign-in of the NameID it is sent
    for record in db_session().info.pop(backchannel.SAML_ENDED_KEY, []):
        queue.setdefault((record["sp"], record["name_id"]), record)
    server_session().end()
    if not queue:
        return response
    then = response.headers.get("Location") if 300 <= response.status_code < 400 else None
    # the page this request would have shown (a short message page), shown after the last SP
    page = response.get_data(as_text=True) if then is None and response.status_code == 200 else None
    session[STATE_KEY] = {"queue": list(queue.values()), "current": None, "then": then,
                          "page": page if page and len(page) < 32768 else None}
    return redirect(url_for("saml_logout.next_sp"), 303)


@bp.get("/next")
def next_sp():
    """The next SP's LogoutRequest, or the end of the round."""
    state = session.get(STATE_KEY)
    if not state:
        return _signed_out()
    servers, db = current_servers(), db_session()
    while state["queue"]:
        record = state["queue"].pop(0)
        try:
            sent = logout_requests.logout_request(servers, services().settings.issuer, record["sp"], record["name_id"],
                                                  record.get("format") or logout_requests.NAMEID_FORMAT_PERSISTENT)
        except logout_requests.Unreachable:
            audit.record(db, "saml.logout_unreachable", actor(), None, entity_id=record["sp"],
                         reason="no SingleLogoutService for HTTP-Redirect")
            db.commit()
            continue
        state["current"] = {"sp": record["sp"], "request_id": sent.request_id}
        session[STATE_KEY] = state
        audit.record(db, "saml.logout_request_sent", actor(), None, entity_id=record["sp"])
        db.commit()
        return redirect(sent.location, 303)
    session.pop(STATE_KEY, None)
    if state.get("then"):
        return redirect(state["then"], 303)
    return state["page"] if state.get("page") else _signed_out()


def answered(params: dict):
    """A LogoutResponse at our SingleLogoutService: note it, and go on to the next SP."""
    state = session.get(STATE_KEY) or {}
    current = state.get("current")
    if not current:
        return None  # not a round of ours: the caller refuses it
    reason: str | None
    try:
        ok = logout_requests.check_answer(params, current["request_id"], current["sp"])
    except MessageRejected as e:
        ok, reason = False, e.reason
    else:
        reason = None if ok else "not Success"
    db = db_session()
    audit.record(db, "saml.logout_answered", actor(), None, entity_id=current["sp"], ok=ok, reason=reason)
    db.commit()
    state["current"] = None
    session[STATE_KEY] = state
    return redirect(url_for("saml_logout.next_sp"), 303)


def current_servers():
    return current_app.extensions["idp.saml"]


def _signed_out():
    return render_template("message.html", title=_("Signed out"), message=_("You have signed out."),
                           link=url_for("auth.login"), link_text=_("Sign in again"))
