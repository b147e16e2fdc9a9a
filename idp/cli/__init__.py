"""The admin CLI `idp` (also `flask --app wsgi idp …`): click groups over the same services the web uses.

Every command takes --json. Errors print one line to stderr and exit non-zero, never a traceback.
"""
from __future__ import annotations

import json
import logging
import sys

import click
from flask import current_app, has_app_context
from flask.cli import ScriptInfo
from sqlalchemy.exc import SQLAlchemyError

from idp.errors import IdpError

log = logging.getLogger(__name__)


class IdpGroup(click.Group):
    """The CLI's error mapper: the IdP's errors (idp.errors, the store's among them) and the
    database's become one clear line on stderr and a non-zero exit."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except IdpError as e:
            fail(e.message)
        except SQLAlchemyError as e:
            log.debug("database error", exc_info=True)
            fail(f"database error: {str(e.orig if hasattr(e, 'orig') else e).splitlines()[0]}")


def fail(message: str, code: int = 1):
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def emit(data, as_json: bool, text: str | None = None) -> None:
    """Print a command's result: JSON when asked, else a short human text."""
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))
    else:
        click.echo(text if text is not None else json.dumps(data, ensure_ascii=False, default=str))


json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")


def services():
    return current_app.extensions["idp"]


@click.group(cls=IdpGroup)
@click.pass_context
def cli(ctx):
    """Administer the national identity provider."""
    if has_app_context():
        return
    script_info = ctx.find_object(ScriptInfo)  # under `flask idp …` or Flask's test runner
    try:
        if script_info is not None:
            app = script_info.load_app()
        else:
            from idp import create_app

            # `idp secrets …` repairs what the start-up check refuses: let it start
            app = create_app(check_secrets=ctx.invoked_subcommand != "secrets")
    except IdpError as e:
        fail(e.message)
    ctx.with_resource(app.app_context())


def _register_commands():
    from idp.cli import db, demo, keys, logout, mail, registry, rp, secrets, serve, user

    for module in (db, demo, keys, logout, registry, rp, secrets, user, mail):
        cli.add_command(module.group)
    cli.add_command(serve.command)


_register_commands()


def main():
    cli(prog_name="idp")
