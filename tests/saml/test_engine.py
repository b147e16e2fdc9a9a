"""The pieces of pysaml2 that idp/saml/engine.py replaces, each against the real pysaml2 and xmlsec1."""
import base64
import zlib

import pytest
from saml2 import BINDING_HTTP_POST
from saml2.s_utils import UnravelError
from saml2.sigver import SignatureError, get_xmlsec_binary

from idp.saml.engine import Approved, Xmlsec1
from tests.saml import crafted


def test_pysaml2_parses_nothing_the_guard_did_not_approve(app, saml_sp):
    """Override 1: an encoded message handed to pysaml2 directly is not decoded (pysaml2 itself
    would inflate an HTTP-POST body)."""
    sp = saml_sp(sign_requests=False)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    deflated = compressor.compress(crafted.authn_request(sp).encode()) + compressor.flush()
    server = app.extensions["idp.saml"].get(signed_requests=False)
    with pytest.raises(UnravelError):
        server.parse_authn_request(base64.b64encode(deflated).decode(), BINDING_HTTP_POST)


def test_pysaml2_reads_the_approved_bytes(app, saml_sp):
    sp = saml_sp(sign_requests=False)
    xml = crafted.authn_request(sp, request_id="_approved").encode()
    server = app.extensions["idp.saml"].get(signed_requests=False)
    # the encoded form is deliberately another document: only the approved bytes are read
    parsed = server.parse_authn_request(Approved(base64.b64encode(b"<other/>").decode(), xml), BINDING_HTTP_POST)
    assert parsed.xmlstr == xml and parsed.message.id == "_approved"


def _signed_document(saml_sp, folder):
    sp = saml_sp(register=False)
    cert_file = folder / "sp.pem"
    cert_file.write_text(sp.cert)
    return crafted.sign(sp, crafted.authn_request(sp)), str(cert_file)


def test_xmlsec1_verifies_within_its_time_limit(saml_sp, tmp_path):
    signed, cert = _signed_document(saml_sp, tmp_path)
    backend = Xmlsec1(get_xmlsec_binary(["/usr/bin", "/usr/local/bin"]))
    assert backend.validate_signature(signed, cert, "pem", "urn:oasis:names:tc:SAML:2.0:protocol:AuthnRequest",
                                      None)


def test_xmlsec1_past_its_time_limit_is_a_failed_check(saml_sp, tmp_path):
    """Override 2: a run that exceeds the limit is killed and refused, whatever the message."""
    signed, cert = _signed_document(saml_sp, tmp_path)
    backend = Xmlsec1(get_xmlsec_binary(["/usr/bin", "/usr/local/bin"]), seconds=1e-6)
    with pytest.raises(SignatureError):
        backend.validate_signature(signed, cert, "pem", "urn:oasis:names:tc:SAML:2.0:protocol:AuthnRequest", None)
