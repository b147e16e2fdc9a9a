"""The web layer: thin blueprints over the identity services. Wired here, in one place."""
from __future__ import annotations

import logging

from flask import Flask, g, request
from werkzeug.middleware.proxy_fix import ProxyFix

from idp.identity.sessions import SessionStore
from idp.errors import ServiceUnavailable
from idp.services import Services
from idp.web import errors, i18n, urls
from idp.web.sessions import ServerSessionInterface

log = logging.getLogger(__name__)
csrf = urls.IssuerCSRFProtect()


def init_web(app: Flask, services: Services) -> None:
    settings = services.settings
    if settings.trusted_proxies:
        # Flask's documented way to wrap its WSGI app in middleware
        proxied = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies, x_proto=settings.trusted_proxies)
        app.wsgi_app = proxied  # type: ignore[method-assign]
    app.session_interface = ServerSessionInterface(SessionStore.from_settings(services.db.engine, settings))
    urls.init_app(app, settings)
    csrf.init_app(app)
    i18n.init_app(app)

    from idp.oidc.provider import build_provider
    from idp.oidc import logout_delivery
    from idp.saml.server import SamlServers
    from idp.web import account, auth, captcha, end_session, health, oidc, passkeys, recovery, registration, saml
    from idp.web import revocation as oidc_tokens
    from idp.web import enrolment, saml_logout, saml_release
    from idp.web import ciba as oidc_ciba

    app.extensions["idp.oidc"] = build_provider(services, services.keyring)
    app.extensions["idp.saml"] = SamlServers(settings, services.db.borrow, services.keyring)
    app.extensions["idp.logout_delivery"] = logout_delivery.start(services)
    for module in (auth, registration, account, recovery, captcha, health, oidc, end_session, saml, passkeys,
                   oidc_tokens, saml_logout, oidc_ciba, enrolment, saml_release):
        app.register_blueprint(module.bp)
    # Relying parties post to these from their own pages: they carry no CSRF token of ours;
    # the protocol's own checks (client authentication, PKCE, state) stand in.
    for view in (oidc.authorize, oidc.token, oidc.userinfo, end_session.end_session, saml.sso_post,
                 saml.slo_post, oidc_tokens.revoke, oidc_tokens.introspect,
                 oidc_ciba.backchannel_authentication):
        csrf.exempt(view)
    # --- the approval app (issue 14) ---
    from idp.web import app as approval_app, app_account, app_sign_in

    for module in (approval_app, app_account, app_sign_in):
        app.register_blueprint(module.bp)
    # The app's API authenticates by a bearer token that browsers never attach on their own (no cookie).
    for api_view in (approval_app.approval_options, approval_app.approve, approval_app.deny):
        csrf.exempt(api_view)
    # --- end approval app ---

    app.before_request(_refuse_without_store)
    # first of all before_request hooks: every later hook and the view share the request's session
    app.before_request_funcs.setdefault(None, []).insert(0, _open_db_session)
    app.teardown_appcontext(_close_db_session)
    app.after_request(_security_headers)
    errors.init_app(app)  # the app-wide mappers; the protocol ones are on their blueprints

    # --- operations (issue 9): request ids, request log and metrics, password-check shedding ---
    from idp.web import ops

    ops.init_app(app, settings.password_checks_per_worker)
    # --- end operations ---


def _refuse_without_store():
    from flask import session

    if getattr(session, "unavailable", False):
        raise ServiceUnavailable("session store unreachable")


def _open_db_session():
    from idp.web.context import services

    g.db_scope = services().db.open_request()


def _close_db_session(_exc):
    scope = g.pop("db_scope", None)
    if scope is not None:
        from idp.web.context import services

        services().db.close_request(scope)
    db_session = g.pop("db_session", None)
    if db_session is not None:
        db_session.close()


# No form-action: browsers apply it to the redirects that follow a form post, and sign-in and
# consent forms end in redirects to relying parties' registered URIs (checked by the protocols).
CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'self'; connect-src 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")


def _security_headers(response):
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CSP)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    # same-origin, not no-referrer: under no-referrer browsers post our own forms with `Origin: null`
    # and no Referer, leaving the CSRF origin check (urls.IssuerCSRFProtect) nothing to compare.
    # Other sites still get no Referer from us.
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if request.is_secure or request.scheme == "https":
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    if response.mimetype == "text/html":
        headers.setdefault("Cache-Control", "no-store")
    return response
