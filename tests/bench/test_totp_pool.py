"""The bench's TOTP pool (bench/totp_pool.py): round-robin, each identity at most once per time
step, the next step's code when the current one is spent everywhere, a wait only after that."""
import pyotp
import pytest

from bench.totp_pool import STEP_SECONDS, PoolIdentity, TotpPool

SECRETS = [pyotp.random_base32(32) for _ in range(2)]


class Clock:
    """A clock the test moves: the pool's only dependency on time."""

    def __init__(self, at: float):
        self.at = at

    def __call__(self) -> float:
        return self.at

    def sleep(self, seconds: float) -> None:
        self.at += seconds


def pool_at(clock: Clock) -> TotpPool:
    identities = [PoolIdentity(f"bench.{n}", "pw", secret) for n, secret in enumerate(SECRETS)]
    return TotpPool(identities, clock=clock, sleep=clock.sleep)


def test_round_robin_over_the_current_step_then_the_next():
    clock = Clock(1000 * STEP_SECONDS + 3)
    pool = pool_at(clock)
    taken = [pool.take() for _ in range(4)]
    assert [t.username for t in taken] == ["bench.0", "bench.1", "bench.0", "bench.1"]
    expected = [pyotp.TOTP(SECRETS[0]).generate_otp(1000), pyotp.TOTP(SECRETS[1]).generate_otp(1000),
                pyotp.TOTP(SECRETS[0]).generate_otp(1001), pyotp.TOTP(SECRETS[1]).generate_otp(1001)]
    assert [t.code for t in taken] == expected
    assert pool.waits == 0


def test_when_the_window_is_spent_everywhere_the_pool_waits_for_the_next_step():
    clock = Clock(1000 * STEP_SECONDS + 3)
    pool = pool_at(clock)
    for _ in range(4):
        pool.take()
    fifth = pool.take()
    assert pool.waits == 1
    assert int(clock() // STEP_SECONDS) == 1001
    # step 1001 was spent by both ahead of time: the fifth code is step 1002's, never a replay
    assert fifth.code == pyotp.TOTP(SECRETS[0]).generate_otp(1002)


def test_a_step_spent_at_enrolment_is_not_used_again():
    clock = Clock(1000 * STEP_SECONDS)
    pool = TotpPool.from_prepared([{"username": "bench.0", "password": "pw", "secret": SECRETS[0],
                                    "spent_step": 1000}])
    pool._clock = clock  # noqa: SLF001
    assert pool.take().code == pyotp.TOTP(SECRETS[0]).generate_otp(1001)


def test_an_empty_pool_is_refused():
    with pytest.raises(ValueError):
        TotpPool([])
