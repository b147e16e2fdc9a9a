"""One-time codes by SMS to the registry's mobile: 6 digits, short-lived, single use, attempts
capped, sending throttled per person, stored only as an HMAC."""
from __future__ import annotations

import re

import pytest
from cryptography.fernet import Fernet

from idp.errors import Throttled
from idp.identity.mobile_proof import MobileProof, new_flow_id
from idp.settings import load_settings
from idp.store.memory import MemoryStore

NID, MOBILE = "1000010010", "+966512345123"


class Phone:
    """An SmsSender that is the citizen's phone: keeps what it receives."""

    def __init__(self):
        self.messages = []

    def send(self, to, text):
        self.messages.append((to, text))
        return True

    @property
    def code(self):
        return re.search(r"\b(\d{6})\b", self.messages[-1][1]).group(1)


@pytest.fixture
def settings(tmp_path):
    return load_settings({"instance_path": str(tmp_path), "secret_key": "s" * 40,
                          "data_key": Fernet.generate_key().decode()}, environ={})


@pytest.fixture
def proof(any_store, settings, clock):
    return MobileProof(any_store, settings, clock=clock)


def send(proof, phone, flow, nid=NID):
    return proof.send(flow, nid, MOBILE, phone, lambda code: f"code {code}")


def test_a_code_is_six_digits_and_works_once(proof):
    phone, flow = Phone(), new_flow_id()
    assert send(proof, phone, flow)
    assert phone.messages[-1][0] == MOBILE and re.fullmatch(r"code \d{6}", phone.messages[-1][1])
    check = proof.check(flow, phone.code)
    assert check.ok and check.national_id == NID
    assert not proof.check(flow, phone.code).ok


def test_a_code_belongs_to_its_registration(proof):
    phone, flow = Phone(), new_flow_id()
    send(proof, phone, flow)
    assert not proof.check(new_flow_id(), phone.code).ok


def test_a_code_expires(proof, clock, settings):
    phone, flow = Phone(), new_flow_id()
    send(proof, phone, flow)
    clock.advance(settings.sms_code_minutes * 60)
    check = proof.check(flow, phone.code)
    assert not check.ok and check.spent


def test_attempts_are_capped(proof, settings):
    phone, flow = Phone(), new_flow_id()
    send(proof, phone, flow)
    wrong = f"{(int(phone.code) + 1) % 10**6:06d}"
    results = [proof.check(flow, wrong) for _ in range(settings.sms_code_attempts)]
    assert [r.spent for r in results] == [False] * (settings.sms_code_attempts - 1) + [True]
    assert not proof.check(flow, phone.code).ok


def test_a_new_code_replaces_the_old_and_is_throttled(proof, clock, settings):
    phone, flow = Phone(), new_flow_id()
    send(proof, phone, flow)
    old = phone.code
    with pytest.raises(Throttled):
        send(proof, phone, flow)
    clock.advance(settings.sms_resend_seconds)
    send(proof, phone, flow)
    if phone.code != old:
        assert not proof.check(flow, old).ok
    assert proof.check(flow, phone.code).ok


def test_codes_per_person_per_day_are_capped(proof, clock, settings):
    phone = Phone()
    for _ in range(settings.sms_codes_per_day):
        send(proof, phone, new_flow_id())
        clock.advance(settings.sms_resend_seconds)
    with pytest.raises(Throttled):
        send(proof, phone, new_flow_id())
    assert len(phone.messages) == settings.sms_codes_per_day


def test_the_store_never_holds_the_code_or_the_mobile_and_its_keys_no_national_id(settings, clock):
    store = MemoryStore(clock=clock)
    phone, flow = Phone(), new_flow_id()
    MobileProof(store, settings, clock=clock).send(flow, NID, MOBILE, phone, lambda code: f"code {code}")
    stored = repr(store._data)
    assert phone.code not in stored and MOBILE not in stored
    assert NID not in " ".join(store._data)  # keys carry keyed hashes
