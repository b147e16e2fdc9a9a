"""OpenID Connect Discovery 1.0 and the JWKS (RFC 7517)."""


def test_metadata_is_complete_and_truthful(client):
    response = client.get("/.well-known/openid-configuration")
    meta = response.json
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    issuer = "http://127.0.0.1:5000"
    assert meta["issuer"] == issuer
    for name, path in {"authorization_endpoint": "/oidc/authorize", "token_endpoint": "/oidc/token",
                       "userinfo_endpoint": "/oidc/userinfo", "jwks_uri": "/oidc/jwks",
                       "end_session_endpoint": "/oidc/logout"}.items():
        assert meta[name] == issuer + path
    assert meta["response_types_supported"] == ["code"]
    assert meta["grant_types_supported"] == ["authorization_code", "refresh_token"]
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["ui_locales_supported"] == ["ar", "en"]
    assert set(meta["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic", "client_secret_post", "private_key_jwt", "none"}
    assert set(meta["id_token_signing_alg_values_supported"]) == {"RS256", "ES256"}
    assert {"openid", "profile", "email", "phone", "national_id"} <= set(meta["scopes_supported"])
    assert {"name#ar", "birthdate_hijri", "national_id", "acr", "amr"} <= set(meta["claims_supported"])
    assert meta["subject_types_supported"][0] == "pairwise"


def test_every_advertised_endpoint_answers(client, signing_keys):
    meta = client.get("/.well-known/openid-configuration").json
    assert client.get(meta["jwks_uri"].replace(meta["issuer"], "")).status_code == 200
    assert client.get(meta["userinfo_endpoint"].replace(meta["issuer"], "")).status_code == 401
    assert client.post(meta["token_endpoint"].replace(meta["issuer"], ""), data={}).status_code in (400, 401)
    assert client.get(meta["authorization_endpoint"].replace(meta["issuer"], "")).status_code == 400


def test_jwks_publishes_public_keys_only(client, signing_keys):
    keys = client.get("/oidc/jwks").json["keys"]
    assert {k["alg"] for k in keys} == {"RS256", "ES256"}
    for key in keys:
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)
        assert key["kid"] and key["use"] == "sig"


def test_no_cors_on_the_authorization_endpoint(client):
    response = client.get("/oidc/authorize")
    assert "Access-Control-Allow-Origin" not in response.headers


def test_token_and_userinfo_allow_cors_preflight(client):
    for path in ("/oidc/token", "/oidc/userinfo"):
        response = client.options(path)
        assert response.status_code == 204 and response.headers["Access-Control-Allow-Origin"] == "*"
