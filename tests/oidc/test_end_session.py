"""RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0)."""
from urllib.parse import urlencode

from tests.conftest import csrf_token


def signed_in_tokens(web, client, rps, people, identities):
    made = identities.make(people["citizen"])
    rp = rps.register()
    code, verifier, _ = rps.sign_in_and_authorize(web, rp, made)
    return rp, rps.exchange(client, rp, code, verifier).json


def test_logout_with_hint_returns_to_the_registered_uri(web, client, rps, people, identities):
    rp, tokens = signed_in_tokens(web, client, rps, people, identities)
    response = web.get("/oidc/logout?" + urlencode({
        "id_token_hint": tokens["id_token"], "post_logout_redirect_uri": "https://masar.example.gov.sa/bye",
        "state": "s1"}))
    assert response.status_code == 303
    assert response.location == "https://masar.example.gov.sa/bye?state=s1"
    assert web.get("/account").status_code == 302           # signed out here
    info = client.get("/oidc/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.status_code == 401                          # and the RP's tokens are revoked


def test_unregistered_post_logout_uri_is_not_followed(web, client, rps, people, identities):
    rp, tokens = signed_in_tokens(web, client, rps, people, identities)
    response = web.get("/oidc/logout?" + urlencode({
        "id_token_hint": tokens["id_token"], "post_logout_redirect_uri": "https://evil.example/"}))
    assert response.status_code == 400 and "Location" not in response.headers
    assert web.get("/account").status_code == 200


def test_without_a_hint_the_person_is_asked(web, client, rps, people, identities):
    signed_in_tokens(web, client, rps, people, identities)
    page = web.get("/oidc/logout")
    assert page.status_code == 200 and web.get("/account").status_code == 200
    response = web.client.post("/oidc/logout/confirm", data={"csrf_token": csrf_token(page.get_data(as_text=True))})
    assert response.status_code == 200
    assert web.get("/account").status_code == 302


def test_a_forged_hint_is_refused(web, client, rps, people, identities):
    signed_in_tokens(web, client, rps, people, identities)
    response = web.get("/oidc/logout?id_token_hint=eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")
    assert response.status_code == 400
    assert web.get("/account").status_code == 200
