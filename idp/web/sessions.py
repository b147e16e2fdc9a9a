"""Flask's session, kept server-side in the store (see idp.identity.sessions)."""
from __future__ import annotations

import time

from flask.sessions import SessionInterface, SessionMixin
from werkzeug.datastructures import CallbackDict

from idp.identity.sessions import SessionStore, new_session_id
from idp.store import StoreUnavailable


class ServerSession(CallbackDict, SessionMixin):
    def __init__(self, data=None, sid=None, created=None):
        def on_update(_self):
            _self.modified = True

        super().__init__(data or {}, on_update)
        self.sid = sid
        self.created = created or time.time()
        self.new = sid is None
        self.modified = False
        self.previous_sid = None
        self.unavailable = False

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


class StoreSessionInterface(SessionInterface):
    def __init__(self, sessions: SessionStore):
        self.sessions = sessions

    def open_session(self, app, request):
        sid = request.cookies.get(self.get_cookie_name(app))
        if not sid or len(sid) > 100:
            return ServerSession()
        try:
            record = self.sessions.load(sid)
        except StoreUnavailable:
            session = ServerSession()
            session.unavailable = True  # a before_request hook answers 503
            return session
        if record is None:
            return ServerSession()
        session = ServerSession(record["data"], sid=sid, created=record["created"])
        return session

    def save_session(self, app, session: ServerSession, response):
        if session.unavailable:
            return
        name = self.get_cookie_name(app)
        cookie = dict(domain=self.get_cookie_domain(app), path=self.get_cookie_path(app),
                      secure=self.get_cookie_secure(app), httponly=True,
                      samesite=self.get_cookie_samesite(app))
        if session.previous_sid:
            self.sessions.delete(session.previous_sid, session.get("identity_id"))
            session.previous_sid = None
        if not session:
            if session.sid:
                self.sessions.delete(session.sid, None)
            if not session.new or session.modified:
                response.delete_cookie(name, **{k: v for k, v in cookie.items() if k != "samesite"})
            return
        new = session.sid is None
        if new:
            session.sid = new_session_id()
        # Saved on every request: the idle timeout counts from the last one.
        if not self.sessions.save(session.sid, dict(session), session.created, new=new):
            response.delete_cookie(name, **{k: v for k, v in cookie.items() if k != "samesite"})
            return
        response.set_cookie(name, session.sid, **cookie)
        response.vary.add("Cookie")
