"""IdP-initiated Single Logout (SAML Profiles §4.4.2–§4.4.3): when a citizen's IdP session ends in a
browser, a signed LogoutRequest to each service provider that session signed in to, one after the
other through the browser (HTTP-Redirect, SAML Bindings §3.4), each answered by a LogoutResponse.

A service provider without a Redirect SingleLogoutService cannot be reached this way: the caller
records that. The answer is checked for the request it answers (InResponseTo) and its issuer; its
signature is not required, because a forged answer can only move the browser on to the next SP —
the IdP session has already ended.
"""
from __future__ import annotations

import dataclasses

from defusedxml import ElementTree
from saml2 import BINDING_HTTP_REDIRECT
from saml2.saml import NAMEID_FORMAT_PERSISTENT, NameID
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

from idp.saml import guard
from idp.saml.guard import MessageRejected
from idp.saml.server import entity_id

SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
MAX_RESPONSE_BYTES = 64 * 1024


class Unreachable(Exception):
    """The service provider publishes no SingleLogoutService for the Redirect binding."""


@dataclasses.dataclass(frozen=True)
class Sent:
    location: str  # where to send the browser
    request_id: str


def logout_request(servers, issuer: str, sp_entity_id: str, name_id: str,
                   name_format: str = NAMEID_FORMAT_PERSISTENT) -> Sent:
    """A signed LogoutRequest for `name_id` at `sp_entity_id` (SAML Core §3.7.1)."""
    server = servers.get(signed_requests=False)
    try:
        _binding, destination = server.pick_binding("single_logout_service", [BINDING_HTTP_REDIRECT], "spsso",
                                                    entity_id=sp_entity_id)
    except Exception:  # pysaml2 raises several kinds for "no such endpoint"
        raise Unreachable(sp_entity_id) from None
    request_id, request = server.create_logout_request(
        destination, sp_entity_id, name_id=NameID(format=name_format, text=name_id,
                                                  name_qualifier=entity_id(issuer), sp_name_qualifier=sp_entity_id),
        sign=False, sign_alg=SIG_RSA_SHA256, digest_alg=DIGEST_SHA256)
    http = server.apply_binding(BINDING_HTTP_REDIRECT, str(request), destination, "", sign=True,
                                sigalg=SIG_RSA_SHA256)
    return Sent(dict(http["headers"])["Location"], request_id)


def check_answer(params: dict, request_id: str, sp_entity_id: str) -> bool:
    """Whether a LogoutResponse (HTTP-Redirect) answers our `request_id` from that SP with Success.
    MessageRejected when it is not a well-formed LogoutResponse at all."""
    encoded = params.get("SAMLResponse")
    if not encoded:
        raise MessageRejected("no SAMLResponse")
    xml = guard.decode_redirect(encoded, MAX_RESPONSE_BYTES)
    inspected = guard.inspect(xml)
    if inspected.root_tag != "LogoutResponse":
        raise MessageRejected("unexpected message")
    root = ElementTree.fromstring(xml)
    if root.get("InResponseTo") != request_id or inspected.issuer != sp_entity_id:
        raise MessageRejected("not the answer to our LogoutRequest")
    status = root.find("{urn:oasis:names:tc:SAML:2.0:protocol}Status/{urn:oasis:names:tc:SAML:2.0:protocol}StatusCode")
    return status is not None and status.get("Value") == SUCCESS
