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
