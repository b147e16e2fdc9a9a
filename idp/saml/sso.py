"""Web Browser SSO and Single Logout (SAML Profiles §4.1, §4.4), framework-free.

Every message goes through guard.py before pysaml2 or xmlsec1 see it; then pysaml2 parses exactly
the bytes the guard approved (engine.Approved) and verifies them against the service provider's
registered metadata.
"""
from __future__ import annotations

import base64
import dataclasses
import hashlib
import datetime as dt
import hmac
import secrets
import time

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.saml import NAMEID_FORMAT_PERSISTENT, NAMEID_FORMAT_TRANSIENT, NameID
from saml2.samlp import STATUS_NO_AUTHN_CONTEXT, STATUS_NO_PASSIVE, STATUS_REQUEST_DENIED
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

from idp.models import RelyingParty
from idp.saml import authn_context, guard, sps
from idp.saml.engine import Approved
from idp.saml.guard import MessageRejected
from idp.saml.server import SamlServers, entity_id
from idp.store import Store

MAX_REQUEST_BYTES = 64 * 1024  # an AuthnRequest or LogoutRequest, as decoded (both bindings)
# A request's IssueInstant must be at most this old (SAML Core §3.2.2 leaves it to the profile;
# Shibboleth's default is 3 minutes) and at most CLOCK_SKEW in the future.
REQUEST_MAX_AGE = 5 * 60
CLOCK_SKEW = 60  # also pysaml2's accepted_time_diff (server.py)
# A request ID is remembered for as long as its IssueInstant is acceptable, and a minute more.
REPLAY_SECONDS = REQUEST_MAX_AGE + 2 * CLOCK_SKEW + 60


@dataclasses.dataclass(frozen=True)
class Incoming:
    """A guarded message: the encoded form as it arrived, the bytes the guard approved, and what it saw."""

    binding: str
    encoded: str
    xml: bytes
    relay_state: str | None
    sig_alg: str | None
    signature: str | None
    inspected: guard.Inspected

    @property
    def signed(self) -> bool:
        return self.inspected.signed or bool(self.signature)


def receive(binding: str, params: dict, expected_root: str) -> Incoming:
    """Guard a SAMLRequest from either binding (SAML Bindings §3.4, §3.5)."""
    encoded = params.get("SAMLRequest")
    if not encoded:
        raise MessageRejected("no SAMLRequest")
    relay_state = guard.check_relay_state(params.get("RelayState"))
    if binding == BINDING_HTTP_REDIRECT:
        xml = guard.decode_redirect(encoded, MAX_REQUEST_BYTES)
    else:
        xml = guard.decode_post(encoded, MAX_REQUEST_BYTES)
    inspected = guard.inspect(xml)
    if inspected.root_tag != expected_root:
        raise MessageRejected("unexpected message")
    sig_alg, signature = params.get("SigAlg"), params.get("Signature")
    if binding == BINDING_HTTP_REDIRECT and (sig_alg or signature):  # noqa: SIM102 (signed? then: acceptably?)
        if not (sig_alg and signature) or not guard.redirect_signature_alg_allowed(sig_alg):
            raise MessageRejected("signature algorithm not allowed")
    return Incoming(binding, encoded, xml, relay_state, sig_alg, signature, inspected)


@dataclasses.dataclass(frozen=True)
class AuthnRequest:
    sp: RelyingParty
    request_id: str
    force_authn: bool
    is_passive: bool
    require_loa2: bool
    transient: bool
    relay_state: str | None
    response_args: dict
    # None: the RequestedAuthnContext cannot be satisfied; answer NoAuthnContext (SAML Core §3.3.2.2.1)
    authn_context: authn_context.Requirement | None = authn_context.Requirement()


def parse_authn_request(servers: SamlServers, session, store: Store, incoming: Incoming,
                        now: float | None = None) -> AuthnRequest:
    """Verify an AuthnRequest (SAML Core §3.4.1) and say what answering it takes."""
    sp = known_sp(session, incoming)
    server = servers.get(signed_requests=sp.require_signed_requests or incoming.signed)
    message = _parse(server.parse_authn_request, incoming, "request", now)
    _refuse_replay(store, sp, message.id)
    response_args = _response_args(server, message, sp)
    requirement = _requirement(message.requested_authn_context, sp)
    policy = message.name_id_policy
    return AuthnRequest(
        sp=sp, request_id=message.id,
        force_authn=xs_boolean(message.force_authn), is_passive=xs_boolean(message.is_passive),
        require_loa2=requirement is not None and requirement.requires_second_factor,
        transient=bool(policy is not None and policy.format == NAMEID_FORMAT_TRANSIENT),
        relay_state=incoming.relay_state, response_args=response_args, authn_context=requirement)


def _parse(parse, incoming: Incoming, what: str, now: float | None):
    """pysaml2 parses and verifies the approved bytes; we check what it leaves to its caller."""
    try:
        parsed = parse(Approved(incoming.encoded, incoming.xml), incoming.binding, incoming.relay_state,
                       incoming.sig_alg, incoming.signature)
    except Exception as e:  # pysaml2 raises many kinds; each means "not a request we accept"
        raise MessageRejected(f"{what} not accepted ({e.__class__.__name__})") from None
    if parsed is None or parsed.message is None:
        raise MessageRejected(f"{what} not accepted")
    if parsed.xmlstr != incoming.xml:  # engine.GuardedServer guarantees it; checked, not assumed
        raise MessageRejected(f"{what} not accepted")
    check_issue_instant(parsed.message.issue_instant, time.time() if now is None else now)
    return parsed.message


def check_issue_instant(value: str | None, now: float) -> None:
    """IssueInstant (SAML Core §3.2.2, an xs:dateTime in UTC, §1.3.3) within REQUEST_MAX_AGE past
    and CLOCK_SKEW future of `now`. pysaml2 computes a one-day window and discards the result."""
    try:
        instant = dt.datetime.fromisoformat((value or "").strip())
    except ValueError:
        raise MessageRejected("malformed IssueInstant") from None
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=dt.UTC)
    age = now - instant.timestamp()
    if age > REQUEST_MAX_AGE + CLOCK_SKEW:
        raise MessageRejected("request is too old (IssueInstant)")
    if age < -CLOCK_SKEW:
        raise MessageRejected("request is from the future (IssueInstant)")


def xs_boolean(value) -> bool:
    """An xs:boolean attribute (XML Schema Part 2 §3.2.2): "true", "1", "false" or "0", after
    whitespace collapse; absent means false."""
    if value is None:
        return False
    text = str(value).strip(" \t\r\n")
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    raise MessageRejected("malformed boolean attribute")


def _requirement(requested, sp) -> authn_context.Requirement | None:
    sp_floor = 2 if sp.require_loa2 else 1
    if requested is None:
        return authn_context.requirement(None, None, sp_floor=sp_floor)
    refs = [(ref.text or "").strip() for ref in requested.authn_context_class_ref or []]
    return authn_context.requirement(refs, requested.comparison,
                                     has_declarations=bool(requested.authn_context_decl_ref), sp_floor=sp_floor)


def _refuse_replay(store: Store, sp, message_id: str) -> None:
    """A request ID works once (SAML Profiles §4.1.4.5 for AuthnRequests; the same for logout)."""
    key = f"saml:request-id:{hashlib.sha256((sp.entity_id + '|' + message_id).encode()).hexdigest()}"
    if not store.add(key, b"1", REPLAY_SECONDS):
        raise MessageRejected("request replayed")


def known_sp(session, incoming: Incoming):
    """The enabled SP that sent `incoming`, which must be signed if the SP is registered so."""
    sp = sps.find_saml(session, incoming.inspected.issuer) if incoming.inspected.issuer else None
    if sp is None or not sp.enabled:
        raise MessageRejected("unknown or disabled service provider")
    if sp.require_signed_requests and not incoming.signed:
        raise MessageRejected("this service provider must sign its requests")
    return sp


def _response_args(server, message, sp) -> dict:
    """Where the answer goes: an HTTP-POST ACS from the SP's metadata only (SAML Profiles §4.1.4.1)."""
    allowed = sps.acs_urls(sp.saml_metadata)
    if message.assertion_consumer_service_url and message.assertion_consumer_service_url not in allowed:
        raise MessageRejected("AssertionConsumerServiceURL is not in the service provider's metadata")
    try:
        args = server.response_args(message, [BINDING_HTTP_POST])
    except Exception:
        raise MessageRejected("no HTTP-POST assertion consumer service") from None
    if args.get("destination") not in allowed or args.get("binding") != BINDING_HTTP_POST:
        raise MessageRejected("no HTTP-POST assertion consumer service")
    return args


def persistent_name_id(salt: bytes, sp_entity_id: str, subject_seed: str) -> str:
    """Pairwise per service provider, stable, and meaningless elsewhere (SAML Core §8.3.7). From the
    identity's subject seed (its decimal id for identities made before seeds existed), so a restored
    database never hands one citizen's NameID to another."""
    mac = hmac.new(salt, f"saml|{sp_entity_id}|{subject_seed}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def authn_response(servers: SamlServers, request: AuthnRequest, issuer: str, salt: bytes, subject_seed: str,
                   attributes: dict, achieved: int, auth_time: int) -> tuple[str, str, NameID]:
    """(ACS URL, base64 signed Response, NameID) for a signed-in identity whose sign-in reached
    level `achieved` (1, 2, 3: idp.authn.levels.ORDER)."""
    server = servers.get(signed_requests=False)
    sp_id = request.sp.entity_id
    if request.transient:
        name_id = NameID(format=NAMEID_FORMAT_TRANSIENT, text=secrets.token_urlsafe(24),
                         name_qualifier=entity_id(issuer), sp_name_qualifier=sp_id)
    else:
        # a SAML SP's row always has its entityID
        name_id = NameID(format=NAMEID_FORMAT_PERSISTENT, text=persistent_name_id(salt, sp_id, subject_seed),  # type: ignore[arg-type]
                         name_qualifier=entity_id(issuer), sp_name_qualifier=sp_id)
    args = dict(request.response_args)
    args.pop("binding", None)
    args.pop("name_id_policy", None)
    # a SAML SP's row always has its metadata
    encrypt = sps.wants_encryption(request.sp.saml_metadata)
    response = server.create_authn_response(
        identity=attributes, name_id=name_id,
        authn={"class_ref": (request.authn_context or authn_context.Requirement()).class_for(achieved),
               "authn_instant": auth_time},
        sign_assertion=True, sign_response=True, encrypt_assertion=encrypt,
        # pysaml2's "self-contained" encryption re-declares namespaces inside the signed assertion,
        # which breaks its signature for other libraries (python3-saml): keep the document as signed.
        encrypt_assertion_self_contained=False,
        sign_alg=SIG_RSA_SHA256, digest_alg=DIGEST_SHA256,
        session_not_on_or_after=None, **args)
    return args["destination"], base64.b64encode(str(response).encode()).decode(), name_id


def error_response(servers: SamlServers, request: AuthnRequest, status: str, text: str) -> tuple[str, str]:
    """A signed Response carrying an error status, e.g. NoPassive (SAML Core §3.2.2.2)."""
    server = servers.get(signed_requests=False)
    response = server.create_error_response(request.request_id, request.response_args["destination"],
                                            (status, text), sign=True, sign_alg=SIG_RSA_SHA256,
                                            digest_alg=DIGEST_SHA256)
    return request.response_args["destination"], base64.b64encode(str(response).encode()).decode()


NO_PASSIVE, DENIED, NO_AUTHN_CONTEXT = STATUS_NO_PASSIVE, STATUS_REQUEST_DENIED, STATUS_NO_AUTHN_CONTEXT


# --- single logout ---------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class LogoutAnswer:
    binding: str
    url: str | None  # Redirect: where to send the browser
    destination: str | None  # POST: where the form goes
    saml_response: str | None  # POST: base64 LogoutResponse
    name_id: str | None
    sp_entity_id: str


def logout(servers: SamlServers, session, store: Store, incoming: Incoming, now: float | None = None) -> LogoutAnswer:
    """Verify an SP's LogoutRequest and prepare its signed LogoutResponse (SAML Profiles §4.4)."""
    sp = known_sp(session, incoming)
    server = servers.get(signed_requests=sp.require_signed_requests or incoming.signed)
    message = _parse(server.parse_logout_request, incoming, "logout request", now)
    _refuse_replay(store, sp, message.id)
    name_id = message.name_id.text if message.name_id is not None else None
    response = server.create_logout_response(message, [BINDING_HTTP_REDIRECT, BINDING_HTTP_POST],
                                             sign=True, sign_alg=SIG_RSA_SHA256, digest_alg=DIGEST_SHA256)
    try:
        binding, destination = server.pick_binding("single_logout_service",
                                                   [BINDING_HTTP_REDIRECT, BINDING_HTTP_POST], "spsso",
                                                   entity_id=sp.entity_id)
    except Exception:
        raise MessageRejected("the service provider has no single logout service") from None
    if binding == BINDING_HTTP_REDIRECT:
        http = server.apply_binding(binding, str(response), destination, incoming.relay_state or "",
                                    response=True, sign=True, sigalg=SIG_RSA_SHA256)
        location = dict(http["headers"])["Location"]
        return LogoutAnswer(binding, location, None, None, name_id, sp.entity_id)
    encoded = base64.b64encode(str(response).encode()).decode()
    return LogoutAnswer(binding, None, destination, encoded, name_id, sp.entity_id)

