"""The civil registry as a service over mutual TLS (idp/identity/registry_http.py), against a real
service on a loopback port (tests/registry_service.py): answers, refusals, failures, the cache."""
import datetime as dt
import logging
import ssl

import pytest

from idp.identity.registry import Person, RegistryUnavailable
from idp.identity.registry_client import client_tls_context
from idp.identity.registry_http import MAX_ANSWER_BYTES, HttpRegistry, TtlCache
from tests.conftest import make_national_id
from tests.registry_service import person_json

NOURA = Person(national_id=make_national_id("1", 7001), birth_date=dt.date(1995, 8, 1), gender="F",
               name_ar="نورة سعد العتيبي", name_en="Noura Saad Alotaibi", nationality="SAU",
               mobile="+966500007001")
UNKNOWN = make_national_id("1", 7999)


class Clock:
    """Monotonic seconds that move only when the test says so."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def service(registry_service):
    registry_service.people[NOURA.national_id] = person_json(NOURA)
    return registry_service


@pytest.fixture
def clock():
    return Clock()


def registry(service, certificates, clock=None, cache_seconds=60, timeout=3, **tls):
    context = client_tls_context(tls.get("cert", certificates.client_cert), tls.get("key", certificates.client_key),
                                 tls.get("ca", certificates.ca))
    return HttpRegistry(service.url, context, timeout_seconds=timeout, cache_seconds=cache_seconds,
                        **({"clock": clock} if clock else {}))


# --- answers --------------------------------------------------------------------------------------

def test_find_asks_the_service_over_mutual_tls(service, registry_certificates):
    assert registry(service, registry_certificates).find(NOURA.national_id) == NOURA
    assert service.paths == [f"/v1/people/{NOURA.national_id}"]


def test_an_unknown_person_is_none(service, registry_certificates):
    assert registry(service, registry_certificates).find(UNKNOWN) is None
    assert service.requests == 1


def test_an_invalid_national_id_is_none_without_asking(service, registry_certificates):
    assert registry(service, registry_certificates).find("1234567890") is None
    assert registry(service, registry_certificates).find("../admin") is None
    assert service.requests == 0


def test_a_person_with_no_mobile(service, registry_certificates):
    service.people[NOURA.national_id] = {**person_json(NOURA), "mobile": None}
    assert registry(service, registry_certificates).find(NOURA.national_id).mobile is None
    del service.people[NOURA.national_id]["mobile"]
    assert registry(service, registry_certificates, cache_seconds=0).find(NOURA.national_id).mobile is None


def test_match_is_decided_here_and_says_nothing_of_which_field(service, registry_certificates):
    asked = registry(service, registry_certificates, cache_seconds=0)
    assert asked.match(NOURA.national_id, NOURA.birth_date, "F") == NOURA
    assert asked.match(NOURA.national_id, NOURA.birth_date + dt.timedelta(days=1), "F") is None
    assert asked.match(NOURA.national_id, NOURA.birth_date, "M") is None
    assert asked.match(UNKNOWN, NOURA.birth_date, "F") is None
    # The registry is asked the same question whatever was claimed: it never sees birth date or gender.
    assert set(service.paths) == {f"/v1/people/{NOURA.national_id}", f"/v1/people/{UNKNOWN}"}


# --- TLS ------------------------------------------------------------------------------------------

def test_a_client_without_a_certificate_is_refused(service, registry_certificates):
    no_certificate = ssl.create_default_context(cafile=str(registry_certificates.ca))
    with pytest.raises(RegistryUnavailable):
        HttpRegistry(service.url, no_certificate).find(NOURA.national_id)
    assert service.requests == 0  # the handshake failed: no request was ever read


def test_a_client_certificate_another_ca_signed_is_refused(service, registry_certificates):
    stranger = registry(service, registry_certificates, cert=registry_certificates.stranger_cert,
                        key=registry_certificates.stranger_key)
    with pytest.raises(RegistryUnavailable):
        stranger.find(NOURA.national_id)
    assert service.requests == 0  # the handshake failed: no request was ever read


def test_a_server_our_ca_did_not_sign_is_refused(service, registry_certificates):
    trusting_another_ca = registry(service, registry_certificates, ca=registry_certificates.stranger_ca)
    with pytest.raises(RegistryUnavailable) as raised:
        trusting_another_ca.find(NOURA.national_id)
    assert "CERTIFICATE_VERIFY_FAILED" in raised.value.reason
    assert service.requests == 0


# --- failures -------------------------------------------------------------------------------------

def test_a_registry_that_hangs_times_out(service, registry_certificates):
    service.hold = True
    with pytest.raises(RegistryUnavailable) as raised:
        registry(service, registry_certificates, timeout=0.2).find(NOURA.national_id)
    assert raised.value.reason == "timed out" and raised.value.http_status == 503


def test_a_registry_that_is_down(registry_certificates, service):
    url = service.url
    service.__exit__(None, None, None)
    down = HttpRegistry(url, client_tls_context(registry_certificates.client_cert, registry_certificates.client_key,
                                                registry_certificates.ca))
    with pytest.raises(RegistryUnavailable) as raised:
        down.find(NOURA.national_id)
    assert "ConnectionRefusedError" in raised.value.reason


@pytest.mark.parametrize("status", [500, 503, 401, 302])
def test_any_other_status_is_unavailable(service, registry_certificates, status):
    service.status = status
    with pytest.raises(RegistryUnavailable) as raised:
        registry(service, registry_certificates).find(NOURA.national_id)
    assert raised.value.reason == f"HTTP {status}"
    assert service.requests == 1  # a redirect is not followed


@pytest.mark.parametrize("body,reason", [
    (b"<html>maintenance</html>", "answer is not JSON"),
    (b'["a", "list"]', "answer is not a JSON object"),
    (b'{"national_id": "' + NOURA.national_id.encode() + b'"}', "answer is not a person (birth_date is missing"),
    (person_json(NOURA) | {"gender": "X"}, "answer is not a person (gender must be M or F)"),
    (person_json(NOURA) | {"birth_date": "01/08/1995"}, "answer is not a person (birth_date must be"),
    (person_json(NOURA) | {"national_id": 1000070017}, "answer is not a person (national_id is missing or not a"),
    (person_json(NOURA) | {"national_id": make_national_id("1", 7002)}, "answer is about another national ID"),
    (b"{" + b" " * MAX_ANSWER_BYTES + b"}", "answer too large"),
])
def test_an_answer_that_is_not_a_person_is_unavailable(service, registry_certificates, caplog, body, reason):
    import json

    service.body = body if isinstance(body, bytes) else json.dumps(body).encode()
    with caplog.at_level(logging.WARNING), pytest.raises(RegistryUnavailable) as raised:
        registry(service, registry_certificates).find(NOURA.national_id)
    assert raised.value.reason.startswith(reason)
    # The log says what kind of failure, never whom it was about or what the registry said.
    logged = caplog.text
    assert "civil registry unavailable" in logged
    for personal in (NOURA.national_id, NOURA.name_en, NOURA.name_ar, "1995-08-01", NOURA.mobile):
        assert personal not in logged and personal not in str(raised.value)


def test_a_failure_is_not_cached(service, registry_certificates):
    asked = registry(service, registry_certificates)
    service.status = 500
    with pytest.raises(RegistryUnavailable):
        asked.find(NOURA.national_id)
    service.status = None
    assert asked.find(NOURA.national_id) == NOURA and service.requests == 2


# --- the cache ------------------------------------------------------------------------------------

def test_answers_are_reused_within_the_ttl_then_asked_again(service, registry_certificates, clock):
    asked = registry(service, registry_certificates, clock=clock, cache_seconds=60)
    assert asked.find(NOURA.national_id) == NOURA
    clock.now += 59
    assert asked.match(NOURA.national_id, NOURA.birth_date, "F") == NOURA
    assert service.requests == 1
    clock.now += 1
    assert asked.find(NOURA.national_id) == NOURA
    assert service.requests == 2


def test_no_such_person_is_cached_too(service, registry_certificates, clock):
    asked = registry(service, registry_certificates, clock=clock)
    assert asked.find(UNKNOWN) is None and asked.find(UNKNOWN) is None
    assert service.requests == 1


def test_a_zero_ttl_asks_every_time(service, registry_certificates):
    asked = registry(service, registry_certificates, cache_seconds=0)
    asked.find(NOURA.national_id)
    asked.find(NOURA.national_id)
    assert service.requests == 2


def test_the_cache_is_bounded_and_drops_the_oldest_first(clock):
    cache = TtlCache(60, entries=2, clock=clock)
    for key in ("a", "b", "c"):
        cache.put(key, NOURA)
    assert len(cache) == 2
    assert cache.get("a") == (False, None) and cache.get("b") == (True, NOURA) and cache.get("c") == (True, NOURA)
