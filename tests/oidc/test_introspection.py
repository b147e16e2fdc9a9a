"""RFC 7662 token introspection at /oidc/introspect, for resource servers only."""
import base64
import time

import pytest

from tests.oidc.test_revocation import basic, signed_in  # noqa: F401 (a fixture)


@pytest.fixture
def resource_server(rps):
    return rps.register(name="API gateway", introspection=True)


def introspect(client, caller, token, **extra):
    return client.post("/oidc/introspect", data={"token": token, **extra}, headers=basic(caller))


def test_an_active_access_token(client, signed_in, resource_server, app):  # noqa: F811
    rp, tokens = signed_in()
    answer = introspect(client, resource_server, tokens["access_token"]).json
    assert answer["active"] is True and answer["client_id"] == rp.client_id and answer["aud"] == rp.client_id
    assert answer["token_type"] == "Bearer" and set(answer["scope"].split()) == {"openid", "profile", "email"}
    assert answer["iss"] == app.extensions["idp"].settings.issuer
    assert answer["iat"] <= time.time() < answer["exp"] and answer["sub"]


def test_an_active_refresh_token_with_a_wrong_hint(client, signed_in, resource_server):  # noqa: F811
    rp, tokens = signed_in()
    answer = introspect(client, resource_server, tokens["refresh_token"], token_type_hint="access_token").json
    assert answer["active"] is True and answer["token_type"] == "refresh_token"
    assert answer["client_id"] == rp.client_id


@pytest.mark.parametrize("token", ["unknown", "", "y" * 3000])
def test_unknown_tokens_are_inactive_and_say_nothing_else(client, signed_in, resource_server, token):  # noqa: F811
    signed_in()
    assert introspect(client, resource_server, token).json == {"active": False}


def test_revoked_rotated_and_locked_tokens_are_inactive(client, signed_in, resource_server, db):  # noqa: F811
    rp, tokens = signed_in()
    rotated = client.post("/oidc/token", data={"grant_type": "refresh_token",
                                               "refresh_token": tokens["refresh_token"]}, headers=basic(rp)).json
    assert introspect(client, resource_server, tokens["refresh_token"]).json == {"active": False}
    assert introspect(client, resource_server, rotated["refresh_token"]).json["active"] is True
    client.post("/oidc/revoke", data={"token": rotated["refresh_token"]}, headers=basic(rp))
    for token in (rotated["refresh_token"], rotated["access_token"], tokens["access_token"]):
        assert introspect(client, resource_server, token).json == {"active": False}


def test_a_client_that_is_not_a_resource_server_is_refused(client, signed_in):  # noqa: F811
    rp, tokens = signed_in()
    response = introspect(client, rp, tokens["access_token"])
    assert response.status_code == 403 and response.json["error"] == "unauthorized_client"
    assert "active" not in response.json


def test_unauthenticated_callers_are_refused(client, signed_in, resource_server):  # noqa: F811
    _, tokens = signed_in()
    response = client.post("/oidc/introspect", data={"token": tokens["access_token"]})
    assert response.status_code == 401 and response.json["error"] == "invalid_client"
    wrong = client.post("/oidc/introspect", data={"token": tokens["access_token"]}, headers={
        "Authorization": "Basic " + base64.b64encode(f"{resource_server.client_id}:wrong".encode()).decode()})
    assert wrong.status_code == 401


def test_a_resource_server_must_authenticate(services):
    from idp.errors import ValidationError
    from idp.oidc import clients
    with services.db.session() as session, pytest.raises(ValidationError):
        clients.register_oidc(session, name="API", redirect_uris=["https://api.example.gov.sa/cb"],
                              auth_method="none", introspection=True)


def test_discovery_names_both_endpoints(client, signed_in, app):  # noqa: F811
    issuer = app.extensions["idp"].settings.issuer
    metadata = client.get("/.well-known/openid-configuration").json
    assert metadata["revocation_endpoint"] == issuer + "/oidc/revoke"
    assert metadata["introspection_endpoint"] == issuer + "/oidc/introspect"
    assert "none" not in metadata["introspection_endpoint_auth_methods_supported"]
    assert "private_key_jwt" in metadata["revocation_endpoint_auth_methods_supported"]
    assert metadata["backchannel_logout_supported"] is True
    assert metadata["backchannel_logout_session_supported"] is True
