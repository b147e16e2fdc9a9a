"""The salt of subject identifiers: pairwise `sub` (OpenID Connect Core 1.0 §8.1) and persistent
NameIDs (SAML Core §8.3.7). Never rotated: a new salt is a new identifier for every citizen at every
relying party.

IDP_SUBJECT_SALT is either a random string (each protocol's salt is an HMAC of it), or, for a
deployment whose identifiers were derived from the data key by an earlier version, `legacy:` and
the two salts that version derived (`idp secrets subject-salt --from-data-key` prints it): one-way
HMACs of the data key, never the key, so the data key can then be rotated freely.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

LEGACY_PREFIX = "legacy:"
# The labels the salts were always derived with: part of every identifier, never to change.
LABELS = {"oidc": b"oidc-pairwise-subject", "saml": b"saml-persistent-nameid"}


def salt_for(setting: str, protocol: str) -> bytes:
    """The salt of `protocol`'s ("oidc" or "saml") subject identifiers, from IDP_SUBJECT_SALT."""
    legacy = legacy_salts(setting)
    if legacy is not None:
        return legacy[protocol]
    return hmac.new(setting.encode(), LABELS[protocol], hashlib.sha256).digest()


def from_data_key(data_key: str) -> str:
    """The IDP_SUBJECT_SALT that keeps the identifiers an earlier version derived from `data_key`."""
    raw = b"".join(hmac.new(data_key.encode(), LABELS[p], hashlib.sha256).digest() for p in ("oidc", "saml"))
    return LEGACY_PREFIX + base64.urlsafe_b64encode(raw).decode()


def legacy_salts(value: str) -> dict[str, bytes] | None:
    """The per-protocol salts a `legacy:` value carries, or None when `value` is not one."""
    if not value.startswith(LEGACY_PREFIX):
        return None
    try:
        raw = base64.urlsafe_b64decode(value[len(LEGACY_PREFIX):].encode())
    except (binascii.Error, ValueError):
        return None
    return {"oidc": raw[:32], "saml": raw[32:]} if len(raw) == 64 else None
