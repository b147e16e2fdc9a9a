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
