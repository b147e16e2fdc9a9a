"""idp db …: the database schema."""
import click

from idp import shared_secrets
from idp.cli import emit, json_option, services
from idp.keyring import passphrase_from_environment


@click.group("db")
def group():
    """Database schema (Alembic migrations)."""


@group.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@json_option
def upgrade(revision, as_json):
    """Apply migrations up to REVISION."""
    s = services()
    s.db.upgrade(revision)
    # An app started before the tables existed could not check its secrets: do it now.
    shared_secrets.check(s.db, s.settings, passphrase_from_environment())
    emit({"upgraded_to": revision}, as_json, f"database upgraded to {revision}")


@group.command("prune")
@click.option("--all-sessions", is_flag=True,
              help="End every sign-in session, live ones too: do this after restoring a backup.")
@json_option
def prune(all_sessions, as_json):
    """Delete expired and revoked sign-in sessions, ended token families, expired used-once marks,
    old email links and old logout records (each new session also clears a few; run this daily)."""
    from idp import used_once
    from idp.identity import tokens
    from idp.identity.sessions import SessionStore
    from idp.oidc import backchannel, token_families

    s = services()
    sessions = SessionStore.from_settings(s.db.engine, s.settings)
    counts = {"sessions": sessions.end_all() if all_sessions else sessions.prune()}
    with s.db.session() as session:
        counts.update(token_families=token_families.prune(session), used_marks=used_once.prune(session),
                      email_links=tokens.prune(session),
                      logout_records=backchannel.prune(session, s.settings.session_absolute_hours))
        session.commit()
    emit(counts, as_json, ", ".join(f"{name}: {count} deleted" for name, count in counts.items()))
