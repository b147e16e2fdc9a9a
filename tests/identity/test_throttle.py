"""Sign-in throttling (NIST SP 800-63B §5.2.2): per account and source — exponential delay,
temporary lock, the hard cap — a captcha for unknown sources under attack, no IP-wide lock, and
the second factor's hard cap."""
from __future__ import annotations

import dataclasses

import pytest
from cryptography.fernet import Fernet

from idp.errors import Throttled
from idp.identity.throttle import CaptchaRequired, HardLocked, LoginThrottle
from idp.settings import load_settings
from idp.store.memory import MemoryStore

IP = "203.0.113.7"
NATIONAL_ID = "1000010010"


@pytest.fixture(scope="module")
def base_settings(tmp_path_factory):
    return load_settings({
        "instance_path": str(tmp_path_factory.mktemp("instance")),
        "secret_key": "s" * 40,
        "data_key": Fernet.generate_key().decode(),
        "login_delay_after": 3,
        "login_max_delay_seconds": 60,
        "login_lockout_after": 10,
        "login_lockout_minutes": 15,
        "login_failure_window_minutes": 60,
        "ip_captcha_after": 100,
        "login_hard_cap": 100,
        "totp_max_failures": 100,
    }, environ={})


@pytest.fixture
def make_throttle(any_store, clock, base_settings):
    def make(**changes):
        return LoginThrottle(any_store, dataclasses.replace(base_settings, **changes), clock=clock)

    return make


@pytest.fixture
def throttle(make_throttle):
    return make_throttle()


def retry_after(throttle: LoginThrottle, account: str, ip: str = IP, device=None) -> int:
    """Seconds the throttle asks to wait; 0 when the attempt may go ahead (a captcha solved)."""
    try:
        throttle.check(account, ip, device=device, captcha_solved=True)
    except Throttled as e:
        assert isinstance(e.retry_after, int) and e.retry_after >= 1
        return e.retry_after
    throttle.release(account)  # the probe was not an attempt
    return 0


def fail(throttle: LoginThrottle, account: str, times: int, ip: str = IP, device=None) -> list[bool]:
    return [throttle.record_failure(account, ip, device=device) for _ in range(times)]


# --- exponential delay -----------------------------------------------------------------------

def test_no_delay_before_delay_after_failures(throttle):
    assert retry_after(throttle, "alice") == 0
    fail(throttle, "alice", 2)
    assert retry_after(throttle, "alice") == 0


@pytest.mark.parametrize("failures, delay", [(3, 1), (4, 2), (5, 4), (6, 8), (7, 16), (8, 32), (9, 60), (15, 60)])
def test_delay_doubles_and_is_capped(make_throttle, clock, failures, delay):
    throttle = make_throttle(login_lockout_after=50)
    fail(throttle, "alice", failures)
    assert retry_after(throttle, "alice") == delay
    clock.advance(delay - 0.5)
    assert retry_after(throttle, "alice") == 1
    clock.advance(0.5)
    assert retry_after(throttle, "alice") == 0


def test_delay_counts_from_the_last_failure(throttle, clock):
    fail(throttle, "alice", 5)
    clock.advance(3)
    assert retry_after(throttle, "alice") == 1
    clock.advance(1)
    fail(throttle, "alice", 1)
    assert retry_after(throttle, "alice") == 8


def test_throttled_carries_a_translatable_message(throttle):
    fail(throttle, "alice", 3)
    with pytest.raises(Throttled) as raised:
        throttle.check("alice", IP, captcha_solved=True)
    assert raised.value.http_status == 429 and "Too many" in raised.value.message


# --- lockout ---------------------------------------------------------------------------------

def test_lockout_after_n_failures(throttle, clock):
    assert fail(throttle, "alice", 10) == [False] * 9 + [True]
    assert throttle.is_locked("alice")
    assert retry_after(throttle, "alice") == 15 * 60
    clock.advance(15 * 60 - 1)
    assert throttle.is_locked("alice")
    clock.advance(1)
    assert not throttle.is_locked("alice")
    assert retry_after(throttle, "alice") == 0


def test_failure_after_a_lock_within_the_window_locks_again(throttle, clock):
    fail(throttle, "alice", 10)
    clock.advance(15 * 60)
    assert fail(throttle, "alice", 1) == [True]
    assert throttle.is_locked("alice")


def test_failures_outside_the_window_are_forgotten(base_settings, clock):
    throttle = LoginThrottle(MemoryStore(clock=clock), base_settings, clock=clock)
    fail(throttle, "alice", 9)
    clock.advance(60 * 60)
    assert fail(throttle, "alice", 1) == [False]
    assert retry_after(throttle, "alice") == 0


# --- lockout that cannot be aimed (issue 15, finding 4) ------------------------------------------

def test_a_lock_holds_only_for_the_source_that_caused_it(throttle):
    fail(throttle, "alice", 10)
    assert retry_after(throttle, "alice") == 15 * 60
    assert retry_after(throttle, "alice", ip="198.51.100.1") == 0  # the owner, elsewhere


def test_a_known_device_keeps_working_behind_the_attackers_ip(throttle):
    fail(throttle, "alice", 10)  # the attacker shares the owner's IP (carrier-grade NAT)
    assert retry_after(throttle, "alice", device="owner-device-token") == 0
    throttle.check("alice", IP, device="owner-device-token", captcha_solved=False)  # no captcha either
    throttle.release("alice")


def test_an_account_under_attack_asks_unknown_sources_for_a_captcha(throttle):
    fail(throttle, "alice", 3, ip="192.0.2.66")
    with pytest.raises(CaptchaRequired):
        throttle.check("alice", "198.51.100.1", captcha_solved=False)
    throttle.check("alice", "198.51.100.1", captcha_solved=True)  # solved: it may try
    throttle.release("alice")
    throttle.check("alice", "198.51.100.1", device="owner-device-token", captcha_solved=False)  # known device
    throttle.release("alice")
    throttle.check("bob", "198.51.100.1", captcha_solved=False)  # other accounts are not affected
    throttle.release("bob")


def test_the_hard_cap_counts_consecutive_failures_per_account_and_source(make_throttle, clock):
    throttle = make_throttle(login_hard_cap=25)
    for _ in range(2):
        fail(throttle, "alice", 10)
        clock.advance(15 * 60)
    assert fail(throttle, "alice", 5)[-1] is True
    with pytest.raises(HardLocked):
        throttle.check("alice", IP, captcha_solved=True)
    clock.advance(365 * 86400)  # until an administrator lifts it
    with pytest.raises(HardLocked):
        throttle.check("alice", IP, captcha_solved=True)
    assert retry_after(throttle, "alice", ip="198.51.100.1") == 0
    throttle.unlock("alice")
    assert retry_after(throttle, "alice") == 0


def test_a_success_ends_the_run_of_consecutive_failures(make_throttle, clock):
    throttle = make_throttle(login_hard_cap=12)
    fail(throttle, "alice", 9)
    throttle.record_success("alice", IP)
    assert fail(throttle, "alice", 9) == [False] * 9


def test_the_second_factor_is_capped_per_identity_whatever_the_source(make_throttle, clock):
    throttle = make_throttle(totp_max_failures=30)
    for n in range(30):
        locked = throttle.record_failure("identity:7", f"198.51.100.{n}", second_factor=True)
    assert locked and throttle.second_factor_locked("identity:7")
    clock.advance(365 * 86400)
    assert throttle.second_factor_locked("identity:7")
    throttle.record_success("identity:7", IP, second_factor=True)  # a recovery code was used
    assert not throttle.second_factor_locked("identity:7")


def test_a_second_factor_retyped_after_slips_is_not_delayed(throttle):
    fail(throttle, "identity:7", 3)
    throttle.check("identity:7", IP, delay=False)  # sequential: never refused
    throttle.release("identity:7")


# --- success and unlock ----------------------------------------------------------------------

def test_success_resets_failures_and_delay(throttle):
    fail(throttle, "alice", 6)
    throttle.record_success("alice", IP)
    assert retry_after(throttle, "alice") == 0
    assert fail(throttle, "alice", 9) == [False] * 9


def test_success_does_not_reset_the_ip(make_throttle):
    throttle = make_throttle(ip_captcha_after=3)
    fail(throttle, "alice", 2)
    throttle.record_success("alice", IP)
    fail(throttle, "bob", 1)
    assert throttle.needs_captcha("carol", IP)


def test_unlock(throttle):
    fail(throttle, "alice", 10)
    throttle.unlock("alice")
    assert not throttle.is_locked("alice")
    assert retry_after(throttle, "alice") == 0
    assert fail(throttle, "alice", 9) == [False] * 9


def test_unlock_of_an_unlocked_account_is_harmless(throttle):
    throttle.unlock("nobody")
    assert not throttle.is_locked("nobody")


# --- password spraying from one IP: a captcha, never a lock ------------------------------------

def test_a_spraying_ip_gets_a_captcha_not_a_lock(make_throttle, clock):
    throttle = make_throttle(ip_captcha_after=5)
    for n in range(5):
        throttle.record_failure(f"user{n}", IP)
    with pytest.raises(CaptchaRequired):
        throttle.check("someone-else", IP, captcha_solved=False)
    assert retry_after(throttle, "someone-else") == 0  # with the captcha solved: no wait, no lock
    assert not throttle.is_locked("someone-else")
    throttle.check("someone-else", "198.51.100.1", captcha_solved=False)  # other IPs: nothing asked
    throttle.release("someone-else")
    throttle.check("someone-else", IP, device="known-device", captcha_solved=False)  # known devices: nothing asked
    throttle.release("someone-else")


def test_ip_captcha_zero_disables_it(make_throttle):
    throttle = make_throttle(ip_captcha_after=0, login_lockout_after=1000, login_max_delay_seconds=0)
    for n in range(50):
        throttle.record_failure(f"user{n}", IP)
    throttle.check("someone-else", IP, captcha_solved=False)
    throttle.release("someone-else")


# --- privacy and account enumeration ---------------------------------------------------------

def observe(throttle: LoginThrottle, clock, account: str) -> list:
    seen = []
    for _ in range(12):
        seen.append((throttle.record_failure(account, "192.0.2.1"), retry_after(throttle, account, "192.0.2.1"),
                     throttle.is_locked(account)))
        clock.advance(1)
    throttle.unlock(account)
    seen.append(retry_after(throttle, account, "192.0.2.1"))
    return seen


def test_unknown_accounts_are_throttled_exactly_like_known_ones(throttle, clock):
    """The throttle never looks accounts up, so its answers cannot tell existing ones apart."""
    assert observe(throttle, clock, NATIONAL_ID) == observe(throttle, clock, "no-such-user-8f3a")


@pytest.mark.parametrize("spelling", [" Alice ", "ALICE", "alice"])
def test_spellings_of_a_username_share_counters(throttle, spelling):
    fail(throttle, "Alice", 10)
    assert throttle.is_locked(spelling)


@pytest.mark.parametrize("spelling", ["١٠٠٠٠١٠٠١٠", "۱۰۰۰۰۱۰۰۱۰", "1000 010 010", "1000-010-010"])
def test_spellings_of_a_national_id_share_counters(throttle, spelling):
    fail(throttle, NATIONAL_ID, 10)
    assert throttle.is_locked(spelling)


def test_store_never_holds_account_names_or_ips(throttle, any_store):
    fail(throttle, "Alice", 10)
    fail(throttle, NATIONAL_ID, 1)
    if isinstance(any_store, MemoryStore):
        keys = list(any_store._data)
        values = [v for v, _ in any_store._data.values()]
    else:
        keys = [k.decode() for k in any_store.client.scan_iter(match=any_store.prefix + "*")]
        values = [any_store.client.get(k) if any_store.client.type(k) == b"string" else any_store.client.smembers(k)
                  for k in keys]
    assert keys
    stored = " ".join(keys) + repr(values)
    for secret in ("alice", "Alice", NATIONAL_ID, IP):
        assert secret not in stored


def test_one_attempt_at_a_time_per_account(any_store, clock):
    """Parallel guesses: the second concurrent attempt is refused until the first is counted."""
    throttle = LoginThrottle(any_store, load_settings({"instance_path": "/tmp/idp-throttle-test"}, environ={}),
                             clock=clock)
    throttle.check("someone", IP)
    with pytest.raises(Throttled):
        throttle.check("someone", IP)
    throttle.record_failure("someone", IP)
    throttle.check("someone", IP)
    throttle.release("someone")
    throttle.check("someone", IP)
