"""Hostile or broken SAML requests reaching the HTTP endpoints: each refused with a page, not a response."""
import base64
import datetime as dt
import zlib
from urllib.parse import urlencode, urlsplit, parse_qs

import pytest

from tests.saml.service_provider import ServiceProvider, key_and_certificate
from tests.saml.test_sso import local


def redirect_params(url):
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def deflate(xml: bytes) -> str:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return base64.b64encode(compressor.compress(xml) + compressor.flush()).decode()


def test_unsigned_request_when_signing_is_required(web, saml_sp, client):
    registered = saml_sp(sign_requests=True)
    unsigned = ServiceProvider(client.get("/saml/metadata").get_data(as_text=True), sign_requests=False,
                               key_cert=(registered.key, registered.cert))
    assert web.get(local(unsigned.login_url())).status_code == 400


def test_request_signed_by_another_key(web, saml_sp, client):
    saml_sp(sign_requests=True)  # registered with its own key; the impostor uses the same entityID
    impostor = ServiceProvider(client.get("/saml/metadata").get_data(as_text=True), sign_requests=True,
                               key_cert=key_and_certificate("impostor"))
    assert web.get(local(impostor.login_url())).status_code == 400


def test_unknown_service_provider(web, client, saml_keys):
    stranger = ServiceProvider(client.get("/saml/metadata").get_data(as_text=True), sign_requests=True)
    assert web.get(local(stranger.login_url())).status_code == 400


def test_replayed_request(web, saml_sp):
    sp = saml_sp()
    url = local(sp.login_url())
    assert web.get(url).status_code == 302
    assert web.get(url).status_code == 400


def test_relay_state_over_80_bytes(web, saml_sp):
    sp = saml_sp()
    assert web.get(local(sp.login_url(relay_state="/" + "x" * 80))).status_code == 400
    assert web.get(local(sp.login_url(relay_state="/" + "x" * 79))).status_code == 302


def test_acs_url_not_in_metadata(web, saml_sp, client):
    sp = saml_sp(sign_requests=False)
    settings = dict(sp.settings, sp=dict(sp.settings["sp"], assertionConsumerService={
        "url": "https://evil.example/acs", "binding": "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"}))
    assert web.get(local(sp.login_url(settings=settings))).status_code == 400


def test_destination_not_ours(web, saml_sp):
    sp = saml_sp(sign_requests=False)
    settings = dict(sp.settings, idp=dict(sp.settings["idp"], singleSignOnService={
        "url": "https://other-idp.example/sso", "binding": "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"}))
    params = redirect_params(sp.login_url(settings=settings))
    assert web.get("/saml/sso/redirect?" + urlencode(params)).status_code == 400


@pytest.mark.parametrize("value", [
    "%%%not-base64%%%",
    base64.b64encode(b"<samlp:AuthnRequest/>").decode(),              # not deflated
    deflate(b"\0" * (2 * 1024 * 1024)),                                # inflates far past the bound
    "A" * 40000,                                                       # oversized
])
def test_malformed_redirect_requests(web, saml_keys, value):
    assert web.get("/saml/sso/redirect?" + urlencode({"SAMLRequest": value})).status_code == 400


def test_xxe_over_post(web, saml_keys):
    xml = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
           b'<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_1">&e;</samlp:AuthnRequest>')
    response = web.client.post("/saml/sso/post", data={"SAMLRequest": base64.b64encode(xml).decode()})
    assert response.status_code == 400 and b"root:" not in response.data  # refused before it is kept


def test_no_saml_request(web, saml_keys):
    assert web.get("/saml/sso/redirect").status_code == 400
    assert web.client.post("/saml/slo/post", data={}).status_code == 400


def test_a_logout_request_works_once(web, saml_sp, people, identities):
    from tests.saml.test_sso import follow_to_form
    made = identities.make(people["citizen"])
    sp = saml_sp()
    form, _ = follow_to_form(web, sp.login_url(), made)
    name_id = sp.accept(form["SAMLResponse"], sp.last_request_id).get_nameid()
    url = local(sp.logout_url(name_id))
    assert web.get(url).status_code == 303
    assert web.get(url).status_code == 400


def test_id_type_and_nationality_only_to_allowed_sps(web, saml_sp, people, identities):
    from tests.saml.test_sso import follow_to_form
    made = identities.make(people["citizen"])
    sp = saml_sp()
    form, _ = follow_to_form(web, sp.login_url(), made)
    attributes = sp.accept(form["SAMLResponse"], sp.last_request_id).get_attributes()
    assert not {"urn:nsso:attribute:idType", "urn:nsso:attribute:nationality"} & set(attributes)


def test_post_binding_keeps_the_citizens_session(web, saml_sp, people, identities):
    """An AuthnRequest POSTed cross-site (no cookie) continues as a same-site GET that has it."""
    from onelogin.saml2.utils import OneLogin_Saml2_Utils
    from tests.saml.test_sso import follow_to_form
    made = identities.make(people["citizen"])
    sp = saml_sp(sign_requests=False)
    follow_to_form(web, sp.login_url(), made)                   # signed in at the IdP
    settings = dict(sp.settings, idp=dict(sp.settings["idp"], singleSignOnService={
        "url": "http://127.0.0.1:5000/saml/sso/post", "binding": "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"}))
    auth = sp._auth(settings=settings)
    from onelogin.saml2.authn_request import OneLogin_Saml2_Authn_Request
    request_xml = OneLogin_Saml2_Authn_Request(auth.get_settings()).get_xml()
    encoded = OneLogin_Saml2_Utils.b64encode(request_xml)
    from werkzeug.test import Client
    cookieless = Client(web.client.application)
    bounced = cookieless.post("/saml/sso/post", data={"SAMLRequest": encoded, "RelayState": "/x"})
    assert bounced.status_code == 303 and "Set-Cookie" not in bounced.headers
    response = web.get(bounced.headers["Location"])                # the browser follows, with its cookie
    assert response.status_code == 200 and b'id="saml-post"' in response.data  # no sign-in asked


# --- one document: the guard and pysaml2 read the same bytes (issue 15, item 1) ----------------

def test_deflate_xml_polyglot_over_post_is_refused(web, saml_sp, caplog):
    """A POST body that is an AuthnRequest to an XML parser and, inflated, another AuthnRequest:
    pysaml2 used to inflate it and act on the inner request the guard never saw."""
    from tests.saml import crafted
    from tests.saml.polyglot import PREFIX, polyglot
    sp = saml_sp(sign_requests=False)
    outer = crafted.authn_request(sp, request_id="_outer", prefix=PREFIX)
    inner = crafted.authn_request(sp, request_id="_inner", attributes='ForceAuthn="true"')
    body = polyglot(outer, inner)
    inflater = zlib.decompressobj(-15)
    assert inflater.decompress(body).strip().endswith(inner.encode()) and inflater.eof  # it is a polyglot
    caplog.set_level("INFO")
    response = web.client.post("/saml/sso/post", data={"SAMLRequest": base64.b64encode(body).decode()})
    assert response.status_code == 400                          # refused at once: nothing kept, no pysaml2
    assert "message is also a DEFLATE stream" in caplog.text


def test_the_same_request_without_its_deflate_reading_is_accepted(web, saml_sp):
    """The control for the polyglot: the outer document alone is a request we take."""
    from tests.saml import crafted
    from tests.saml.polyglot import PREFIX
    sp = saml_sp(sign_requests=False)
    response = crafted.post(web, crafted.authn_request(sp, prefix=PREFIX))
    assert response.status_code == 302 and "/login" in response.location


def test_a_deflated_request_is_not_inflated_over_post(web, saml_sp):
    """SAML Bindings §3.5.4: HTTP-POST messages are never DEFLATE-encoded."""
    from tests.saml import crafted
    sp = saml_sp(sign_requests=False)
    xml = crafted.authn_request(sp).encode()
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    response = crafted.post(web, compressor.compress(xml) + compressor.flush())
    assert response.status_code == 400


# --- the POST bounce stores only what passed the guard (issue 15, item 5) ------------------------

@pytest.mark.parametrize("body", [
    b"<x/>" * 1000,                                                          # not a SAML request
    b'<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_1"/>',  # no Issuer
])
def test_post_bounce_refuses_before_storing(web, saml_keys, store, body):
    response = web.client.post("/saml/sso/post", data={"SAMLRequest": base64.b64encode(body).decode()})
    assert response.status_code == 400 and "Location" not in response.headers


def test_post_bounce_refuses_an_unknown_service_provider(web, saml_sp):
    from tests.saml import crafted
    sp = saml_sp(sign_requests=False)
    xml = crafted.authn_request(sp, issuer="https://stranger.example/sp")
    response = web.client.post("/saml/sso/post", data={"SAMLRequest": base64.b64encode(xml.encode()).decode()})
    assert response.status_code == 400


def test_post_bounce_refuses_an_oversized_message(web, saml_sp):
    from tests.saml import crafted
    sp = saml_sp(sign_requests=False)
    xml = crafted.authn_request(sp, inside=" " * (70 * 1024))
    response = web.client.post("/saml/sso/post", data={"SAMLRequest": base64.b64encode(xml.encode()).decode()})
    assert response.status_code == 400


def test_post_bounce_is_short_lived_and_limited_per_address(web, saml_sp, store):
    from idp.web.saml import BOUNCE_SECONDS, BOUNCES_PER_MINUTE
    from tests.saml import crafted
    sp = saml_sp(sign_requests=False)
    for _ in range(BOUNCES_PER_MINUTE):
        response = web.client.post("/saml/sso/post", data={
            "SAMLRequest": base64.b64encode(crafted.authn_request(sp).encode()).decode()})
        assert response.status_code == 303
    key = response.headers["Location"].rsplit("/", 1)[1]
    assert 0 < store.ttl(f"saml:bounce:{key}") <= BOUNCE_SECONDS
    response = web.client.post("/saml/sso/post", data={
        "SAMLRequest": base64.b64encode(crafted.authn_request(sp).encode()).decode()})
    assert response.status_code == 429


# --- protocol details (issue 15, item 7) -----------------------------------------------------------

@pytest.mark.parametrize("age", [dt.timedelta(days=3 * 365), dt.timedelta(minutes=7), -dt.timedelta(minutes=5)])
def test_a_signed_request_must_be_fresh(web, saml_sp, age):
    """IssueInstant (SAML Core §3.2.2) within 5 minutes (+60 s skew): a validly signed request
    from years ago, or from the future, is refused."""
    from tests.saml import crafted
    sp = saml_sp()
    when = dt.datetime.now(dt.UTC) - age
    assert crafted.post(web, crafted.sign(sp, crafted.authn_request(sp, issue_instant=crafted.instant(when)))
                        ).status_code == 400


def test_a_fresh_signed_request_is_accepted(web, saml_sp):
    from tests.saml import crafted
    sp = saml_sp()
    when = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=4)
    response = crafted.post(web, crafted.sign(sp, crafted.authn_request(sp, issue_instant=crafted.instant(when))))
    assert response.status_code == 302 and "/login" in response.location


def test_the_replay_marker_outlives_the_freshness_window():
    from idp.saml import sso
    assert sso.REPLAY_SECONDS > sso.REQUEST_MAX_AGE + 2 * sso.CLOCK_SKEW


@pytest.mark.parametrize("value", ["1", "true"])
def test_force_authn_is_an_xs_boolean(web, saml_sp, people, identities, value):
    from tests.saml import crafted
    from tests.saml.test_sso import follow_to_form
    made = identities.make(people["citizen"])
    sp = saml_sp(sign_requests=False)
    follow_to_form(web, sp.login_url(), made)                   # signed in at the IdP
    response = crafted.post(web, crafted.authn_request(sp, attributes=f'ForceAuthn="{value}"'))
    assert response.status_code == 302 and "/login" in response.location


@pytest.mark.parametrize("value", ["1", "true"])
def test_is_passive_is_an_xs_boolean(web, saml_sp, value):
    from tests.saml import crafted
    from tests.saml.service_provider import post_form
    sp = saml_sp(sign_requests=False)
    response = crafted.post(web, crafted.authn_request(sp, attributes=f'IsPassive="{value}"'))
    assert response.status_code == 200
    assert b"status:NoPassive" in base64.b64decode(post_form(response.get_data(as_text=True))["SAMLResponse"])


@pytest.mark.parametrize("value", ["yes", "TRUE", "t", " true ", "\t1\n"])
def test_a_malformed_boolean_is_refused(web, saml_sp, value):
    """Never ignored. pysaml2's schema check refuses even the whitespace XML Schema would collapse:
    a clean refusal, on the safe side."""
    from tests.saml import crafted
    sp = saml_sp(sign_requests=False)
    assert crafted.post(web, crafted.authn_request(sp, attributes=f'ForceAuthn="{value}"')).status_code == 400


@pytest.mark.parametrize("pad", [" ", "\n", "\t "])
def test_an_issuer_with_surrounding_whitespace_is_refused_cleanly(web, saml_sp, pad):
    from tests.saml import crafted
    sp = saml_sp(sign_requests=False)
    issuer = pad + sp.settings["sp"]["entityId"] + pad
    assert crafted.post(web, crafted.authn_request(sp, issuer=issuer)).status_code == 400


@pytest.mark.parametrize("value, accepted", [
    ("2026-11-30T10:00:00Z", True),
    ("2026-11-30T09:54:00.5Z", True),              # 5 min 59.5 s old: within 5 min + 60 s skew
    ("2026-11-30T09:53:59Z", False),
    ("2026-11-30T10:01:00Z", True),                # 60 s ahead: the skew
    ("2026-11-30T10:01:01Z", False),
    ("2026-11-30T13:00:00+03:00", True),           # the same instant, with an offset
    ("2023-11-30T10:00:00Z", False),
    ("yesterday", False),
])
def test_issue_instant_window(value, accepted):
    from idp.saml.guard import MessageRejected
    from idp.saml.sso import check_issue_instant
    now = dt.datetime(2026, 11, 30, 10, 0, tzinfo=dt.UTC).timestamp()
    if accepted:
        check_issue_instant(value, now)
    else:
        with pytest.raises(MessageRejected):
            check_issue_instant(value, now)


def _stored_bytes(store) -> int:
    """What the store holds, in bytes of values: Redis (this test's prefix) or in-process."""
    if hasattr(store, "client"):
        return sum(store.client.memory_usage(key) or 0
                   for key in store.client.scan_iter(match=store.prefix + "*", count=500))
    return sum(len(value) if isinstance(value, bytes) else 64 for value, _ in store._data.values())


def test_an_anonymous_flood_does_not_grow_the_store(web, saml_sp, store):
    """Issue 15, item 5: 400 POSTs of 256 KiB used to add 100 MiB. Refused messages store
    nothing; accepted ones are kept decoded and capped per address (BOUNCES_PER_MINUTE × 64 KiB)."""
    from idp.web.saml import BOUNCES_PER_MINUTE
    from tests.saml import crafted
    sp = saml_sp(sign_requests=False)
    before = _stored_bytes(store)
    junk = base64.b64encode(b"<x>" + b"a" * (60 * 1024) + b"</x>").decode()
    for _ in range(40):
        assert web.client.post("/saml/sso/post", data={"SAMLRequest": junk}).status_code == 400
    assert _stored_bytes(store) - before < 1024
    valid = base64.b64encode(crafted.authn_request(sp, inside=" " * (60 * 1024)).encode()).decode()
    statuses = [web.client.post("/saml/sso/post", data={"SAMLRequest": valid}).status_code
                for _ in range(BOUNCES_PER_MINUTE + 20)]
    assert statuses.count(303) == BOUNCES_PER_MINUTE and set(statuses[BOUNCES_PER_MINUTE:]) == {429}
    assert _stored_bytes(store) - before < BOUNCES_PER_MINUTE * 80 * 1024
