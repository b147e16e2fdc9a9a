"""The app factory: settings, extensions and blueprints wired in one place."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, current_app
from flask_wtf.csrf import CSRFProtect

from relying_parties.masar import auth, backchannel, ciba, errors, i18n, storage, views
from relying_parties.masar.config import INSTANCE, load

csrf = CSRFProtect()


def create_app(config: dict | None = None) -> Flask:
    """Masar, configured from MASAR_* environment variables and then `config` (Masar's
    settings by the same names, or plain Flask settings).

    Raises `ConfigError` (a one-line message) when a setting is missing or bad.
    """
    settings, flask_config = load(config)
    app = Flask(__name__, instance_path=str(INSTANCE))
    secure = settings["MASAR_BASE_URL"].startswith("https://")
    app.config.update(
        settings,
        SECRET_KEY=settings["MASAR_SECRET_KEY"],
        # Not the IdP's cookie name: browsers share cookies between ports of one host.
        SESSION_COOKIE_NAME="__Host-masar_session" if secure else "masar_session",
        SESSION_COOKIE_HTTPONLY=True,
        # Lax, not Strict: the IdP's redirect to /auth/callback is a cross-site navigation that must
        # carry the cookie holding Authlib's state, nonce and PKCE verifier.
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure,
        MAX_CONTENT_LENGTH=64 * 1024,
    )
    app.config.update(flask_config)

    storage.init_app(app)
    i18n.init_app(app)
    csrf.init_app(app)
    auth.init_app(app)
    app.register_blueprint(views.bp)
    app.register_blueprint(backchannel.bp)
    app.register_blueprint(ciba.bp)
    csrf.exempt(backchannel.backchannel_logout)  # the IdP posts here server to server, with a signed token
    errors.init_app(app)
    app.after_request(_security_headers)
    return app


def _security_headers(response):
    idp = urlsplit(current_app.config["MASAR_IDP_ISSUER"])
    headers = response.headers
    # form-action names the IdP too: the sign-out form's redirect to its end-session endpoint
    # is checked against it by browsers.
    headers.setdefault("Content-Security-Policy",
                       "default-src 'none'; style-src 'self'; img-src 'self'; "
                       f"form-action 'self' {idp.scheme}://{idp.netloc}; frame-ancestors 'none'; base-uri 'none'")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    # no-referrer: the callback URL carries the authorization code.
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if current_app.config["SESSION_COOKIE_SECURE"]:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    if response.mimetype == "text/html":
        headers.setdefault("Cache-Control", "no-store")
    return response
