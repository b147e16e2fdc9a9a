"""The pysaml2 servers (idp/saml/server.py): the signing pair comes from the key ring in the database,
is handed to xmlsec1 through private files, and a new certificate reaches every instance."""
import base64
import os
import re
import stat

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from idp import create_app


def metadata_fingerprint(client) -> str:
    """The SHA-256 fingerprint of the signing certificate in the IdP's metadata."""
    xml = client.get("/saml/metadata").get_data(as_text=True)
    der = base64.b64decode(re.search(r"X509Certificate>([^<]+)<", xml).group(1))
    return x509.load_der_x509_certificate(der).fingerprint(hashes.SHA256()).hex(":").upper()


def test_no_certificate_is_a_503(client):
    assert client.get("/saml/metadata").status_code == 503


def test_the_key_handed_to_xmlsec1_is_private(app, client, saml_keys):
    assert metadata_fingerprint(client) == saml_keys["sha256_fingerprint"]
    key_file, cert_file = app.extensions["idp.saml"]._files[saml_keys["kid"]]
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(key_file)).st_mode) == 0o700
    with open(key_file, "rb") as f:
        pem = f.read()
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")  # decrypted: xmlsec1 reads no other kind


def test_a_new_certificate_reaches_another_instance_within_its_refresh_interval(
        app, services, saml_keys, tmp_path, database_url, store, smtp):
    settings = services.settings
    other = create_app({"instance_path": str(tmp_path / "other"), "keys_path": str(tmp_path / "other" / "keys"),
                        "database_url": database_url, "smtp_url": smtp.url, "store": store, "TESTING": True,
                        "secret_key": settings.secret_key, "data_key": settings.data_key,
                        "subject_salt": settings.subject_salt})
    ring = other.extensions["idp"].keyring
    now = [ring.clock()]
    ring.clock = lambda: now[0]
    assert metadata_fingerprint(other.test_client()) == saml_keys["sha256_fingerprint"]
    replaced = services.keyring.generate_saml("127.0.0.1", force=True)  # what `idp keys generate-saml --force` does
    assert metadata_fingerprint(other.test_client()) == saml_keys["sha256_fingerprint"]
    now[0] += ring.refresh_seconds
    assert metadata_fingerprint(other.test_client()) == replaced["sha256_fingerprint"]
    other.extensions["idp"].db.dispose()
