"""The pieces of pysaml2 we replace, each listed here and tested in tests/saml/test_engine.py.

1. `GuardedServer.unravel`: pysaml2 decodes a message itself, and differently from the guard
   (for HTTP-POST it first tries to inflate the body, which SAML Bindings §3.5.4 never does, and
   zlib ignores trailing bytes). Here it decodes nothing: it accepts only an `Approved` message
   and returns the very bytes guard.inspect approved, so the guard and pysaml2 read one document.
2. `Xmlsec1._run_xmlsec`: every xmlsec1 run has a time limit; a run that exceeds it is killed and
   counts as a failed verification (a refusal), so no message can buy unbounded CPU.
3. `Xmlsec1.encrypt_assertion`: pysaml2 encrypts with 3DES-CBC and RSA-OAEP/SHA-1. Here the
   assertion is encrypted with AES-256-GCM (XML Encryption 1.1 §5.2.4) by xmlsec1, with a session
   key we generate and hand to it through a pipe; the key is transported with RSA-OAEP whose digest
   is SHA-256 (rsa-oaep-mgf1p with a DigestMethod, XML Encryption 1.1 §5.5.2), done with
   `cryptography` because xmlsec1 1.2 allows only SHA-1 there. The mask function stays MGF1-SHA-1:
   stating MGF1-SHA-256 needs an xenc11:MGF element, which python3-saml's strict schema check
   refuses. python3-saml (libxmlsec1 1.3) decrypts the result; a test proves it.
"""
from __future__ import annotations

import base64
import functools
import os
import subprocess
from functools import cached_property
from tempfile import NamedTemporaryFile

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from saml2.s_utils import UnravelError
from saml2.server import Server
from saml2.sigver import ASSERT_XPATH, CryptoBackendXmlSec1, XmlsecError, make_temp, pre_encrypt_assertion
from saml2.saml import SamlBase

XMLSEC_SECONDS = 5  # one signature check or signing takes milliseconds; this bounds a hostile one

AES256_GCM = "http://www.w3.org/2009/xmlenc11#aes256-gcm"
RSA_OAEP = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
_DATA_METHOD = f'<xenc:EncryptionMethod Algorithm="{AES256_GCM}"/>'
_TEMPLATE = ('<xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" '
             'Type="http://www.w3.org/2001/04/xmlenc#Element">' + _DATA_METHOD +
             '<xenc:CipherData><xenc:CipherValue/></xenc:CipherData></xenc:EncryptedData>')


class Approved(str):
    """An encoded SAML message (as it arrived: the Redirect binding's signature covers that form)
    together with the decoded bytes the guard approved."""

    xml: bytes

    def __new__(cls, encoded: str, xml: bytes) -> Approved:
        value = super().__new__(cls, encoded)
        value.xml = xml
        return value


class GuardedServer(Server):
    """pysaml2's IdP server that parses only what the guard approved (override 1)."""

    @staticmethod
    def unravel(txt, binding, msgtype="response"):
        if isinstance(txt, Approved):
            return txt.xml
        raise UnravelError("only messages approved by idp.saml.guard are parsed")


class Xmlsec1(CryptoBackendXmlSec1):
    """pysaml2's xmlsec1 backend with a time limit (override 2) and AES-GCM encryption (override 3)."""

    def __init__(self, xmlsec_binary: str, seconds: float = XMLSEC_SECONDS, delete_tmpfiles: bool = True):
        super().__init__(xmlsec_binary, delete_tmpfiles=delete_tmpfiles)
        self.seconds = seconds

    @cached_property
    def version(self) -> str:  # pysaml2 runs `xmlsec1 --version` before every command otherwise
        return xmlsec1_version(self.xmlsec)

    def _run_xmlsec(self, com_list, extra_args, pass_fds=()):
        """pysaml2's own `_run_xmlsec`, with `timeout=`: a run past the limit is killed and raises
        XmlsecError, which pysaml2 turns into a failed signature check or signing error."""
        with NamedTemporaryFile(suffix=".xml") as ntf:
            com_list = [*com_list, "--output", ntf.name]
            if self.version_nums >= (1, 3):
                com_list.append("--lax-key-search")
            com_list += extra_args
            try:
                # pysaml2's own xmlsec1 argument list, no shell
                completed = subprocess.run(com_list, capture_output=True,  # noqa: S603
                                           timeout=self.seconds, pass_fds=pass_fds)
            except subprocess.TimeoutExpired:
                raise XmlsecError(f"xmlsec1 did not finish within {self.seconds} s") from None
            if completed.returncode != 0:
                raise XmlsecError(f"returncode={completed.returncode}\nerror={completed.stderr.decode()}")
            ntf.seek(0)
            return completed.stdout.decode(), completed.stderr.decode(), ntf.read()

    def encrypt_assertion(self, statement, enc_key, template, key_type=None, node_xpath=None, node_id=None):
        """Encrypt the assertion for the SP whose certificate is in the file `enc_key`.

        pysaml2's `template` and `key_type` (3DES, OAEP/SHA-1) are ignored on purpose.
        """
        if isinstance(statement, SamlBase):
            statement = pre_encrypt_assertion(statement)
        with open(enc_key, "rb") as f:
            public_key = x509.load_pem_x509_certificate(f.read()).public_key()
        if not isinstance(public_key, rsa.RSAPublicKey):  # rsa-oaep-mgf1p key transport needs RSA
            raise XmlsecError("the SP's encryption certificate does not hold an RSA key")
        session_key = os.urandom(32)
        data = make_temp(str(statement), decode=False, delete_tmpfiles=self.delete_tmpfiles)
        skeleton = make_temp(_TEMPLATE, decode=False, delete_tmpfiles=self.delete_tmpfiles)
        read_end, pipe_write_end = os.pipe()
        write_end: int | None = pipe_write_end
        try:
            os.write(pipe_write_end, session_key)  # 32 bytes: well inside a pipe's buffer
            os.close(pipe_write_end)
            write_end = None
            com_list = [self.xmlsec, "--encrypt", "--aeskey", f"/dev/fd/{read_end}", "--xml-data", data.name,
                        "--node-xpath", node_xpath or ASSERT_XPATH]
            if node_id:
                com_list += ["--node-id", node_id]
            _, _, output = self._run_xmlsec(com_list, [skeleton.name], pass_fds=(read_end,))
        finally:
            os.close(read_end)
            if write_end is not None:
                os.close(write_end)
        # XML Encryption's rsa-oaep-mgf1p fixes MGF1 with SHA-1 (what SPs decrypt); the digest is SHA-256
        wrapped = public_key.encrypt(session_key, padding.OAEP(mgf=padding.MGF1(hashes.SHA1()),  # noqa: S303
                                                               algorithm=hashes.SHA256(), label=None))
        return _add_encrypted_key(output.decode("utf-8"), base64.b64encode(wrapped).decode("ascii"))


@functools.cache
def xmlsec1_version(binary: str) -> str:
    """`xmlsec1 --version` of one binary, asked once per process (not once per server rebuild)."""
    completed = subprocess.run([binary, "--version"],  # noqa: S603 (the configured xmlsec1, no shell)
                               capture_output=True, timeout=XMLSEC_SECONDS)
    parts = completed.stdout.decode("ascii", "replace").split(" ")
    return parts[1] if len(parts) > 1 else "0.0.0"


def _add_encrypted_key(document: str, cipher_value: str) -> str:
    """Put the transported session key into the EncryptedData xmlsec1 wrote from our template."""
    key_info = (
        '<ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><xenc:EncryptedKey>'
        f'<xenc:EncryptionMethod Algorithm="{RSA_OAEP}"><ds:DigestMethod Algorithm="{SHA256}"/>'
        f'</xenc:EncryptionMethod><xenc:CipherData><xenc:CipherValue>{cipher_value}</xenc:CipherValue>'
        '</xenc:CipherData></xenc:EncryptedKey></ds:KeyInfo>')
    if document.count(_DATA_METHOD) != 1:  # our template went through xmlsec1 unchanged, once
        raise XmlsecError("unexpected xmlsec1 encryption output")
    return document.replace(_DATA_METHOD, _DATA_METHOD + key_info)


def build_server(config) -> GuardedServer:
    """A GuardedServer whose signing, verification and encryption go through `Xmlsec1`."""
    server = GuardedServer(config=config)
    server.sec.crypto = Xmlsec1(config.xmlsec_binary, delete_tmpfiles=config.delete_tmpfiles)
    return server
