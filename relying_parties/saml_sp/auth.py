"""Signing citizens in and out through the national IdP with SAML 2.0, over HTTP only.

Web Browser SSO (SAML Profiles §4.1): a signed AuthnRequest over HTTP-Redirect (Bindings §3.4),
the IdP's Response over HTTP-POST (Bindings §3.5) to the ACS, validated strictly by python3-saml
against the request we sent. Single Logout (Profiles §4.4): a signed LogoutRequest over
HTTP-Redirect to the IdP, its LogoutResponse back at the SLS.
"""
from __future__ import annotations

import functools
import logging
import time
from urllib.parse import urlencode, urlsplit

from flask import (Blueprint, after_this_request, current_app, flash, g, redirect, render_template, request,
                   session, url_for)
from flask_babel import gettext as _
from itsdangerous import BadSignature, URLSafeTimedSerializer

from relying_parties.saml_sp import i18n, keys, storage
from relying_parties.saml_sp.idp_metadata import IdPMetadata, IdPUnavailable
from relying_parties.saml_sp.saml import ServiceProvider

log = logging.getLogger(__name__)
bp = Blueprint("auth", __name__)

SESSION_KEY = "sign_in"
LOGOUT_KEY = "logout_request_id"
REQUEST_COOKIE = "saml_sp_request"
REQUEST_SECONDS = 15 * 60  # as long as the IdP keeps a request waiting for the citizen to sign in


def init_app(app) -> None:
    base_url = app.config["SAMLSP_BASE_URL"]
    key_pem, certificate = keys.key_and_certificate(app.config["SAMLSP_INSTANCE_PATH"], urlsplit(base_url).hostname)
    sp = ServiceProvider(base_url, key_pem, certificate, IdPMetadata(app.config["SAMLSP_IDP_METADATA_URL"]))
    app.extensions["saml_sp"] = sp
    app.extensions["saml_sp.metadata"] = sp.metadata()  # checked against the schema at start-up
    app.register_blueprint(bp)

    @app.context_processor
    def signed_in_context():
        return {"signed_in": current_sign_in() is not None}


def sp() -> ServiceProvider:
    return current_app.extensions["saml_sp"]


def current_sign_in() -> dict | None:
    if "saml_sp_sign_in" not in g:
        g.saml_sp_sign_in = storage.find_sign_in(session.get(SESSION_KEY))
    return g.saml_sp_sign_in


def sign_in_required(view):
    """Only for a signed-in citizen (else home); the view receives the sign-in as its first argument."""
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        found = current_sign_in()
        if found is None:
            return redirect(url_for("views.home"))
        return view(found, *args, **kwargs)
    return wrapper


def failed(status: int = 400, reason: str = "sign_in"):
    return render_template("error.html", reason="unavailable" if status == 503 else reason), status


# --- the AuthnRequest in flight --------------------------------------------------------------------
# Its ID rides in its own signed cookie, not in the session: the IdP's POST to the ACS is a
# cross-site request when the IdP is on another site, and a SameSite=Lax session cookie would not
# come with it. This cookie is SameSite=None under https (which requires Secure), and lives minutes.

def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="saml-sp-authn-request")


def _request_cookie_name() -> str:
    return ("__Host-" if current_app.config["SESSION_COOKIE_SECURE"] else "") + REQUEST_COOKIE


def _remember_request(response, request_id: str):
    secure = current_app.config["SESSION_COOKIE_SECURE"]
    response.set_cookie(_request_cookie_name(), _serializer().dumps(request_id), max_age=REQUEST_SECONDS,
                        httponly=True, secure=secure, samesite="None" if secure else "Lax", path="/")
    return response


def _take_pending_request() -> str | None:
    """The ID of the AuthnRequest this browser sent, once: the cookie is cleared by the answer."""
    name = _request_cookie_name()

    @after_this_request
    def forget(response):
        response.delete_cookie(name, path="/", secure=current_app.config["SESSION_COOKIE_SECURE"])
        return response

    try:
        return _serializer().loads(request.cookies.get(name, ""), max_age=REQUEST_SECONDS)
    except BadSignature:
        return None


# --- Web Browser SSO ---------------------------------------------------------------------------------

@bp.get("/login")
def login():
    """Send the citizen to the IdP with a signed AuthnRequest (SAML Profiles §4.1.2–3, HTTP-Redirect).

    RelayState is where to come back to: a local path of at most 80 bytes (SAML Bindings §3.4.3).
    """
    if current_sign_in() is not None:
        return redirect(url_for("views.attributes"))
    relay_state = i18n.safe_next(request.args.get("next"), "views.attributes")
    try:
        auth = sp().auth(request.path)
        location = auth.login(return_to=relay_state)
        # The language this portal shows, as OIDC's ui_locales: an extra query parameter, outside
        # the signed ones (SAML Bindings §3.4.4.1 signs SAMLRequest, RelayState and SigAlg only).
        location += ("&" if "?" in location else "?") + urlencode({"ui_locales": i18n.current()})
    except IdPUnavailable as e:
        log.error("cannot reach the IdP's metadata: %s", e)
        return failed(503)
    return _remember_request(redirect(location), auth.get_last_request_id())


@bp.post("/saml/acs")
def acs():
    """The IdP's Response over HTTP-POST (SAML Profiles §4.1.4): signatures, Destination, Audience,
    validity window and InResponseTo checked by python3-saml in strict mode; replays refused here."""
    request_id = _take_pending_request()
    if request_id is None:
        # Unsolicited (IdP-initiated) responses are not accepted, and a replay finds no request.
        log.warning("SAML Response refused: no AuthnRequest of this browser is waiting for it")
        return failed()
    try:
        auth = sp().auth(request.path, post=request.form)
        auth.process_response(request_id=request_id)
    except IdPUnavailable as e:
        log.error("cannot reach the IdP's metadata: %s", e)
        return failed(503)
    except Exception as e:  # noqa: BLE001 - python3-saml, lxml and xmlsec raise many kinds on bad input
        return _refused(f"{type(e).__name__}: {e}")
    if auth.get_errors():
        return _refused(f"{auth.get_errors()}: {auth.get_last_error_reason()}")
    until = auth.get_last_assertion_not_on_or_after() or time.time() + REQUEST_SECONDS
    if not storage.first_use(auth.get_last_assertion_id(), until):
        log.warning("SAML Response refused: assertion %s replayed", auth.get_last_assertion_id())
        return failed()
    session.clear()  # a fresh session for the new sign-in, against fixation
    session[SESSION_KEY] = storage.start_sign_in({
        "name_id": auth.get_nameid(), "name_id_format": auth.get_nameid_format(),
        "name_id_nq": auth.get_nameid_nq(), "name_id_spnq": auth.get_nameid_spnq(),
        "session_index": auth.get_session_index(), "authn_contexts": auth.get_last_authn_contexts(),
        "attributes": auth.get_attributes(), "signed_in_at": int(time.time()),
    })
    return redirect(i18n.safe_next(request.form.get("RelayState"), "views.attributes"), 303)


def _refused(detail: str):
    log.warning("SAML Response refused: %s", detail)
    sp().idp.forget()  # perhaps the IdP rolled its certificate: read its metadata again next time
    return failed()


# --- Single Logout ---------------------------------------------------------------------------------

@bp.post("/logout")
def logout():
    """Sign out here, then at the IdP with a signed LogoutRequest (SAML Profiles §4.4.3, HTTP-Redirect)."""
    ended = storage.end_sign_in(session.get(SESSION_KEY))
    session.clear()
    if ended is None:
        return redirect(url_for("views.home"), 303)
    try:
        auth = sp().auth(request.path)
        location = auth.logout(return_to=url_for("views.home"), name_id=ended["name_id"],
                               name_id_format=ended["name_id_format"], nq=ended["name_id_nq"],
                               spnq=ended["name_id_spnq"], session_index=ended["session_index"])
    except IdPUnavailable as e:
        # Signed out here all the same; the IdP session ends on its own timeout.
        log.error("cannot sign out at the IdP: %s", e)
        flash(_("You have signed out of this portal, but the National SSO could not be reached."))
        return redirect(url_for("views.home"), 303)
    session[LOGOUT_KEY] = auth.get_last_request_id()
    return redirect(location, 303)


@bp.get("/saml/sls")
def sls():
    """The IdP's LogoutResponse over HTTP-Redirect (SAML Profiles §4.4.4): signed, and answering our request.
    Or the IdP's own LogoutRequest when the citizen signed out there (§4.4.3): end the sign-in here."""
    if "SAMLRequest" in request.args:
        return _logout_requested_by_idp()
    request_id = session.pop(LOGOUT_KEY, None)
    if "SAMLResponse" not in request.args or request_id is None:
        # This IdP does not start logouts itself; a LogoutRequest or an unsolicited answer is refused.
        log.warning("logout message refused: not the answer to a LogoutRequest of this browser")
        return failed(reason="sign_out")
    try:
        auth = sp().auth(request.path, get=request.args, query_string=request.query_string.decode("latin-1"))
        auth.process_slo(request_id=request_id, delete_session_cb=session.clear)
    except IdPUnavailable as e:
        log.error("cannot reach the IdP's metadata: %s", e)
        return failed(503)
    except Exception as e:  # noqa: BLE001 - as at the ACS
        log.warning("LogoutResponse refused: %s: %s", type(e).__name__, e)
        return failed(reason="sign_out")
    if auth.get_errors():
        log.warning("LogoutResponse refused: %s: %s", auth.get_errors(), auth.get_last_error_reason())
        sp().idp.forget()
        return failed(reason="sign_out")
    flash(_("You have signed out of this portal and of the National SSO."))
    return redirect(url_for("views.home"), 303)


def _logout_requested_by_idp():
    """A signed LogoutRequest from the IdP (python3-saml checks the signature, destination and
    issuer): this browser's sign-in ends, and every other one of that NameID, then the signed
    LogoutResponse goes back to the IdP, which carries on with the next portal."""
    from onelogin.saml2.logout_request import OneLogin_Saml2_Logout_Request
    from onelogin.saml2.utils import OneLogin_Saml2_Utils

    def end_sign_ins():
        storage.end_sign_in(session.get(SESSION_KEY))
        session.clear()

    try:
        auth = sp().auth(request.path, get=request.args, query_string=request.query_string.decode("latin-1"))
        location = auth.process_slo(delete_session_cb=end_sign_ins)
    except IdPUnavailable as e:
        log.error("cannot reach the IdP's metadata: %s", e)
        return failed(503)
    except Exception as e:  # noqa: BLE001 - as at the ACS
        log.warning("LogoutRequest refused: %s: %s", type(e).__name__, e)
        return failed(reason="sign_out")
    if auth.get_errors() or not location:
        log.warning("LogoutRequest refused: %s: %s", auth.get_errors(), auth.get_last_error_reason())
        return failed(reason="sign_out")
    xml = OneLogin_Saml2_Utils.decode_base64_and_inflate(request.args["SAMLRequest"])
    storage.end_sign_ins_of(OneLogin_Saml2_Logout_Request.get_nameid(xml))
    return redirect(location, 303)


@bp.get("/saml/metadata")
def metadata():
    """Our metadata (SAML Metadata 2.0 §2.4.4): entityID, the certificate for signing and encryption,
    the ACS (HTTP-POST) and the SLS (HTTP-Redirect). `idp rp register-saml` reads it."""
    return current_app.response_class(current_app.extensions["saml_sp.metadata"],
                                      mimetype="application/samlmetadata+xml")
