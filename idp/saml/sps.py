"""The service-provider registry: which SAML 2.0 service providers may sign citizens in.

An administrator registers an SP from its metadata, an md:EntityDescriptor (SAML Metadata 2.0
§2.3.2) holding one md:SPSSODescriptor (§2.4.4). The metadata is checked here, defensively,
before pysaml2 sees it: bounded size, UTF-8, no DTD (so no entities and no external references),
one SAML 2.0 SP role, an HTTP-POST AssertionConsumerService (this IdP answers over HTTP-POST
only, SAML Profiles §4.1.2), endpoints on https (http only on loopback) without fragments, and
X.509 certificates that parse and have not expired. Only then is it loaded with pysaml2, the
way the IdP's configuration will load it, to be sure pysaml2 accepts it too.

The metadata is trusted because an administrator supplied it: a signature on it is not checked.
Functions take the session and do not commit: the caller owns the transaction.
"""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import re
from dataclasses import dataclass
from xml.etree.ElementTree import ParseError, TreeBuilder

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import rsa
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser
from saml2 import BINDING_HTTP_POST, md
from saml2.attribute_converter import ac_factory
from saml2.config import Config
from saml2.mdstore import MetadataStore
from saml2.validate import valid_instance
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from idp.errors import Conflict, ValidationError
from idp.models import RelyingParty
from idp.oidc.clients import check_name, check_uri, describe as describe_rp

MD = "urn:oasis:names:tc:SAML:2.0:metadata"
SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
DS = "http://www.w3.org/2000/09/xmldsig#"

MAX_METADATA_BYTES = 512 * 1024
MAX_ENTITY_ID = 1024  # SAML Core §8.3.6
MAX_DEPTH = 50
MAX_ELEMENTS = 20_000
MIN_RSA_BITS = 2048

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:.")  # RFC 3986 §3.1: an absolute URI has a scheme
_DECLARED_ENCODING = re.compile(rb"""\A<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._\-]+)["']""")
_CERTIFICATES = f"{{{DS}}}KeyInfo/{{{DS}}}X509Data/{{{DS}}}X509Certificate"


@dataclass(frozen=True)
class CheckedMetadata:
    """What `check_metadata` learned from metadata it accepted."""

    xml: str
    entity_id: str
    signing_certificates: int
    encryption_certificates: int


# --- registration ---------------------------------------------------------------------------

def register_saml(session: Session, *, name: str, metadata_xml: bytes | str, allow_national_id: bool = False,
                  require_loa2: bool = False, require_signed_requests: bool = False) -> RelyingParty:
    """Register a SAML 2.0 service provider from its metadata (SAML Metadata 2.0 §2.4.4)."""
    name = check_name(name)
    checked = check_metadata(metadata_xml)
    if require_signed_requests and not checked.signing_certificates:
        raise ValidationError("signed requests are required, but the metadata has no signing "
                              'certificate (a KeyDescriptor with use="signing" or no use)')
    load_with_pysaml2(checked.xml, checked.entity_id)
    if session.scalar(select(RelyingParty.id).where(RelyingParty.entity_id == checked.entity_id)):
        raise Conflict(f"a relying party with entityID {checked.entity_id} is already registered")
    rp = RelyingParty(
        protocol="saml", entity_id=checked.entity_id, name=name, saml_metadata=checked.xml,
        enabled=True, allow_national_id=bool(allow_national_id), require_loa2=bool(require_loa2),
        require_signed_requests=bool(require_signed_requests),
        redirect_uris=[], post_logout_redirect_uris=[], scopes=[],
    )
    session.add(rp)
    try:
        session.flush()
    except IntegrityError:  # registered concurrently, between the check and the insert
        raise Conflict(f"a relying party with entityID {checked.entity_id} is already registered") from None
    return rp


def check_metadata(metadata_xml: bytes | str) -> CheckedMetadata:
    """Check an SP's metadata before pysaml2 sees it; see the module docstring for the rules."""
    xml = _decode(metadata_xml)
    root = _parse(xml)
    entity_id = _check_entity_id(root)
    sp = _sp_descriptor(root)
    _check_endpoints(sp)
    signing, encryption = _check_keys(sp)
    return CheckedMetadata(xml=xml, entity_id=entity_id, signing_certificates=signing,
                           encryption_certificates=encryption)


def load_with_pysaml2(xml: str, entity_id: str) -> MetadataStore:
    """Load the metadata as the IdP's pysaml2 configuration does (`"metadata": {"inline": [xml]}`),
    after validating it against pysaml2's schema classes, which `load` alone does not do."""
    try:
        valid_instance(md.entity_descriptor_from_string(xml))
        store = MetadataStore(ac_factory(), Config())
        store.load("inline", xml)
    except Exception as e:  # noqa: BLE001 - pysaml2 raises many types on input it refuses
        detail = (str(e).splitlines() or [type(e).__name__])[0][:300]
        raise ValidationError(f"pysaml2 does not accept the metadata: {detail}") from None
    if any(entity_id in loaded.to_old for loaded in store.metadata.values()):
        raise ValidationError("the metadata's validUntil has passed")
    # store is a pysaml2 MetadataStore, not a dict: keys() is its entity list
    if entity_id not in store.keys() or not store.assertion_consumer_service(entity_id, BINDING_HTTP_POST):  # noqa: SIM118
        raise ValidationError("pysaml2 does not accept the metadata: it finds no SAML 2.0 service "
                              "provider with an HTTP-POST AssertionConsumerService in it")
    return store


# --- the document ---------------------------------------------------------------------------

def _decode(metadata_xml: bytes | str) -> str:
    if isinstance(metadata_xml, str):
        try:
            metadata_xml = metadata_xml.encode("utf-8")
        except UnicodeEncodeError:
            raise ValidationError("the metadata is not valid Unicode text") from None
    if not isinstance(metadata_xml, bytes):
        raise ValidationError("the metadata must be XML text")
    if len(metadata_xml) > MAX_METADATA_BYTES:
        raise ValidationError(f"the metadata is larger than {MAX_METADATA_BYTES // 1024} KiB")
    if metadata_xml.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte order mark
        metadata_xml = metadata_xml[3:]
    match = _DECLARED_ENCODING.match(metadata_xml)
    # pysaml2 re-encodes the text as UTF-8, so any other declared encoding would be misread.
    if match and match.group(1).lower() not in (b"utf-8", b"utf8"):
        raise ValidationError("the metadata must be encoded in UTF-8")
    try:
        return metadata_xml.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationError("the metadata must be encoded in UTF-8") from None


class _BoundedBuilder(TreeBuilder):
    """Bounds depth and element count as the tree streams in: pysaml2 reads it recursively."""

    def __init__(self):
        super().__init__()
        self.depth = self.count = 0

    def start(self, tag, attrs):
        self.depth, self.count = self.depth + 1, self.count + 1
        if self.depth > MAX_DEPTH or self.count > MAX_ELEMENTS:
            raise ValidationError(f"the metadata is nested deeper than {MAX_DEPTH} levels or has more "
                                  f"than {MAX_ELEMENTS} elements")
        return super().start(tag, attrs)

    def end(self, tag):
        self.depth -= 1
        return super().end(tag)


def _parse(xml: str):
    parser = DefusedXMLParser(target=_BoundedBuilder(), forbid_dtd=True, forbid_entities=True,
                              forbid_external=True)
    try:
        parser.feed(xml.encode("utf-8"))
        return parser.close()
    except DefusedXmlException:
        raise ValidationError("the metadata must not have a DOCTYPE (DTDs, entities and external "
                              "references are refused)") from None
    except ParseError as e:
        raise ValidationError(f"the metadata is not well-formed XML: {e}") from None


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _check_entity_id(root) -> str:
    if root.tag == f"{{{MD}}}EntitiesDescriptor":
        raise ValidationError("the metadata is an md:EntitiesDescriptor; register each service "
                              "provider from its own md:EntityDescriptor")
    if root.tag != f"{{{MD}}}EntityDescriptor":
        namespace = root.tag[1:].partition("}")[0] if root.tag.startswith("{") else "no namespace"
        raise ValidationError(f"the metadata's root must be md:EntityDescriptor in the namespace {MD}, "
                              f"not {_local(root.tag)} in {namespace}")
    entity_id = root.get("entityID")
    if not entity_id:
        raise ValidationError("the md:EntityDescriptor has no entityID")
    if len(entity_id) > MAX_ENTITY_ID:
        raise ValidationError(f"the entityID is longer than {MAX_ENTITY_ID} characters")
    if not (entity_id.isascii() and entity_id.isprintable() and not any(c.isspace() for c in entity_id)
            and _SCHEME.match(entity_id)):
        raise ValidationError(f"the entityID must be an absolute URI (SAML Core §8.3.6): {entity_id[:80]!r}")
    return entity_id


def _sp_descriptor(root):
    found = root.findall(f"{{{MD}}}SPSSODescriptor")
    if not found:
        roles = sorted({_local(child.tag) for child in root if _local(child.tag).endswith("Descriptor")})
        also = f" (it has {', '.join(roles)}: is this another kind of entity's metadata?)" if roles else ""
        raise ValidationError(f"the metadata has no md:SPSSODescriptor{also}")
    if len(found) > 1:
        raise ValidationError("the metadata has more than one md:SPSSODescriptor")
    if SAMLP not in (found[0].get("protocolSupportEnumeration") or "").split():
        raise ValidationError(f"the SPSSODescriptor does not support SAML 2.0: its "
                              f"protocolSupportEnumeration lacks {SAMLP}")
    return found[0]


def _check_endpoints(sp) -> None:
    """SAML Metadata §2.2.2: every endpoint has a Binding and a Location; both URLs are checked
    as OIDC redirect URIs are, since assertions and logout messages are posted to them."""
    services = sp.findall(f"{{{MD}}}AssertionConsumerService") + sp.findall(f"{{{MD}}}SingleLogoutService")
    for endpoint in services:
        what = _local(endpoint.tag)
        if not endpoint.get("Binding") or not endpoint.get("Location"):
            raise ValidationError(f"every {what} needs a Binding and a Location")
        check_uri(endpoint.get("Location"), f"{what} Location")
        if endpoint.get("ResponseLocation") is not None:
            check_uri(endpoint.get("ResponseLocation"), f"{what} ResponseLocation")
    if not _post_acs(sp):
        raise ValidationError(f"the metadata has no AssertionConsumerService with the HTTP-POST binding "
                              f"({BINDING_HTTP_POST}); this IdP answers over HTTP-POST only")


def _post_acs(sp) -> list:
    return [acs for acs in sp.findall(f"{{{MD}}}AssertionConsumerService")
            if acs.get("Binding") == BINDING_HTTP_POST]


def _check_keys(sp) -> tuple[int, int]:
    """SAML Metadata §2.4.1.1: a KeyDescriptor without `use` serves both signing and encryption."""
    signing = encryption = 0
    for descriptor in sp.findall(f"{{{MD}}}KeyDescriptor"):
        use = descriptor.get("use")
        if use not in (None, "signing", "encryption"):
            raise ValidationError(f"a KeyDescriptor's use must be signing or encryption, not {use[:40]!r}")
        certificates = descriptor.findall(_CERTIFICATES)
        if not certificates:
            raise ValidationError("a KeyDescriptor has no ds:X509Certificate")
        for element in certificates:
            _check_certificate(element.text or "", use or "signing and encryption")
        signing += len(certificates) if use in (None, "signing") else 0
        encryption += len(certificates) if use in (None, "encryption") else 0
    return signing, encryption


def _check_certificate(text: str, use: str) -> x509.Certificate:
    try:
        certificate = x509.load_der_x509_certificate(base64.b64decode("".join(text.split()), validate=True))
        public_key = certificate.public_key()
    except (binascii.Error, ValueError, UnsupportedAlgorithm):
        raise ValidationError(f"a {use} certificate in the metadata is not an X.509 certificate") from None
    subject = certificate.subject.rfc4514_string()[:80]
    if certificate.not_valid_after_utc < dt.datetime.now(dt.UTC):
        raise ValidationError(f"the {use} certificate {subject!r} expired on "
                              f"{certificate.not_valid_after_utc:%Y-%m-%d %H:%M} UTC")
    if isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size < MIN_RSA_BITS:
        raise ValidationError(f"the {use} certificate {subject!r} has a {public_key.key_size}-bit RSA key; "
                              f"at least {MIN_RSA_BITS} bits are needed")
    return certificate


# --- lookup and what the SSO endpoints read -------------------------------------------------

def find_saml(session: Session, entity_id) -> RelyingParty | None:
    """The SAML service provider with this entityID, enabled or not."""
    if not isinstance(entity_id, str) or not 0 < len(entity_id) <= MAX_ENTITY_ID:
        return None
    return session.scalar(select(RelyingParty).where(RelyingParty.protocol == "saml",
                                                     RelyingParty.entity_id == entity_id))


def enabled_marker(session: Session) -> tuple[int, ...]:
    """Which SAML SPs are enabled, by row id: what `enabled_metadata` would return changes exactly
    when this does. A row's entityID and metadata are never rewritten (register_saml inserts a new
    row; set_enabled and remove change `enabled` or delete the row; re-registering after `idp rp
    remove` makes a new id), so a few integers stand for every SP's metadata, and the XML is read
    only when they change (issue 10: it was read and hashed on every SAML request)."""
    return tuple(session.scalars(select(RelyingParty.id).where(
        RelyingParty.protocol == "saml", RelyingParty.enabled.is_(True), RelyingParty.entity_id.is_not(None),
        RelyingParty.saml_metadata.is_not(None)).order_by(RelyingParty.id)))


def enabled_metadata(session: Session) -> list[tuple[str, str]]:
    """(entityID, metadata XML) of every enabled SP, for the IdP's pysaml2 configuration:
    `"metadata": {"inline": [xml for _, xml in enabled_metadata(session)]}`."""
    rows = session.execute(select(RelyingParty.entity_id, RelyingParty.saml_metadata)
                           .where(RelyingParty.protocol == "saml", RelyingParty.enabled.is_(True))
                           .order_by(RelyingParty.id))
    return [(entity_id, xml) for entity_id, xml in rows if entity_id and xml]  # a SAML SP has both


def _registered_sp(metadata_xml: str):
    return _sp_descriptor(_parse(_decode(metadata_xml)))


@functools.lru_cache(maxsize=512)
def wants_encryption(metadata_xml: str) -> bool:
    """Whether the SP has a key for encrypting assertions to it: a KeyDescriptor with
    use="encryption" or no use (SAML Metadata §2.4.1.1) holding a certificate. Remembered per
    metadata document: asked on every SSO response, it changes only when the SP is re-registered."""
    return any(descriptor.get("use") in (None, "encryption") and descriptor.findall(_CERTIFICATES)
               for descriptor in _registered_sp(metadata_xml).findall(f"{{{MD}}}KeyDescriptor"))


def acs_urls(metadata_xml: str) -> list[str]:
    """The SP's HTTP-POST AssertionConsumerService Locations, in document order with the default
    first: isDefault="true", else the first without isDefault="false" (SAML Metadata §2.2.3)."""
    endpoints = _post_acs(_registered_sp(metadata_xml))
    marked = [e for e in endpoints if e.get("isDefault") in ("true", "1")]
    unmarked = [e for e in endpoints if e.get("isDefault") not in ("false", "0")]
    first = (marked or unmarked or endpoints)[:1]
    return list(dict.fromkeys(e.get("Location") for e in first + endpoints))


def describe(rp: RelyingParty) -> dict:
    """What an administrator sees of an SP: `clients.describe` plus what its metadata says."""
    # a SAML SP's row always has its metadata
    return {**describe_rp(rp), "acs_urls": acs_urls(rp.saml_metadata),  # type: ignore[arg-type]
            "wants_encryption": wants_encryption(rp.saml_metadata)}
