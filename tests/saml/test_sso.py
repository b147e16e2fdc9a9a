"""Web Browser SSO with an independent SAML library (python3-saml) as the service provider."""
import pyotp

from tests.saml.service_provider import post_form

PREFIX = "urn:nsso:attribute:"


def local(url: str) -> str:
    """The test client keeps cookies per host: address the IdP as it does."""
    return url.replace("http://127.0.0.1:5000", "")


def follow_to_form(web, url, made=None, otp=None, release="allow"):
    """The citizen's browser: to the IdP, through sign-in if asked, through the release notice the
    first time (answered with `release`), to the auto-posting form."""
    response = web.get(local(url))
    if response.status_code == 302 and "/login" in response.location:
        next_url = response.location.split("next=", 1)[1]
        from urllib.parse import unquote
        response = web.login(made.username, made.password, otp=otp, next_url=unquote(next_url))
        response = web.get(response.location)
    assert response.status_code == 200, (response.status_code, response.headers.get("Location"))
    response = answer_release(web, response, release)
    return post_form(response.get_data(as_text=True)), response


def answer_release(web, response, decision="allow"):
    """The first-time release notice, if this is it: allowed or declined."""
    import re

    from tests.conftest import csrf_token

    page = response.get_data(as_text=True)
    action = re.search(r'action="(/saml/sso/release/[^"]+)"', page)
    if action is None:
        return response
    answered = web.client.post(action.group(1), data={"csrf_token": csrf_token(page), "decision": decision})
    assert answered.status_code == 200, answered.status_code
    return answered


def test_metadata(client, saml_keys):
    response = client.get("/saml/metadata")
    xml = response.get_data(as_text=True)
    assert response.mimetype == "application/samlmetadata+xml"
    assert 'entityID="http://127.0.0.1:5000/saml/metadata"' in xml
    for path in ("/saml/sso/redirect", "/saml/sso/post", "/saml/slo/redirect", "/saml/slo/post"):
        assert f"http://127.0.0.1:5000{path}" in xml
    assert "nameid-format:persistent" in xml and "nameid-format:transient" in xml
    assert "X509Certificate" in xml


def test_metadata_is_valid_against_the_schema(client, saml_keys):
    from importlib.resources import files

    import saml2.data.schemas
    from saml2.xml.schema import _create_xml_schema_validator
    metadata_xsd = str(files(saml2.data.schemas).joinpath("saml-schema-metadata-2.0.xsd"))
    _create_xml_schema_validator(metadata_xsd).validate(client.get("/saml/metadata").get_data(as_text=True))


def test_signed_request_sign_in_and_signed_response(web, saml_sp, people, identities):
    made = identities.make(people["citizen"])
    sp = saml_sp()
    form, response = follow_to_form(web, sp.login_url(), made)
    assert form["action"] == "http://127.0.0.1:5002/saml/acs" and form["RelayState"] == "/after"
    auth = sp.accept(form["SAMLResponse"], sp.last_request_id)
    assert auth.get_errors() == [], auth.get_last_error_reason()
    assert auth.is_authenticated()
    attributes = auth.get_attributes()
    person = people["citizen"]
    assert attributes[PREFIX + "nameAr"] == [person.name_ar]
    assert attributes[PREFIX + "nameEn"] == [person.name_en]
    assert attributes[PREFIX + "birthDate"] == ["1990-03-15"]
    assert attributes[PREFIX + "email"] == [made.email]
    assert PREFIX + "nationalId" not in attributes
    assert auth.get_nameid_format() == "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
    first = auth.get_nameid()
    # single sign-on: a second request needs no password, and the persistent NameID is stable
    form, _ = follow_to_form(web, sp.login_url())
    again = sp.accept(form["SAMLResponse"], sp.last_request_id)
    assert again.get_errors() == [] and again.get_nameid() == first


def test_national_id_only_to_allowed_sps(web, saml_sp, people, identities):
    made = identities.make(people["citizen"])
    sp = saml_sp(allow_national_id=True)
    form, _ = follow_to_form(web, sp.login_url(), made)
    attributes = sp.accept(form["SAMLResponse"], sp.last_request_id).get_attributes()
    assert attributes[PREFIX + "nationalId"] == [people["citizen"].national_id]
    assert attributes[PREFIX + "idType"] == ["citizen"] and attributes[PREFIX + "nationality"] == ["SAU"]


def test_encrypted_assertion_when_the_sp_has_an_encryption_key(web, saml_sp, people, identities):
    made = identities.make(people["citizen"])
    sp = saml_sp(want_encryption=True)
    form, _ = follow_to_form(web, sp.login_url(), made)
    import base64
    assert b"EncryptedAssertion" in base64.b64decode(form["SAMLResponse"])
    auth = sp.accept(form["SAMLResponse"], sp.last_request_id)
    assert auth.get_errors() == [], auth.get_last_error_reason()
    assert auth.get_attributes()[PREFIX + "nameEn"] == [people["citizen"].name_en]


def test_assertions_are_encrypted_with_aes_gcm_and_rsa_oaep_sha256(web, saml_sp, people, identities):
    """XML Encryption 1.1: AES-256-GCM for the assertion, RSA-OAEP with a SHA-256 digest for its key
    (not 3DES-CBC and OAEP/SHA-1), and python3-saml decrypts it."""
    import base64
    from xml.etree.ElementTree import fromstring
    made = identities.make(people["citizen"])
    sp = saml_sp(want_encryption=True)
    form, _ = follow_to_form(web, sp.login_url(), made)
    xenc, ds = "{http://www.w3.org/2001/04/xmlenc#}", "{http://www.w3.org/2000/09/xmldsig#}"
    data = fromstring(base64.b64decode(form["SAMLResponse"])).find(f".//{xenc}EncryptedData")
    assert data.find(f"{xenc}EncryptionMethod").get("Algorithm") == "http://www.w3.org/2009/xmlenc11#aes256-gcm"
    key_method = data.find(f"{ds}KeyInfo/{xenc}EncryptedKey/{xenc}EncryptionMethod")
    assert key_method.get("Algorithm") == "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"
    assert key_method.find(f"{ds}DigestMethod").get("Algorithm") == "http://www.w3.org/2001/04/xmlenc#sha256"
    auth = sp.accept(form["SAMLResponse"], sp.last_request_id)
    assert auth.get_errors() == [], auth.get_last_error_reason()
    assert auth.get_nameid()


def test_is_passive_without_a_session_answers_no_passive(web, saml_sp):
    sp = saml_sp()
    form, _ = follow_to_form(web, sp.login_url(is_passive=True))
    auth = sp.accept(form["SAMLResponse"], sp.last_request_id)
    assert not auth.is_authenticated()
    import base64
    assert b"urn:oasis:names:tc:SAML:2.0:status:NoPassive" in base64.b64decode(form["SAMLResponse"])


def test_force_authn_asks_the_password_again(web, saml_sp, people, identities):
    made = identities.make(people["citizen"])
    sp = saml_sp()
    follow_to_form(web, sp.login_url(), made)
    response = web.get(local(sp.login_url(force_authn=True)))
    assert response.status_code == 302 and "/login" in response.location


def test_requested_second_factor(web, saml_sp, people, identities):
    made = identities.make(people["citizen"], totp=True)
    sp = saml_sp(require_loa2=True)
    form, _ = follow_to_form(web, sp.login_url(), made, otp=pyotp.TOTP(made.secret).now())
    auth = sp.accept(form["SAMLResponse"], sp.last_request_id)
    assert auth.get_errors() == []
    assert "urn:idp:loa:2" in str(auth.get_last_authn_contexts())


def test_sp_initiated_logout(web, saml_sp, people, identities):
    made = identities.make(people["citizen"])
    sp = saml_sp()
    form, _ = follow_to_form(web, sp.login_url(), made)
    name_id = sp.accept(form["SAMLResponse"], sp.last_request_id).get_nameid()
    response = web.get(local(sp.logout_url(name_id)))
    assert response.status_code == 303 and response.location.startswith("http://127.0.0.1:5002/saml/sls")
    auth = sp.accept_logout(response.location)
    assert auth.get_errors() == [], auth.get_last_error_reason()
    assert web.get("/account").status_code == 302  # the IdP session is over
