"""The IdP's metadata (SAML Metadata 2.0 §2.4.3), fetched over HTTP and kept in memory.

Fetched on first use and kept for an hour (the IdP says `max-age=3600`). A failed fetch is not
kept, and a message that fails validation makes the next request fetch it again, so a rotated
IdP certificate is picked up without a restart. Nothing here knows Flask.
"""
from __future__ import annotations

import threading
import time

import requests
from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser

MAX_BYTES = 512 * 1024
TIMEOUT_SECONDS = 5
CACHE_SECONDS = 3600
MIN_REFETCH_SECONDS = 30  # so that a stream of forged messages cannot make us hammer the IdP


class IdPUnavailable(RuntimeError):
    """The IdP's metadata cannot be fetched, or is not usable IdP metadata."""


class IdPMetadata:
    """python3-saml's `idp` settings for one IdP, from its metadata URL."""

    def __init__(self, url: str, clock=time.monotonic):
        self.url = url
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: dict | None = None
        self._fetched_at = 0.0

    def settings(self) -> dict:
        """The `idp` part of python3-saml's settings: entityId, SSO and SLO URLs, certificates."""
        with self._lock:
            if self._cached is None or self._clock() - self._fetched_at > CACHE_SECONDS:
                self._cached, self._fetched_at = _parse(_fetch(self.url)), self._clock()
            return self._cached

    def forget(self) -> None:
        """Fetch again on the next use, e.g. after a signature that did not verify (unless just fetched)."""
        with self._lock:
            if self._clock() - self._fetched_at > MIN_REFETCH_SECONDS:
                self._cached = None


def _fetch(url: str) -> bytes:
    try:
        with requests.get(url, timeout=TIMEOUT_SECONDS, stream=True,
                          headers={"Accept": "application/samlmetadata+xml"}) as response:
            response.raise_for_status()
            body = response.raw.read(MAX_BYTES + 1, decode_content=True)
    except requests.RequestException as e:
        raise IdPUnavailable(f"cannot fetch {url}: {e}") from None
    if len(body) > MAX_BYTES:
        raise IdPUnavailable(f"{url} is larger than {MAX_BYTES // 1024} KiB")
    return body


def _parse(xml: bytes) -> dict:
    # python3-saml's parser refuses DTDs and entities (lxml with resolve_entities off, no network).
    try:
        parsed = OneLogin_Saml2_IdPMetadataParser.parse(xml)
    except Exception as e:  # noqa: BLE001 - lxml and the parser raise many kinds on bad input
        raise IdPUnavailable(f"the IdP's metadata does not parse: {type(e).__name__}: {e}") from None
    idp = parsed.get("idp") or {}
    missing = [name for name, present in (
        ("entityID", idp.get("entityId")),
        ("an HTTP-Redirect SingleSignOnService", (idp.get("singleSignOnService") or {}).get("url")),
        ("an HTTP-Redirect SingleLogoutService", (idp.get("singleLogoutService") or {}).get("url")),
        ("a signing certificate", idp.get("x509cert") or (idp.get("x509certMulti") or {}).get("signing")),
    ) if not present]
    if missing:
        raise IdPUnavailable(f"the IdP's metadata has no {', '.join(missing)}")
    return idp
