"""A small real civil-registry service for tests: the API of idp/identity/registry_http.py served
by http.server over TLS on a loopback port, requiring a client certificate, with certificates made
here by `cryptography` (a CA, the server's, ours as the client, and a stranger CA's)."""
from __future__ import annotations

import datetime as dt
import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# --- certificates --------------------------------------------------------------------------------


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write(folder: Path, stem: str, key, cert) -> tuple[Path, Path]:
    key_path, cert_path = folder / f"{stem}.key", folder / f"{stem}.pem"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


class Authority:
    """A CA that issues server and client certificates (EC P-256, valid for a day)."""

    def __init__(self, folder: Path, name: str):
        self.folder, self.key = folder, ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        self.cert = (x509.CertificateBuilder().subject_name(_name(name)).issuer_name(_name(name))
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                     .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                                  content_commitment=False, key_encipherment=False,
                                                  data_encipherment=False, key_agreement=False,
                                                  encipher_only=False, decipher_only=False), critical=True)
                     .sign(self.key, hashes.SHA256()))
        self.cert_path, _ = _write(folder, name, self.key, self.cert)

    def issue(self, stem: str, server: bool) -> tuple[Path, Path]:
        key, now = ec.generate_private_key(ec.SECP256R1()), dt.datetime.now(dt.UTC)
        builder = (x509.CertificateBuilder().subject_name(_name(stem)).issuer_name(self.cert.subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.ExtendedKeyUsage(
                       [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]),
                       critical=False))
        if server:
            import ipaddress
            builder = builder.add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]), critical=False)
        return _write(self.folder, stem, key, builder.sign(self.key, hashes.SHA256()))


class Certificates:
    """Paths: `ca`, `server_cert`/`server_key`, `client_cert`/`client_key` (ours), and
    `stranger_ca` with `stranger_cert`/`stranger_key` (a client the registry's CA never signed)."""

    def __init__(self, folder: Path):
        authority, stranger = Authority(folder, "registry-ca"), Authority(folder, "stranger-ca")
        self.ca, self.stranger_ca = authority.cert_path, stranger.cert_path
        self.server_cert, self.server_key = authority.issue("registry-server", server=True)
        self.client_cert, self.client_key = authority.issue("idp-client", server=False)
        self.stranger_cert, self.stranger_key = stranger.issue("stranger-client", server=False)


# --- the service ---------------------------------------------------------------------------------


def person_json(person) -> dict:
    """A registry answer for `person` (anything with the registry's fields)."""
    return {"national_id": person.national_id, "birth_date": person.birth_date.isoformat(),
            "gender": person.gender, "name_ar": person.name_ar, "name_en": person.name_en,
            "nationality": person.nationality, "mobile": person.mobile}


class RegistryService:
    """`people` (national ID → answer dict) are served at GET /people/{id}. `requests` counts the
    requests that got past TLS, `refused` the handshakes that did not. Misbehaviour on demand:
    `status` (answer every request with it), `body` (bytes to send with 200), `hold` (answer
    nothing until `release()`: a registry that hangs)."""

    def __init__(self, certificates: Certificates):
        self.people: dict[str, dict] = {}
        self.requests, self.refused = 0, 0
        self.paths: list[str] = []
        self.status: int | None = None
        self.body: bytes | None = None
        self.hold = False
        self._released = threading.Event()
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(certificates.server_cert, certificates.server_key)
        tls.load_verify_locations(certificates.ca)
        tls.verify_mode = ssl.CERT_REQUIRED  # no client certificate, no answer
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                service.requests += 1
                service.paths.append(self.path)
                if service.hold:
                    service._released.wait(30)
                    return
                if service.status is not None:
                    return self._send(service.status, b'{"error": "internal"}')
                if service.body is not None:
                    return self._send(200, service.body)
                national_id = self.path.removeprefix("/v1/people/")
                if not self.path.startswith("/v1/people/") or national_id not in service.people:
                    return self._send(404, b'{"error": "not found"}')
                self._send(200, json.dumps(service.people[national_id]).encode())

            def _send(self, status: int, body: bytes):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                if 300 <= status < 400:
                    self.send_header("Location", "https://elsewhere.example/")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def finish_request(self, request, client_address):
                # The handshake in the request's own thread, so that a refused client stops nobody.
                try:
                    secured = tls.wrap_socket(request, server_side=True)
                except (ssl.SSLError, OSError):
                    service.refused += 1
                    return
                try:
                    super().finish_request(secured, client_address)
                finally:
                    secured.close()

            def handle_error(self, request, client_address):
                pass  # a client that went away (a timeout) is not the test's failure

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def release(self) -> None:
        self._released.set()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.release()
        self.server.shutdown()
        self.server.server_close()
