"""The app factory: settings, extensions and blueprints wired in one place."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, current_app
from flask_wtf.csrf import CSRFProtect

from relying_parties.saml_sp import auth, errors, i18n, storage, views
from relying_parties.saml_sp.config import load

csrf = CSRFProtect()


def create_app(config: dict | None = None) -> Flask:
    """The SAML SP, configured from SAMLSP_* environment variables and then `config` (its settings
    by the same names, or plain Flask settings).

    Raises `ConfigError` (a one-line message) when a setting is bad.
    """
    settings, flask_config = load(config)
    app = Flask(__name__, instance_path=settings["SAMLSP_INSTANCE_PATH"])
    secure = settings["SAMLSP_BASE_URL"].startswith("https://")
    app.config.update(
        settings,
        SECRET_KEY=settings["SAMLSP_SECRET_KEY"],
        # Not the IdP's cookie name: browsers share cookies between ports of one host.
        SESSION_COOKIE_NAME="__Host-saml_sp_session" if secure else "saml_sp_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure,
        # A signed and encrypted Response with every attribute is a few tens of KiB.
        MAX_CONTENT_LENGTH=128 * 1024,
    )
    app.config.update(flask_config)

    storage.init_app(app)
    i18n.init_app(app)
    # The ACS is posted to by the IdP, across sites; its protection is the signed Response, bound to
    # the AuthnRequest this browser sent.
    csrf.init_app(app)
    auth.init_app(app)
    csrf.exempt(auth.acs)
    app.register_blueprint(views.bp)
    errors.init_app(app)
    app.after_request(_security_headers)
    return app


def _security_headers(response):
    idp = urlsplit(current_app.config["SAMLSP_IDP_METADATA_URL"])
    headers = response.headers
    # form-action names the IdP too: browsers check the sign-out form's redirect to its SLO against it.
    headers.setdefault("Content-Security-Policy",
                       "default-src 'none'; style-src 'self'; img-src 'self'; "
                       f"form-action 'self' {idp.scheme}://{idp.netloc}; frame-ancestors 'none'; base-uri 'none'")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if current_app.config["SESSION_COOKIE_SECURE"]:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    if response.mimetype == "text/html":
        headers.setdefault("Cache-Control", "no-store")
    return response
