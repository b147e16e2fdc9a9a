"""idp.approval.devices with a software authenticator: enrolment by a single-use link (WebAuthn
§7.1), approval by an assertion bound to the request and the number chosen (§7.2)."""
import json
import time

import pytest

from idp.approval import devices, requests
from idp.errors import ValidationError
from idp.identity import passkeys
from idp.identity.passkeys import PasskeyRefused
from idp.models import AppDevice, Passkey
from tests.identity.softkey import SoftKey

RP = passkeys.relying_party("http://localhost:5000", "National SSO")


@pytest.fixture
def citizen(people, identities):
    return identities.make(people["citizen"]).identity


@pytest.fixture
def other(people, identities):
    return identities.make(people["citizen2"], username="citizen.two").identity


def _enrol(db, identity, key=None, link=None, name="هاتفي", **kwargs):
    key = key or SoftKey(RP.rp_id, RP.origin)
    link = link or devices.enrolment_link_token(db, identity)
    db.commit()
    options, state = devices.registration_options(db, RP, identity, time.time())
    enrolled = devices.enrol(db, RP, link, key.create(json.loads(options), **kwargs), state, name, time.time())
    db.commit()
    return key, enrolled


def _request(db, identity):
    request = requests.start(db, identity, portal_name_ar="مسار", portal_name_en="Masar", origin="web")
    db.commit()
    return request


def _assert(key, device, request, number, **kwargs):
    return key.get(json.loads(devices.approval_options(RP, device, request, number)), **kwargs)


def test_enrolment_makes_a_device_bound_credential_and_a_bearer_token(db, citizen):
    link = devices.enrolment_link_token(db, citizen)
    db.commit()
    assert devices.enrolling_identity(db, link).id == citizen.id
    options, state = devices.registration_options(db, RP, citizen, time.time())
    parsed = json.loads(options)
    assert parsed["authenticatorSelection"]["userVerification"] == "required"
    assert parsed["authenticatorSelection"]["residentKey"] == "required"
    key = SoftKey(RP.rp_id, RP.origin)
    enrolled = devices.enrol(db, RP, link, key.create(parsed), state, "هاتفي", time.time())
    db.commit()
    assert devices.by_token(db, enrolled.token).id == enrolled.device.id
    assert enrolled.device.token_hash != enrolled.token and len(enrolled.token) >= 43
    assert devices.list_for(db, citizen)[0].name == "هاتفي"
    assert db.query(Passkey).count() == 0  # an app device is not a passkey for signing in here
    assert devices.enrolling_identity(db, link) is None  # the link worked once


def test_the_user_handle_is_new_for_each_device(db, citizen):
    first, _ = _enrol(db, citizen)
    second, _ = _enrol(db, citizen)
    assert first.user_handle != second.user_handle


def test_the_link_works_once(db, citizen):
    link = devices.enrolment_link_token(db, citizen)
    _enrol(db, citizen, link=link)
    with pytest.raises(ValidationError, match="already used or has expired"):
        _enrol(db, citizen, link=link)


@pytest.mark.parametrize("link", ["", "nope", "x" * 500])
def test_an_unknown_link_enrols_nothing(db, citizen, link):
    assert devices.enrolling_identity(db, link) is None
    options, state = devices.registration_options(db, RP, citizen, time.time())
    with pytest.raises(ValidationError):
        devices.enrol(db, RP, link, SoftKey(RP.rp_id, RP.origin).create(json.loads(options)), state, "x",
                      time.time())
    assert db.query(AppDevice).count() == 0


def test_enrolment_without_user_verification_is_refused(db, citizen):
    with pytest.raises(PasskeyRefused):
        _enrol(db, citizen, uv=False)
    assert db.query(AppDevice).count() == 0


def test_enrolment_from_another_origin_is_refused(db, citizen):
    with pytest.raises(PasskeyRefused):
        _enrol(db, citizen, origin="https://phish.example")


def test_enrolment_with_a_stale_challenge_is_refused(db, citizen):
    link = devices.enrolment_link_token(db, citizen)
    db.commit()
    options, state = devices.registration_options(db, RP, citizen, time.time() - passkeys.CHALLENGE_SECONDS - 1)
    with pytest.raises(PasskeyRefused) as refused:
        devices.enrol(db, RP, link, SoftKey(RP.rp_id, RP.origin).create(json.loads(options)), state, "x",
                      time.time())
    assert "expired" in refused.value.reason
    assert devices.enrolling_identity(db, link) is not None  # a failed try does not spend the link


def test_a_locked_identitys_link_enrols_nothing(db, citizen):
    link = devices.enrolment_link_token(db, citizen)
    citizen.status = "locked"
    db.commit()
    assert devices.enrolling_identity(db, link) is None


def test_the_right_number_with_the_phones_assertion_approves(db, citizen):
    key, enrolled = _enrol(db, citizen)
    request = _request(db, citizen)
    approved = devices.approve(db, RP, enrolled.device, request.id, request.binding_number,
                               _assert(key, enrolled.device, request, request.binding_number))
    db.commit()
    assert approved.status == "approved" and approved.amr == ["hwk", "user", "mfa"]
    assert enrolled.device.sign_count == 1 and enrolled.device.last_used_at is not None


def test_a_synced_key_is_swk(db, citizen):
    key, enrolled = _enrol(db, citizen, key=SoftKey(RP.rp_id, RP.origin, synced=True))
    request = _request(db, citizen)
    approved = devices.approve(db, RP, enrolled.device, request.id, request.binding_number,
                               _assert(key, enrolled.device, request, request.binding_number))
    assert approved.amr == ["swk", "user", "mfa"]


def test_a_wrong_number_with_a_good_assertion_denies(db, citizen):
    key, enrolled = _enrol(db, citizen)
    request = _request(db, citizen)
    wrong = next(c for c in request.choices if c != request.binding_number)
    with pytest.raises(requests.WrongNumber):
        devices.approve(db, RP, enrolled.device, request.id, wrong, _assert(key, enrolled.device, request, wrong))
    db.commit()
    assert requests.get(db, request.id).status == "denied"


def test_an_assertion_for_one_number_does_not_approve_another(db, citizen):
    key, enrolled = _enrol(db, citizen)
    request = _request(db, citizen)
    wrong = next(c for c in request.choices if c != request.binding_number)
    with pytest.raises(PasskeyRefused):
        devices.approve(db, RP, enrolled.device, request.id, request.binding_number,
                        _assert(key, enrolled.device, request, wrong))
    assert requests.get(db, request.id).status == "pending"


def test_an_assertion_for_another_request_does_not_approve(db, citizen):
    key, enrolled = _enrol(db, citizen)
    old = _request(db, citizen)
    new = _request(db, citizen)
    stale = key.get(json.loads(devices.approval_options(RP, enrolled.device, old, old.choices[0])))
    with pytest.raises(PasskeyRefused):
        devices.approve(db, RP, enrolled.device, new.id, new.binding_number, stale)
    assert requests.get(db, new.id).status == "pending"


@pytest.mark.parametrize("kwargs", [{"uv": False}, {"origin": "https://phish.example"}, {"rp_id": "example.com"},
                                    {"counter": 0}])
def test_a_bad_assertion_is_refused_and_decides_nothing(db, citizen, kwargs):
    key, enrolled = _enrol(db, citizen, key=SoftKey(RP.rp_id, RP.origin, counter=5))
    request = _request(db, citizen)
    with pytest.raises(PasskeyRefused):
        devices.approve(db, RP, enrolled.device, request.id, request.binding_number,
                        _assert(key, enrolled.device, request, request.binding_number, **kwargs))
    assert requests.get(db, request.id).status == "pending"


def test_another_phones_credential_is_refused(db, citizen):
    key, enrolled = _enrol(db, citizen)
    other_key, other_device = _enrol(db, citizen)
    request = _request(db, citizen)
    with pytest.raises(PasskeyRefused) as refused:
        devices.approve(db, RP, enrolled.device, request.id, request.binding_number,
                        _assert(other_key, other_device.device, request, request.binding_number))
    assert "another credential" in refused.value.reason


def test_another_identitys_phone_cannot_approve(db, citizen, other):
    key, enrolled = _enrol(db, other)
    request = _request(db, citizen)
    with pytest.raises(requests.NotPending):
        devices.approve(db, RP, enrolled.device, request.id, request.binding_number,
                        _assert(key, enrolled.device, request, request.binding_number))
    assert requests.get(db, request.id).status == "pending"


@pytest.mark.parametrize("number", ["", "100", None, 42])
def test_a_number_not_offered_is_refused(db, citizen, number):
    key, enrolled = _enrol(db, citizen)
    request = _request(db, citizen)
    with pytest.raises(ValidationError):
        devices.approval_options(RP, enrolled.device, request, number)
    with pytest.raises(ValidationError):
        devices.approve(db, RP, enrolled.device, request.id, number, {})


@pytest.mark.parametrize("credential", [{}, {"id": "x"}, "nonsense", None])
def test_malformed_credentials_are_refused(db, citizen, credential):
    key, enrolled = _enrol(db, citizen)
    request = _request(db, citizen)
    with pytest.raises(PasskeyRefused):
        devices.approve(db, RP, enrolled.device, request.id, request.binding_number, credential)


def test_an_approved_request_cannot_be_approved_again(db, citizen):
    key, enrolled = _enrol(db, citizen)
    request = _request(db, citizen)
    credential = _assert(key, enrolled.device, request, request.binding_number)
    devices.approve(db, RP, enrolled.device, request.id, request.binding_number, credential)
    db.commit()
    with pytest.raises(requests.NotPending):
        devices.approve(db, RP, enrolled.device, request.id, request.binding_number, credential)


def test_the_citizen_lists_and_removes_phones(db, citizen, other):
    _, enrolled = _enrol(db, citizen)
    assert devices.has_any(db, citizen) and not devices.has_any(db, other)
    with pytest.raises(ValidationError):
        devices.remove(db, other, enrolled.device.id)
    devices.remove(db, citizen, enrolled.device.id)
    db.commit()
    assert not devices.has_any(db, citizen)
    assert devices.by_token(db, enrolled.token) is None


def test_at_most_five_phones(db, citizen):
    for _ in range(devices.MAX_DEVICES):
        _enrol(db, citizen)
    with pytest.raises(ValidationError, match="most phones"):
        devices.registration_options(db, RP, citizen, time.time())


@pytest.mark.parametrize("token", [None, "", "x" * 101, "unknown"])
def test_an_unknown_bearer_token_is_no_device(db, token):
    assert devices.by_token(db, token) is None
