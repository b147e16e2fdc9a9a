"""idp db …: the database schema."""
import click

from idp.cli import emit, json_option, services


@click.group("db")
def group():
    """Database schema (Alembic migrations)."""


@group.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@json_option
def upgrade(revision, as_json):
    """Apply migrations up to REVISION."""
    services().db.upgrade(revision)
    emit({"upgraded_to": revision}, as_json, f"database upgraded to {revision}")


@group.command("prune")
@click.option("--all-sessions", is_flag=True,
              help="End every sign-in session, live ones too: do this after restoring a backup.")
@json_option
def prune(all_sessions, as_json):
    """Delete expired and revoked sign-in sessions (each new session also clears a few; run this
    from cron to keep the table small)."""
    from idp.identity.sessions import SessionStore

    s = services()
    sessions = SessionStore.from_settings(s.db.engine, s.settings)
    removed = sessions.end_all() if all_sessions else sessions.prune()
    what = "sessions" if all_sessions else "expired or revoked sessions"
    emit({"sessions_removed": removed}, as_json, f"removed {removed} {what}")
