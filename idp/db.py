"""The database: one engine per app, one session per request (or per CLI command)."""
from __future__ import annotations

import contextlib
import logging
import os
import stat
import time
from collections.abc import Iterator
from contextvars import ContextVar, Token
from pathlib import Path

from sqlalchemy import create_engine, event, exc, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from idp.resources import migrations_dir

MIGRATIONS_DIR = migrations_dir()
log = logging.getLogger(__name__)
# A stalled PostgreSQL must cost a request seconds, not a worker: connecting, waiting for a pooled
# connection and running one statement are each bounded; the web layer answers 503 past them.
CONNECT_TIMEOUT_SECONDS = 3
POOL_TIMEOUT_SECONDS = 3
STATEMENT_TIMEOUT_MS = 5000
# pg_advisory_lock key held while migrating ("idp-migrate"), so upgrades started together queue.
MIGRATION_LOCK_KEY = 0x6964702D6D6967
# A pooled PostgreSQL connection is checked (one round trip) only when it has sat unused this long:
# under load connections are reused every few milliseconds and checking each checkout would cost a
# round trip per request; an idle one may have been dropped by a restart, a failover or a firewall.
PING_AFTER_IDLE_SECONDS = 10
# Connections are replaced after this long whatever their use (server-side memory, idle timeouts).
POOL_RECYCLE_SECONDS = 1800


REQUEST_SESSION = "idp.request_session"  # Session.info key of a request's own session


def commit_unless_request(session: Session) -> None:
    """Commit a session of one's own; a request's session is only flushed, for the request to
    commit once with the rest of its work (its audit record): one transaction, not two. The request
    answers only after that commit, so nothing it hands out (a code, a token) is ever ahead of it."""
    if session.info.get(REQUEST_SESSION):
        session.flush()
    else:
        session.commit()


class Database:
    def __init__(self, url: str):
        self.url = url
        self.engine: Engine = make_engine(url)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)
        # The session of the request being served (opened by the web layer, see request_scope):
        # a list so that it is made only when the request first needs the database.
        self._request: ContextVar[list[Session] | None] = ContextVar(f"idp-db-request-{id(self)}", default=None)

    def session(self) -> Session:
        return self.sessionmaker()

    # --- one session per request -----------------------------------------------------------------

    def open_request(self) -> Token:
        """Start a request: from now until close_request, request_session() and borrow() share one
        session (one pooled connection, one transaction at a time) instead of a session per lookup."""
        return self._request.set([])

    def close_request(self, token: Token) -> None:
        holder = self._request.get()
        try:
            self._request.reset(token)
        except (ValueError, RuntimeError):  # closed from another context, or twice: forget anyway
            self._request.set(None)
        if holder:
            holder[0].close()

    def request_session(self, create: bool = True) -> Session | None:
        """The request's session (made on first use unless `create` is false), or None outside a request."""
        holder = self._request.get()
        if holder is None:
            return None
        if not holder:
            if not create:
                return None
            session = self.sessionmaker()
            session.info[REQUEST_SESSION] = True
            holder.append(session)
        return holder[0]

    @contextlib.contextmanager
    def borrow(self) -> Iterator[Session]:
        """A session for a lookup or a change: the request's own while a request is served (left
        open: the request's end closes it), else one of its own, closed at the end. A failure rolls
        the borrowed session back, so nothing half-done is committed by the request afterwards."""
        shared = self.request_session()
        if shared is None:
            with self.sessionmaker() as session:
                yield session
            return
        try:
            yield shared
        except BaseException:
            shared.rollback()
            raise

    def upgrade(self, revision: str = "head") -> None:
        """Apply Alembic migrations (idp db upgrade). On PostgreSQL under an advisory lock: several
        instances started together run them one after another, and the later ones find nothing to do."""
        from alembic import command

        config = alembic_config(self.url)
        if self.engine.dialect.name != "postgresql":
            command.upgrade(config, revision)
            return
        # A connection of its own, closed afterwards: migrations and the wait for the lock may take
        # longer than a request's statement, and that setting must not go back into the pool.
        engine = create_engine(self.url, poolclass=NullPool, connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS})
        try:
            with engine.connect() as connection:
                connection.execute(text("SET statement_timeout = 0"))
                connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
                connection.commit()
                try:
                    config.attributes["connection"] = connection
                    command.upgrade(config, revision)
                    connection.commit()
                finally:
                    connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
                    connection.commit()
        finally:
            engine.dispose()

    def dispose(self) -> None:
        self.engine.dispose()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        _private_sqlite_file(url)
        engine = create_engine(url, connect_args={"timeout": 15})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

        return engine
    connect_args: dict[str, int | str] = {"connect_timeout": CONNECT_TIMEOUT_SECONDS}
    if url.startswith("postgresql"):
        connect_args["options"] = f"-c statement_timeout={STATEMENT_TIMEOUT_MS}"
    engine = create_engine(url, pool_size=5, max_overflow=10, pool_timeout=POOL_TIMEOUT_SECONDS,
                           pool_recycle=POOL_RECYCLE_SECONDS, connect_args=connect_args)
    _ping_when_idle(engine)
    return engine


def _ping_when_idle(engine: Engine) -> None:
    """Pessimistic disconnect handling for idle connections only (SQLAlchemy's pool_pre_ping checks
    every checkout: a round trip per request). A connection that fails its check is discarded and
    the pool hands out another (DisconnectionError from a checkout listener). A connection dropped
    while in busy use fails the statement in flight (503, Retry-After) and SQLAlchemy then
    invalidates the whole pool, so the requests after it reconnect."""

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection, record):
        record.info["idp_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection, record, _proxy):
        since = record.info.get("idp_idle_since")
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
            dbapi_connection.rollback()
        except Exception as e:  # any failure: this connection is not usable
            log.info("pooled connection dropped while idle (%s): reconnecting", e.__class__.__name__)
            raise exc.DisconnectionError() from e


def _private_sqlite_file(url: str) -> None:
    """The SQLite file holds password hashes and personal data: readable by this user only (0600).

    Created here with that mode before SQLite (or Alembic) opens it, since SQLite creates it with
    the umask's 0644; SQLite gives the -wal and -shm files the main file's mode. Files of an
    older install are tightened the same way."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    if path.parent.is_dir():
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for each in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        try:
            mode = stat.S_IMODE(each.stat().st_mode)
            if mode & 0o077:
                os.chmod(each, mode & 0o700)
        except FileNotFoundError:
            continue
        except PermissionError:
            log.warning("%s is readable by other users and could not be made private", each)


def alembic_config(url: str):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg
