"""Hand-made AuthnRequests for the tests, signed (or not) with the test SP's key by python3-saml,
sent over the HTTP-POST binding the way a browser would."""
from __future__ import annotations

import base64
import datetime as dt
import secrets

from onelogin.saml2.constants import OneLogin_Saml2_Constants as C
from onelogin.saml2.utils import OneLogin_Saml2_Utils

IDP_SSO = "http://127.0.0.1:5000/saml/sso/post"
SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"


def instant(when: dt.datetime | None = None) -> str:
    return (when or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")


def authn_request(sp, *, request_id=None, issue_instant=None, issuer=None, attributes="", inside="",
                  prefix="samlp") -> str:
    """An AuthnRequest from `sp` (tests.saml.service_provider.ServiceProvider); `attributes` are
    added to the root (e.g. 'ForceAuthn="1"'), `inside` after the Issuer (e.g. a RequestedAuthnContext)."""
    request_id = request_id or "_" + secrets.token_hex(16)
    issuer = sp.settings["sp"]["entityId"] if issuer is None else issuer
    acs = sp.settings["sp"]["assertionConsumerService"]["url"]
    return (f'<{prefix}:AuthnRequest xmlns:{prefix}="{SAMLP}" xmlns:saml="{SAML}" ID="{request_id}" Version="2.0" '
            f'IssueInstant="{issue_instant or instant()}" Destination="{IDP_SSO}" '
            f'ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" '
            f'AssertionConsumerServiceURL="{acs}" {attributes}>'
            f'<saml:Issuer>{issuer}</saml:Issuer>{inside}</{prefix}:AuthnRequest>')


def requested_context(*classes: str, comparison: str | None = None) -> str:
    refs = "".join(f"<saml:AuthnContextClassRef>{uri}</saml:AuthnContextClassRef>" for uri in classes)
    attribute = f' Comparison="{comparison}"' if comparison else ""
    return f"<samlp:RequestedAuthnContext{attribute}>{refs}</samlp:RequestedAuthnContext>"


def sign(sp, xml: str) -> str:
    """An enveloped signature (RSA-SHA256, exclusive c14n) after the Issuer, as SAML Core §5 has it."""
    signed = OneLogin_Saml2_Utils.add_sign(xml, sp.key, sp.cert, sign_algorithm=C.RSA_SHA256,
                                           digest_algorithm=C.SHA256)
    return signed.decode() if isinstance(signed, bytes) else signed


def post(web, body: bytes | str, relay_state="/after"):
    """POST a SAMLRequest to /saml/sso/post and follow the same-site bounce if there is one."""
    raw = body.encode() if isinstance(body, str) else body
    response = web.client.post("/saml/sso/post", data={"SAMLRequest": base64.b64encode(raw).decode(),
                                                       "RelayState": relay_state})
    if response.status_code == 303:
        return web.get(response.headers["Location"])
    return response

