"""idp keys …: the keys that sign ID tokens (published at jwks_uri) and the SAML signing certificate.

Rotating the ID token key, as an operator does it:
  1. `idp keys generate` once: the first key signs at once.
  2. `idp keys generate` again: a `next` key, published in the JWKS but not signing yet.
  3. Wait longer than the relying parties cache the JWKS, then `idp keys rotate`: the next key signs,
     the old one stays published for a day so its tokens still verify, and a new `next` key is
     published straight away, so later rotations are just step 3.

Private keys are encrypted with IDP_KEYS_PASSPHRASE when it is set.
"""
from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

import click

from idp import audit
from idp.cli import emit, json_option, services
from idp.keyring import ALGORITHMS, KeyRing, passphrase_from_environment, saml_certificate

alg_option = click.option("--alg", type=click.Choice(ALGORITHMS), default="RS256", show_default=True,
                          help="Signing algorithm (JWA, RFC 7518 §3.1).")
TIMES = ("created_at", "activated_at", "retired_at")


@click.group("keys")
def group():
    """Signing keys: ID tokens (JWKS) and SAML."""


def _ring() -> KeyRing:
    return KeyRing.from_settings(services().settings)


def _audited(action: str) -> None:
    with services().db.session() as db:
        audit.admin_action(db, audit.CLI, None, action)
        db.commit()


def _shown(entry: dict | None) -> dict | None:
    """Metadata with readable UTC times."""
    if entry is None:
        return None
    return {**entry, **{name: _iso(entry[name]) for name in TIMES}}


def _iso(stamp: int | None) -> str | None:
    if stamp is None:
        return None
    return dt.datetime.fromtimestamp(stamp, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


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
@click.option("--force", is_flag=True, help="Replace an existing key and certificate.")
@json_option
def generate_saml(force, as_json):
    """Make the SAML signing certificate.

    Self-signed, RSA 3072 and SHA-256, for three years, named after the issuer's host. An existing
    one is kept unless --force; its SHA-256 fingerprint is printed either way."""
    settings = services().settings
    result = saml_certificate(settings.keys_path, urlsplit(settings.issuer).hostname,
                              passphrase_from_environment(), force=force)
    if result["created"]:
        _audited("saml_certificate_generated")
    verb = "generated" if result["created"] else "kept existing"
    text = (f"{verb} {result['certificate']} ({result['subject']}, valid until {result['not_after']})\n"
            f"SHA-256 fingerprint: {result['sha256_fingerprint']}")
    emit(result, as_json, text)
