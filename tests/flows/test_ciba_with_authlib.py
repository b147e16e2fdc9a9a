"""CIBA Core 1.0 poll mode from an independent client library (Authlib) against a running IdP,
over real HTTP: the backchannel request and the polling are Authlib's client authentication and
token request; the citizen approves through the approval service's real path (tests/phone.py)."""
import time

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.integrations.base_client.errors import OAuthError
from joserfc import jwt
from joserfc.jwk import KeySet

from idp.approval.requests import WrongNumber
from tests.live import free_port, serve
from tests.phone import Phone

PORT = free_port()
ISSUER = f"http://127.0.0.1:{PORT}"
GRANT_TYPE = "urn:openid:params:grant-type:ciba"


@pytest.fixture
def app_overrides():
    return {"issuer": ISSUER}


@pytest.fixture
def live_idp(app, signing_keys):
    stop = serve(app, ISSUER)
    yield ISSUER
    stop()


def poll_until_done(session, token_endpoint, auth_req_id, interval, on_pending):
    """The client side of CIBA §10.1 and §11: poll every `interval` seconds; slow_down adds 5."""
    answers = []
    while True:
        try:
            token = session.fetch_token(token_endpoint, grant_type=GRANT_TYPE, auth_req_id=auth_req_id)
            return token, answers
        except OAuthError as e:
            answers.append(e.error)
            if e.error == "slow_down":
                interval += 5
            elif e.error != "authorization_pending":
                return None, answers
            if len(answers) == 1:
                on_pending()
            time.sleep(interval)


def test_authlib_polls_a_ciba_sign_in_to_its_tokens(live_idp, rps, people, identities, db):
    citizen = identities.make(people["citizen"]).identity
    phone = Phone(db, citizen)
    rp = rps.register(ciba=True, auth_method="client_secret_post")
    metadata = requests.get(f"{live_idp}/.well-known/openid-configuration", timeout=10).json()
    assert metadata["backchannel_token_delivery_modes_supported"] == ["poll"]
    session = OAuth2Session(rp.client_id, rp.secret, token_endpoint_auth_method="client_secret_post")
    started = session.post(metadata["backchannel_authentication_endpoint"], timeout=10,
                           data={"scope": "openid profile", "login_hint": citizen.national_id},
                           auth=session.client_auth("client_secret_post"))
    assert started.status_code == 200, started.text
    answer = started.json()
    shown = answer["binding_message"]  # the IdP picked it: the portal shows it
    assert phone.pending().binding_number == shown

    token, answers = poll_until_done(session, metadata["token_endpoint"], answer["auth_req_id"],
                                     answer["interval"], phone.pick)
    assert answers[0] == "authorization_pending" and token is not None, answers
    keys = KeySet.import_key_set(requests.get(metadata["jwks_uri"], timeout=10).json())
    claims = jwt.decode(token["id_token"], keys).claims
    assert claims["iss"] == live_idp and claims["aud"] == rp.client_id
    assert claims["acr"] == "urn:idp:loa:3" and "user" in claims["amr"]
    userinfo = requests.get(metadata["userinfo_endpoint"], timeout=10,
                            headers={"Authorization": f"Bearer {token['access_token']}"})
    assert userinfo.json()["sub"] == claims["sub"]
    time.sleep(answer["interval"])
    _, again = poll_until_done(session, metadata["token_endpoint"], answer["auth_req_id"], answer["interval"],
                               lambda: None)
    assert again == ["invalid_grant"]


def test_authlib_sees_access_denied_on_a_wrong_number(live_idp, rps, people, identities, db):
    citizen = identities.make(people["citizen"]).identity
    phone = Phone(db, citizen)
    rp = rps.register(ciba=True)
    session = OAuth2Session(rp.client_id, rp.secret, token_endpoint_auth_method="client_secret_basic")
    answer = session.post(f"{live_idp}/oidc/backchannel", timeout=10,
                          auth=session.client_auth("client_secret_basic"),
                          data={"scope": "openid", "login_hint": citizen.national_id, "binding_message": "31"}).json()

    def wrong_number():
        request = phone.pending()
        with pytest.raises(WrongNumber):  # the approval service refuses the whole request
            phone.pick(next(n for n in request.choices if n != "31"))

    token, answers = poll_until_done(session, f"{live_idp}/oidc/token", answer["auth_req_id"], answer["interval"],
                                     wrong_number)
    assert token is None and answers == ["authorization_pending", "access_denied"]
