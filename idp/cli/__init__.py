"""The admin CLI `idp` (also `flask --app wsgi idp …`): click groups over the same services the web uses.

Every command takes --json. Errors print one line to stderr and exit non-zero, never a traceback.
"""
from __future__ import annotations

import importlib
import json
import logging
import sys

import click

from idp.errors import IdpError

log = logging.getLogger(__name__)

# The command groups, each imported only when it runs (`idp --help` lists them from here, so it
# starts without importing Flask, SQLAlchemy, pysaml2 or pyop). name → (module, attribute, help)
COMMANDS = {
    "db": ("idp.cli.db", "group", "Database schema (Alembic migrations)."),
    "demo": ("idp.cli.demo", "group", "A ready-to-try installation: a synthetic registry and one demo identity."),
    "keys": ("idp.cli.keys", "group", "Signing keys: ID tokens (JWKS) and SAML."),
    "logout": ("idp.cli.logout", "group",
               "Back-channel logout deliveries (OpenID Connect Back-Channel Logout 1.0)."),
    "mail": ("idp.cli.mail", "group", "Outgoing mail: what waits in the outbox, and delivering it."),
    "registry": ("idp.cli.registry", "group", "The civil registry (people, not identities)."),
    "rp": ("idp.cli.rp", "group", "Relying parties: the portals that sign citizens in."),
    "secrets": ("idp.cli.secrets", "group",
                "Shared secrets: check them, rotate the data key, keep old subject identifiers."),
    "serve": ("idp.cli.serve", "command", "Run the identity provider with gunicorn, as in production."),
    "user": ("idp.cli.user", "group", "Digital identities."),
}


class IdpGroup(click.Group):
    """The CLI's error mapper: the IdP's errors (idp.errors, the store's among them) and the
    database's become one clear line on stderr and a non-zero exit. Loads each command group when
    it is used (COMMANDS)."""

    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | set(COMMANDS))

    def get_command(self, ctx, cmd_name):
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in COMMANDS:
            module, attribute, _help = COMMANDS[cmd_name]
            command = getattr(importlib.import_module(module), attribute)
            self.add_command(command, cmd_name)
        return command

    def format_commands(self, ctx, formatter):
        """The list in `idp --help`, from COMMANDS: importing every group only to print its first
        docstring line would cost the second this avoids."""
        rows = [(name, COMMANDS[name][2] if name in COMMANDS else (self.commands[name].get_short_help_str()))
                for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def invoke(self, ctx):
        from sqlalchemy.exc import SQLAlchemyError

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
    from flask import current_app

    return current_app.extensions["idp"]


@click.group(cls=IdpGroup)
@click.pass_context
def cli(ctx):
    """Administer the national identity provider."""
    from flask import has_app_context
    from flask.cli import ScriptInfo

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


def main():
    cli(prog_name="idp")
