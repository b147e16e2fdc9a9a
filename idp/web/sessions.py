"""Flask's session, kept server-side in the database (see idp.identity.sessions).

A visitor who stores nothing gets no row and no cookie; one row is written when a session starts,
when its data changes, and otherwise at most once a minute. A session starts with its CSRF secret.
"""
from __future__ import annotations

import copy
import logging
import secrets
import time

from flask.sessions import SessionInterface, SessionMixin
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.datastructures import CallbackDict

from idp.identity.sessions import SessionStore, new_session_id

log = logging.getLogger(__name__)

# Called by relying parties' servers, resource servers and probes: they never use a citizen's
# session, so a cookie that comes along (a public client in a browser) is not even read. Paths, not
# endpoints: Flask opens the session before it matches the URL.
SESSIONLESS_PATHS = frozenset({
    "/oidc/token", "/oidc/userinfo", "/oidc/jwks", "/.well-known/openid-configuration", "/oidc/revoke",
    "/oidc/introspect", "/saml/metadata", "/livez", "/readyz", "/healthz", "/metrics"})


class ServerSession(CallbackDict, SessionMixin):
    def __init__(self, data=None, sid=None, created=None, seen=None):
        def on_update(_self):
            _self.modified = True

        super().__init__(data or {}, on_update)
        self.sid = sid
        self.created = created or time.time()
        self.seen = seen or self.created
        self.new = sid is None
        self.modified = False
        self.previous_sid = None
        self.unavailable = False
        self.detached = False  # never loaded nor saved (SESSIONLESS_PATHS)
        self.loaded = None  # the data as read, to skip writing it back unchanged

    def regenerate(self) -> None:
        """A new id for the same data: call at sign-in, against session fixation."""
        if self.sid and not self.previous_sid:
            self.previous_sid = self.sid
        self.sid = None
        self.created = time.time()
        self.modified = True

    def end(self) -> None:
        """Sign out: drop the data and the id."""
        self.clear()
        self.regenerate()


class ServerSessionInterface(SessionInterface):
    def __init__(self, sessions: SessionStore):
        self.sessions = sessions

    def open_session(self, app, request):
        if request.path in SESSIONLESS_PATHS or request.path.startswith("/static/"):
            session = ServerSession()
            session.detached = True
            return session
        sid = request.cookies.get(self.get_cookie_name(app))
        if not sid or len(sid) > 100:
            return ServerSession()
        try:
            record = self.sessions.load(sid)
        except SQLAlchemyError as e:
            log.error("session store unreachable: %s", e.__class__.__name__)
            session = ServerSession()
            session.unavailable = True  # a before_request hook answers 503
            return session
        if record is None:
            return ServerSession()
        session = ServerSession(record.data, sid=sid, created=record.created, seen=record.seen)
        session.loaded = copy.deepcopy(record.data)
        return session

    # Flask passes back the session open_session made: always a ServerSession
    def save_session(self, app, session: ServerSession, response):  # type: ignore[override]
        if session.unavailable or session.detached:
            return
        name = self.get_cookie_name(app)
        cookie = dict(domain=self.get_cookie_domain(app), path=self.get_cookie_path(app),
                      secure=self.get_cookie_secure(app), httponly=True,
                      samesite=self.get_cookie_samesite(app))
        previous, session.previous_sid = session.previous_sid, None
        if not session:
            for sid in (previous, session.sid):
                if sid:
                    self.sessions.delete(sid)
            if not session.new or session.modified:
                response.delete_cookie(name, **{k: v for k, v in cookie.items() if k != "samesite"})
            return
        if session.sid is None:
            _with_form_secret(app, session)
            session.sid = new_session_id()
            # regenerated (sign-in): the old row takes the new id, or, when it is gone, a new row
            written = previous is not None and self.sessions.rekey(previous, session.sid, dict(session),
                                                                    session.created)
            if not written:
                if previous:
                    self.sessions.delete(previous)
                written = self.sessions.create(session.sid, dict(session), session.created)
        elif session.modified and dict(session) != session.loaded:  # set, then put back: not a change
            written = self.sessions.save(session.sid, dict(session), session.created)
        else:  # the idle timeout counts from the last request, to within a minute
            written = self.sessions.touch(session.sid, session.created, session.seen)
        if not written:  # revoked or timed out while this request ran
            response.delete_cookie(name, **{k: v for k, v in cookie.items() if k != "samesite"})
            return
        response.set_cookie(name, session.sid, **cookie)
        response.vary.add("Cookie")


def _with_form_secret(app, session: ServerSession) -> None:
    """Flask-WTF's CSRF secret, made with the session's row as its first form page would make it
    (flask_wtf.csrf.generate_csrf: 160 random bits, hex) — so that page, the sign-in form after a
    relying party's request, does not write the row again. A new id (sign-in) gets a new secret."""
    field = app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    if field not in session:
        session[field] = secrets.token_hex(20)
