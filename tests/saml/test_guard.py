"""idp/saml/guard.py: the defensive parse in front of pysaml2 and xmlsec1.

The attacks start from messages genuinely signed by xmlsec1 through pysaml2, with a key and
certificate made for the test session; nothing is mocked and nothing leaves the machine.
"""
from __future__ import annotations

import base64
import datetime as dt
import re
import subprocess
import zlib
from copy import deepcopy
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree
from saml2 import BINDING_HTTP_POST, pack, saml, samlp, sigver
from saml2 import xmldsig as ds
from saml2.config import SPConfig

from idp.saml import guard
from idp.saml.guard import MessageRejected, check_relay_state, decode_post, decode_redirect, inspect

XMLSEC1 = "/usr/bin/xmlsec1"
SP = "https://sp.test/metadata"
IDP_SSO = "https://idp.test/saml/sso"
NAME_ID = "admin@gov.sa.evil.example"  # the attacker's own account, signed by a real SP
AUTHN_ID, LOGOUT_ID = "_a1b2c3", "_d4e5f6"
IDS = {"AuthnRequest": AUTHN_ID, "LogoutRequest": LOGOUT_ID}
NS = {"samlp": guard.SAMLP, "saml": guard.SAML, "ds": guard.DS}
XSLT = "http://www.w3.org/TR/1999/REC-xslt-19991116"
XPATH = "http://www.w3.org/TR/1999/REC-xpath-19991116"


# --- a service provider that signs, for real ------------------------------------------------

@pytest.fixture(scope="session")
def sp(tmp_path_factory):
    """An SP key pair on disk and pysaml2's SecurityContext (the xmlsec1 backend) around it."""
    folder = tmp_path_factory.mktemp("sp")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sp.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256()))
    (folder / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    config = SPConfig().load({
        "entityid": SP, "key_file": str(folder / "key.pem"), "cert_file": str(folder / "cert.pem"),
        "xmlsec_binary": XMLSEC1, "only_use_keys_in_metadata": False, "service": {"sp": {}},
    })
    return sigver.security_context(config)


def sign(context, message, sign_alg=ds.SIG_RSA_SHA256, digest_alg=ds.DIGEST_SHA256) -> bytes:
    """Sign as pysaml2's Entity.sign does: a signature template, then xmlsec1 --sign on its node."""
    message.signature = sigver.pre_signature_part(message.id, context.my_cert, 1, sign_alg=sign_alg,
                                                  digest_alg=digest_alg)
    return context.sign_statement(str(message), node_name=sigver.class_name(message),
                                  node_id=message.id).encode()


def verifies(context, xml: bytes, kind="AuthnRequest", node_id=None) -> bool:
    """Whether xmlsec1 alone accepts the (first) signature in `xml` under the SP's certificate."""
    try:
        return context.verify_signature(xml, cert_file=context.cert_file, node_name=f"{guard.SAMLP}:{kind}",
                                        node_id=node_id)
    except sigver.SigverError:
        return False


def authn_request(message_id=AUTHN_ID) -> samlp.AuthnRequest:
    return samlp.AuthnRequest(
        id=message_id, version="2.0", issue_instant="2026-01-01T00:00:00Z", destination=IDP_SSO,
        assertion_consumer_service_url="https://sp.test/acs", protocol_binding=BINDING_HTTP_POST,
        issuer=saml.Issuer(text=SP, format=saml.NAMEID_FORMAT_ENTITY),
        name_id_policy=samlp.NameIDPolicy(format=saml.NAMEID_FORMAT_PERSISTENT, allow_create="true"))


def logout_request(message_id=LOGOUT_ID) -> samlp.LogoutRequest:
    return samlp.LogoutRequest(
        id=message_id, version="2.0", issue_instant="2026-01-01T00:00:00Z", destination=IDP_SSO,
        issuer=saml.Issuer(text=SP, format=saml.NAMEID_FORMAT_ENTITY),
        name_id=saml.NameID(text=NAME_ID, format=saml.NAMEID_FORMAT_EMAILADDRESS),
        session_index=[samlp.SessionIndex(text="session-1")])


@pytest.fixture(scope="session")
def signed(sp):
    return {"AuthnRequest": sign(sp, authn_request()), "LogoutRequest": sign(sp, logout_request())}


# --- the fixture is right -------------------------------------------------------------------

def test_xmlsec1_is_recent_enough(record_property):
    """Versions before 1.2.30 had known verification and parsing issues."""
    output = subprocess.run([XMLSEC1, "--version"], capture_output=True, text=True, check=True).stdout
    record_property("xmlsec1", output.strip())  # "xmlsec1 1.2.37 (openssl)" when this was written
    version = tuple(int(part) for part in re.search(r"(\d+)\.(\d+)\.(\d+)", output).groups())
    assert version >= (1, 2, 30)


@pytest.mark.parametrize("kind", ["AuthnRequest", "LogoutRequest"])
def test_the_signed_fixtures_verify_with_pysaml2_and_xmlsec1(sp, signed, kind):
    message_id = IDS[kind]
    assert verifies(sp, signed[kind], kind, node_id=message_id)
    check = sp.correctly_signed_authn_request if kind == "AuthnRequest" else sp.correctly_signed_logout_request
    assert check(signed[kind].decode(), must=True).id == message_id
    tampered = signed[kind].replace(SP.encode(), b"https://sp.test/other")
    assert not verifies(sp, tampered, kind, node_id=message_id)


# --- messages that pass ---------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["AuthnRequest", "LogoutRequest"])
def test_a_genuine_signed_request_passes(signed, kind):
    assert inspect(signed[kind]) == guard.Inspected(root_tag=kind, root_id=IDS[kind], issuer=SP, signed=True)


def test_an_unsigned_authn_request_passes_as_unsigned():
    """Whether a signature is required is the caller's decision, per SP."""
    result = inspect(str(authn_request()).encode())
    assert (result.root_tag, result.issuer, result.signed) == ("AuthnRequest", SP, False)


def test_a_logout_response_passes():
    response = samlp.LogoutResponse(id="_r1", in_response_to="_x", version="2.0", issue_instant="2026-01-01T00:00:00Z",
                                    issuer=saml.Issuer(text=SP),
                                    status=samlp.Status(status_code=samlp.StatusCode(value=samlp.STATUS_SUCCESS)))
    assert inspect(str(response).encode()).root_tag == "LogoutResponse"


@pytest.mark.parametrize("sign_alg, digest_alg", [(ds.SIG_RSA_SHA384, ds.DIGEST_SHA384),
                                                  (ds.SIG_RSA_SHA512, ds.DIGEST_SHA512)], ids=["sha384", "sha512"])
def test_stronger_algorithms_pass(sp, sign_alg, digest_alg):
    xml = sign(sp, authn_request("_strong"), sign_alg, digest_alg)
    assert verifies(sp, xml, node_id="_strong") and inspect(xml).signed


def test_redirect_binding_round_trip_with_pysaml2s_encoder(signed):
    url = pack.http_redirect_message(signed["AuthnRequest"].decode(), IDP_SSO, relay_state="state-1")["headers"][0][1]
    query = parse_qs(urlsplit(url).query, strict_parsing=True)
    xml = decode_redirect(query["SAMLRequest"][0])
    assert inspect(xml).signed and check_relay_state(query["RelayState"][0]) == "state-1"


def test_redirect_tolerates_a_plus_that_form_decoding_turned_into_a_space():
    value = base64.b64encode(_deflate(b"<x/>" * 40 + bytes(range(256)))).decode()
    assert "+" in value
    assert decode_redirect(value.replace("+", " ")) == decode_redirect(value)


def test_post_binding_round_trip_with_pysaml2s_encoder(signed):
    form = parse_qs(pack.http_post_message(signed["LogoutRequest"].decode())["data"])
    assert inspect(decode_post(form["SAMLRequest"][0])).root_tag == "LogoutRequest"


def test_post_accepts_rfc2045_line_breaks(signed):
    encoded = base64.encodebytes(signed["AuthnRequest"]).decode()
    assert "\n" in encoded and decode_post(encoded) == signed["AuthnRequest"]


# --- signature wrapping (both request kinds) ------------------------------------------------

def _root(xml):
    return etree.fromstring(xml)  # lxml keeps prefixes, so signed content stays byte-for-byte signed


def _signature(root):
    return root.find("ds:Signature", NS)


def _extensions(root):
    """A new samlp:Extensions in its schema place: after the Issuer and any Signature."""
    extensions = etree.Element(f"{{{guard.SAMLP}}}Extensions")
    (_signature(root) if _signature(root) is not None else root[0]).addnext(extensions)
    return extensions


def _unsigned_twin(original, message_id):
    twin = etree.Element(original.tag, dict(original.attrib), nsmap=original.nsmap)
    twin.set("ID", message_id)
    twin.extend(deepcopy(child) for child in original if child.tag != f"{{{guard.DS}}}Signature")
    return twin


def wrapped_in_extensions(xml):
    """The signed message inside Extensions of a new unsigned root with another ID."""
    original = _root(xml)
    evil = _unsigned_twin(original, "_evil")
    _extensions(evil).append(original)
    return etree.tostring(evil)


def twin_with_the_same_id(xml):
    """An unsigned root with the signed one's ID, the signed original tucked away inside it."""
    original = _root(xml)
    evil = _unsigned_twin(original, original.get("ID"))
    _extensions(evil).append(original)
    return etree.tostring(evil)


def signature_moved_into_issuer(xml):
    root = _root(xml)
    root.find("saml:Issuer", NS).append(_signature(root))
    return etree.tostring(root)


def signature_moved_into_extensions(xml):
    root = _root(xml)
    signature = _signature(root)
    _extensions(root).append(signature)
    return etree.tostring(root)


def signature_on_root_referencing_the_embedded_original(xml):
    """A new root carries the real signature; its Reference still points at the original, now in Extensions."""
    original = _root(xml)
    signature = _signature(original)
    original.remove(signature)
    evil = _unsigned_twin(original, "_evil")
    evil.insert(1, signature)
    _extensions(evil).append(original)
    return etree.tostring(evil)


def _second_signature(root):
    copy = deepcopy(_signature(root))
    copy.attrib.pop("Id", None)  # pysaml2 names its signature; a second one under that name is a duplicate ID
    return copy


def two_signatures(xml):
    root = _root(xml)
    _signature(root).addnext(_second_signature(root))
    return etree.tostring(root)


def second_signature_inside_extensions(xml):
    root = _root(xml)
    _extensions(root).append(_second_signature(root))
    return etree.tostring(root)


def reference_to_another_element(xml):
    root = _root(xml)
    etree.SubElement(_extensions(root), f"{{{guard.SAMLP}}}Other", ID="_other")
    root.find("ds:Signature/ds:SignedInfo/ds:Reference", NS).set("URI", "#_other")
    return etree.tostring(root)


def reference_to_the_whole_document(xml):
    root = _root(xml)
    root.find("ds:Signature/ds:SignedInfo/ds:Reference", NS).set("URI", "")
    return etree.tostring(root)


def two_references(xml):
    root = _root(xml)
    reference = root.find("ds:Signature/ds:SignedInfo/ds:Reference", NS)
    reference.addnext(deepcopy(reference))
    return etree.tostring(root)


NOT_ON_ROOT, NOT_COVERING = "signature is not on the message root", "signature does not cover the message"
WRAPPING = {
    wrapped_in_extensions: NOT_ON_ROOT,
    twin_with_the_same_id: "duplicate ID",
    signature_moved_into_issuer: NOT_ON_ROOT,
    signature_moved_into_extensions: NOT_ON_ROOT,
    signature_on_root_referencing_the_embedded_original: NOT_COVERING,
    two_signatures: "more than one signature",
    second_signature_inside_extensions: "more than one signature",
    reference_to_another_element: NOT_COVERING,
    reference_to_the_whole_document: NOT_COVERING,
    two_references: "signature must have exactly one reference",
}


def _cases(table):
    return [pytest.param(attack, reason, id=attack.__name__) for attack, reason in table.items()]


@pytest.mark.parametrize("attack, reason", _cases(WRAPPING))
@pytest.mark.parametrize("kind", ["AuthnRequest", "LogoutRequest"])
def test_signature_wrapping_is_rejected(signed, kind, attack, reason):
    _rejected(attack(signed[kind]), reason)


@pytest.mark.parametrize("attack", [wrapped_in_extensions, signature_moved_into_issuer,
                                    signature_on_root_referencing_the_embedded_original],
                         ids=lambda attack: attack.__name__)
@pytest.mark.parametrize("kind", ["AuthnRequest", "LogoutRequest"])
def test_wrapping_attacks_still_satisfy_xmlsec1_alone(sp, signed, kind, attack):
    """Why the guard exists: xmlsec1 verifies these, because the signed bytes are intact."""
    assert verifies(sp, attack(signed[kind]), kind)


# --- signature algorithms and transforms ----------------------------------------------------

def _signed_info(root):
    return root.find("ds:Signature/ds:SignedInfo", NS)


def xslt_transform(xml):
    root = _root(xml)
    transform = root.find(f".//ds:Transform[@Algorithm='{guard.EXC_C14N}']", NS)
    transform.set("Algorithm", XSLT)
    stylesheet = etree.SubElement(transform, "{http://www.w3.org/1999/XSL/Transform}stylesheet", version="1.0")
    etree.SubElement(stylesheet, "{http://www.w3.org/1999/XSL/Transform}template", match="/")
    return etree.tostring(root)


def xpath_transform(xml):
    root = _root(xml)
    transforms = root.find(".//ds:Reference/ds:Transforms", NS)
    step = etree.SubElement(transforms, f"{{{guard.DS}}}Transform", Algorithm=XPATH)
    etree.SubElement(step, f"{{{guard.DS}}}XPath").text = "count(//. | //@* | //namespace::*) > 0"
    return etree.tostring(root)


def xslt_in_key_info_retrieval_method(xml):
    root = _root(xml)
    method = etree.SubElement(root.find("ds:Signature/ds:KeyInfo", NS), f"{{{guard.DS}}}RetrievalMethod", URI="#x")
    step = etree.SubElement(etree.SubElement(method, f"{{{guard.DS}}}Transforms"), f"{{{guard.DS}}}Transform")
    step.set("Algorithm", XSLT)
    return etree.tostring(root)


def without_enveloped_transform(xml):
    root = _root(xml)
    transform = root.find(f".//ds:Transform[@Algorithm='{guard.ENVELOPED}']", NS)
    transform.getparent().remove(transform)
    return etree.tostring(root)


def canonicalization(algorithm):
    def attack(xml):
        root = _root(xml)
        _signed_info(root).find("ds:CanonicalizationMethod", NS).set("Algorithm", algorithm)
        return etree.tostring(root)
    attack.__name__ = f"canonicalization_{algorithm.rpartition('/')[2]}"
    return attack


def hmac_output_length(xml):
    """CVE-2009-0217: a truncated HMAC under a parameter of the SignatureMethod."""
    root = _root(xml)
    method = _signed_info(root).find("ds:SignatureMethod", NS)
    etree.SubElement(method, f"{{{guard.DS}}}HMACOutputLength").text = "8"
    return etree.tostring(root)


def stylesheet_under_exc_c14n(xml):
    root = _root(xml)
    transform = root.find(f".//ds:Transform[@Algorithm='{guard.EXC_C14N}']", NS)
    etree.SubElement(transform, "{http://www.w3.org/1999/XSL/Transform}stylesheet", version="1.0")
    return etree.tostring(root)


def inclusive_namespaces(xml):
    root = _root(xml)
    for method in root.iterfind(f".//*[@Algorithm='{guard.EXC_C14N}']", NS):
        etree.SubElement(method, guard.INCLUSIVE_NAMESPACES, PrefixList="xs")
    return etree.tostring(root)


def object_in_signature(xml):
    root = _root(xml)
    etree.SubElement(_signature(root), f"{{{guard.DS}}}Object").text = "unsigned data"
    return etree.tostring(root)


TRANSFORM, C14N = "signature transform not allowed", "canonicalization method not allowed"
MALFORMED = "malformed signature"
ALGORITHM_ATTACKS = {
    xslt_transform: TRANSFORM,
    xpath_transform: TRANSFORM,
    xslt_in_key_info_retrieval_method: MALFORMED,
    without_enveloped_transform: TRANSFORM,
    canonicalization("http://www.w3.org/2001/10/xml-exc-c14n#WithComments"): C14N,
    canonicalization("http://www.w3.org/TR/2001/REC-xml-c14n-20010315"): C14N,
    object_in_signature: MALFORMED,
    hmac_output_length: MALFORMED,
    stylesheet_under_exc_c14n: MALFORMED,
}


@pytest.mark.parametrize("attack, reason", _cases(ALGORITHM_ATTACKS))
def test_dangerous_signature_shapes_are_rejected(signed, attack, reason):
    _rejected(attack(signed["AuthnRequest"]), reason)


def test_exc_c14n_may_name_inclusive_namespaces(signed):
    """The one parameter an allowed algorithm takes (Exclusive XML Canonicalization §3)."""
    assert inspect(inclusive_namespaces(signed["AuthnRequest"])).signed


@pytest.mark.parametrize("sign_alg, digest_alg, reason", [
    (ds.SIG_RSA_SHA256, ds.DIGEST_SHA1, "digest algorithm not allowed"),
    (ds.SIG_RSA_SHA1, ds.DIGEST_SHA256, "signature algorithm not allowed"),
], ids=["sha1-digest", "rsa-sha1"])
def test_sha1_is_rejected_even_when_genuinely_signed(sp, sign_alg, digest_alg, reason):
    xml = sign(sp, authn_request("_weak"), sign_alg, digest_alg)
    assert verifies(sp, xml, node_id="_weak")
    _rejected(xml, reason)


def test_redirect_sig_alg_allowlist():
    assert guard.redirect_signature_alg_allowed(ds.SIG_RSA_SHA256)
    assert guard.redirect_signature_alg_allowed(ds.SIG_ECDSA_SHA512)
    assert not guard.redirect_signature_alg_allowed(ds.SIG_RSA_SHA1)
    assert not guard.redirect_signature_alg_allowed(ds.SIG_DSA_SHA1)
    assert not guard.redirect_signature_alg_allowed("")


# --- XML hygiene ----------------------------------------------------------------------------

def _comment_in(value: str, visible: str):
    """Split a signed value with an empty comment, so that a naive reader sees only `visible`."""
    def attack(xml):
        return xml.replace(value.encode(), f"{visible}<!---->{value[len(visible):]}".encode(), 1)
    return attack


def test_comment_truncation_keeps_the_signature_valid(sp, signed):
    """CVE-2017-11427: exclusive c14n ignores comments, so the signature holds and a naive reader sees admin@gov.sa."""
    xml = _comment_in(NAME_ID, "admin@gov.sa")(signed["LogoutRequest"])
    assert b"admin@gov.sa<!---->" in xml and verifies(sp, xml, "LogoutRequest", node_id=LOGOUT_ID)


@pytest.mark.parametrize("kind, value, visible", [("LogoutRequest", NAME_ID, "admin@gov.sa"),
                                                  ("AuthnRequest", SP, "https://sp.test")], ids=["NameID", "Issuer"])
def test_comment_inside_a_signed_value_is_rejected(signed, kind, value, visible):
    _rejected(_comment_in(value, visible)(signed[kind]), "comments are not allowed")


AUTHN = f'<samlp:AuthnRequest xmlns:samlp="{guard.SAMLP}" ID="_a" Version="2.0">{{}}</samlp:AuthnRequest>'
ENTITIES, UNEXPECTED, NO_ID = "DTDs and entities are not allowed", "unexpected message type", "message has no valid ID"
PI, COMMENT, DUPLICATE = "processing instructions are not allowed", "comments are not allowed", "duplicate ID"
EXTENSIONS = "<samlp:Extensions>{}</samlp:Extensions>"
HOSTILE_XML = {
    "xxe": ('<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>' + AUTHN.format("&e;"), ENTITIES),
    "billion-laughs": ("<!DOCTYPE x [<!ENTITY a0 'evil'>"
                       + "".join(f"<!ENTITY a{i} '{f'&a{i - 1};' * 10}'>" for i in range(1, 10))
                       + "]>" + AUTHN.format("&a9;"), ENTITIES),
    "external-dtd": ('<!DOCTYPE samlp:AuthnRequest SYSTEM "http://evil.example/saml.dtd">' + AUTHN.format(""),
                     ENTITIES),
    "empty-internal-subset": ("<!DOCTYPE x []>" + AUTHN.format(""), ENTITIES),
    "pi-before-root": ('<?xml-stylesheet href="http://evil.example/x.xsl"?>' + AUTHN.format(""), PI),
    "pi-inside": (AUTHN.format("<?evil x?>"), PI),
    "comment-after-root": (AUTHN.format("") + "<!-- evil -->", COMMENT),
    "duplicate-ids": (AUTHN.format(EXTENSIONS.format('<x ID="_b"/><y ID="_b"/>')), DUPLICATE),
    "root-id-reused": (AUTHN.format(EXTENSIONS.format('<x ID="_a"/>')), DUPLICATE),
    "root-id-reused-as-Id": (AUTHN.format(EXTENSIONS.format('<x Id="_a"/>')), DUPLICATE),
    "response-root": (AUTHN.replace("AuthnRequest", "Response").format(""), UNEXPECTED),
    "saml1-namespace": (AUTHN.replace(":2.0:", ":1.0:").format(""), UNEXPECTED),
    "no-namespace": ('<AuthnRequest ID="_a" Version="2.0"/>', UNEXPECTED),
    "no-id": (AUTHN.replace(' ID="_a"', "").format(""), NO_ID),
    "id-not-an-ncname": (AUTHN.replace('"_a"', '"1&lt;evil&gt;"').format(""), NO_ID),
    "two-issuers": (AUTHN.format(f'<saml:Issuer xmlns:saml="{guard.SAML}">a</saml:Issuer>' * 2), "malformed Issuer"),
    "too-deep": (AUTHN.format(EXTENSIONS.format("<x>" * 60 + "</x>" * 60)), "message nested too deeply"),
    "too-many-elements": (AUTHN.format(EXTENSIONS.format("<x/>" * 2100)), "message has too many elements"),
    "not-well-formed": (AUTHN.format("<evil>"), "message is not well-formed XML"),
    "latin-1-declared": ('<?xml version="1.0" encoding="ISO-8859-1"?>' + AUTHN.format(""), "message is not UTF-8"),
    "oversize": (AUTHN.format(EXTENSIONS.format("e" * 300_000)), "message too large"),
}


@pytest.mark.parametrize("xml, reason", HOSTILE_XML.values(), ids=HOSTILE_XML.keys())
def test_hostile_xml_is_rejected(xml, reason):
    _rejected(xml.encode(), reason)


def test_utf16_is_rejected():
    _rejected(AUTHN.format("").encode("utf-16"), "message is not UTF-8")


def _rejected(xml: bytes, reason: str):
    """`inspect` refuses `xml` for `reason`, which echoes nothing of the message."""
    with pytest.raises(MessageRejected) as caught:
        inspect(xml)
    assert caught.value.reason == reason and "evil" not in str(caught.value)


# --- the Redirect and POST bindings ---------------------------------------------------------

def _deflate(data: bytes, wbits=-15) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, wbits)
    return compressor.compress(data) + compressor.flush()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


XML = AUTHN.format("").encode()
NOT_BASE64, NOT_DEFLATED = "message is not base64", "message is not deflated"
BAD_REDIRECT = {
    "not-base64": ("!!!!" + _b64(_deflate(XML)), NOT_BASE64),
    "missing-padding": ("QUJDRA", NOT_BASE64),
    "excess-padding": (_b64(_deflate(XML)) + "====", NOT_BASE64),
    "non-canonical": ("QUJDRB==", NOT_BASE64),
    "non-ascii": ("é" + _b64(_deflate(XML))[1:], NOT_BASE64),
    "newline": (_b64(_deflate(XML))[:8] + "\n" + _b64(_deflate(XML))[8:], NOT_BASE64),
    "tab": ("\t" + _b64(_deflate(XML))[1:], NOT_BASE64),
    "empty": ("", NOT_BASE64),
    "not-deflated": (_b64(XML), NOT_DEFLATED),
    "zlib-wrapped": (_b64(_deflate(XML, wbits=15)), NOT_DEFLATED),
    "truncated": (_b64(_deflate(XML)[:-6]), NOT_DEFLATED),
    "deflate-bomb": (_b64(_deflate(bytes(10 * 1024 * 1024))), "message inflates too large"),
    "trailing-garbage": (_b64(_deflate(XML) + b"evil"), "data after the deflated message"),
    "oversize": ("A" * (16 * 1024 + 4), "message too large"),
}


@pytest.mark.parametrize("value, reason", BAD_REDIRECT.values(), ids=BAD_REDIRECT.keys())
def test_bad_redirect_encodings_are_rejected(value, reason):
    with pytest.raises(MessageRejected) as caught:
        decode_redirect(value)
    assert caught.value.reason == reason


def test_the_deflate_bomb_is_small_on_the_wire():
    assert len(BAD_REDIRECT["deflate-bomb"][0]) < guard.MAX_REDIRECT_ENCODED


def test_redirect_inflation_bound_is_exact():
    assert decode_redirect(_b64(_deflate(bytes(1000))), max_inflated=1000) == bytes(1000)
    with pytest.raises(MessageRejected):
        decode_redirect(_b64(_deflate(bytes(1001))), max_inflated=1000)


@pytest.mark.parametrize("value", ["not base64!", "QQ=", "QR==", "A" * 400_000, "QUJD\tREVG"],
                         ids=["not-base64", "bad-padding", "non-canonical", "oversize", "tab"])
def test_bad_post_encodings_are_rejected(value):
    with pytest.raises(MessageRejected):
        decode_post(value)


# --- RelayState -----------------------------------------------------------------------------

def test_relay_state_of_80_bytes_is_accepted():
    assert check_relay_state("r" * 80) == "r" * 80


@pytest.mark.parametrize("value", ["r" * 81, "é" * 41, "é", "line\nbreak", "nul\x00"],
                         ids=["81-bytes", "41-chars-82-bytes", "non-ascii", "newline", "nul"])
def test_bad_relay_state_is_rejected(value):
    with pytest.raises(MessageRejected):
        check_relay_state(value)


def test_absent_relay_state_stays_absent():
    assert check_relay_state(None) is None and check_relay_state("") is None


def test_relay_state_survives_a_query_string():
    value = "https://sp.test/a?b=c&d=e f"
    assert check_relay_state(parse_qs(urlencode({"RelayState": value}))["RelayState"][0]) == value
