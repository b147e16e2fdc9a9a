"""python3-saml configured for this service provider: its settings, its metadata, and the
request data python3-saml wants. Nothing here knows Flask.

The security settings are the strict ones: every message signed (rsa-sha256, sha256 digests),
assertions signed and encrypted to us, SHA-1 and other deprecated algorithms refused.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from cryptography import x509
from onelogin.saml2.auth import OneLogin_Saml2_Auth
from onelogin.saml2.constants import OneLogin_Saml2_Constants as C
from onelogin.saml2.settings import OneLogin_Saml2_Settings

from relying_parties.saml_sp.idp_metadata import IdPMetadata
from relying_parties.saml_sp.keys import pem

ACS_PATH, SLS_PATH, METADATA_PATH = "/saml/acs", "/saml/sls", "/saml/metadata"
NAMEID_PERSISTENT = C.NAMEID_PERSISTENT


class MetadataInvalid(RuntimeError):
    """Our own metadata fails python3-saml's schema check: a bug, never the citizen's fault."""


class ServiceProvider:
    def __init__(self, base_url: str, key_pem: str, certificate: x509.Certificate, idp: IdPMetadata):
        self.base_url, self.idp = base_url, idp
        self.entity_id = base_url + METADATA_PATH
        self._key, self._certificate = key_pem, certificate

    def settings(self, idp: dict | None = None) -> dict:
        """python3-saml's settings; `idp` is the IdP part (from its metadata), absent for our metadata."""
        settings = {
            "strict": True,
            "debug": False,
            "sp": {
                "entityId": self.entity_id,
                "assertionConsumerService": {"url": self.base_url + ACS_PATH, "binding": C.BINDING_HTTP_POST},
                "singleLogoutService": {"url": self.base_url + SLS_PATH, "binding": C.BINDING_HTTP_REDIRECT},
                "NameIDFormat": NAMEID_PERSISTENT,
                "x509cert": pem(self._certificate),
                "privateKey": self._key,
            },
            "security": {
                "authnRequestsSigned": True, "logoutRequestSigned": True, "logoutResponseSigned": True,
                "wantMessagesSigned": True, "wantAssertionsSigned": True,
                # Publishing the certificate for encryption (below) is asking for encrypted assertions:
                # then accept nothing less, as attributes are personal data.
                "wantAssertionsEncrypted": True, "wantNameIdEncrypted": False,
                "wantAttributeStatement": True, "allowRepeatAttributeName": False,
                "signatureAlgorithm": C.RSA_SHA256, "digestAlgorithm": C.SHA256,
                "rejectDeprecatedAlgorithm": True,
                # No RequestedAuthnContext: the IdP decides (LoA 1 or 2); the page shows what it said.
                "requestedAuthnContext": False,
                # The metadata stays valid as long as its certificate; python3-saml's default is two
                # days, after which the IdP would drop the registered metadata.
                "metadataValidUntil": self._certificate.not_valid_after_utc,
            },
        }
        if idp is not None:
            settings["idp"] = idp
        return settings

    def metadata(self) -> str:
        """Our SP metadata (SAML Metadata 2.0 §2.4.4), checked against the schema before it is served."""
        settings = OneLogin_Saml2_Settings(self.settings(), sp_validation_only=True)
        xml = settings.get_sp_metadata()
        errors = settings.validate_metadata(xml)
        if errors:
            raise MetadataInvalid(f"our own metadata is invalid: {errors}")
        return xml.decode() if isinstance(xml, bytes) else xml

    def auth(self, path: str, *, get: dict | None = None, post: dict | None = None,
             query_string: str = "") -> OneLogin_Saml2_Auth:
        """An Auth for one request; fetches the IdP's metadata (IdPUnavailable when it cannot)."""
        return OneLogin_Saml2_Auth(self.request_data(path, get, post, query_string),
                                   self.settings(self.idp.settings()))

    def request_data(self, path: str, get: dict | None, post: dict | None, query_string: str) -> dict:
        """What python3-saml knows of the request. Host and scheme come from configuration, not from
        the request's Host header: they must equal the Destination the IdP wrote. python3-saml 1.16
        wants the port inside `http_host` (it warns about a separate `server_port`)."""
        parts = urlsplit(self.base_url)
        return {
            "https": "on" if parts.scheme == "https" else "off",
            "http_host": parts.netloc,
            "script_name": parts.path + path,
            "get_data": dict(get or {}),
            "post_data": dict(post or {}),
            # Redirect-binding signatures are checked over the query exactly as the IdP encoded it.
            "query_string": query_string,
            "validate_signature_from_qs": True,
        }
