"""The userinfo endpoint (OIDC Core 1.0 §5.3): bearer tokens, claims by scope, language tags."""
import pytest


@pytest.fixture
def tokens(web, client, rps, people, identities):
    def make(scope="openid profile email phone", **register):
        made = identities.make(people["citizen"])
        rp = rps.register(**register)
        code, verifier, _ = rps.sign_in_and_authorize(web, rp, made, scope=scope)
        return rps.exchange(client, rp, code, verifier).json
    return make


def test_claims_follow_the_granted_scopes(client, tokens, people):
    token = tokens("openid email")["access_token"]
    info = client.get("/oidc/userinfo", headers={"Authorization": f"Bearer {token}"}).json
    assert set(info) == {"sub", "email", "email_verified"}


def test_profile_in_both_languages_and_hijri(client, tokens, people):
    token = tokens("openid profile")["access_token"]
    info = client.post("/oidc/userinfo", headers={"Authorization": f"Bearer {token}"}).json
    person = people["citizen"]
    assert info["name#ar"] == person.name_ar and info["name#en"] == person.name_en
    assert info["name"] == person.name_ar
    assert info["given_name#en"] == "Mohammed" and info["family_name#en"] == "Alqahtani"
    assert info["birthdate"] == "1990-03-15" and info["birthdate_hijri"].startswith("1410-08")
    assert info["gender"] == "male"


def test_phone_is_not_claimed_verified(client, tokens):
    token = tokens("openid phone")["access_token"]
    info = client.get("/oidc/userinfo", headers={"Authorization": f"Bearer {token}"}).json
    assert info["phone_number"] == "+966551234567" and info["phone_number_verified"] is False


def test_national_id_for_an_allowed_client(client, tokens, people):
    token = tokens("openid national_id", allow_national_id=True,
                   scopes=["openid", "profile", "national_id"])["access_token"]
    info = client.get("/oidc/userinfo", headers={"Authorization": f"Bearer {token}"}).json
    assert info["national_id"] == people["citizen"].national_id
    assert info["id_type"] == "citizen" and info["nationality"] == "SAU"


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer not-a-token", "Basic abc", "Bearer " + "x" * 600])
def test_bad_tokens(client, signing_keys, header):
    headers = {"Authorization": header} if header else {}
    response = client.get("/oidc/userinfo", headers=headers)
    assert response.status_code == 401 and "invalid_token" in response.headers["WWW-Authenticate"]


def test_a_locked_identity_gets_no_claims(client, tokens, db):
    from idp.models import Identity
    token = tokens()["access_token"]
    identity = db.query(Identity).one()
    identity.status = "locked"
    db.commit()
    assert client.get("/oidc/userinfo", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_pairwise_subjects_differ_between_portals(web, client, rps, people, identities):
    made = identities.make(people["citizen"])
    masar = rps.register()
    other = rps.register(name="Other", redirect_uris=["https://other.example.gov.sa/cb"])
    subs = []
    for rp in (masar, other):
        code, verifier, _ = rps.sign_in_and_authorize(web, rp, made)
        token = rps.exchange(client, rp, code, verifier).json["access_token"]
        subs.append(client.get("/oidc/userinfo", headers={"Authorization": f"Bearer {token}"}).json["sub"])
    assert subs[0] != subs[1]
    # ...and stay the same for one portal
    code, verifier, _ = rps.sign_in_and_authorize(web, masar, made)
    token = rps.exchange(client, masar, code, verifier).json["access_token"]
    assert client.get("/oidc/userinfo", headers={"Authorization": f"Bearer {token}"}).json["sub"] == subs[0]


# --- RFC 6750 §2: where the access token may be ------------------------------------------------

def test_access_token_in_a_form_encoded_body(client, tokens):
    """RFC 6750 §2.2 (the OpenID conformance suite sends it so)."""
    token = tokens("openid email")["access_token"]
    response = client.post("/oidc/userinfo", data={"access_token": token})
    assert response.status_code == 200 and set(response.json) == {"sub", "email", "email_verified"}


def test_access_token_in_the_query_string_is_refused(client, tokens):
    token = tokens("openid email")["access_token"]
    for response in (client.get(f"/oidc/userinfo?access_token={token}"),
                     client.post(f"/oidc/userinfo?access_token={token}")):
        assert response.status_code == 400 and response.json["error"] == "invalid_request"
        assert "email" not in response.json


@pytest.mark.parametrize("body", ["access_token=a&access_token=b", "access_token="])
def test_bad_form_bodies(client, tokens, body):
    tokens("openid email")
    response = client.post("/oidc/userinfo", data=body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400 and response.json["error"] == "invalid_request"


def test_the_token_in_one_place_only(client, tokens):
    token = tokens("openid email")["access_token"]
    response = client.post("/oidc/userinfo", data={"access_token": token}, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 400 and response.json["error"] == "invalid_request"


def test_a_bad_token_in_the_body(client, tokens):
    tokens("openid email")
    response = client.post("/oidc/userinfo", data={"access_token": "not-a-token"})
    assert response.status_code == 401 and "invalid_token" in response.headers["WWW-Authenticate"]
