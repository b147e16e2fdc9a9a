"""The authorization code flow with PKCE, end to end over HTTP (OIDC Core 1.0 §3.1)."""
from joserfc import jwt
from joserfc.jwk import KeySet


def test_code_flow_id_token_and_userinfo(web, client, rps, people, identities, app):
    made = identities.make(people["citizen"])
    rp = rps.register()
    code, verifier, params = rps.sign_in_and_authorize(web, rp, made)
    response = rps.exchange(client, rp, code, verifier)
    assert response.status_code == 200, response.json
    tokens = response.json
    assert tokens["token_type"].lower() == "bearer" and tokens["refresh_token"]
    assert response.headers["Cache-Control"] == "no-store"
    jwks = client.get("/oidc/jwks").json
    claims = jwt.decode(tokens["id_token"], KeySet.import_key_set(jwks)).claims
    assert claims["iss"] == "http://127.0.0.1:5000" and claims["aud"] == rp.client_id
    # Every identity signs in with its second factor (idp.web.enrolment): LoA 2.
    assert claims["nonce"] == params["nonce"] and claims["acr"] == "urn:idp:loa:2"
    assert claims["amr"] == ["pwd", "otp"] and isinstance(claims["auth_time"], int) and claims["at_hash"]
    info = client.get("/oidc/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.status_code == 200, info.json
    assert info.json["sub"] == claims["sub"]
    assert info.json["name#ar"] == people["citizen"].name_ar
    assert info.json["email"] == made.email
    assert "national_id" not in info.json
