"""idp.approval.requests: number matching, one pending request per identity, expiry, single use."""
import datetime as dt

import pytest

from idp.approval import requests
from idp.errors import Throttled, ValidationError
from idp.models import AppDevice
from tests.conftest import race_in_two_sessions

T0 = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def citizen(people, identities):
    return identities.make(people["citizen"]).identity


@pytest.fixture
def other(people, identities):
    return identities.make(people["citizen2"], username="citizen.two").identity


def _device(db, identity, n=1):
    device = AppDevice(identity_id=identity.id, credential_id=f"cred-{identity.id}-{n}", public_key="k",
                       sign_count=0, backup_eligible=False, token_hash=f"{identity.id}-{n}".ljust(64, "0"),
                       name="phone")
    db.add(device)
    db.flush()
    return device


def _start(db, identity, now=T0, **kwargs):
    kwargs.setdefault("origin", "web")
    request = requests.start(db, identity, portal_name_ar="مسار", portal_name_en="Masar", now=now, **kwargs)
    db.commit()
    return request


def test_a_new_request_shows_a_two_digit_number_among_three_choices(db, citizen):
    request = _start(db, citizen, place="Riyadh, SA")
    assert 10 <= int(request.binding_number) <= 99 and len(request.binding_number) == 2
    assert len(set(request.choices)) == 3 and request.binding_number in request.choices
    assert all(len(c) == 2 and c.isdigit() for c in request.choices)
    assert request.status == "pending" and request.expires_at == T0 + dt.timedelta(seconds=120)
    assert len(request.id) >= 43  # 256 random bits, base64url
    assert (request.origin, request.place, request.portal_name_en, request.amr) == ("web", "Riyadh, SA", "Masar", [])
    assert requests.get(db, request.id, T0) == request


def test_the_number_given_is_the_one_to_match(db, citizen):
    request = _start(db, citizen, origin="ciba", binding_number="4821")
    assert request.binding_number == "4821" and "4821" in request.choices
    assert all(len(c) == 4 for c in request.choices)


@pytest.mark.parametrize("number", ["7", "1234567", "12a", "١٢", "", " 12"])
def test_a_number_that_is_not_2_to_6_digits_is_refused(db, citizen, number):
    with pytest.raises(ValidationError) as refused:
        _start(db, citizen, binding_number=number)
    assert refused.value.field == "binding_number"


def test_an_unknown_origin_is_a_programming_error(db, citizen):
    with pytest.raises(ValueError):
        _start(db, citizen, origin="sms")


def test_a_request_expires_after_two_minutes(db, citizen):
    request = _start(db, citizen)
    assert requests.get(db, request.id, T0 + dt.timedelta(seconds=119)).status == "pending"
    assert requests.get(db, request.id, T0 + dt.timedelta(seconds=120)).status == "expired"
    assert requests.pending_for(db, citizen.uuid, T0 + dt.timedelta(seconds=121)) is None
    with pytest.raises(requests.NotPending):
        requests.approve(db, request.id, _device(db, citizen), request.binding_number, ["hwk"],
                         T0 + dt.timedelta(seconds=121))


def test_a_new_request_cancels_the_older_pending_one(db, citizen):
    first = _start(db, citizen)
    second = _start(db, citizen, now=T0 + dt.timedelta(seconds=5))
    assert requests.get(db, first.id, T0).status == "cancelled"
    assert requests.get(db, first.id, T0).reason == "superseded"
    assert requests.pending_for(db, citizen.uuid, T0 + dt.timedelta(seconds=6)).id == second.id


def test_an_older_request_that_ran_out_is_recorded_as_expired(db, citizen):
    first = _start(db, citizen)
    _start(db, citizen, now=T0 + dt.timedelta(seconds=300))
    assert requests.get(db, first.id, T0 + dt.timedelta(seconds=300)).status == "expired"


def test_requests_are_rate_limited_per_identity(db, citizen, other):
    for i in range(requests.MAX_STARTS):
        _start(db, citizen, now=T0 + dt.timedelta(seconds=i))
    with pytest.raises(Throttled) as refused:
        _start(db, citizen, now=T0 + dt.timedelta(seconds=10))
    assert refused.value.retry_after > 0
    _start(db, other, now=T0 + dt.timedelta(seconds=10))  # another identity is not affected
    _start(db, citizen, now=T0 + requests.WINDOW + dt.timedelta(seconds=5))  # the window moved on


def test_the_right_number_approves_with_the_amr_given(db, citizen):
    request = _start(db, citizen)
    device = _device(db, citizen)
    approved = requests.approve(db, request.id, device, request.binding_number, ["hwk", "user", "mfa"], T0)
    db.commit()
    assert approved.status == "approved" and approved.amr == ["hwk", "user", "mfa"]
    assert approved.device_id == device.id
    assert requests.pending_for(db, citizen.uuid, T0) is None


def test_a_wrong_number_denies_the_request(db, citizen):
    request = _start(db, citizen)
    wrong = next(c for c in request.choices if c != request.binding_number)
    device = _device(db, citizen)
    with pytest.raises(requests.WrongNumber):
        requests.approve(db, request.id, device, wrong, ["hwk", "user", "mfa"], T0)
    db.commit()
    denied = requests.get(db, request.id, T0)
    assert (denied.status, denied.reason, denied.amr) == ("denied", "wrong_number", [])
    with pytest.raises(requests.NotPending):  # no second try on the same request
        requests.approve(db, request.id, device, request.binding_number, ["hwk"], T0)
    assert requests.redeem(db, request.id, T0) is None


def test_the_citizen_may_decline(db, citizen):
    request = _start(db, citizen)
    denied = requests.deny(db, request.id, _device(db, citizen), T0)
    assert (denied.status, denied.reason) == ("denied", "declined")


def test_another_identitys_device_cannot_decide(db, citizen, other):
    request = _start(db, citizen)
    with pytest.raises(requests.NotPending):
        requests.approve(db, request.id, _device(db, other), request.binding_number, ["hwk"], T0)
    with pytest.raises(requests.NotPending):
        requests.deny(db, request.id, _device(db, other, 2), T0)
    assert requests.get(db, request.id, T0).status == "pending"


@pytest.mark.parametrize("request_id", ["", "nope", "x" * 65, None])
def test_an_unknown_request_is_none_or_not_pending(db, citizen, request_id):
    assert requests.get(db, request_id, T0) is None
    assert requests.redeem(db, request_id, T0) is None
    with pytest.raises(requests.NotPending):
        requests.approve(db, request_id, _device(db, citizen), "10", ["hwk"], T0)


def test_an_approval_is_redeemed_once(db, citizen):
    request = _start(db, citizen)
    assert requests.redeem(db, request.id, T0) is None  # not approved yet
    requests.approve(db, request.id, _device(db, citizen), request.binding_number, ["swk", "user", "mfa"], T0)
    db.commit()
    redeemed = requests.redeem(db, request.id, T0 + dt.timedelta(seconds=1))
    db.commit()
    assert redeemed.redeemed_at == T0 + dt.timedelta(seconds=1) and redeemed.amr == ["swk", "user", "mfa"]
    assert requests.redeem(db, request.id, T0 + dt.timedelta(seconds=2)) is None


def test_an_approval_not_redeemed_in_time_is_not_redeemed(db, citizen):
    request = _start(db, citizen)
    requests.approve(db, request.id, _device(db, citizen), request.binding_number, ["hwk"], T0)
    db.commit()
    assert requests.redeem(db, request.id, T0 + requests.REDEEM_WINDOW) is None


def test_an_approval_in_the_last_second_can_still_be_collected(db, citizen):
    request = _start(db, citizen)
    last_second = T0 + dt.timedelta(seconds=119)
    requests.approve(db, request.id, _device(db, citizen), request.binding_number, ["hwk"], last_second)
    db.commit()
    assert requests.redeem(db, request.id, last_second + dt.timedelta(seconds=5)) is not None


def test_two_instances_redeeming_at_once_sign_in_once(services, db, citizen):
    request = _start(db, citizen)
    requests.approve(db, request.id, _device(db, citizen), request.binding_number, ["hwk"], T0)
    db.commit()
    first, second = race_in_two_sessions(services.db, lambda s: requests.redeem(s, request.id, T0))
    assert [r is not None for r in (first, second)].count(True) == 1


def test_two_instances_starting_at_once_leave_one_pending(services, db, citizen):
    first, second = race_in_two_sessions(
        services.db, lambda s: requests.start(s, s.merge(citizen), portal_name_ar="م", portal_name_en="M",
                                              origin="web", now=T0))
    pending = requests.pending_for(db, citizen.uuid, T0)
    assert pending is not None and pending.id in (first.id, second.id)
    assert {requests.get(db, r.id, T0).status for r in (first, second)} == {"pending", "cancelled"}


def test_the_challenge_binds_the_request_and_the_number(db, citizen):
    request = _start(db, citizen)
    later = _start(db, citizen, now=T0 + dt.timedelta(seconds=1))
    a, b = request.choices[0], request.choices[1]
    assert len(requests.challenge(request, a)) == 32
    assert requests.challenge(request, a) == requests.challenge(requests.get(db, request.id, T0), a)
    assert requests.challenge(request, a) != requests.challenge(request, b)
    assert requests.challenge(request, a) != requests.challenge(later, a)


def test_a_caller_that_knows_the_citizen_is_asking_is_not_limited(db, citizen):
    for i in range(requests.MAX_STARTS):
        _start(db, citizen, now=T0 + dt.timedelta(seconds=i))
    assert _start(db, citizen, now=T0 + dt.timedelta(seconds=10), rate_limited=False).status == "pending"
