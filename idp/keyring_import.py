"""`idp keys import DIR`: bring keys from the `keys/` folder of an earlier version into the database.

That folder held `keyring.json` (the ID token keys and their states), one PKCS#8 file `<kid>.pem`
per key (encrypted under IDP_KEYS_PASSPHRASE when it was set) and the SAML pair
`saml-signing.key`/`saml-signing.crt`. Every key keeps its kid, state and timestamps, so ID tokens
already issued keep verifying and the SAML certificate relying parties hold stays the same.
Importing twice changes nothing.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from idp.keyring import ACTIVE, ALGORITHMS, NEXT, SAML, STATES, KeyRing, KeyRingError, PASSPHRASE_ENV

METADATA_FILE = "keyring.json"
SAML_KEY_FILE, SAML_CERT_FILE = "saml-signing.key", "saml-signing.crt"
_KID = re.compile(r"[A-Za-z0-9_-]{16,128}")  # a kid names a file: nothing else gets through


def import_directory(ring: KeyRing, directory: Path) -> dict:
    """Import what `directory` holds; returns the kids imported, already present, and imported as
    retired because the database already had a key in that state."""
    directory = Path(directory)
    if not directory.is_dir():
        raise KeyRingError(f"{directory}: no such folder")
    result: dict[str, list[str]] = {"imported": [], "already_present": [], "retired_on_import": []}
    metadata = directory / METADATA_FILE
    entries = _parse_metadata(metadata, _read(metadata)) if metadata.exists() else []
    for entry in entries:
        private = _load(directory / f"{entry['kid']}.pem", ring.passphrase)
        added = ring.add(private, entry["alg"], entry["state"], created_at=entry["created_at"],
                         activated_at=entry["activated_at"], retired_at=entry["retired_at"],
                         expected_kid=entry["kid"])
        _note(result, entry, added)
    key_path, cert_path = directory / SAML_KEY_FILE, directory / SAML_CERT_FILE
    if key_path.exists() and cert_path.exists():
        certificate = _read(cert_path)
        try:
            not_before = int(x509.load_pem_x509_certificate(certificate).not_valid_before_utc.timestamp())
        except ValueError:
            raise KeyRingError(f"{cert_path}: not a PEM certificate") from None
        entry = {"kid": SAML_CERT_FILE, "state": ACTIVE}
        added = ring.add(_load(key_path, ring.passphrase), "RS256", ACTIVE, SAML, created_at=not_before,
                         activated_at=not_before, certificate=certificate)
        _note(result, entry, added)
    if not entries and not key_path.exists():
        raise KeyRingError(f"{directory}: holds neither {METADATA_FILE} nor {SAML_KEY_FILE}")
    return result


def _note(result: dict, entry: dict, added: dict | None) -> None:
    if added is None:
        result["already_present"].append(entry["kid"])
    elif added["state"] != entry["state"]:
        result["retired_on_import"].append(added["kid"])
    else:
        result["imported"].append(added["kid"])


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise KeyRingError(f"{path}: cannot read: {e.strerror}") from None


def _load(path: Path, passphrase: bytes | None):
    try:
        return serialization.load_pem_private_key(_read(path), passphrase)
    except TypeError:
        if passphrase is None:
            raise KeyRingError(f"{path}: the key is encrypted; set {PASSPHRASE_ENV}") from None
        raise KeyRingError(f"{path}: the key is not encrypted, but {PASSPHRASE_ENV} is set") from None
    except (ValueError, UnsupportedAlgorithm):
        why = f"wrong {PASSPHRASE_ENV} or a damaged file" if passphrase else "a damaged file"
        raise KeyRingError(f"{path}: cannot load the key ({why})") from None


def _parse_metadata(path: Path, raw: bytes) -> list[dict]:
    try:
        data = json.loads(raw)
        if not isinstance(data, list):
            raise ValueError("expected a list of keys")
        entries = [_checked_entry(item) for item in data]
        for alg in ALGORITHMS:
            for state in (ACTIVE, NEXT):
                if sum(1 for e in entries if e["alg"] == alg and e["state"] == state) > 1:
                    raise ValueError(f"more than one {state} {alg} key")
    except (ValueError, TypeError, KeyError) as e:
        raise KeyRingError(f"{path}: corrupted ({e})") from None
    return entries


def _checked_entry(item) -> dict:
    if not isinstance(item, dict):
        raise ValueError("a key entry is not an object")
    entry = {name: item.get(name) for name in ("kid", "alg", "state", "created_at", "activated_at", "retired_at")}
    if not isinstance(entry["kid"], str) or not _KID.fullmatch(entry["kid"]):
        raise ValueError(f"bad kid {entry['kid']!r}")
    if entry["alg"] not in ALGORITHMS or entry["state"] not in STATES:
        raise ValueError(f"key {entry['kid']}: bad alg or state")
    stamps = [entry["created_at"]] + [entry[n] for n in ("activated_at", "retired_at") if entry[n] is not None]
    if (entry["state"] == "retired" and entry["retired_at"] is None) or not all(type(s) is int for s in stamps):
        raise ValueError(f"key {entry['kid']}: bad timestamps")
    return entry
