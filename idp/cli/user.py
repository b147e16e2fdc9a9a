"""idp user …: identities, for administrators. The same checks as the web pages."""
from __future__ import annotations

import contextlib
import secrets
import sys

import click

from idp import audit, events
from idp.cli import emit, json_option, services
from idp.errors import N_, NotFound, ValidationError
from idp.identity import accounts, mfa, national_id
from idp.identity.birthdate import parse_birth_date
from idp.identity.sessions import SessionStore
from idp.identity.locks import DatabaseLocks
from idp.identity.throttle import LoginThrottle, account_for
from idp.oidc import backchannel
from idp.identity.sign_out import sign_out_everywhere


@click.group("user")
def group():
    """Digital identities."""


def describe(identity) -> dict:
    """What an administrator may see of an identity: no hashes, secrets or codes."""
    return {
        "id": identity.id, "username": identity.username, "national_id": identity.national_id,
        "id_type": identity.id_type, "name_ar": identity.name_ar, "name_en": identity.name_en,
        "email": identity.email, "email_verified": identity.email_verified, "mobile": identity.mobile,
        "status": identity.status, "two_step": identity.has_totp,
        "recovery_codes_left": mfa.unused_recovery_codes(identity),
        "created_at": identity.created_at.isoformat() if identity.created_at else None,
    }


@group.command("create")
@click.option("--national-id", required=True)
@click.option("--birth-date", required=True, help="As in the civil registry, e.g. 1990-03-15.")
@click.option("--calendar", type=click.Choice(["gregorian", "hijri"]), default="gregorian", show_default=True)
@click.option("--username", required=True)
@click.option("--email", required=True)
@click.option("--mobile", default=None, help="Saudi mobile number, e.g. 0512345678.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input; "
              "without it a strong one is generated and printed once.")
@json_option
def create(national_id, birth_date, calendar, username, email, mobile, password_stdin, as_json):
    """Create an active identity for a person in the civil registry."""
    s = services()
    nid = national_id_value(national_id)
    born = parse_birth_date(birth_date, calendar)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        generated = False
    else:
        password = "-".join(secrets.token_urlsafe(6) for _ in range(4))
        generated = True
    person = s.registry.find(nid)  # RegistryUnavailable: one line and a non-zero exit (idp.cli)
    with s.db.session() as db:
        if person is None or person.birth_date != born:
            raise ValidationError(N_("These details do not match the civil registry."))
        identity = accounts.create(db, person, username, password, email, mobile, active=True)
        audit.admin_action(db, audit.CLI, identity.id, "user_created")
        db.commit()
        result = describe(identity)
    if generated:
        result["password"] = password
    text = f"created identity {result['username']} (id {result['id']})"
    emit(result, as_json, text + (f"\npassword (shown once): {password}" if generated else ""))


def national_id_value(text: str) -> str:
    return national_id.parse(text)


def _find(db, who: str):
    identity = accounts.find_by_login(db, who)
    if identity is None:
        raise NotFound(f"no identity with username or national ID {who!r}")
    return identity


def _identity_command(name: str):
    """A command on one identity: `idp user NAME WHO [--json]` (WHO: username or national ID)."""
    def decorate(function):
        return group.command(name)(click.argument("who")(json_option(function)))
    return decorate


@contextlib.contextmanager
def _identity_named(who: str):
    """(services, database session, the identity WHO names); NotFound when none does."""
    s = services()
    with s.db.session() as db:
        yield s, db, _find(db, who)


@_identity_command("show")
def show(who, as_json):
    """Show an identity (WHO: username or national ID)."""
    with _identity_named(who) as (s, db, identity):
        result = describe(identity)
        result["sign_in_locked"] = _throttle(s, db).is_locked(account_for(identity.id, ""))
    emit(result, as_json, "\n".join(f"{k}: {v}" for k, v in result.items()))


def _throttle(s, db) -> LoginThrottle:
    """The web's sign-in throttle: an unlock lifts the locks kept in the database too."""
    return LoginThrottle(s.store, s.settings, locks=DatabaseLocks(db))


def _set_status(who: str, status: str, action: str, as_json: bool):
    with _identity_named(who) as (s, db, identity):
        if status == "active" and (identity.status == "pending" or not identity.email_verified):
            # Unlocking lifts a lock; it does not stand in for the email confirmation that makes
            # a registration active (a pending identity stays pending, a locked one returns to it).
            status = "pending"
        identity.status = status
        audit.admin_action(db, audit.CLI, identity.id, action)
        if status == "locked":  # the lock and the end of every session commit together
            sign_out_everywhere(db, SessionStore.from_settings(s.db.engine, s.settings), identity,
                                event=events.identity_locked)
        db.commit()
        if status == "locked":
            if backchannel.saml_not_told(db, identity.id):  # OIDC portals are told by back-channel
                db.commit()
        else:
            _throttle(s, db).unlock(account_for(identity.id, ""))
            db.commit()
        note = " (email not confirmed yet)" if status == "pending" else ""
        emit({"username": identity.username, "status": status}, as_json,
             f"{identity.username}: {status}{note}")


@_identity_command("lock")
def lock(who, as_json):
    """Lock an identity: it cannot sign in, and its sessions end now."""
    _set_status(who, "locked", "user_locked", as_json)


@_identity_command("unlock")
def unlock(who, as_json):
    """Unlock an identity, and lift a lockout from failed sign-ins."""
    _set_status(who, "active", "user_unlocked", as_json)


@_identity_command("reset-mfa")
def reset_mfa(who, as_json):
    """Turn off the second factor (after the owner proved who they are by other means)."""
    with _identity_named(who) as (_s, db, identity):
        mfa.disable_totp(db, identity)
        audit.admin_action(db, audit.CLI, identity.id, "mfa_reset")
        db.commit()
        emit({"username": identity.username, "two_step": False}, as_json,
             f"{identity.username}: two-step verification turned off")
