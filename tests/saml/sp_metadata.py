"""Service-provider metadata for tests, made by pysaml2 itself from an SP configuration.

Keys and certificates are generated for the test session; nothing is committed.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.config import IdPConfig, SPConfig
from saml2.metadata import entity_descriptor

XMLSEC1 = "/usr/bin/xmlsec1"
ENTITY_ID = "http://127.0.0.1:5002/saml/metadata"
ACS = "http://127.0.0.1:5002/saml/acs"
SLS = "http://127.0.0.1:5002/saml/sls"


class SpMetadata:
    """Writes keys and certificates under `folder` and makes SP (or IdP) metadata with pysaml2."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.key_file = self._write("key.pem", self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        self.cert_file = self.certificate("cert.pem")

    def _write(self, name: str, content: bytes) -> str:
        (self.folder / name).write_bytes(content)
        return str(self.folder / name)

    def certificate(self, file_name: str, *, expired: bool = False, key=None) -> str:
        """A self-signed certificate valid for a day, or one that expired yesterday."""
        key = key or self.key
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sp.test")])
        now = dt.datetime.now(dt.UTC)
        start, end = (now - dt.timedelta(days=30), now - dt.timedelta(days=1)) if expired else \
            (now - dt.timedelta(minutes=5), now + dt.timedelta(days=1))
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
                .sign(key, hashes.SHA256()))
        return self._write(file_name, cert.public_bytes(serialization.Encoding.PEM))

    def make(self, *, entity_id: str = ENTITY_ID, acs=((ACS, BINDING_HTTP_POST),),
             sls=((SLS, BINDING_HTTP_REDIRECT),), signing: bool = True, encryption: bool = True,
             cert_file: str | None = None) -> str:
        """SP metadata: `str(entity_descriptor(SPConfig().load({...})))`."""
        cert_file = cert_file or self.cert_file
        config = {
            "entityid": entity_id, "xmlsec_binary": XMLSEC1,
            "service": {"sp": {"endpoints": {"assertion_consumer_service": list(acs),
                                             "single_logout_service": list(sls)}}},
        }
        if signing:
            config.update(key_file=self.key_file, cert_file=cert_file)
        if encryption:
            config["encryption_keypairs"] = [{"key_file": self.key_file, "cert_file": cert_file}]
        return str(entity_descriptor(SPConfig().load(config)))

    def make_idp(self, entity_id: str = "https://idp.example.gov.sa/saml/metadata") -> str:
        """An identity provider's metadata: what an administrator might upload by mistake."""
        config = IdPConfig().load({
            "entityid": entity_id, "xmlsec_binary": XMLSEC1, "key_file": self.key_file,
            "cert_file": self.cert_file,
            "service": {"idp": {"endpoints": {"single_sign_on_service": [
                ("https://idp.example.gov.sa/saml/sso", BINDING_HTTP_POST)]}}},
        })
        return str(entity_descriptor(config))
