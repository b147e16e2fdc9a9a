"""A software WebAuthn authenticator for tests: makes the attestation and assertion objects a
browser would send (WebAuthn §6.1 authenticator data, §6.5.2 "none" attestation), with an ES256 key
from `cryptography` and CBOR from `cbor2` (installed with `webauthn`). Neither `webauthn` nor
`fido2` ships one. Test code only: the IdP itself never builds or parses CBOR by hand."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import struct

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

UP, UV, BE, BS, AT = 0x01, 0x04, 0x08, 0x10, 0x40


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SoftKey:
    """One discoverable credential. `synced` sets the backup flags (a multi-device passkey)."""

    def __init__(self, rp_id: str, origin: str, synced: bool = False, counter: int = 0):
        self.rp_id, self.origin, self.synced, self.counter = rp_id, origin, synced, counter
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = os.urandom(32)
        self.user_handle: bytes | None = None
        self.aaguid = bytes(16)

    def _cose(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")})

    def _flags(self, uv: bool) -> int:
        return UP | (UV if uv else 0) | ((BE | BS) if self.synced else 0)

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        return json.dumps({"type": kind, "challenge": challenge, "origin": origin or self.origin,
                           "crossOrigin": False}).encode()

    def create(self, options: dict, uv: bool = True, origin: str | None = None, rp_id: str | None = None) -> dict:
        """navigator.credentials.create() answering `options` (the JSON the IdP sent)."""
        self.user_handle = unb64url(options["user"]["id"])
        auth_data = (hashlib.sha256((rp_id or self.rp_id).encode()).digest() + bytes([self._flags(uv) | AT])
                     + struct.pack(">I", self.counter) + self.aaguid
                     + struct.pack(">H", len(self.credential_id)) + self.credential_id + self._cose())
        client_data = self._client_data("webauthn.create", options["challenge"], origin)
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return {"id": b64url(self.credential_id), "rawId": b64url(self.credential_id), "type": "public-key",
                "response": {"clientDataJSON": b64url(client_data), "attestationObject": b64url(attestation),
                             "transports": ["internal"]},
                "clientExtensionResults": {}, "authenticatorAttachment": "platform"}

    def get(self, options: dict, uv: bool = True, origin: str | None = None, counter: int | None = None,
            rp_id: str | None = None) -> dict:
        """navigator.credentials.get() answering `options`; the counter grows unless given."""
        self.counter = self.counter + 1 if counter is None else counter
        auth_data = (hashlib.sha256((rp_id or self.rp_id).encode()).digest() + bytes([self._flags(uv)])
                     + struct.pack(">I", self.counter))
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        signature = self.key.sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        return {"id": b64url(self.credential_id), "rawId": b64url(self.credential_id), "type": "public-key",
                "response": {"clientDataJSON": b64url(client_data), "authenticatorData": b64url(auth_data),
                             "signature": b64url(signature),
                             "userHandle": b64url(self.user_handle) if self.user_handle else None},
                "clientExtensionResults": {}, "authenticatorAttachment": "platform"}
