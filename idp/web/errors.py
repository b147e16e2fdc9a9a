"""The web's error mappers: one per surface, the only place an idp.errors error becomes a response.

- OIDC: an untrusted authorization or logout request → our own page (`ErrorPage`; RFC 9700 §4.11:
  never an open redirector); a checked one → a redirect to the client with `error`, `state` and
  `iss` (`ErrorRedirect`; RFC 6749 §4.1.2.1, RFC 9207); token, userinfo, revocation and
  introspection → JSON (RFC 6749 §5.2), 401 with `WWW-Authenticate` where due (RFC 6749 §5.2 for
  client authentication, RFC 6750 §3 for a bearer token). pyop's `OAuthError` is answered here too.
- SAML: a rejected message → our page (`MessageRejected`: its SP is not known to be genuine, so no
  Response goes anywhere). Once the SP is known, the SSO view answers at its ACS (SAML Core §3.2.2.2).
- HTML: every other IdpError, a backing service down (503 with Retry-After), CSRF, HTTP errors and
  the unexpected → error.html, in the reader's language.
- CLI: idp.cli.IdpGroup (one line on stderr, non-zero exit).

The protocol mappers are blueprint handlers (`for_oauth(bp)`, `for_saml(bp)`, called where each
blueprint is made); the rest are app-wide (`init_app`). Views raise; they do not catch what is mapped here.
"""
from __future__ import annotations

import logging

from flask import Blueprint, Flask, current_app, g, render_template, request
from flask_wtf.csrf import CSRFError
from oic.oic.message import AuthorizationErrorResponse
from pyop.exceptions import InvalidClientAuthentication, OAuthError
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from idp.errors import ErrorPage, ErrorRedirect, IdpError, OAuthJsonError, ServiceUnavailable
from idp.saml.guard import MessageRejected
from idp.web.context import server_session, services
from idp.web.responses import json_response

log = logging.getLogger(__name__)

JSON_ENDPOINTS = {"oidc.token", "oidc.userinfo", "oidc.jwks", "oidc.configuration",
                  "oidc_tokens.revoke", "oidc_tokens.introspect", "oidc_ciba.backchannel_authentication"}
RETRY_AFTER_SECONDS = 5
REFUSED_PENDING = "refused_pending"  # g: (session key, id) of the pending request an ErrorRedirect ends


# --- OIDC -----------------------------------------------------------------------------------------

def oidc_error_page(reason: str, status: int = 400):
    """Our own page for a request we cannot answer the client about; the reason is logged only."""
    current_app.logger.info("authorization request refused: %s", reason)
    return render_template("request_refused.html"), status


def ends_pending(key: str, pending_id: str) -> None:
    """An ErrorRedirect raised from here on ends this pending request (it is answered)."""
    g.setdefault(REFUSED_PENDING, (key, pending_id))


def _error_page(e: ErrorPage):
    return oidc_error_page(e.message, e.http_status)


def _error_redirect(e: ErrorRedirect):
    pending = g.pop(REFUSED_PENDING, None)
    if pending is not None:
        from idp.web import gate

        gate.forget(*pending)
    response = AuthorizationErrorResponse(error=e.error, error_description=e.description)
    if e.state:
        response["state"] = e.state
    response["iss"] = current_app.extensions["idp"].settings.issuer  # RFC 9207
    return current_app.redirect(response.request(e.redirect_uri), 303)


def _oauth_json(e: OAuthError | OAuthJsonError):
    if isinstance(e, OAuthJsonError):
        body = {"error": e.oauth_error} | ({"error_description": e.description} if e.description else {})
        headers = {"WWW-Authenticate": e.www_authenticate} if e.www_authenticate else {}
        return json_response(body, e.http_status, headers)
    status, headers = 400, {}
    if isinstance(e, InvalidClientAuthentication):
        status, headers = 401, {"WWW-Authenticate": 'Basic realm="token"'}
    return json_response({"error": e.oauth_error, "error_description": str(e)}, status, headers)


def for_oauth(bp: Blueprint) -> Blueprint:
    """The OIDC mappers, for a blueprint of OAuth/OIDC endpoints."""
    bp.register_error_handler(ErrorPage, _error_page)
    bp.register_error_handler(ErrorRedirect, _error_redirect)
    bp.register_error_handler(OAuthError, _oauth_json)
    bp.register_error_handler(OAuthJsonError, _oauth_json)
    return bp


def json_error(status: int):
    """The JSON answer (RFC 6749 §5.2) when PostgreSQL or Redis fails (503) or anything else does
    (500) on an endpoint that clients call from code; None on the others, which show a page."""
    if request.endpoint not in JSON_ENDPOINTS:
        return None
    if status == 503:
        return json_response({"error": "temporarily_unavailable", "error_description": "try again shortly"}, 503,
                             {"Retry-After": str(RETRY_AFTER_SECONDS)})
    return json_response({"error": "server_error"}, 500)


# --- SAML -----------------------------------------------------------------------------------------

def saml_error_page(reason: str, status: int = 400):
    current_app.logger.info("SAML message refused: %s", reason)
    return render_template("request_refused.html"), status


def _message_rejected(e: MessageRejected):
    return saml_error_page(e.reason)


def for_saml(bp: Blueprint) -> Blueprint:
    """The SAML mapper, for a blueprint of SAML endpoints."""
    bp.register_error_handler(MessageRejected, _message_rejected)
    return bp


# --- HTML pages, app-wide -------------------------------------------------------------------------

def init_app(app: Flask) -> None:
    def unavailable(e):
        log.error("backing service unavailable: %s", e)
        server_session().unavailable = True  # nothing more is written to the store for this request
        for db_session in (services().db.request_session(create=False), g.get("db_session")):
            if db_session is not None:
                db_session.rollback()
        # clients of the token and userinfo endpoints parse JSON
        return json_error(503) or (render_template("error.html", status=503), 503, {"Retry-After": "30"})

    for unreachable in (ServiceUnavailable, OperationalError, InterfaceError, PoolTimeout):
        app.register_error_handler(unreachable, unavailable)

    @app.errorhandler(IdpError)
    def refused(e: IdpError):
        """An IdP error no protocol mapper answered: a friendly page with its status."""
        log.info("request refused: %s", e.__class__.__name__)
        return render_template("error.html", status=e.http_status), e.http_status

    @app.errorhandler(CSRFError)
    def csrf_failed(e):
        log.info("CSRF check failed: %s", e.description)
        return render_template("error.html", status=400, reason="csrf"), 400

    @app.errorhandler(HTTPException)
    def http_error(e):
        if e.code and e.code < 400:
            return e
        if e.code == 500:  # an unhandled error, perhaps a backing service failing late
            return unexpected(e)
        return render_template("error.html", status=e.code), e.code

    @app.errorhandler(Exception)
    def unexpected(e):
        original = getattr(e, "original_exception", None) or e
        if isinstance(original, (ServiceUnavailable, OperationalError, InterfaceError, PoolTimeout)):
            return unavailable(original)
        log.exception("unhandled error")
        return json_error(500) or (render_template("error.html", status=500), 500)
