"""What every view needs: the services, a database session per request, who is asking, who is signed in."""
from __future__ import annotations

import functools
import time
from typing import cast

from flask import current_app, g, redirect, request, session, url_for

from idp.audit import Actor
from idp.authn import levels
from idp.identity import accounts
from idp.identity.sessions import SessionStore
from idp.models import Identity
from idp.services import Services
from idp.web.sessions import ServerSession


def services() -> Services:
    return current_app.extensions["idp"]


def db_session():
    """The request's session: the one idp.oidc and idp.saml borrow too (Database.borrow), so a
    request uses one pooled connection however many lookups it makes."""
    shared = services().db.request_session()
    if shared is not None:
        return shared
    if "db_session" not in g:  # outside a request's hooks (a bare app context)
        g.db_session = services().db.session()
    return g.db_session


def session_store() -> SessionStore:
    """The server-side session records, to count or revoke an identity's sessions."""
    # the app's ServerSessionInterface (init_web)
    return current_app.session_interface.sessions  # type: ignore[attr-defined]


def server_session() -> ServerSession:
    """flask.session as what it is here: our ServerSession (init_web sets ServerSessionInterface)."""
    return cast(ServerSession, session._get_current_object())  # type: ignore[attr-defined]  # werkzeug's LocalProxy


def actor() -> Actor:
    return Actor(ip=request.remote_addr, user_agent=request.user_agent.string)


def current_identity() -> Identity | None:
    """The signed-in identity, or None. A locked identity is signed out on its next request.

    The session names the identity by its uuid: an integer id can be handed out again after a
    database restore, and must never lead an old session to another citizen."""
    if "identity" not in g:
        identity_uuid = session.get("identity_uuid")
        _settle_identity(accounts.get_by_uuid(db_session(), identity_uuid) if identity_uuid is not None else None,
                         identity_uuid is not None)
    return g.identity


def adopt_identity(identity_uuid: str, identity: Identity | None) -> None:
    """The signed-in identity as a view read it in a query of its own (idp.oidc.prefetch): what
    current_identity() would have read, so it is not read again. Ignored unless `identity_uuid` is
    the session's."""
    if "identity" not in g and identity_uuid is not None and session.get("identity_uuid") == identity_uuid:
        _settle_identity(identity, True)


def _settle_identity(identity: Identity | None, named: bool) -> None:
    if named and (identity is None or identity.status == "locked"):
        # flask.session is our ServerSession (ServerSessionInterface)
        session.end()  # type: ignore[attr-defined]
        identity = None
    g.identity = identity


def signed_in_identity() -> Identity:
    """current_identity() where there must be one: behind login_required, or after a decision that
    the session is signed in."""
    identity = current_identity()
    if identity is None:
        raise RuntimeError("no signed-in identity here")
    return identity


# Relying parties' requests waiting for this sign-in, and the language one asked for (i18n.REQUEST_LOCALE).
KEPT_AT_SIGN_IN = ("oidc_pending", "saml_pending", "request_locale")


def sign_in(identity: Identity, amr: list[str]) -> None:
    """Start a fresh session (a new id, against fixation) for a fully authenticated identity."""
    kept = {key: session[key] for key in KEPT_AT_SIGN_IN if key in session}
    session.clear()
    server_session().regenerate()
    session.update(kept)
    session.update(identity_uuid=identity.uuid, auth_time=int(time.time()), signed_in_at=time.time(), amr=amr,
                   acr=levels.level_for(amr))
    g.identity = identity


def reauthenticated_recently() -> bool:
    window = services().settings.reauth_minutes * 60
    return time.time() - session.get("auth_time", 0) <= window


def login_required(view):
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if current_identity() is None:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapper


def recent_auth_required(view):
    """NIST SP 800-63B §7.2: confirm the password again before changing credentials."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if current_identity() is None:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        if not reauthenticated_recently():
            return redirect(url_for("account.reauth", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapper
