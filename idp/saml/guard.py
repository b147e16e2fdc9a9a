"""Defensive parsing of incoming SAML protocol messages, before pysaml2 or xmlsec1 see them.

pysaml2 hands XML to xmlsec1, which will run any transform a signature asks for (XSLT, XPath:
a denial of service) and verifies whatever element a Reference points at (signature wrapping).
This module checks bindings and structure only: after `inspect` passes, a message has no DTD,
entity, comment or processing instruction, unique IDs, and at most one signature, which is a
direct child of the root, covers the root, and uses only harmless algorithms (SAML Core §5.4).
The cryptographic check stays with pysaml2/xmlsec1.
"""
from __future__ import annotations

import base64
import binascii
import re
import zlib
from dataclasses import dataclass
from xml.etree.ElementTree import ParseError, TreeBuilder

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from idp.errors import IdpError

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
DS = "http://www.w3.org/2000/09/xmldsig#"

ACCEPTED_ROOTS = frozenset(f"{{{SAMLP}}}{name}" for name in ("AuthnRequest", "LogoutRequest", "LogoutResponse"))

ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
TRANSFORMS = frozenset({ENVELOPED, EXC_C14N})
SIGNATURE_ALGORITHMS = frozenset({
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
})
DIGEST_ALGORITHMS = frozenset({
    "http://www.w3.org/2001/04/xmlenc#sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512",
})

INCLUSIVE_NAMESPACES = "{http://www.w3.org/2001/10/xml-exc-c14n#}InclusiveNamespaces"  # exc-c14n's one parameter
# Every element that could make xmlsec1 verify, transform or dereference something.
DSIG_MACHINERY = frozenset(f"{{{DS}}}{name}" for name in (
    "Signature", "SignedInfo", "Reference", "Transform", "Manifest", "Object", "RetrievalMethod"))

MAX_REDIRECT_ENCODED = 16 * 1024
MAX_XML_BYTES = 256 * 1024
MAX_DEPTH = 50
MAX_ELEMENTS = 2000
MAX_RELAY_STATE = 80  # SAML Bindings §3.4.3 and §3.5.3
MAX_ISSUER = 1024  # SAML Metadata §2.2.1: an entityID is at most 1024 characters

_BASE64 = re.compile(rb"[A-Za-z0-9+/]*={0,2}")
_XML_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]{0,255}")  # xs:ID, bounded: it is logged
_DECLARED_ENCODING = re.compile(rb"""\A<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._\-]+)["']""")


class MessageRejected(IdpError):
    """The SAML message was rejected before any signature check.

    `reason` is one of this module's fixed phrases, never attacker input: safe for logs and
    for the StatusMessage of a Requester error status (SAML Core §3.2.2.2).
    """

    saml_status = "urn:oasis:names:tc:SAML:2.0:status:Requester"

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Inspected:
    """What `inspect` learned: the root's local name and ID, its Issuer, and whether it is signed."""

    root_tag: str
    root_id: str
    issuer: str | None
    signed: bool


# --- bindings -------------------------------------------------------------------------------

def _strict_base64(value: str, max_encoded: int) -> bytes:
    """Decode canonical base64 (RFC 4648 §4): the alphabet, correct padding, nothing else."""
    if len(value) > max_encoded:
        raise MessageRejected("message too large")
    try:
        encoded = value.encode("ascii")
    except UnicodeEncodeError:
        raise MessageRejected("message is not base64") from None
    if not encoded or len(encoded) % 4 or not _BASE64.fullmatch(encoded):
        raise MessageRejected("message is not base64")
    try:
        decoded = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise MessageRejected("message is not base64") from None
    if base64.b64encode(decoded) != encoded:  # non-zero padding bits: not what any encoder emits
        raise MessageRejected("message is not base64")
    return decoded


def decode_redirect(value: str, max_inflated: int = 64 * 1024) -> bytes:
    """Decode an HTTP-Redirect SAMLRequest/SAMLResponse value (SAML Bindings §3.4.4.1).

    `value` is the query parameter after URL decoding. The binding requires raw DEFLATE
    (RFC 1951), base64 with no line breaks. Form decoding turns an unescaped "+" into a
    space; spaces are never base64, so they are turned back, and any other whitespace is refused.
    """
    compressed = _strict_base64(value.replace(" ", "+"), MAX_REDIRECT_ENCODED)
    inflater = zlib.decompressobj(-15)
    try:
        xml = inflater.decompress(compressed, max_inflated + 1)
    except zlib.error:
        raise MessageRejected("message is not deflated") from None
    if len(xml) > max_inflated or inflater.unconsumed_tail:
        raise MessageRejected("message inflates too large")
    if not inflater.eof:
        raise MessageRejected("message is not deflated")
    if inflater.unused_data:
        raise MessageRejected("data after the deflated message")
    return xml


def decode_post(value: str, max_bytes: int = 256 * 1024) -> bytes:
    """Decode an HTTP-POST SAMLRequest/SAMLResponse form value (SAML Bindings §3.5.4).

    Line breaks are allowed because the binding's base64 is RFC 2045's, which wraps lines.
    """
    max_encoded = 4 * ((max_bytes + 2) // 3)
    if len(value) > 2 * max_encoded:  # generous for line breaks; the exact bound follows
        raise MessageRejected("message too large")
    decoded = _strict_base64(value.replace("\r\n", "").replace("\n", ""), max_encoded)
    _refuse_deflate(decoded)
    return decoded


def _refuse_deflate(decoded: bytes, probe: int = 64 * 1024) -> None:
    """Refuse a POST body that is also a raw DEFLATE stream (RFC 1951).

    POST messages are never deflated (SAML Bindings §3.5.4), yet some libraries try inflating
    first; a body that inflates to something else is a polyglot meant to show two readers two
    documents. Inflating at most `probe` bytes bounds the work: a stream that reaches its end, or
    still inflates without error past the probe, is refused; one that errors is not DEFLATE.
    """
    inflater = zlib.decompressobj(-15)
    try:
        inflater.decompress(decoded, probe)
    except zlib.error:
        return
    if inflater.eof or inflater.unconsumed_tail:
        raise MessageRejected("message is also a DEFLATE stream")


def check_relay_state(value: str | None) -> str | None:
    """Accept a RelayState of at most 80 bytes of printable ASCII (SAML Bindings §3.4.3, §3.5.3).

    An empty RelayState is treated as absent.
    """
    if not value:
        return None
    if len(value.encode("utf-8")) > MAX_RELAY_STATE:
        raise MessageRejected("RelayState too long")
    if not all(" " <= char <= "~" for char in value):
        raise MessageRejected("RelayState not printable")
    return value


def redirect_signature_alg_allowed(sig_alg: str) -> bool:
    """Whether the Redirect binding's SigAlg (SAML Bindings §3.4.4.1) is one we accept."""
    return sig_alg in SIGNATURE_ALGORITHMS


# --- the XML document -----------------------------------------------------------------------

class _GuardedBuilder(TreeBuilder):
    """Builds the tree, refusing comments, processing instructions and excessive size as they stream in."""

    def __init__(self, max_depth: int, max_elements: int):
        super().__init__()
        self.max_depth, self.max_elements = max_depth, max_elements
        self.depth = self.count = 0

    def start(self, tag, attrs):
        self.depth += 1
        self.count += 1
        if self.depth > self.max_depth:
            raise MessageRejected("message nested too deeply")
        if self.count > self.max_elements:
            raise MessageRejected("message has too many elements")
        return super().start(tag, attrs)

    def end(self, tag):
        self.depth -= 1
        return super().end(tag)

    def comment(self, text):
        # Exclusive c14n drops comments, so one inside a signed value changes what a reader
        # sees without breaking the signature (CVE-2017-11427 and family).
        raise MessageRejected("comments are not allowed")

    def pi(self, target, text=None):
        raise MessageRejected("processing instructions are not allowed")


def _parse(xml: bytes, max_depth: int, max_elements: int):
    match = _DECLARED_ENCODING.match(xml)
    if match and match.group(1).lower() not in (b"utf-8", b"utf8"):
        raise MessageRejected("message is not UTF-8")
    try:
        xml.decode("utf-8")
    except UnicodeDecodeError:
        raise MessageRejected("message is not UTF-8") from None
    parser = DefusedXMLParser(target=_GuardedBuilder(max_depth, max_elements),
                              forbid_dtd=True, forbid_entities=True, forbid_external=True)
    try:
        parser.feed(xml)
        return parser.close()
    except DefusedXmlException:
        raise MessageRejected("DTDs and entities are not allowed") from None
    except ParseError:
        raise MessageRejected("message is not well-formed XML") from None


def _check_unique_ids(root) -> None:
    """Refuse a second element with any ID, so a Reference can only resolve one way."""
    seen = set()
    for element in root.iter():
        for name, value in element.attrib.items():
            if name.rpartition("}")[2].lower() == "id":
                if value in seen:
                    raise MessageRejected("duplicate ID")
                seen.add(value)


def _children(parent, tag: str) -> list:
    return [child for child in parent if child.tag == f"{{{DS}}}{tag}"]


def _only(parent, tag: str):
    found = _children(parent, tag)
    if len(found) != 1:
        raise MessageRejected("malformed signature")
    return found[0]


def _check_parameters(method) -> None:
    """Algorithms we allow take no parameters, except exc-c14n's InclusiveNamespaces."""
    allowed = (INCLUSIVE_NAMESPACES,) if method.get("Algorithm") == EXC_C14N else ()
    if any(child.tag not in allowed for child in method):
        raise MessageRejected("malformed signature")


def _check_transforms(reference) -> list:
    transforms = _children(reference, "Transforms")
    if len(transforms) != 1:
        raise MessageRejected("malformed signature")
    steps = list(transforms[0])
    algorithms = [step.get("Algorithm") for step in steps]
    if not steps or any(step.tag != f"{{{DS}}}Transform" for step in steps):
        raise MessageRejected("malformed signature")
    if not set(algorithms) <= TRANSFORMS or len(set(algorithms)) != len(algorithms):
        raise MessageRejected("signature transform not allowed")
    if ENVELOPED not in algorithms:  # SAML Core §5.4.1: enveloped signatures only
        raise MessageRejected("signature transform not allowed")
    for step in steps:
        _check_parameters(step)
    return steps


def _check_signature(signature, root_id: str) -> set:
    """SAML Core §5.4: one Reference to the enclosing root, exclusive c14n, no Object.

    Returns the signature elements checked here, so that the caller can refuse any others.
    """
    if _children(signature, "Object"):
        raise MessageRejected("malformed signature")
    _only(signature, "SignatureValue")
    signed_info = _only(signature, "SignedInfo")
    if len(signed_info) != 3:  # CanonicalizationMethod, SignatureMethod, one Reference
        raise MessageRejected("signature must have exactly one reference")
    canonicalization = _only(signed_info, "CanonicalizationMethod")
    if canonicalization.get("Algorithm") != EXC_C14N:
        raise MessageRejected("canonicalization method not allowed")
    _check_parameters(canonicalization)
    method = _only(signed_info, "SignatureMethod")
    if method.get("Algorithm") not in SIGNATURE_ALGORITHMS:
        raise MessageRejected("signature algorithm not allowed")
    _check_parameters(method)  # e.g. HMACOutputLength, the truncation of CVE-2009-0217
    reference = _only(signed_info, "Reference")
    if reference.get("URI") != f"#{root_id}":
        raise MessageRejected("signature does not cover the message")
    steps = _check_transforms(reference)
    if _only(reference, "DigestMethod").get("Algorithm") not in DIGEST_ALGORITHMS:
        raise MessageRejected("digest algorithm not allowed")
    _only(reference, "DigestValue")
    return {signature, signed_info, reference, *steps}


def _issuer(root) -> str | None:
    issuers = [child for child in root if child.tag == f"{{{SAML}}}Issuer"]
    if not issuers:
        return None
    if len(issuers) > 1 or len(issuers[0]):
        raise MessageRejected("malformed Issuer")
    value = issuers[0].text or ""
    # An entityID is an xs:anyURI without surrounding whitespace (SAML Metadata §2.2.1); pysaml2
    # would look the untrimmed value up: refuse rather than read one Issuer two ways.
    if not value or value != value.strip() or len(value) > MAX_ISSUER:
        raise MessageRejected("malformed Issuer")
    return value


def inspect(xml: bytes, *, max_bytes: int = MAX_XML_BYTES, max_depth: int = MAX_DEPTH,
            max_elements: int = MAX_ELEMENTS) -> Inspected:
    """Check an inflated/decoded SAML request or logout response before pysaml2 parses it.

    Accepts samlp:AuthnRequest, samlp:LogoutRequest and samlp:LogoutResponse (SAML Core §3.4,
    §3.7). Whether a signature is required is the caller's decision, per service provider.
    """
    if len(xml) > max_bytes:
        raise MessageRejected("message too large")
    root = _parse(xml, max_depth, max_elements)
    if root.tag not in ACCEPTED_ROOTS:
        raise MessageRejected("unexpected message type")
    root_id = root.get("ID")
    if not root_id or not _XML_ID.fullmatch(root_id):
        raise MessageRejected("message has no valid ID")
    _check_unique_ids(root)
    signatures = [element for element in root.iter() if element.tag == f"{{{DS}}}Signature"]
    if len(signatures) > 1:
        raise MessageRejected("more than one signature")
    vetted = set()
    if signatures:
        if signatures[0] not in list(root):  # SAML Core §5.4.1: a child of the signed element
            raise MessageRejected("signature is not on the message root")
        vetted = _check_signature(signatures[0], root_id)
    if any(element.tag in DSIG_MACHINERY and element not in vetted for element in root.iter()):
        raise MessageRejected("malformed signature")
    return Inspected(root_tag=root.tag.rpartition("}")[2], root_id=root_id, issuer=_issuer(root),
                     signed=bool(signatures))
