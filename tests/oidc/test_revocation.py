"""RFC 7009 token revocation at /oidc/revoke: families, hints, unknown and foreign tokens, client
authentication like the token endpoint."""
import base64

import pytest


def basic(client) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{client.client_id}:{client.secret}".encode()).decode()}


@pytest.fixture
def signed_in(web, client, rps, people, identities):
    """A client and the tokens it got for a signed-in citizen."""
    made = identities.make(people["citizen"])

    def make(**register):
        rp = rps.register(**register)
        code, verifier, _ = rps.sign_in_and_authorize(web, rp, made)
        return rp, rps.exchange(client, rp, code, verifier).json
    return make


def refresh(client, rp, token):
    return client.post("/oidc/token", data={"grant_type": "refresh_token", "refresh_token": token}, headers=basic(rp))


def userinfo(client, token):
    return client.get("/oidc/userinfo", headers={"Authorization": f"Bearer {token}"})


def test_a_revoked_refresh_token_takes_its_family_with_it(client, signed_in):
    rp, tokens = signed_in()
    response = client.post("/oidc/revoke", data={"token": tokens["refresh_token"],
                                                 "token_type_hint": "refresh_token"}, headers=basic(rp))
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    assert refresh(client, rp, tokens["refresh_token"]).json["error"] == "invalid_grant"
    assert userinfo(client, tokens["access_token"]).status_code == 401


def test_a_revoked_access_token_ends_its_family_too(client, signed_in):
    rp, tokens = signed_in()
    assert client.post("/oidc/revoke", data={"token": tokens["access_token"]}, headers=basic(rp)).status_code == 200
    assert userinfo(client, tokens["access_token"]).status_code == 401
    assert refresh(client, rp, tokens["refresh_token"]).status_code == 400


@pytest.mark.parametrize("hint", ["access_token", "refresh_token", "something_else", ""])
def test_the_hint_is_only_a_hint(client, signed_in, hint):
    rp, tokens = signed_in()
    response = client.post("/oidc/revoke", data={"token": tokens["refresh_token"], "token_type_hint": hint},
                           headers=basic(rp))
    assert response.status_code == 200
    assert refresh(client, rp, tokens["refresh_token"]).status_code == 400


@pytest.mark.parametrize("token", ["unknown", "x" * 5000, ""])
def test_unknown_tokens_are_answered_200(client, signed_in, token):
    rp, _ = signed_in()
    assert client.post("/oidc/revoke", data={"token": token}, headers=basic(rp)).status_code == 200


def test_a_client_cannot_revoke_another_clients_token(client, signed_in, rps):
    rp, tokens = signed_in()
    other = rps.register(name="Other portal")
    response = client.post("/oidc/revoke", data={"token": tokens["refresh_token"]}, headers=basic(other))
    assert response.status_code == 200  # no oracle: the same answer as for an unknown token
    assert refresh(client, rp, tokens["refresh_token"]).status_code == 200


def test_client_authentication_is_required(client, signed_in):
    rp, tokens = signed_in()
    response = client.post("/oidc/revoke", data={"token": tokens["refresh_token"]})
    assert response.status_code == 401 and response.json["error"] == "invalid_client"
    wrong_secret = base64.b64encode(f"{rp.client_id}:nope".encode()).decode()
    wrong = client.post("/oidc/revoke", data={"token": tokens["refresh_token"]},
                        headers={"Authorization": "Basic " + wrong_secret})
    assert wrong.status_code == 401
    assert refresh(client, rp, tokens["refresh_token"]).status_code == 200


@pytest.mark.parametrize("data, content_type", [
    ({}, None),  # no token
    ("token=a&token=b", "application/x-www-form-urlencoded"),  # repeated
    ('{"token": "a"}', "application/json"),
])
def test_bad_requests(client, signed_in, data, content_type):
    rp, _ = signed_in()
    kwargs = {"content_type": content_type} if content_type else {}
    response = client.post("/oidc/revoke", data=data, headers=basic(rp), **kwargs)
    assert response.status_code == 400 and response.json["error"] == "invalid_request"


def test_a_public_client_revokes_its_own_tokens(client, signed_in):
    rp, tokens = signed_in(auth_method="none")
    response = client.post("/oidc/revoke", data={"token": tokens["refresh_token"], "client_id": rp.client_id})
    assert response.status_code == 200
    assert client.post("/oidc/token", data={"grant_type": "refresh_token", "client_id": rp.client_id,
                                            "refresh_token": tokens["refresh_token"]}).status_code == 400


def test_revocations_are_audited(client, signed_in, db):
    from idp.models import AuditEvent
    rp, tokens = signed_in()
    client.post("/oidc/revoke", data={"token": tokens["refresh_token"]}, headers=basic(rp))
    event = db.query(AuditEvent).filter_by(kind="oidc.token_revoked").one()
    assert {k: v for k, v in event.detail.items() if k != "request_id"} == \
        {"client_id": rp.client_id, "outcome": "revoked", "token_type": "refresh_token"}
    assert event.detail["request_id"]  # every audit event carries the request's id
    assert tokens["refresh_token"] not in str(event.detail)
