"""CIBA Core 1.0, poll mode: the backchannel authentication endpoint (§7, §13) and the token
endpoint's urn:openid:params:grant-type:ciba grant (§10, §11), through HTTP."""
import base64
import json
import time

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select

from idp.approval import requests as approvals
from idp.authn.levels import LOA2, LOA3
from idp.models import AuditEvent
from idp.oidc.ciba import GRANT_TYPE
from tests.conftest import make_national_id
from tests.phone import Phone

UNKNOWN_ID = make_national_id("1", 9999)  # valid, but no identity has it


class Clock:
    """The time both CIBA endpoints read (NationalProvider.ciba_clock), moved by the test."""

    def __init__(self):
        self.now = time.time()

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


@pytest.fixture
def clock(app):
    clock = Clock()
    app.extensions["idp.oidc"].ciba_clock = clock
    return clock


def basic(rp) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{rp.client_id}:{rp.secret}".encode()).decode()}


@pytest.fixture
def ciba_rp(rps):
    return rps.register(ciba=True)


def backchannel(client, rp, **params):
    params.setdefault("scope", "openid profile")
    params = {k: v for k, v in params.items() if v is not None}
    return client.post("/oidc/backchannel", data=params, headers=basic(rp))


def poll(client, rp, auth_req_id):
    return client.post("/oidc/token", data={"grant_type": GRANT_TYPE, "auth_req_id": auth_req_id},
                       headers=basic(rp))


def started(client, rp, login_hint=UNKNOWN_ID, **params):
    response = backchannel(client, rp, login_hint=login_hint, **params)
    assert response.status_code == 200, response.json
    return response.json


@pytest.fixture
def citizen(people, identities):
    return identities.make(people["citizen"]).identity


@pytest.fixture
def phone(db, citizen, clock):
    return Phone(db, citizen, clock)


def events(db, kind):
    db.expire_all()
    return list(db.scalars(select(AuditEvent).where(AuditEvent.kind == kind)))


# --- discovery and registration -------------------------------------------------------------------

def test_discovery_advertises_ciba_poll_mode(client):
    metadata = client.get("/.well-known/openid-configuration").json
    assert metadata["backchannel_authentication_endpoint"].endswith("/oidc/backchannel")
    assert metadata["backchannel_token_delivery_modes_supported"] == ["poll"]
    assert metadata["backchannel_user_code_parameter_supported"] is False
    assert GRANT_TYPE in metadata["grant_types_supported"]


def test_register_with_ciba_shows_in_show_and_list(runner):
    result = runner.invoke(args=["idp", "rp", "register-oidc", "--name", "Masar", "--redirect-uri",
                                 "https://masar.example.gov.sa/callback", "--ciba", "--json"])
    assert result.exit_code == 0, result.output
    client_id = json.loads(result.output)["client_id"]
    assert json.loads(runner.invoke(args=["idp", "rp", "show", client_id, "--json"]).output)["ciba"] is True
    assert f"{client_id}  oidc  enabled  Masar  ciba" in runner.invoke(args=["idp", "rp", "list"]).output


def test_a_public_client_cannot_use_ciba(runner):
    result = runner.invoke(args=["idp", "rp", "register-oidc", "--name", "Masar", "--redirect-uri",
                                 "https://masar.example.gov.sa/callback", "--ciba", "--auth-method", "none"])
    assert result.exit_code != 0 and "--ciba" in result.output


# --- the backchannel authentication request (§7.1, §13) ---------------------------------------------

def test_an_unknown_national_id_gets_a_normal_answer(client, ciba_rp, clock):
    answer = started(client, ciba_rp, binding_message="42")
    assert set(answer) == {"auth_req_id", "expires_in", "interval", "binding_message"}
    assert len(base64.urlsafe_b64decode(answer["auth_req_id"] + "=")) >= 16  # ≥ 128 random bits
    assert (answer["expires_in"], answer["interval"], answer["binding_message"]) == (120, 5, "42")


def test_without_a_binding_message_the_idp_picks_one(client, ciba_rp, clock):
    numbers = {started(client, ciba_rp, login_hint=make_national_id("1", 5000 + i))["binding_message"]
               for i in range(3)}
    assert all(len(n) == 2 and 10 <= int(n) <= 99 for n in numbers)


def test_client_authentication_is_the_token_endpoints(client, ciba_rp):
    ciba_rp.secret = "not-the-secret"
    response = backchannel(client, ciba_rp, login_hint=UNKNOWN_ID)
    assert response.status_code == 401 and response.json["error"] == "invalid_client"
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    response = client.post("/oidc/backchannel", data={"scope": "openid", "login_hint": UNKNOWN_ID,
                                                      "client_id": ciba_rp.client_id})
    assert response.status_code == 401


def test_only_ciba_clients(client, rps):
    response = backchannel(client, rps.register(), login_hint=UNKNOWN_ID)
    assert response.status_code == 400 and response.json["error"] == "unauthorized_client"


@pytest.mark.parametrize("params,error", [
    ({"scope": "profile"}, "invalid_scope"),
    ({"login_hint": None}, "invalid_request"),
    ({"id_token_hint": "x.y.z"}, "invalid_request"),  # both hints
    ({"login_hint": "1234567890"}, "invalid_request"),  # not a national ID (check digit)
    ({"login_hint": None, "id_token_hint": "not-a-token"}, "invalid_request"),
    ({"login_hint": None, "login_hint_token": "x"}, "invalid_request"),
    ({"login_hint_token": "x"}, "invalid_request"),
    ({"user_code": "1234"}, "invalid_request"),
    ({"client_notification_token": "x"}, "invalid_request"),  # ping and push are not offered
    ({"request": "x.y.z"}, "invalid_request"),
    ({"binding_message": "abc"}, "invalid_binding_message"),
    ({"binding_message": "7"}, "invalid_binding_message"),
    ({"binding_message": "100"}, "invalid_binding_message"),
    ({"binding_message": "07"}, "invalid_binding_message"),
    ({"requested_expiry": "0"}, "invalid_request"),
    ({"requested_expiry": "121"}, "invalid_request"),
    ({"requested_expiry": "soon"}, "invalid_request"),
    ({"requested_expiry": "٦٠"}, "invalid_request"),
])
def test_bad_requests(client, ciba_rp, params, error):
    response = backchannel(client, ciba_rp, **{"login_hint": UNKNOWN_ID, **params})
    assert response.status_code == 400, response.json
    assert response.json["error"] == error and response.json["error_description"]
    assert response.headers["Cache-Control"] == "no-store"


def test_requested_expiry_and_arabic_digits(client, ciba_rp, clock):
    answer = started(client, ciba_rp, login_hint=" ".join(UNKNOWN_ID.translate(str.maketrans(
        "0123456789", "٠١٢٣٤٥٦٧٨٩"))), requested_expiry="60", binding_message="٤٢")
    assert (answer["expires_in"], answer["binding_message"]) == (60, "42")


def test_refusals_are_audited(client, ciba_rp, db):
    backchannel(client, ciba_rp, login_hint=UNKNOWN_ID, binding_message="x")
    refused = events(db, "ciba.refused")
    assert [e.detail["error"] for e in refused] == ["invalid_binding_message"]
    assert refused[0].detail["client_id"] == ciba_rp.client_id


def test_form_body_only_and_no_repeats(client, ciba_rp):
    response = client.post("/oidc/backchannel", json={"scope": "openid", "login_hint": UNKNOWN_ID},
                           headers=basic(ciba_rp))
    assert response.status_code == 400 and response.json["error"] == "invalid_request"
    response = client.post("/oidc/backchannel", data="scope=openid&scope=openid&login_hint=" + UNKNOWN_ID,
                           headers={**basic(ciba_rp), "Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 400 and response.json["error"] == "invalid_request"


def test_rate_limited_per_national_id_whether_or_not_it_has_an_identity(client, ciba_rp, clock, people,
                                                                       identities):
    identities.make(people["citizen"])
    for national_id in (UNKNOWN_ID, people["citizen"].national_id):
        answers = [backchannel(client, ciba_rp, login_hint=national_id).status_code for _ in range(4)]
        assert answers == [200, 200, 200, 429]
    response = backchannel(client, ciba_rp, login_hint=UNKNOWN_ID)
    assert response.json["error"] == "slow_down" and int(response.headers["Retry-After"]) > 0


def test_rate_limited_per_client(client, ciba_rp, clock):
    answers = [backchannel(client, ciba_rp, login_hint=make_national_id("1", 7000 + i)).status_code
               for i in range(31)]
    assert answers == [200] * 30 + [429]


# --- polling: the grant's state machine (§10, §11) -------------------------------------------------

def test_pending_then_slow_down_then_expired(client, ciba_rp, clock, db):
    answer = started(client, ciba_rp)
    first = poll(client, ciba_rp, answer["auth_req_id"])
    assert first.status_code == 400 and first.json["error"] == "authorization_pending"
    clock.advance(2)  # sooner than the interval (5 s)
    assert poll(client, ciba_rp, answer["auth_req_id"]).json["error"] == "slow_down"
    clock.advance(5)  # 7 s after the last counted poll, but the interval is now 10 s
    assert poll(client, ciba_rp, answer["auth_req_id"]).json["error"] == "slow_down"
    clock.advance(10)
    assert poll(client, ciba_rp, answer["auth_req_id"]).json["error"] == "authorization_pending"
    clock.advance(120)
    expired = poll(client, ciba_rp, answer["auth_req_id"])
    assert expired.status_code == 400 and expired.json["error"] == "expired_token"
    refused = [e.detail["error"] for e in events(db, "oidc.token_refused")]
    assert sorted(refused) == ["expired_token", "slow_down", "slow_down"]  # pending polls: routine, not audited


def test_polling_at_the_interval_is_never_slowed(client, ciba_rp, clock):
    answer = started(client, ciba_rp, requested_expiry="30")
    for _ in range(5):
        assert poll(client, ciba_rp, answer["auth_req_id"]).json["error"] == "authorization_pending"
        clock.advance(5)
    clock.advance(5)
    assert poll(client, ciba_rp, answer["auth_req_id"]).json["error"] == "expired_token"


def test_another_client_cannot_poll(client, rps, ciba_rp, clock):
    answer = started(client, ciba_rp)
    other = rps.register(ciba=True)
    response = poll(client, other, answer["auth_req_id"])
    assert response.status_code == 400 and response.json["error"] == "invalid_grant"
    ciba_rp.secret = "wrong"
    assert poll(client, ciba_rp, answer["auth_req_id"]).status_code == 401


@pytest.mark.parametrize("auth_req_id,error", [
    ("made-up", "invalid_grant"),
    ("", "invalid_request"),
    (None, "invalid_request"),
])
def test_unknown_or_missing_auth_req_id(client, ciba_rp, auth_req_id, error):
    data = {"grant_type": GRANT_TYPE, **({"auth_req_id": auth_req_id} if auth_req_id is not None else {})}
    response = client.post("/oidc/token", data=data, headers=basic(ciba_rp))
    assert response.status_code == 400 and response.json["error"] == error


# --- with the citizen's app: approval, refusal, once only ---------------------------------------------

def id_token_claims(client, token):
    keys = KeySet.import_key_set(client.get("/oidc/jwks").json)
    return jwt.decode(token, keys).claims


def test_approved_request_gets_tokens_once(client, ciba_rp, clock, phone, citizen, db):
    answer = started(client, ciba_rp, login_hint=citizen.national_id, binding_message="42", scope="openid profile")
    assert phone.pending().binding_number == "42" and phone.pending().origin == "ciba"
    assert phone.pending().portal_name_en == "Masar"
    assert poll(client, ciba_rp, answer["auth_req_id"]).json["error"] == "authorization_pending"
    phone.pick()
    clock.advance(5)
    tokens = poll(client, ciba_rp, answer["auth_req_id"])
    assert tokens.status_code == 200, tokens.json
    assert {"access_token", "refresh_token", "id_token", "expires_in"} <= set(tokens.json)
    claims = id_token_claims(client, tokens.json["id_token"])
    assert claims["aud"] == ciba_rp.client_id and claims["acr"] == LOA3
    assert claims["amr"] == ["hwk", "user", "mfa"] and "nonce" not in claims
    assert abs(claims["auth_time"] - clock.now) < 10 and claims["sid"]
    userinfo = client.get("/oidc/userinfo", headers={"Authorization": f"Bearer {tokens.json['access_token']}"})
    assert userinfo.status_code == 200 and userinfo.json["sub"] == claims["sub"] and "name" in userinfo.json
    refreshed = client.post("/oidc/token", data={"grant_type": "refresh_token",
                                                 "refresh_token": tokens.json["refresh_token"]}, headers=basic(ciba_rp))
    assert refreshed.status_code == 200, refreshed.json
    clock.advance(5)
    again = poll(client, ciba_rp, answer["auth_req_id"])
    assert again.status_code == 400 and again.json["error"] == "invalid_grant"
    assert len(events(db, "ciba.token_issued")) == 1
    assert events(db, "ciba.requested")[0].detail["known"] is True


def test_known_and_unknown_national_ids_get_the_same_answer(client, ciba_rp, clock, citizen, phone):
    known = started(client, ciba_rp, login_hint=citizen.national_id, binding_message="42")
    unknown = started(client, ciba_rp, login_hint=UNKNOWN_ID, binding_message="42")
    assert set(known) == set(unknown)
    assert {k: v for k, v in known.items() if k != "auth_req_id"} == \
        {k: v for k, v in unknown.items() if k != "auth_req_id"}
    assert len(known["auth_req_id"]) == len(unknown["auth_req_id"])


@pytest.mark.parametrize("refuse", ["wrong_number", "decline", "superseded"])
def test_access_denied(client, ciba_rp, clock, phone, citizen, refuse):
    answer = started(client, ciba_rp, login_hint=citizen.national_id)
    if refuse == "wrong_number":
        request = phone.pending()
        wrong = next(n for n in request.choices if n != request.binding_number)
        with pytest.raises(approvals.WrongNumber):
            phone.pick(wrong)
    elif refuse == "decline":
        phone.decline()
    else:  # a newer request for the same citizen cancels the older (one pending per identity)
        clock.advance(1)
        started(client, ciba_rp, login_hint=citizen.national_id)
    denied = poll(client, ciba_rp, answer["auth_req_id"])
    assert denied.status_code == 400 and denied.json["error"] == "access_denied"
    clock.advance(5)
    assert poll(client, ciba_rp, answer["auth_req_id"]).json["error"] == "access_denied"


def test_an_approval_that_expired_before_the_poll(client, ciba_rp, clock, phone, citizen):
    answer = started(client, ciba_rp, login_hint=citizen.national_id)
    phone.pick()
    clock.advance(121)
    assert poll(client, ciba_rp, answer["auth_req_id"]).json["error"] == "expired_token"


def test_acr_values_are_honoured(client, ciba_rp, clock, phone, citizen):
    answer = started(client, ciba_rp, login_hint=citizen.national_id, acr_values=f"{LOA2} urn:unknown")
    phone.pick()
    tokens = poll(client, ciba_rp, answer["auth_req_id"])
    assert id_token_claims(client, tokens.json["id_token"])["acr"] == LOA3  # the app reaches LoA 3


def test_id_token_hint_names_the_citizen(client, rps, ciba_rp, clock, phone, citizen):
    first = started(client, ciba_rp, login_hint=citizen.national_id)
    phone.pick()
    id_token = poll(client, ciba_rp, first["auth_req_id"]).json["id_token"]
    clock.advance(5)
    second = started(client, ciba_rp, login_hint=None, id_token_hint=id_token, binding_message="77")
    assert phone.pending().binding_number == "77"
    phone.pick()
    tokens = poll(client, ciba_rp, second["auth_req_id"])
    assert id_token_claims(client, tokens.json["id_token"])["sub"] == id_token_claims(client, id_token)["sub"]
    other = rps.register(ciba=True)  # an ID token issued to another client names no one for this one
    response = backchannel(client, other, id_token_hint=id_token)
    assert response.status_code == 400 and response.json["error"] == "invalid_request"


def test_a_locked_identity_gets_no_tokens(client, ciba_rp, clock, phone, citizen, db):
    answer = started(client, ciba_rp, login_hint=citizen.national_id)
    phone.pick()
    citizen.status = "locked"
    db.commit()
    response = poll(client, ciba_rp, answer["auth_req_id"])
    assert response.status_code == 400 and response.json["error"] == "invalid_grant"


def test_a_citizen_the_approval_service_refuses_gets_the_same_answer(client, ciba_rp, clock, phone, citizen, db):
    for _ in range(approvals.MAX_STARTS):  # the app's own push-fatigue guard is reached
        approvals.start(db, citizen, portal_name_ar="بوابة", portal_name_en="Portal", origin="web")
    db.commit()
    answer = started(client, ciba_rp, login_hint=citizen.national_id, binding_message="42")
    assert (answer["expires_in"], answer["interval"], answer["binding_message"]) == (120, 5, "42")
    assert events(db, "ciba.requested")[0].detail["approval"] is False
    assert poll(client, ciba_rp, answer["auth_req_id"]).json["error"] == "authorization_pending"
    clock.advance(120)
    assert poll(client, ciba_rp, answer["auth_req_id"]).json["error"] == "expired_token"


def test_a_disabled_client_is_refused(client, ciba_rp, runner):
    assert runner.invoke(args=["idp", "rp", "disable", ciba_rp.client_id]).exit_code == 0
    response = backchannel(client, ciba_rp, login_hint=UNKNOWN_ID)
    assert response.status_code == 401 and response.json["error"] == "invalid_client"
