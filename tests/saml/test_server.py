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


class Statements:
    """The SQL statements the app's engine runs while `active` (as tests/oidc/test_statement_counts)."""

    def __init__(self, engine):
        from sqlalchemy import event

        self.engine, self.seen, self.active = engine, [], False
        event.listen(engine, "before_cursor_execute", self._record)

    def _record(self, _conn, _cursor, statement, *_args):
        if self.active:
            self.seen.append(" ".join(statement.split()))

    def close(self):
        from sqlalchemy import event

        event.remove(self.engine, "before_cursor_execute", self._record)


def test_sp_metadata_is_read_only_when_the_registered_sps_change(app, services, saml_keys, saml_sp):
    """Every SAML request asks which SPs are enabled (a few ids); the metadata XML is read, and the
    pysaml2 servers rebuilt, only when that answer changes — including after a change made through
    another instance, which shares only the database."""
    from idp.oidc import clients
    from idp.saml import sps
    from tests.saml.service_provider import ServiceProvider

    servers = app.extensions["idp.saml"]
    saml_sp()  # one SP registered, as before the first SSO
    statements = Statements(services.db.engine)
    try:
        with app.test_request_context():
            first = servers.get(True)
        assert "http://127.0.0.1:5002/saml/metadata" in first.metadata.keys()
        statements.active = True
        with app.test_request_context():
            assert servers.get(True) is first and servers.get(False) is not None
        statements.active = False
        metadata_reads = [s for s in statements.seen if "saml_metadata," in s or "saml_metadata FROM" in s]
        assert statements.seen and not metadata_reads

        # another instance registers a second SP (its own session: nothing of this app's is told)
        metadata = app.test_client().get("/saml/metadata").get_data(as_text=True)
        other = ServiceProvider(metadata, entity_id="https://other-portal.example/saml/metadata")
        with services.db.session() as session:
            sps.register_saml(session, name="Other portal", metadata_xml=other.metadata())
            session.commit()
        with app.test_request_context():
            second = servers.get(True)
        assert second is not first
        assert {"http://127.0.0.1:5002/saml/metadata", "https://other-portal.example/saml/metadata"} \
            <= set(second.metadata.keys())

        with services.db.session() as session:  # and disables it again
            clients.set_enabled(session, "https://other-portal.example/saml/metadata", False)
            session.commit()
        with app.test_request_context():
            third = servers.get(True)
        assert "https://other-portal.example/saml/metadata" not in third.metadata.keys()
    finally:
        statements.close()


def test_an_sp_registered_after_a_first_sso_signs_in_at_once(app, web, services, saml_sp, people, identities):
    from idp.saml import sps
    from tests.saml.service_provider import ServiceProvider
    from tests.saml.test_sso import follow_to_form

    made = identities.make(people["citizen"])
    first = saml_sp()
    form, _ = follow_to_form(web, first.login_url(), made)
    assert first.accept(form["SAMLResponse"], first.last_request_id).is_authenticated()
    metadata = web.client.get("/saml/metadata").get_data(as_text=True)
    second = ServiceProvider(metadata, entity_id="https://other-portal.example/saml/metadata")
    with services.db.session() as session:  # as `idp rp register-saml` on another instance
        sps.register_saml(session, name="Other portal", metadata_xml=second.metadata(), require_signed_requests=True)
        session.commit()
    form, _ = follow_to_form(web, second.login_url())
    auth = second.accept(form["SAMLResponse"], second.last_request_id)
    assert auth.get_errors() == [], auth.get_last_error_reason()
    assert auth.is_authenticated()
