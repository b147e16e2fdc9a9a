"""The SP's own key and self-signed certificate, made once into the instance folder and never committed.

One pair signs AuthnRequests and LogoutRequests and decrypts assertions; the metadata publishes the
certificate for both uses (SAML Metadata §2.4.1.1). Self-signed is the norm for SAML metadata
keys: trust comes from the IdP's administrator registering the metadata, not from a CA.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from relying_parties.saml_sp.config import ConfigError, write_once

KEY_FILE, CERT_FILE = "sp_key.pem", "sp_cert.pem"
RSA_BITS = 3072
VALIDITY = dt.timedelta(days=3 * 365)


def key_and_certificate(folder: Path | str, common_name: str) -> tuple[str, x509.Certificate]:
    """(the private key as PEM, its certificate), made on the first call."""
    folder = Path(folder)
    key_pem = write_once(folder / KEY_FILE, _new_key, 0o600)
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError):
        raise ConfigError(f"{folder / KEY_FILE} is not an unencrypted PEM private key: delete it") from None
    # The certificate follows the key: workers racing here each make one for the same key, one is kept.
    cert_pem = write_once(folder / CERT_FILE, lambda: _certificate(key, common_name), 0o644)
    certificate = x509.load_pem_x509_certificate(cert_pem)
    if certificate.public_key() != key.public_key():
        raise ConfigError(f"{folder / CERT_FILE} does not belong to {folder / KEY_FILE}: delete both")
    if certificate.not_valid_after_utc < dt.datetime.now(dt.UTC):
        raise ConfigError(f"{folder / CERT_FILE} expired: delete both files and register the new metadata")
    return key_pem.decode(), certificate


def pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def _new_key() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _certificate(key, common_name: str) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=True,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM)
