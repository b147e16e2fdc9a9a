"""The national identity provider. create_app() wires every extension and blueprint, in one place."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask


def create_app(config_overrides: dict | None = None, check_secrets: bool = True) -> Flask:
    """Build the app: config defaults → config/ → IDP_* environment → `config_overrides`.

    Besides settings, `config_overrides` may carry Flask keys in capitals (TESTING) and
    `store` (an already-built store, for tests that share one). Refuses (ConfigError) when a secret
    differs from the one the other instances use (idp.shared_secrets); `check_secrets=False` only
    for `idp secrets …`, which an operator runs to repair exactly that."""
    # Imported here, not at the top: `import idp` (the CLI's `idp --help`, the gunicorn config)
    # must not pay for Flask, SQLAlchemy, pysaml2 and pyop before it needs them.
    import logging

    from flask import Flask

    from idp import logs, shared_secrets
    from idp.keyring import passphrase_from_environment
    from idp.metrics import observe_engine
    from idp.services import Services
    from idp.settings import load_settings

    overrides = dict(config_overrides or {})
    flask_keys = {k: overrides.pop(k) for k in list(overrides) if k.isupper()}
    store = overrides.pop("store", None)
    settings = load_settings(overrides)

    app = Flask(__name__, instance_path=settings.instance_path)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_request_bytes,
        MAX_FORM_MEMORY_SIZE=settings.max_request_bytes,
        SESSION_COOKIE_NAME="__Host-idp_session" if settings.is_https else "idp_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.is_https,
        PREFERRED_URL_SCHEME="https" if settings.is_https else "http",
        WTF_CSRF_TIME_LIMIT=settings.session_absolute_hours * 3600,
        BABEL_DEFAULT_LOCALE=settings.default_locale,
        BABEL_TRANSLATION_DIRECTORIES="translations",
    )
    app.config.update(flask_keys)
    logs.configure(json_lines=settings.log_format == "json")
    # pyop and oic log authorization codes and tokens at INFO and DEBUG: never let them through.
    for noisy in ("pyop", "oic", "saml2"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    services = Services.from_settings(settings, store=store)
    if check_secrets:
        try:
            shared_secrets.check(services.db, settings, passphrase_from_environment())
        finally:
            # No connection opened at start-up outlives it (nor is shared by forked workers).
            services.db.dispose()
    app.extensions["idp"] = services
    observe_engine(services.db.engine)
    if app.testing and settings.mail_delivery == "background":
        services.mailer.delivery = "inline"  # tests read the mail a request sent right after it

    from idp import revocation

    revocation.subscribe()  # the protocols end their tokens when the identity layer announces a change
    from idp.web import init_web

    init_web(app, services)

    from idp.cli import cli

    app.cli.add_command(cli, "idp")
    return app
