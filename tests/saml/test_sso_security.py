"""Hostile or broken SAML requests reaching the HTTP endpoints: each refused with a page, not a response."""
import base64
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
