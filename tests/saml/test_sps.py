"""idp/saml/sps.py: registering SAML 2.0 service providers from their metadata (SAML Metadata 2.0 §2.4.4).

The metadata is made by pysaml2 from an SP configuration, with a key and certificate generated
for the test session; the refusals are edits of it. Nothing is mocked.
"""
from __future__ import annotations

import base64
import re

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from saml2 import BINDING_HTTP_ARTIFACT, BINDING_HTTP_POST
from saml2.config import IdPConfig
from sqlalchemy import select

from idp.errors import Conflict, ValidationError
from idp.models import RelyingParty
from idp.oidc import clients
from idp.saml import sps
from tests.saml.sp_metadata import ACS, ENTITY_ID, SLS, XMLSEC1, SpMetadata

MD = "urn:oasis:names:tc:SAML:2.0:metadata"


@pytest.fixture(scope="session")
def sp_metadata(tmp_path_factory):
    return SpMetadata(tmp_path_factory.mktemp("sp-metadata"))


def register(db, xml, **options):
    options.setdefault("name", "Masar (SAML)")
    rp = sps.register_saml(db, metadata_xml=xml, **options)
    db.commit()
    return rp


def idp_config(metadata: list[str]) -> IdPConfig:
    """The IdP's pysaml2 configuration, with the registered SPs' metadata inline."""
    return IdPConfig().load({
        "entityid": "https://idp.example.gov.sa/saml/metadata", "xmlsec_binary": XMLSEC1,
        "service": {"idp": {"endpoints": {"single_sign_on_service": [
            ("https://idp.example.gov.sa/saml/sso", BINDING_HTTP_POST)]}}},
        "metadata": {"inline": metadata},
    })


# --- registration ---------------------------------------------------------------------------

def test_valid_metadata_registers_and_pysaml2_loads_it(db, sp_metadata):
    rp = register(db, sp_metadata.make(), allow_national_id=True, require_loa2=True,
                  require_signed_requests=True)
    assert (rp.protocol, rp.entity_id, rp.name, rp.enabled) == ("saml", ENTITY_ID, "Masar (SAML)", True)
    assert rp.allow_national_id and rp.require_loa2 and rp.require_signed_requests and rp.client_id is None
    assert sps.find_saml(db, ENTITY_ID) is rp
    assert sps.enabled_metadata(db) == [(ENTITY_ID, rp.saml_metadata)]

    store = idp_config([xml for _, xml in sps.enabled_metadata(db)]).metadata
    assert [acs["location"] for acs in store.assertion_consumer_service(ENTITY_ID, BINDING_HTTP_POST)] == [ACS]
    assert store.single_logout_service(ENTITY_ID, None, "spsso")
    assert store.certs(ENTITY_ID, "spsso", "signing") and store.certs(ENTITY_ID, "spsso", "encryption")


@pytest.mark.parametrize("encode", [
    pytest.param(lambda xml: xml, id="text"),
    pytest.param(lambda xml: xml.encode(), id="bytes"),
    pytest.param(lambda xml: b"\xef\xbb\xbf" + xml.encode(), id="bytes with a BOM"),
    pytest.param(lambda xml: '<?xml version="1.0" encoding="UTF-8"?>\n' + xml, id="declared UTF-8"),
])
def test_metadata_as_text_or_bytes(db, sp_metadata, encode):
    rp = register(db, encode(sp_metadata.make()))
    assert rp.saml_metadata.lstrip("\ufeff").startswith("<") and sps.acs_urls(rp.saml_metadata) == [ACS]


def test_a_key_descriptor_without_use_signs_and_encrypts(db, sp_metadata):
    xml = sp_metadata.make(encryption=False).replace(' use="signing"', "")
    rp = register(db, xml, require_signed_requests=True)
    assert sps.wants_encryption(rp.saml_metadata)


def test_duplicate_entity_id_is_a_conflict(db, sp_metadata):
    register(db, sp_metadata.make())
    with pytest.raises(Conflict, match="already registered"):
        register(db, sp_metadata.make(acs=[("https://other.example.gov.sa/acs", BINDING_HTTP_POST)]),
                 name="Another")
    db.rollback()
    assert len(db.scalars(select(RelyingParty)).all()) == 1


# --- refusals -------------------------------------------------------------------------------

def _replace(old, new, count=1):
    def edit(m):
        xml = m.make()
        assert old in xml, old
        return xml.replace(old, new, count)
    return edit


def _two_sp_descriptors(m):
    xml = m.make()
    start, end = xml.index("<ns0:SPSSODescriptor"), xml.index("</ns0:SPSSODescriptor>") + 22
    return xml[:end] + xml[start:end] + xml[end:]


def _not_a_certificate(m):
    return re.sub(r"(<ns2:X509Certificate>)[^<]+", lambda g: g.group(1) + base64.b64encode(b"x" * 60).decode(),
                  m.make(), count=1)


def _weak_key(m):
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    return m.make(cert_file=m.certificate("weak.pem", key=weak))


XXE = '<!DOCTYPE md [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
LAUGHS = '<!DOCTYPE md [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'


@pytest.mark.parametrize("make,options,message", [
    pytest.param(lambda m: m.make()[:-40], {}, "not well-formed XML", id="truncated"),
    pytest.param(lambda m: "metadata, surely", {}, "not well-formed XML", id="not XML"),
    pytest.param(lambda m: XXE + m.make().replace("<ns0:Extensions>", "<ns0:Extensions>&xxe;"), {},
                 "DOCTYPE", id="XXE"),
    pytest.param(lambda m: LAUGHS + m.make(), {}, "DOCTYPE", id="entity expansion"),
    pytest.param(lambda m: "<!DOCTYPE EntityDescriptor>" + m.make(), {}, "DOCTYPE", id="bare DOCTYPE"),
    pytest.param(lambda m: '<?xml version="1.0" encoding="ISO-8859-1"?>' + m.make(), {}, "UTF-8",
                 id="declared Latin-1"),
    pytest.param(lambda m: m.make().encode("utf-16"), {}, "UTF-8", id="UTF-16 bytes"),
    pytest.param(_replace("<ns0:Extensions>", "<ns0:Extensions><!--" + "x" * 512 * 1024 + "-->"), {},
                 "larger than 512 KiB", id="oversize"),
    pytest.param(_replace("<ns0:Extensions>", "<ns0:Extensions>" + "<x>" * 60 + "</x>" * 60), {},
                 "nested deeper", id="deeply nested"),
    pytest.param(lambda m: m.make_idp(), {}, "no md:SPSSODescriptor (it has IDPSSODescriptor", id="IdP metadata"),
    pytest.param(lambda m: f'<md:EntitiesDescriptor xmlns:md="{MD}">{m.make()}</md:EntitiesDescriptor>', {},
                 "EntitiesDescriptor", id="EntitiesDescriptor"),
    pytest.param(_replace(f'xmlns:ns0="{MD}"', 'xmlns:ns0="urn:example:metadata"'), {},
                 "root must be md:EntityDescriptor", id="unknown namespace"),
    pytest.param(_replace(f'entityID="{ENTITY_ID}"', ""), {}, "no entityID", id="no entityID"),
    pytest.param(_replace(f'entityID="{ENTITY_ID}"', 'entityID="/saml/metadata"'), {}, "absolute URI",
                 id="relative entityID"),
    pytest.param(_replace(f'entityID="{ENTITY_ID}"', f'entityID="https://sp.example.gov.sa/{"a" * 1024}"'),
                 {}, "longer than 1024", id="entityID too long"),
    pytest.param(_replace("urn:oasis:names:tc:SAML:2.0:protocol", "urn:oasis:names:tc:SAML:1.1:protocol"), {},
                 "does not support SAML 2.0", id="SAML 1.1 only"),
    pytest.param(_two_sp_descriptors, {}, "more than one md:SPSSODescriptor", id="two SP roles"),
    pytest.param(lambda m: m.make(acs=[(ACS, BINDING_HTTP_ARTIFACT)]), {}, "HTTP-POST", id="no HTTP-POST ACS"),
    pytest.param(lambda m: m.make(acs=[("http://sp.example.gov.sa/saml/acs", BINDING_HTTP_POST)]), {},
                 "AssertionConsumerService Location must use https", id="http ACS off loopback"),
    pytest.param(lambda m: m.make(acs=[(ACS, BINDING_HTTP_POST), ("http://10.0.0.8/acs", BINDING_HTTP_ARTIFACT)]),
                 {}, "must use https", id="http ACS of another binding"),
    pytest.param(lambda m: m.make(sls=[("http://sp.example.gov.sa/saml/sls", "urn:oasis:names:tc:SAML:2.0:"
                                        "bindings:HTTP-Redirect")]), {},
                 "SingleLogoutService Location must use https", id="http SLS off loopback"),
    pytest.param(_replace(f'Location="{SLS}"', f'Location="{SLS}" ResponseLocation="http://sp.example.gov.sa/"'),
                 {}, "SingleLogoutService ResponseLocation must use https", id="http SLS response location"),
    pytest.param(lambda m: m.make(acs=[(ACS + "#top", BINDING_HTTP_POST)]), {}, "fragment", id="ACS fragment"),
    pytest.param(lambda m: m.make(acs=[("/saml/acs", BINDING_HTTP_POST)]), {}, "absolute", id="relative ACS"),
    pytest.param(_replace(f'Location="{ACS}" ', ""), {}, "needs a Binding and a Location", id="ACS without Location"),
    pytest.param(lambda m: m.make(cert_file=m.certificate("expired.pem", expired=True)), {}, "expired",
                 id="expired certificate"),
    pytest.param(_not_a_certificate, {}, "not an X.509 certificate", id="not a certificate"),
    pytest.param(_weak_key, {}, "1024-bit RSA key", id="1024-bit RSA"),
    pytest.param(_replace('use="signing"', 'use="both"'), {}, "use must be signing or encryption",
                 id="unknown key use"),
    pytest.param(lambda m: m.make(signing=False), {"require_signed_requests": True}, "no signing certificate",
                 id="signed requests without a signing key"),
    pytest.param(_replace("entityID=", 'validUntil="2001-01-01T00:00:00Z" entityID='), {}, "validUntil",
                 id="validUntil passed"),
    pytest.param(_replace('index="1"', 'index="first"'), {}, "pysaml2 does not accept the metadata",
                 id="pysaml2 schema: index not a number"),
])
def test_refused_in_one_line(db, sp_metadata, make, options, message):
    with pytest.raises(ValidationError) as refused:
        register(db, make(sp_metadata), **options)
    assert message in refused.value.message and "\n" not in refused.value.message
    assert db.scalar(select(RelyingParty)) is None


def test_the_name_is_checked(db, sp_metadata):
    with pytest.raises(ValidationError, match="name"):
        register(db, sp_metadata.make(), name=" ")


# --- what the SSO endpoints read ------------------------------------------------------------

@pytest.mark.parametrize("signing,encryption,expected", [(True, True, True), (False, True, True),
                                                          (True, False, False)])
def test_wants_encryption(sp_metadata, signing, encryption, expected):
    assert sps.wants_encryption(sp_metadata.make(signing=signing, encryption=encryption)) is expected


def test_acs_urls_are_http_post_only_with_the_default_first(sp_metadata):
    second, artifact = "https://sp.example.gov.sa/acs2", "https://sp.example.gov.sa/artifact"
    xml = sp_metadata.make(acs=[(ACS, BINDING_HTTP_POST), (artifact, BINDING_HTTP_ARTIFACT),
                                (second, BINDING_HTTP_POST)])
    assert sps.acs_urls(xml) == [ACS, second]
    assert sps.acs_urls(xml.replace(f'Location="{second}"', f'Location="{second}" isDefault="true"')) == [second, ACS]
    assert sps.acs_urls(xml.replace(f'Location="{ACS}"', f'Location="{ACS}" isDefault="false"')) == [second, ACS]


def test_enabled_metadata_is_enabled_saml_only(db, sp_metadata):
    first = register(db, sp_metadata.make())
    second = register(db, sp_metadata.make(entity_id="https://sp2.example.gov.sa/saml"), name="Second")
    clients.register_oidc(db, name="OIDC portal", redirect_uris=["https://portal.example.gov.sa/cb"])
    clients.set_enabled(db, first.entity_id, False)
    db.commit()
    assert sps.enabled_metadata(db) == [(second.entity_id, second.saml_metadata)]
    assert sps.find_saml(db, first.entity_id) is first  # disabled, but still found


@pytest.mark.parametrize("entity_id", [None, "", "x" * 1025, 42, "https://unknown.example.gov.sa/saml"])
def test_find_saml_finds_nothing_for_anything_else(db, entity_id):
    assert sps.find_saml(db, entity_id) is None


def test_describe_shows_the_saml_settings_only(db, sp_metadata):
    described = sps.describe(register(db, sp_metadata.make()))
    assert described["protocol"] == "saml" and described["entity_id"] == ENTITY_ID
    assert described["acs_urls"] == [ACS] and described["wants_encryption"] is True
    assert not {"redirect_uris", "scopes", "subject_type", "id_token_alg"} & described.keys()
