"""The sign-in steps as a service (idp.authn.sign_in): each returns an Outcome naming its audit
events; nothing is committed here, and `audit.record_outcome` writes the events in order."""
from __future__ import annotations

import pyotp
import pytest
from sqlalchemy import select

from idp import audit
from idp.authn import sign_in as steps
from idp.authn.decision import Step
from idp.identity import devices
from idp.identity.locks import DatabaseLocks
from idp.identity.sessions import new_session_id
from idp.identity.throttle import LoginThrottle
from idp.models import AuditEvent, Identity
from idp.outcomes import WHOLE, Outcome
from tests.conftest import STRONG_PASSWORD, current_totp

IP = "198.51.100.20"
HERE = steps.Attempt(IP)


@pytest.fixture
def app_overrides():
    # no growing delay (the tests retry at once); locks a source after three failures, TOTP after two wrong codes
    return {"login_delay_after": 100, "login_lockout_after": 3, "totp_max_failures": 2, "ip_captcha_after": 0}


@pytest.fixture
def throttle(services, db):
    return LoginThrottle(services.store, services.settings, locks=DatabaseLocks(db))


@pytest.fixture
def citizen(identities, people):
    return identities.make(people["citizen"])


def recorded(db, outcome: Outcome) -> list[tuple[str, dict]]:
    """Record `outcome` as a view does, commit, and read back the events it wrote."""
    before = db.scalar(select(AuditEvent.id).order_by(AuditEvent.id.desc()).limit(1)) or 0
    audit.record_outcome(db, audit.Actor(ip=IP), outcome)
    db.commit()
    rows = db.scalars(select(AuditEvent).where(AuditEvent.id > before).order_by(AuditEvent.id))
    return [(row.kind, {k: v for k, v in row.detail.items() if k != "request_id"}) for row in rows]


# --- the password ----------------------------------------------------------------------------

def test_a_right_password_asks_for_the_identitys_second_factor_and_records_nothing_yet(db, throttle, citizen):
    result = steps.password(db, throttle, citizen.username, STRONG_PASSWORD, HERE)

    assert result.success and result.event is None
    assert result.value.identity.id == citizen.identity.id
    assert result.value.next_step is Step.SECOND_FACTOR and result.value.amr == ("pwd",)
    assert recorded(db, result) == []


def test_the_national_id_signs_in_like_the_username(db, throttle, citizen):
    assert steps.password(db, throttle, citizen.identity.national_id, STRONG_PASSWORD, HERE).success


def test_an_identity_without_a_second_factor_is_sent_to_set_one_up(db, throttle, identities, people):
    made = identities.make(people["citizen2"], username="no.factor", totp=False)

    result = steps.password(db, throttle, made.username, STRONG_PASSWORD, HERE)

    assert result.value.next_step is Step.ENROL_SECOND_FACTOR


@pytest.mark.parametrize("login", ["citizen.one", "nobody.here"])
def test_a_wrong_password_says_the_same_whether_or_not_the_name_exists(db, throttle, citizen, login):
    result = steps.password(db, throttle, login, "not-the-password", HERE)

    assert not result.success and result.value.refusal == steps.WRONG
    assert result.errors == {WHOLE: steps.WRONG_PASSWORD}
    assert result.identity_id == (citizen.identity.id if login == citizen.username else None)
    assert recorded(db, result) == [("sign_in.failed", {"reason": "password"})]


def test_the_failure_that_locks_records_the_lock_after_the_failure(db, throttle, citizen):
    for _ in range(2):
        assert recorded(db, steps.password(db, throttle, citizen.username, "wrong", HERE)) == \
            [("sign_in.failed", {"reason": "password"})]

    third = steps.password(db, throttle, citizen.username, "wrong", HERE)

    assert recorded(db, third) == [("sign_in.failed", {"reason": "password"}), ("sign_in.locked", {})]
    refused = steps.password(db, throttle, citizen.username, STRONG_PASSWORD, HERE)
    assert refused.value.refusal == steps.THROTTLED and refused.value.throttled is not None
    assert recorded(db, refused) == []  # a refusal before any check is not an attempt


def test_a_known_device_is_not_locked_out_by_a_strangers_failures(db, throttle, citizen):
    token = devices.new_token()
    devices.remember(db, citizen.identity.id, token)
    for _ in range(3):
        steps.password(db, throttle, citizen.username, "wrong", HERE)
    db.commit()

    result = steps.password(db, throttle, citizen.username, STRONG_PASSWORD, steps.Attempt(IP, token))

    assert result.success and result.value.device == token


def test_a_locked_identity_is_refused_after_a_right_password(db, throttle, citizen):
    db.get(Identity, citizen.identity.id).status = "locked"
    db.commit()

    result = steps.password(db, throttle, citizen.username, STRONG_PASSWORD, HERE)

    assert result.value.refusal == steps.LOCKED and result.errors == {WHOLE: steps.IDENTITY_LOCKED}
    assert recorded(db, result) == [("sign_in.failed", {"reason": "locked"})]


def test_an_unconfirmed_identity_is_told_to_confirm_its_email(db, throttle, identities, people):
    made = identities.make(people["citizen2"], username="not.confirmed", active=False, totp=False)

    result = steps.password(db, throttle, made.username, STRONG_PASSWORD, HERE)

    assert result.value.refusal == steps.PENDING and result.value.identity.id == made.identity.id
    assert recorded(db, result) == []


# --- the second factor -----------------------------------------------------------------------

def test_a_right_code_completes_the_factors_without_an_event_of_its_own(db, services, throttle, citizen):
    result = steps.second_factor(db, services.store, services.fernet, throttle, citizen.identity,
                                 current_totp(citizen.secret), HERE)

    assert result.success and result.value.amr == ("pwd", "otp") and result.event is None


def test_a_recovery_code_is_recorded_with_how_many_are_left(db, services, throttle, citizen):
    result = steps.second_factor(db, services.store, services.fernet, throttle, citizen.identity,
                                 citizen.recovery_codes[0], HERE)

    assert result.value.amr == ("pwd", "recovery")
    assert recorded(db, result) == [("mfa.recovery_code_used", {"left": len(citizen.recovery_codes) - 1})]


def test_wrong_codes_lock_the_second_factor_and_then_only_a_recovery_code_is_taken(db, services, throttle, citizen):
    def code(value):
        return steps.second_factor(db, services.store, services.fernet, throttle, citizen.identity, value, HERE)

    wrong = "000000" if current_totp(citizen.secret) != "000000" else "111111"
    assert recorded(db, code(wrong)) == [("sign_in.failed", {"reason": "second_factor"})]
    assert recorded(db, code(wrong)) == [("mfa.locked", {}), ("sign_in.failed", {"reason": "second_factor"})]

    locked = code(pyotp.TOTP(citizen.secret).now())
    assert locked.value.refusal == steps.SECOND_FACTOR_LOCKED and locked.errors == {WHOLE: steps.TOTP_LOCKED}
    assert code(citizen.recovery_codes[0]).success


def test_recovery_asks_the_same_factor_and_names_its_failures(db, services, throttle, citizen):
    result = steps.second_factor(db, services.store, services.fernet, throttle, citizen.identity, "12345678x",
                                 HERE, recovering=True)

    assert recorded(db, result) == [("sign_in.failed", {"reason": "recovery_second_factor"})]


def test_success_forgets_the_failures_and_names_the_methods(db, throttle, citizen):
    for _ in range(2):
        steps.password(db, throttle, citizen.username, "wrong", HERE)

    result = steps.succeeded(throttle, citizen.identity, ("pwd", "otp"), HERE, device=None)

    assert recorded(db, result) == [("sign_in.succeeded", {"method": "pwd+otp"})]
    steps.password(db, throttle, citizen.username, "wrong", HERE)  # would be the third: counting restarted
    assert steps.password(db, throttle, citizen.username, STRONG_PASSWORD, HERE).success


# --- re-authentication, sign-out ----------------------------------------------------

def test_reauthentication_needs_the_password_and_the_code(db, services, throttle, citizen):
    def confirm(password, code):
        return steps.reauthenticated(db, services.store, services.fernet, throttle, citizen.identity,
                                     password, code, HERE)

    refused = confirm(STRONG_PASSWORD, "")
    assert recorded(db, refused) == [("sign_in.failed", {"reason": "reauthentication"})]
    assert confirm(STRONG_PASSWORD, current_totp(citizen.secret)).success


def test_signing_out_everywhere_ends_every_session(app, db, citizen):
    sessions = app.session_interface.sessions
    for _ in range(2):
        sessions.create(new_session_id(), {"identity_uuid": citizen.identity.uuid})

    result = steps.signed_out(db, sessions, citizen.identity, everywhere=True)

    assert recorded(db, result) == [("sign_out", {"everywhere": True})]
    assert sessions.count(citizen.identity.uuid) == 0
