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
@json_option
def prune(as_json):
    """Delete ended token families, expired used-once marks, old email links and old logout records (run daily)."""
    from idp import used_once
    from idp.identity import tokens
    from idp.oidc import backchannel, token_families

    with services().db.session() as session:
        counts = {"token_families": token_families.prune(session), "used_marks": used_once.prune(session),
                  "email_links": tokens.prune(session),
                  "logout_records": backchannel.prune(session, services().settings.session_absolute_hours)}
        session.commit()
    emit(counts, as_json, ", ".join(f"{name}: {count} deleted" for name, count in counts.items()))
