"""A SAML service provider for the tests, on OneLogin's python3-saml: an independent
implementation (lxml + python-xmlsec), not the pysaml2 the IdP runs on."""
from __future__ import annotations

import datetime as dt
import html as html_module
import re
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from onelogin.saml2.auth import OneLogin_Saml2_Auth
from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser
from onelogin.saml2.settings import OneLogin_Saml2_Settings

BASE = "http://127.0.0.1:5002"
ENTITY_ID = BASE + "/saml/metadata"


def key_and_certificate(common_name="sp.test"):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=365)).sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return key_pem, cert.public_bytes(serialization.Encoding.PEM).decode()


class ServiceProvider:
    def __init__(self, idp_metadata_xml: str, sign_requests=True, want_encryption=False, entity_id=ENTITY_ID,
                 key_cert=None):
        self.key, self.cert = key_cert or key_and_certificate()
        idp = OneLogin_Saml2_IdPMetadataParser.parse(idp_metadata_xml)
        self.settings = {
            "strict": True, "debug": False,
            "sp": {"entityId": entity_id,
                   "assertionConsumerService": {"url": BASE + "/saml/acs",
                                                "binding": "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"},
                   "singleLogoutService": {"url": BASE + "/saml/sls",
                                           "binding": "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"},
                   "NameIDFormat": "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
                   "x509cert": self.cert, "privateKey": self.key},
            "idp": idp["idp"],
            "security": {"authnRequestsSigned": sign_requests, "logoutRequestSigned": sign_requests,
                         "wantAssertionsSigned": True, "wantMessagesSigned": True,
                         "wantAssertionsEncrypted": want_encryption,
                         "signatureAlgorithm": "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
                         "digestAlgorithm": "http://www.w3.org/2001/04/xmlenc#sha256",
                         "requestedAuthnContext": False, "rejectDeprecatedAlgorithm": True},
        }

    def metadata(self) -> str:
        xml = OneLogin_Saml2_Settings(self.settings, sp_validation_only=True).get_sp_metadata()
        return xml.decode() if isinstance(xml, bytes) else xml

    def _auth(self, path="/saml/acs", get=None, post=None, settings=None):
        request = {"https": "off", "http_host": "127.0.0.1:5002", "script_name": path,
                   "get_data": get or {}, "post_data": post or {}}
        return OneLogin_Saml2_Auth(request, settings or self.settings)

    def login_url(self, relay_state="/after", force_authn=False, is_passive=False, settings=None) -> str:
        """The IdP URL carrying a (signed) AuthnRequest over HTTP-Redirect."""
        auth = self._auth(settings=settings)
        url = auth.login(return_to=relay_state, force_authn=force_authn, is_passive=is_passive)
        self.last_request_id = auth.get_last_request_id()
        return url

    def accept(self, saml_response: str, request_id=None) -> OneLogin_Saml2_Auth:
        """Validate the IdP's Response as this SP would at its ACS."""
        auth = self._auth(post={"SAMLResponse": saml_response})
        auth.process_response(request_id=request_id)
        return auth

    def logout_url(self, name_id: str, relay_state="/bye") -> str:
        auth = self._auth("/saml/sls")
        url = auth.logout(return_to=relay_state, name_id=name_id,
                          name_id_format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
                          spnq=self.settings["sp"]["entityId"])
        self.last_logout_id = auth.get_last_request_id()
        return url

    def accept_logout(self, location: str):
        query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        auth = self._auth("/saml/sls", get=query)
        auth.process_slo(request_id=self.last_logout_id)
        return auth


def post_form(html: str) -> dict:
    """The fields of the IdP's auto-submitting POST form."""
    action = re.search(r'<form method="post" action="([^"]+)" id="saml-post"', html).group(1)
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))
    return {"action": html_module.unescape(action), **{k: html_module.unescape(v) for k, v in fields.items()}}
