"""The portal's own data in SQLite: each citizen's Masar profile, and the server side of sign-ins.

Citizens are known by the IdP's `sub` for Masar, which is pairwise: it means nothing to any other
portal, and Masar never sees or stores a national ID.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
import sqlite3
import time
from pathlib import Path

from flask import current_app, g

SIGN_IN_HOURS = 8  # a working day; the IdP's own session is shorter and asks again when it ends

# Small enough to create at start-up; a portal with migrations would keep this in Alembic.
SCHEMA = """
CREATE TABLE IF NOT EXISTS profiles (
    sub TEXT PRIMARY KEY,
    health TEXT NOT NULL,
    disability TEXT NOT NULL,
    email TEXT NOT NULL,
    mobile TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sign_ins (
    token_hash TEXT PRIMARY KEY,
    sub TEXT NOT NULL,
    claims TEXT NOT NULL,
    id_token TEXT NOT NULL,
    expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS logout_tokens_seen (
    jti TEXT PRIMARY KEY,
    expires_at REAL NOT NULL
);
"""


def init_app(app) -> None:
    path = Path(app.config["MASAR_DATABASE"])
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as connection:
        connection.executescript(SCHEMA)
    connection.close()
    app.teardown_appcontext(_close)


def _db() -> sqlite3.Connection:
    if "masar_db" not in g:
        g.masar_db = sqlite3.connect(current_app.config["MASAR_DATABASE"], timeout=10)
        g.masar_db.row_factory = sqlite3.Row
    return g.masar_db


def _close(_exc) -> None:
    connection = g.pop("masar_db", None)
    if connection is not None:
        connection.close()


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


# --- profiles -----------------------------------------------------------------------------------

def find_profile(sub: str) -> dict | None:
    row = _db().execute("SELECT * FROM profiles WHERE sub = ?", (sub,)).fetchone()
    return dict(row) if row else None


def save_profile(sub: str, health: str, disability: str, email: str, mobile: str) -> None:
    """Create or replace the citizen's Masar profile."""
    now = _now()
    with _db() as connection:
        connection.execute(
            "INSERT INTO profiles (sub, health, disability, email, mobile, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (sub) DO UPDATE SET health = excluded.health, "
            "disability = excluded.disability, email = excluded.email, mobile = excluded.mobile, "
            "updated_at = excluded.updated_at",
            (sub, health, disability, email, mobile, now, now))


# --- sign-ins -----------------------------------------------------------------------------------
# The cookie holds only a random token; the claims and the ID token stay here, so nothing personal
# rides in the browser, and signing out really ends the sign-in.

def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_sign_in(claims: dict, id_token: str) -> str:
    """Record a verified sign-in; returns the token for the session cookie."""
    token = secrets.token_urlsafe(32)
    with _db() as connection:
        connection.execute("DELETE FROM sign_ins WHERE expires_at < ?", (time.time(),))
        connection.execute("INSERT INTO sign_ins VALUES (?, ?, ?, ?, ?)",
                           (_hash(token), claims["sub"], json.dumps(claims), id_token,
                            time.time() + SIGN_IN_HOURS * 3600))
    return token


def find_sign_in(token: str | None) -> dict | None:
    """The live sign-in for a session token: {"sub", "claims", "id_token"}, or None."""
    if not token:
        return None
    row = _db().execute("SELECT sub, claims, id_token FROM sign_ins WHERE token_hash = ? AND expires_at >= ?",
                        (_hash(token), time.time())).fetchone()
    if row is None:
        return None
    return {"sub": row["sub"], "claims": json.loads(row["claims"]), "id_token": row["id_token"]}


def end_sign_in(token: str | None) -> dict | None:
    """Forget a sign-in; returns what it was (for the logout hint), or None."""
    found = find_sign_in(token)
    if found is not None:
        with _db() as connection:
            connection.execute("DELETE FROM sign_ins WHERE token_hash = ?", (_hash(token),))
    return found


# --- back-channel logout (OpenID Connect Back-Channel Logout 1.0 §2.6) ---------------------------

def first_use_of(jti: str, keep_seconds: int) -> bool:
    """Record a logout token's jti; False when it was seen before (a replay)."""
    with _db() as connection:
        connection.execute("DELETE FROM logout_tokens_seen WHERE expires_at < ?", (time.time(),))
        inserted = connection.execute("INSERT OR IGNORE INTO logout_tokens_seen VALUES (?, ?)",
                                      (jti, time.time() + keep_seconds))
    return inserted.rowcount == 1


def end_sign_ins(sub: str | None, sid: str | None) -> int:
    """End the sign-ins of that IdP session (`sid`), or of that citizen (`sub` alone)."""
    with _db() as connection:
        if sid:
            query, args = "DELETE FROM sign_ins WHERE json_extract(claims, '$.sid') = ?", [sid]
            if sub:
                query, args = query + " AND sub = ?", args + [sub]
        else:
            query, args = "DELETE FROM sign_ins WHERE sub = ?", [sub]
        return connection.execute(query, args).rowcount
