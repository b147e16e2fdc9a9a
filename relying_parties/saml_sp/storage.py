"""The server side of sign-ins, and the assertions already used, in one small SQLite file.

The session cookie holds only a random token (and, between /login and the ACS, the ID of the
AuthnRequest in flight): the NameID, session index and attributes stay here, so nothing personal
rides in the browser, and signing out really ends the sign-in.
"""
from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import time
from pathlib import Path

from flask import current_app, g

SIGN_IN_HOURS = 8  # a working day; the IdP's own session is shorter and asks again when it ends
DATABASE_FILE = "saml_sp.sqlite3"

# Small enough to create at start-up; a portal with migrations would keep this in Alembic.
SCHEMA = """
CREATE TABLE IF NOT EXISTS sign_ins (
    token_hash TEXT PRIMARY KEY,
    data TEXT NOT NULL,
    expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS used_assertions (
    assertion_id TEXT PRIMARY KEY,
    expires_at REAL NOT NULL
);
"""


def init_app(app) -> None:
    path = Path(app.config["SAMLSP_INSTANCE_PATH"]) / DATABASE_FILE
    app.config["SAMLSP_DATABASE"] = str(path)
    with sqlite3.connect(path) as connection:
        connection.executescript(SCHEMA)
    connection.close()
    app.teardown_appcontext(_close)


def _db() -> sqlite3.Connection:
    if "saml_sp_db" not in g:
        g.saml_sp_db = sqlite3.connect(current_app.config["SAMLSP_DATABASE"], timeout=10)
    return g.saml_sp_db


def _close(_exc) -> None:
    connection = g.pop("saml_sp_db", None)
    if connection is not None:
        connection.close()


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def first_use(assertion_id: str, until: float) -> bool:
    """Record an assertion as used; False when it already was (a replay). SAML Profiles §4.1.4.5:
    the SP keeps the IDs of assertions it accepted until they expire."""
    with _db() as connection:
        connection.execute("DELETE FROM used_assertions WHERE expires_at < ?", (time.time(),))
        inserted = connection.execute("INSERT OR IGNORE INTO used_assertions VALUES (?, ?)",
                                      (assertion_id, until))
    return inserted.rowcount == 1


def start_sign_in(data: dict) -> str:
    """Record a verified sign-in (NameID, session index, attributes...); returns the cookie's token."""
    token = secrets.token_urlsafe(32)
    with _db() as connection:
        connection.execute("DELETE FROM sign_ins WHERE expires_at < ?", (time.time(),))
        connection.execute("INSERT INTO sign_ins VALUES (?, ?, ?)",
                           (_hash(token), json.dumps(data), time.time() + SIGN_IN_HOURS * 3600))
    return token


def find_sign_in(token: str | None) -> dict | None:
    if not token:
        return None
    row = _db().execute("SELECT data FROM sign_ins WHERE token_hash = ? AND expires_at >= ?",
                        (_hash(token), time.time())).fetchone()
    return json.loads(row[0]) if row else None


def end_sign_in(token: str | None) -> dict | None:
    """Forget a sign-in; returns what it was (for the LogoutRequest), or None."""
    found = find_sign_in(token)
    if found is not None:
        with _db() as connection:
            connection.execute("DELETE FROM sign_ins WHERE token_hash = ?", (_hash(token),))
    return found


def end_sign_ins_of(name_id: str) -> int:
    """End every sign-in of one NameID (the IdP's LogoutRequest names the citizen, not a browser)."""
    with _db() as connection:
        return connection.execute("DELETE FROM sign_ins WHERE json_extract(data, '$.name_id') = ?",
                                  (name_id,)).rowcount
