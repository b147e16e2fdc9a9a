"""A pooled PostgreSQL connection that the server dropped (a restart, a failover, an idle timeout
in a firewall), without pool_pre_ping's round trip on every checkout (issue 10): a connection idle
for a while is checked before use and replaced if dead; one dropped while in busy use fails the
statement in flight, and the pool then reconnects for the next."""
from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from idp import db as db_module
from idp.db import Database
from tests.conftest import TEST_DATABASE_URL

pytestmark = [pytest.mark.postgres,
              pytest.mark.skipif(not TEST_DATABASE_URL.startswith("postgresql"), reason="needs PostgreSQL")]


def backend_pid(database: Database) -> int:
    with database.session() as session:
        return session.scalar(text("SELECT pg_backend_pid()"))


def drop(pid: int) -> None:
    """Ends that server process, as a PostgreSQL restart would, from a connection of its own."""
    other = Database(TEST_DATABASE_URL)
    try:
        with other.engine.connect() as connection:
            assert connection.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}) is True
    finally:
        other.dispose()


def test_an_idle_connection_dropped_by_the_server_is_replaced_before_use(monkeypatch):
    monkeypatch.setattr(db_module, "PING_AFTER_IDLE_SECONDS", 0)  # every checkout counts as idle
    database = Database(TEST_DATABASE_URL)
    try:
        first = backend_pid(database)
        drop(first)
        second = backend_pid(database)  # no error: the check found it dead and the pool reconnected
        assert second != first
    finally:
        database.dispose()


def test_a_connection_dropped_in_busy_use_fails_once_and_the_pool_reconnects(monkeypatch):
    monkeypatch.setattr(db_module, "PING_AFTER_IDLE_SECONDS", 3600)  # never idle long enough to check
    database = Database(TEST_DATABASE_URL)
    try:
        first = backend_pid(database)
        drop(first)
        with pytest.raises(OperationalError):  # the request in flight: a 503 in the web layer
            backend_pid(database)
        assert backend_pid(database) != first  # the next one gets a new connection
    finally:
        database.dispose()
