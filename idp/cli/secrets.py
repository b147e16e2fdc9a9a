"""idp secrets …: the secrets every instance shares (see idp/shared_secrets.py and the README's
"Secrets and signing keys").

Rotating the data key, as an operator does it:
  1. Put the new key in IDP_DATA_KEYS_OLD on every instance (accepted, not yet used), and deploy.
  2. Swap: IDP_DATA_KEY=new, IDP_DATA_KEYS_OLD=old, on every instance, and deploy.
  3. `idp secrets rotate-data-key`: every TOTP secret re-encrypted under the new key; the new key
     recorded as the one in use. Run it again after an interruption: it resumes.
  4. Remove the old key from IDP_DATA_KEYS_OLD everywhere.
"""
from __future__ import annotations

import click

from idp import audit
from idp.cli import emit, fail, json_option, services
from idp.keyring import passphrase_from_environment
from idp.shared_secrets import check, rotate_data_key
from idp.subject_salt import from_data_key as legacy_salt


@click.group("secrets")
def group():
    """Shared secrets: check them, rotate the data key, keep old subject identifiers."""


@group.command("check")
@json_option
def check_command(as_json):
    """Compare this instance's secrets with the recorded fingerprints (and record missing ones)."""
    s = services()
    checked = check(s.db, s.settings, passphrase_from_environment())
    if not checked:
        fail("the database cannot tell: is it reachable, and migrated (idp db upgrade)?")
    emit({"same_as_recorded": True}, as_json, "secrets: the same as the other instances'")


@group.command("subject-salt")
@click.option("--from-data-key", is_flag=True,
              help="Print the IDP_SUBJECT_SALT that keeps the sub and NameID values derived from IDP_DATA_KEY.")
@json_option
def subject_salt(from_data_key, as_json):
    """For a deployment upgraded from a version whose subject identifiers came from the data key.

    Run it once with the data key in use before the upgrade; set its output as IDP_SUBJECT_SALT on
    every instance, for good. It holds one-way hashes of the key, never the key itself."""
    if not from_data_key:
        fail("the subject salt is never printed; --from-data-key prints the one derived from IDP_DATA_KEY")
    value = legacy_salt(services().settings.data_key)
    emit({"subject_salt": value}, as_json, value)


@group.command("rotate-data-key")
@click.option("--batch-size", type=click.IntRange(1, 10000), default=500, show_default=True)
@json_option
def rotate(batch_size, as_json):
    """Re-encrypt every TOTP secret under IDP_DATA_KEY; then record it as the key in use.

    IDP_DATA_KEYS_OLD must hold the previous key. Resumable and idempotent. No sub or NameID changes:
    they come from IDP_SUBJECT_SALT."""
    s = services()
    check(s.db, s.settings, passphrase_from_environment())
    result = rotate_data_key(s.db, s.settings, batch_size=batch_size)
    with s.db.session() as db:
        audit.admin_action(db, audit.CLI, None, "data_key_rotated")
        db.commit()
    emit(result, as_json, f"re-encrypted {result['re_encrypted']} TOTP secret(s) "
                          f"({result['already_current']} already under the current key); "
                          "IDP_DATA_KEY recorded as the key in use: IDP_DATA_KEYS_OLD can now be emptied")
