"""Signing in with the approval app as a service (idp.authn.app): the browser's request and its
redemption. The phone's approval is driven over HTTP with a real WebAuthn key in tests/web/test_app.py."""
from __future__ import annotations

import pytest

from idp.authn import app as app_steps
from idp.authn import sign_in as steps
from idp.identity.locks import DatabaseLocks
from idp.identity.throttle import LoginThrottle
from tests.authn.test_sign_in import HERE, recorded


@pytest.fixture
def citizen(identities, people):
    return identities.make(people["citizen"])


@pytest.mark.parametrize("login", ["citizen.one", "nobody.here"])
def test_a_request_for_a_name_without_a_phone_looks_like_any_other(db, services, citizen, login):
    result = app_steps.request(db, services.store, b"k" * 32, login, ("مسار", "Masar"), HERE)

    assert result.success and result.value.request_id is None
    assert 10 <= int(result.value.number) <= 99
    assert recorded(db, result) == []


def test_a_stranger_meets_the_same_limit_whether_or_not_the_name_exists(db, services, citizen):
    answers = [app_steps.request(db, services.store, b"k" * 32, "nobody.here", ("مسار", "Masar"), HERE)
               for _ in range(app_steps.approvals.MAX_STARTS + 1)]

    assert all(answer.success for answer in answers[:-1])
    assert answers[-1].value.refusal == steps.THROTTLED


def test_an_approval_that_is_not_there_to_redeem_has_expired(db, services):
    throttle = LoginThrottle(services.store, services.settings, locks=DatabaseLocks(db))

    result = app_steps.redeem(db, throttle, "no-such-request", HERE)

    assert result.value.refusal == steps.EXPIRED and recorded(db, result) == []
