"""pysaml2's IdP server, configured from our settings, keys and registered service providers.

Two servers are kept: one that requires signed requests and one that does not (pysaml2 reads
that from its configuration, not per request). They are rebuilt only when the set of enabled
service providers or the signing certificate (from the key ring, in the database) changes. Each
request reads only the ids of the enabled SPs (sps.enabled_marker), from the database every
instance shares, so an SP registered or disabled through another instance is seen at its next request.
"""
from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.config import IdPConfig
from saml2.saml import NAME_FORMAT_URI, NAMEID_FORMAT_PERSISTENT, NAMEID_FORMAT_TRANSIENT
from saml2.server import Server
from saml2.sigver import get_xmlsec_binary
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

from idp.errors import ServiceUnavailable
from idp.saml import engine, sps

ASSERTION_MINUTES = 5
PATHS = {"sso_redirect": "/saml/sso/redirect", "sso_post": "/saml/sso/post",
         "slo_redirect": "/saml/slo/redirect", "slo_post": "/saml/slo/post", "metadata": "/saml/metadata"}


def entity_id(issuer: str) -> str:
    return issuer + PATHS["metadata"]


def idp_config(issuer: str, key_file: str, cert_file: str, metadata: list[str], signed_requests: bool) -> dict:
    return {
        "entityid": entity_id(issuer),
        "name": "National Single Sign-On",
        "key_file": key_file,
        "cert_file": cert_file,
        "xmlsec_binary": get_xmlsec_binary(["/usr/bin", "/usr/local/bin"]),
        "metadata": {"inline": metadata},
        "accepted_time_diff": 60,
        "signing_algorithm": SIG_RSA_SHA256,
        "digest_algorithm": DIGEST_SHA256,
        "allow_unknown_attributes": True,
        "service": {"idp": {
            "endpoints": {
                "single_sign_on_service": [(issuer + PATHS["sso_redirect"], BINDING_HTTP_REDIRECT),
                                           (issuer + PATHS["sso_post"], BINDING_HTTP_POST)],
                "single_logout_service": [(issuer + PATHS["slo_redirect"], BINDING_HTTP_REDIRECT),
                                          (issuer + PATHS["slo_post"], BINDING_HTTP_POST)],
            },
            "name_id_format": [NAMEID_FORMAT_PERSISTENT, NAMEID_FORMAT_TRANSIENT],
            "want_authn_requests_signed": signed_requests,
            "sign_assertion": True,
            "sign_response": True,
            "policy": {"default": {"lifetime": {"minutes": ASSERTION_MINUTES}, "name_form": NAME_FORMAT_URI,
                                   "attribute_restrictions": None}},
        }},
    }


class SamlServers:
    """The two pysaml2 servers of one app, rebuilt when the registered SPs change."""

    def __init__(self, settings, session_factory, keyring):
        self.settings = settings
        self.session_factory = session_factory
        self.keyring = keyring
        self._lock = threading.Lock()
        self._fingerprint = None
        self._servers: dict[bool, Server] = {}
        self._files: dict[str, tuple[str, str]] = {}  # kid → (key file, certificate file)

    def get(self, signed_requests: bool) -> Server:
        signing = self.keyring.saml_signing()
        if signing is None:
            raise ServiceUnavailable("no SAML signing certificate: run `idp keys generate-saml`")
        with self.session_factory() as session:
            fingerprint = (signing["kid"], sps.enabled_marker(session))
            if fingerprint == self._fingerprint:
                return self._servers[signed_requests]
            metadata = sps.enabled_metadata(session)
        with self._lock:
            if fingerprint != self._fingerprint:
                key_file, cert_file = self._key_files(signing)
                xml = [m for _, m in metadata]
                self._servers = {strict: engine.build_server(IdPConfig().load(idp_config(
                    self.settings.issuer, key_file, cert_file, xml, strict))) for strict in (False, True)}
                self._fingerprint = fingerprint
            return self._servers[signed_requests]

    def _key_files(self, signing: dict) -> tuple[str, str]:
        if signing["kid"] not in self._files:
            self._files[signing["kid"]] = _private_copy(signing["key_pem"], signing["certificate"])
        return self._files[signing["kid"]]


def _private_copy(key_pem: bytes, certificate: bytes) -> tuple[str, str]:
    """pysaml2 hands xmlsec1 file paths, and xmlsec1 reads only an unencrypted key: keep the pair in
    a private temporary folder (0700, key 0600) for the life of the process, removed at exit."""
    folder = tempfile.mkdtemp(prefix="idp-saml-")
    atexit.register(shutil.rmtree, folder, True)
    paths = []
    for name, data, mode in (("key.pem", key_pem, 0o600), ("cert.pem", certificate, 0o644)):
        path = os.path.join(folder, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        paths.append(path)
    return paths[0], paths[1]
