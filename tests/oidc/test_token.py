"""The token endpoint: client authentication, PKCE, single-use codes, refresh rotation (RFC 6749, RFC 9700)."""
import base64
import time
import uuid

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, OctKey

from idp.oidc.client_auth import ASSERTION_TYPE


@pytest.fixture
def signed_in(web, rps, people, identities):
    made = identities.make(people["citizen"])
    return made


def userinfo(client, token):
    return client.get("/oidc/userinfo", headers={"Authorization": f"Bearer {token}"})


def test_wrong_secret_is_401_with_www_authenticate(web, client, rps, signed_in):
    rp = rps.register()
    code, verifier, _ = rps.sign_in_and_authorize(web, rp, signed_in)
    rp.secret = "not-the-secret"
    response = rps.exchange(client, rp, code, verifier)
    assert response.status_code == 401 and response.json["error"] == "invalid_client"
    assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_unknown_client(client, rps):
    basic = base64.b64encode(b"nobody:secret").decode()
    response = client.post("/oidc/token", data={"grant_type": "authorization_code", "code": "x"},
                           headers={"Authorization": f"Basic {basic}"})
    assert response.status_code == 401


def test_client_secret_post(web, client, rps, signed_in):
    rp = rps.register(auth_method="client_secret_post")
    code, verifier, _ = rps.sign_in_and_authorize(web, rp, signed_in)
    response = rps.exchange(client, rp, code, verifier, client_id=rp.client_id, client_secret=rp.secret)
    assert response.status_code == 200, response.json


def test_a_client_must_use_its_registered_method(web, client, rps, signed_in):
    rp = rps.register(auth_method="client_secret_post")
    code, verifier, _ = rps.sign_in_and_authorize(web, rp, signed_in)
    assert rps.exchange(client, rp, code, verifier).status_code == 401  # Basic instead of post


def test_public_client_with_pkce_only(web, client, rps, signed_in):
    rp = rps.register(auth_method="none")
    code, verifier, _ = rps.sign_in_and_authorize(web, rp, signed_in)
    assert rp.secret is None
    assert rps.exchange(client, rp, code, verifier).status_code == 200


@pytest.mark.parametrize("verifier_change,error", [
    ("wrong", "invalid_grant"),
    (None, "invalid_grant"),
])
def test_pkce_is_checked(web, client, rps, signed_in, verifier_change, error):
    rp = rps.register()
    code, verifier, _ = rps.sign_in_and_authorize(web, rp, signed_in)
    bad = None if verifier_change is None else verifier[:-4] + "abcd"
    response = rps.exchange(client, rp, code, bad)
    assert response.status_code == 400 and response.json["error"] == error


def test_redirect_uri_must_match(web, client, rps, signed_in):
    rp = rps.register(redirect_uris=[rps.REDIRECT_URI, "https://masar.example.gov.sa/other"])
    code, verifier, _ = rps.sign_in_and_authorize(web, rp, signed_in)
    response = rps.exchange(client, rp, code, verifier, redirect_uri="https://masar.example.gov.sa/other")
    assert response.status_code == 400 and response.json["error"] == "invalid_grant"


def test_a_code_works_once_and_replay_revokes_its_tokens(web, client, rps, signed_in, db):
    rp = rps.register()
    code, verifier, _ = rps.sign_in_and_authorize(web, rp, signed_in)
    first = rps.exchange(client, rp, code, verifier).json
    assert userinfo(client, first["access_token"]).status_code == 200
    again = rps.exchange(client, rp, code, verifier)
    assert again.status_code == 400 and again.json["error"] == "invalid_grant"
    assert userinfo(client, first["access_token"]).status_code == 401
    refreshed = client.post("/oidc/token", data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
                            headers=_basic(rp))
    assert refreshed.status_code == 400
    from sqlalchemy import select

    from idp.models import AuditEvent
    replays = db.scalars(select(AuditEvent).where(AuditEvent.kind == "oidc.code_reuse")).all()
    assert [event.detail["client_id"] for event in replays] == [rp.client_id]


def test_an_unknown_or_expired_code(web, client, rps, signed_in, store):
    rp = rps.register()
    code, verifier, _ = rps.sign_in_and_authorize(web, rp, signed_in)
    from idp.oidc.storage import StoreMapping
    store.delete(StoreMapping(store, "code", 60).key(code))  # what expiry does
    response = rps.exchange(client, rp, code, verifier)
    assert response.status_code == 400 and response.json["error"] == "invalid_grant"


def test_code_of_another_client(web, client, rps, signed_in):
    rp, other = rps.register(), rps.register(name="Other portal")
    code, verifier, _ = rps.sign_in_and_authorize(web, rp, signed_in)
    other.redirect_uri = rp.redirect_uri
    assert rps.exchange(client, other, code, verifier).json["error"] == "invalid_grant"


@pytest.mark.parametrize("grant,error", [("password", "unsupported_grant_type"),
                                         ("client_credentials", "unsupported_grant_type"),
                                         (None, "invalid_request")])
def test_grant_types(client, rps, grant, error):
    rp = rps.register()
    data = {"grant_type": grant} if grant else {}
    response = client.post("/oidc/token", data=data, headers=_basic(rp))
    assert response.status_code == 400 and response.json["error"] == error


def test_token_endpoint_needs_a_form_body(client, rps):
    rp = rps.register()
    response = client.post("/oidc/token", json={"grant_type": "authorization_code"}, headers=_basic(rp))
    assert response.status_code == 400 and response.json["error"] == "invalid_request"


def _basic(rp):
    return {"Authorization": "Basic " + base64.b64encode(f"{rp.client_id}:{rp.secret}".encode()).decode()}


def refresh(client, rp, token):
    return client.post("/oidc/token", data={"grant_type": "refresh_token", "refresh_token": token},
                       headers=_basic(rp))


def test_refresh_tokens_rotate_and_reuse_revokes_the_family(app, web, client, rps, signed_in):
    """After the retry grace (here none; see test_refresh.py for the grace itself)."""
    app.extensions["idp.oidc"].authz_state.refresh_reuse_grace = 0
    rp = rps.register()
    code, verifier, _ = rps.sign_in_and_authorize(web, rp, signed_in)
    first = rps.exchange(client, rp, code, verifier).json
    second = refresh(client, rp, first["refresh_token"])
    assert second.status_code == 200 and second.json["refresh_token"] != first["refresh_token"]
    assert userinfo(client, second.json["access_token"]).status_code == 200
    reused = refresh(client, rp, first["refresh_token"])          # an old one, as a thief would
    assert reused.status_code == 400 and reused.json["error"] == "invalid_grant"
    assert userinfo(client, second.json["access_token"]).status_code == 401
    assert refresh(client, rp, second.json["refresh_token"]).status_code == 400


def test_refresh_token_of_another_client(web, client, rps, signed_in):
    rp, other = rps.register(), rps.register(name="Other")
    code, verifier, _ = rps.sign_in_and_authorize(web, rp, signed_in)
    tokens = rps.exchange(client, rp, code, verifier).json
    assert refresh(client, other, tokens["refresh_token"]).status_code == 400


def test_a_disabled_client_is_refused_at_once(web, client, rps, signed_in, runner):
    rp = rps.register()
    code, verifier, _ = rps.sign_in_and_authorize(web, rp, signed_in)
    tokens = rps.exchange(client, rp, code, verifier).json
    assert runner.invoke(args=["idp", "rp", "disable", rp.client_id]).exit_code == 0
    assert userinfo(client, tokens["access_token"]).status_code == 401
    assert refresh(client, rp, tokens["refresh_token"]).status_code == 401


def test_es256_id_token_for_a_client_that_asks(web, client, rps, signed_in):
    rp = rps.register(id_token_alg="ES256")
    code, verifier, _ = rps.sign_in_and_authorize(web, rp, signed_in)
    id_token = rps.exchange(client, rp, code, verifier).json["id_token"]
    token = jwt.decode(id_token, KeySet.import_key_set(client.get("/oidc/jwks").json))
    assert token.header["alg"] == "ES256"


# --- private_key_jwt (RFC 7523) ------------------------------------------------------------------

@pytest.fixture
def rp_key():
    return ECKey.generate_key("P-256", parameters={"kid": "rp-1", "use": "sig", "alg": "ES256"})


def assertion(rp, key, alg="ES256", **changes):
    now = int(time.time())
    claims = {"iss": rp.client_id, "sub": rp.client_id, "aud": "http://127.0.0.1:5000/oidc/token",
              "iat": now, "exp": now + 60, "jti": str(uuid.uuid4())}
    claims.update(changes)
    return jwt.encode({"alg": alg, "kid": "rp-1"}, claims, key, algorithms=[alg])


def test_private_key_jwt(web, client, rps, signed_in, rp_key):
    rp = rps.register(auth_method="private_key_jwt", jwks={"keys": [rp_key.as_dict(private=False)]})
    code, verifier, _ = rps.sign_in_and_authorize(web, rp, signed_in)
    signed = assertion(rp, rp_key)
    response = rps.exchange(client, rp, code, verifier, client_id=rp.client_id,
                            client_assertion_type=ASSERTION_TYPE, client_assertion=signed)
    assert response.status_code == 200, response.json


@pytest.mark.parametrize("changes", [
    {"aud": "https://someone-else.example/token"},
    {"exp": int(time.time()) - 120},
    {"exp": int(time.time()) + 3600},
    {"iss": "another-client"},
    {"jti": None},
    {"nbf": int(time.time()) + 3600},  # RFC 7523 §3: not valid yet
    {"iat": int(time.time()) + 3600},  # issued in the future
    {"nbf": "0"},                      # not a NumericDate
])
def test_bad_client_assertions(web, client, rps, signed_in, rp_key, changes):
    rp = rps.register(auth_method="private_key_jwt", jwks={"keys": [rp_key.as_dict(private=False)]})
    code, verifier, _ = rps.sign_in_and_authorize(web, rp, signed_in)
    claims = {k: v for k, v in changes.items() if v is not None}
    signed = assertion(rp, rp_key, **claims) if "jti" not in changes else _without_jti(rp, rp_key)
    response = rps.exchange(client, rp, code, verifier, client_id=rp.client_id,
                            client_assertion_type=ASSERTION_TYPE, client_assertion=signed)
    assert response.status_code == 401


def _without_jti(rp, key):
    now = int(time.time())
    return jwt.encode({"alg": "ES256"}, {"iss": rp.client_id, "sub": rp.client_id,
                                        "aud": "http://127.0.0.1:5000/oidc/token", "exp": now + 60}, key,
                      algorithms=["ES256"])


def test_a_client_assertion_works_once(web, client, rps, signed_in, rp_key):
    rp = rps.register(auth_method="private_key_jwt", jwks={"keys": [rp_key.as_dict(private=False)]})
    code, verifier, _ = rps.sign_in_and_authorize(web, rp, signed_in)
    signed = assertion(rp, rp_key)
    first = rps.exchange(client, rp, code, verifier, client_id=rp.client_id,
                         client_assertion_type=ASSERTION_TYPE, client_assertion=signed)
    tokens = first.json
    again = client.post("/oidc/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
                                             "client_assertion_type": ASSERTION_TYPE, "client_assertion": signed})
    assert again.status_code == 401


def test_a_symmetric_or_malformed_assertion_is_refused(web, client, rps, signed_in, rp_key):
    rp = rps.register(auth_method="private_key_jwt", jwks={"keys": [rp_key.as_dict(private=False)]})
    code, verifier, _ = rps.sign_in_and_authorize(web, rp, signed_in)
    hs = jwt.encode({"alg": "HS256"}, {"iss": rp.client_id, "sub": rp.client_id}, OctKey.generate_key(256),
                    algorithms=["HS256"])
    for bad in (hs, "not.a.jwt", "x" * 50):
        response = rps.exchange(client, rp, code, verifier, client_id=rp.client_id,
                                client_assertion_type=ASSERTION_TYPE, client_assertion=bad)
        assert response.status_code == 401


def test_sign_out_everywhere_revokes_tokens_at_every_client(web, client, rps, signed_in):
    rp = rps.register()
    code, verifier, _ = rps.sign_in_and_authorize(web, rp, signed_in)
    tokens = rps.exchange(client, rp, code, verifier).json
    web.logout(everywhere=True)
    assert userinfo(client, tokens["access_token"]).status_code == 401
    assert refresh(client, rp, tokens["refresh_token"]).status_code == 400


def test_locking_an_identity_revokes_its_tokens(web, client, rps, signed_in, runner):
    rp = rps.register()
    code, verifier, _ = rps.sign_in_and_authorize(web, rp, signed_in)
    tokens = rps.exchange(client, rp, code, verifier).json
    assert runner.invoke(args=["idp", "user", "lock", signed_in.username]).exit_code == 0
    assert refresh(client, rp, tokens["refresh_token"]).status_code == 400


def test_withdrawing_consent_leaves_other_portals_tokens(web, client, rps, signed_in, db):
    """Two portals on one host share a pairwise subject; revoking one must not revoke the other."""
    from idp.models import Consent
    a = rps.register(name="A", subject_type="public")
    b = rps.register(name="B", subject_type="public")
    code_a, verifier_a, _ = rps.sign_in_and_authorize(web, a, signed_in)
    tokens_a = rps.exchange(client, a, code_a, verifier_a).json
    code_b, verifier_b, _ = rps.sign_in_and_authorize(web, b, signed_in)
    tokens_b = rps.exchange(client, b, code_b, verifier_b).json
    consent_a = db.query(Consent).filter(Consent.relying_party.has(name="A")).one()
    web.submit(f"/account/services/{consent_a.relying_party_id}/disconnect", {}, page="/account")
    assert userinfo(client, tokens_a["access_token"]).status_code == 401
    assert userinfo(client, tokens_b["access_token"]).status_code == 200


def test_a_code_in_flight_cannot_outlive_a_revocation(web, client, rps, signed_in):
    rp = rps.register()
    code, verifier, _ = rps.sign_in_and_authorize(web, rp, signed_in)
    web.logout(everywhere=True)                       # before the portal exchanged the code
    response = rps.exchange(client, rp, code, verifier)
    assert response.status_code == 400 and response.json["error"] == "invalid_grant"


# --- issue 15: repeated parameters, what a refusal records, caching headers ---------------------

def test_a_repeated_client_id_is_invalid_request(web, client, rps, signed_in, db):
    """RFC 6749 §3.2: no parameter twice. Otherwise the audit logged the first client_id while
    authentication used the last."""
    from sqlalchemy import select

    from idp.models import AuditEvent

    victim, attacker = rps.register(auth_method="none"), rps.register(auth_method="none", name="Other")
    code, verifier, _ = rps.sign_in_and_authorize(web, attacker, signed_in)
    body = (f"grant_type=authorization_code&code={code}&code_verifier={verifier}"
            f"&redirect_uri={attacker.redirect_uri}&client_id={victim.client_id}&client_id={attacker.client_id}")
    response = client.post("/oidc/token", data=body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400 and response.json["error"] == "invalid_request"
    assert response.headers["Pragma"] == "no-cache"
    event = db.scalars(select(AuditEvent).where(AuditEvent.kind == "oidc.token_refused")).one()
    assert "client_id" not in event.detail and event.detail["error"] == "invalid_request"
    # The code was not spent by the refused request: the genuine exchange still works once.
    assert rps.exchange(client, attacker, code, verifier).status_code == 200


def test_a_refused_request_records_a_bounded_client_id(client, rps, db):
    """An anonymous caller cannot write what it likes into the audit table and log (issue 15, 5)."""
    from sqlalchemy import select

    from idp.models import AuditEvent

    huge = "c" * 200_000
    response = client.post("/oidc/token", data={"grant_type": "authorization_code", "code": "x", "client_id": huge})
    assert response.status_code == 401
    basic = base64.b64encode(("b" * 100_000 + ":secret").encode()).decode()
    response = client.post("/oidc/token", data={"grant_type": "authorization_code", "code": "x"},
                           headers={"Authorization": f"Basic {basic}"})
    assert response.status_code == 401
    events = db.scalars(select(AuditEvent).where(AuditEvent.kind == "oidc.token_refused")).all()
    assert len(events) == 2
    for event in events:
        assert "client_id" not in event.detail and len(event.detail["unregistered_client"]) == 16
        assert len(str(event.detail)) < 200


def test_token_and_userinfo_answers_are_never_cached(web, client, rps, signed_in):
    """RFC 6749 §5.1: Cache-Control: no-store and Pragma: no-cache, on success and on error."""
    rp = rps.register()
    code, verifier, _ = rps.sign_in_and_authorize(web, rp, signed_in)
    answers = [rps.exchange(client, rp, code, verifier)]
    answers.append(userinfo(client, answers[0].json["access_token"]))
    answers.append(rps.exchange(client, rp, code, verifier))          # code replayed: an error
    answers.append(userinfo(client, "not-a-token"))
    assert [a.status_code for a in answers] == [200, 200, 400, 401]
    for answer in answers:
        assert answer.headers["Cache-Control"] == "no-store" and answer.headers["Pragma"] == "no-cache"


def test_a_client_disabled_between_two_authorizations_is_refused_at_the_second(web, client, rps, signed_in,
                                                                                 runner):
    """Client metadata is remembered for one request only (issue 10): the next one sees the change."""
    rp = rps.register()
    rps.sign_in_and_authorize(web, rp, signed_in)
    assert runner.invoke(args=["idp", "rp", "disable", rp.client_id]).exit_code == 0
    params, _ = rps.authorize_params(rp)
    from urllib.parse import urlencode

    response = web.get("/oidc/authorize?" + urlencode(params))
    assert response.status_code == 400 and "code=" not in response.headers.get("Location", "")
