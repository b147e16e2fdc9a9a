"""idp keys …: the keys that sign ID tokens (published at jwks_uri) and the SAML signing certificate.

Rotating the ID token key, as an operator does it:
  1. `idp keys generate` once: the first key signs at once.
  2. `idp keys generate` again: a `next` key, published in the JWKS but not signing yet.
  3. Wait longer than the relying parties cache the JWKS, then `idp keys rotate`: the next key signs,
     the old one stays published for a day so its tokens still verify, and a new `next` key is
     published straight away, so later rotations are just step 3.

The keys live in the database: a key generated or rotated here is published and used by every
running instance within IDP_KEYS_REFRESH_SECONDS. Private keys are encrypted with IDP_KEYS_PASSPHRASE
when it is set. `idp keys import DIR` brings in the `keys/` folder of an earlier version.
"""
from __future__ import annotations

import datetime as dt
from typing import overload
from pathlib import Path
from urllib.parse import urlsplit

import click

from idp import audit
from idp.cli import emit, json_option, services
from idp.keyring import ALGORITHMS, KeyRing
from idp.keyring_import import import_directory

alg_option = click.option("--alg", type=click.Choice(ALGORITHMS), default="RS256", show_default=True,
                          help="Signing algorithm (JWA, RFC 7518 §3.1).")
TIMES = ("created_at", "activated_at", "retired_at")


@click.group("keys")
def group():
    """Signing keys: ID tokens (JWKS) and SAML."""


def _ring() -> KeyRing:
    """A ring of its own, reading IDP_KEYS_PASSPHRASE now (the web's ring read it at start)."""
    s = services()
    return KeyRing.from_settings(s.settings, s.db, retention_seconds=s.keyring.retention_seconds)


def _audited(action: str) -> None:
    with services().db.session() as db:
        audit.admin_action(db, audit.CLI, None, action)
        db.commit()


@overload
def _shown(entry: dict) -> dict: ...
@overload
def _shown(entry: None) -> None: ...
def _shown(entry: dict | None) -> dict | None:
    """Metadata with readable UTC times."""
    if entry is None:
        return None
    return {**entry, **{name: _iso(entry[name]) for name in TIMES}}


def _iso(stamp: int | None) -> str | None:
    if stamp is None:
        return None
    return dt.datetime.fromtimestamp(stamp, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@group.command("generate")
@alg_option
@json_option
def generate(alg, as_json):
    """Generate an ID token signing key.

    The first key of an algorithm signs at once; a later one is published as `next` and signs after
    `idp keys rotate`."""
    entry = _shown(_ring().generate(alg))
    _audited("keys_generated")
    if entry["state"] == "active":
        text = f"generated {alg} key {entry['kid']}: active, signing now"
    else:
        text = (f"generated {alg} key {entry['kid']}: next, published in the JWKS\n"
                f"once relying parties have fetched it: idp keys rotate --alg {alg}")
    emit(entry, as_json, text)


@group.command("list")
@json_option
def list_keys(as_json):
    """List the keys and whether the JWKS publishes them."""
    entries = [_shown(e) for e in _ring().list()]
    lines = [f"{'kid':<44} {'alg':<6} {'state':<8} {'created':<21} {'activated':<21} {'retired':<21} published"]
    for e in entries:
        lines.append(f"{e['kid']:<44} {e['alg']:<6} {e['state']:<8} " + " ".join(
            f"{e[name] or '-':<21}" for name in TIMES) + f" {'yes' if e['published'] else 'no'}")
    emit(entries, as_json, "\n".join(lines) if entries else "no keys: run `idp keys generate`")


@group.command("rotate")
@alg_option
@json_option
def rotate(alg, as_json):
    """Make the next key sign; retire the active one.

    The retired key stays published long enough for the tokens it signed to expire, and a fresh
    `next` key is published at once for the following rotation."""
    ring = _ring()
    result = ring.rotate(alg)
    _audited("keys_rotated")
    shown = {"alg": alg, **{role: _shown(result[role]) for role in ("active", "retired", "next")}}
    retired = shown["retired"]
    text = "\n".join([
        f"active: {shown['active']['kid']} ({alg}, signing now)",
        f"retired: {retired['kid']} (published {ring.retention_seconds // 3600} h more, so its tokens verify)"
        if retired else "retired: none",
        f"next: {shown['next']['kid']} (published, signs at the next rotation)",
    ])
    emit(shown, as_json, text)


@group.command("generate-saml")
@click.option("--force", is_flag=True, help="Replace the current key and certificate (relying parties "
                                             "must fetch the new metadata).")
@json_option
def generate_saml(force, as_json):
    """Make the SAML signing certificate.

    Self-signed, RSA 3072 and SHA-256, for three years, named after the issuer's host. An existing
    one is kept unless --force; its SHA-256 fingerprint is printed either way."""
    result = _ring().generate_saml(urlsplit(services().settings.issuer).hostname, force=force)
    if result["created"]:
        _audited("saml_certificate_generated")
    verb = "generated" if result["created"] else "kept existing"
    text = (f"{verb} SAML certificate {result['kid']} ({result['subject']}, valid until {result['not_after']})\n"
            f"SHA-256 fingerprint: {result['sha256_fingerprint']}")
    emit(result, as_json, text)


@group.command("import")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), required=False)
@json_option
def import_keys(directory, as_json):
    """Import the keys/ folder of an earlier version (default: IDP_KEYS_PATH) into the database.

    Every key keeps its kid, state and times, so tokens it signed keep verifying; the SAML pair
    keeps its certificate. A key already in the database is left alone; one whose state is taken
    there (another active or next key) is imported as retired. Run with the IDP_KEYS_PASSPHRASE
    the files were written with."""
    result = import_directory(_ring(), directory or Path(services().settings.keys_path))
    if result["imported"] or result["retired_on_import"]:
        _audited("keys_imported")
    text = "\n".join(f"{label}: {', '.join(result[name]) or 'none'}" for name, label in (
        ("imported", "imported"), ("retired_on_import", "imported as retired (state taken)"),
        ("already_present", "already in the database")))
    emit(result, as_json, text)
