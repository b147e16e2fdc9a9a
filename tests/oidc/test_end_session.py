"""RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0)."""
from urllib.parse import urlencode

from tests.conftest import STRONG_PASSWORD as STRONG
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


# --- issue 15 (6): a hint identifies, it does not authorise (RP-Initiated Logout §2) --------------

def userinfo_status(client, tokens):
    return client.get("/oidc/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}).status_code


def expired_copy(services, id_token):
    """The same ID token, re-signed by us with an exp in the past (a hint may be expired)."""
    import base64
    import json
    payload = id_token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(iat=claims["iat"] - 7200, exp=claims["exp"] - 7200)
    return services.keyring.sign(claims, alg="RS256")


def test_a_cookieless_logout_with_a_hint_revokes_nothing(app, web, client, rps, people, identities, services):
    rp, tokens = signed_in_tokens(web, client, rps, people, identities)
    stranger = app.test_client()  # anyone who once saw the ID token, with no session here
    for hint in (tokens["id_token"], expired_copy(services, tokens["id_token"])):
        response = stranger.get("/oidc/logout?" + urlencode({
            "id_token_hint": hint, "post_logout_redirect_uri": "https://masar.example.gov.sa/bye"}))
        assert response.status_code == 303 and response.location == "https://masar.example.gov.sa/bye"
    assert userinfo_status(client, tokens) == 200       # the citizen's tokens at the portal still work
    assert web.get("/account").status_code == 200       # and the citizen is still signed in here


def test_an_expired_hint_for_the_signed_in_citizen_still_signs_out(web, client, rps, people, identities, services):
    rp, tokens = signed_in_tokens(web, client, rps, people, identities)
    response = web.get("/oidc/logout?" + urlencode({"id_token_hint": expired_copy(services, tokens["id_token"])}))
    assert response.status_code == 200 and web.get("/account").status_code == 302
    assert userinfo_status(client, tokens) == 401       # this session made them: revoked with it


def test_a_hint_for_someone_else_signs_out_only_this_browser_after_asking(app, web, client, rps, people,
                                                                          identities, db):
    from tests.conftest import Web
    rp, victim_tokens = signed_in_tokens(web, client, rps, people, identities)
    other = identities.make(people["citizen2"], username="citizen.two")
    attacker = Web(app.test_client())
    attacker.login(other.username, other.password)
    page = attacker.get("/oidc/logout?" + urlencode({"id_token_hint": victim_tokens["id_token"]}))
    assert page.status_code == 200 and "logout/confirm" in page.get_data(as_text=True)
    response = attacker.client.post("/oidc/logout/confirm",
                                    data={"csrf_token": csrf_token(page.get_data(as_text=True))})
    assert response.status_code == 200 and attacker.get("/account").status_code == 302
    assert userinfo_status(client, victim_tokens) == 200
    assert web.get("/account").status_code == 200
    from sqlalchemy import select

    from idp.models import AuditEvent
    event = db.scalars(select(AuditEvent).where(AuditEvent.kind == "oidc.logout")).one()
    assert event.identity_id == other.identity.id and event.detail["tokens_revoked"] is False


def test_signing_out_on_one_device_leaves_another_devices_portal_tokens(app, web, client, rps, people,
                                                                        identities):
    from tests.conftest import Web
    rp, tokens = signed_in_tokens(web, client, rps, people, identities)
    laptop = Web(app.test_client())
    laptop.login("citizen.one", STRONG)
    response = laptop.get("/oidc/logout?" + urlencode({
        "id_token_hint": tokens["id_token"], "post_logout_redirect_uri": "https://masar.example.gov.sa/bye"}))
    assert response.status_code == 303 and laptop.get("/account").status_code == 302
    assert userinfo_status(client, tokens) == 200       # the phone's sign-in at Masar is not this session's
    assert web.get("/account").status_code == 200
