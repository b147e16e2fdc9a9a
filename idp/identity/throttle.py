"""Sign-in throttling (NIST SP 800-63B §5.2.2 rate limiting; OWASP ASVS V2.2.1 anti-automation).

Three measures, all kept in the shared store so they hold across worker processes:
an exponential delay once an account has `login_delay_after` failures, a temporary lock at
`login_lockout_after` failures within `login_failure_window_minutes`, and a lock on a client IP
after `ip_lockout_after` failures from it (password spraying across many accounts).

Keys carry a keyed hash (HMAC-SHA-256) of the normalised account name, never the name: a plain
hash of a 10-digit national ID could be reversed by trying every ID. Counters are kept for any
name typed, whether or not an identity has it, so refusals never reveal which accounts exist.

Times (last failure, lock end) are stored as values read against `clock`; store expiry only
removes keys that no longer matter. The failure window opens at an account's first failure.
"""
from __future__ import annotations

import hashlib
import hmac
import math
import time

from idp.errors import N_, Throttled
from idp.identity.national_id import normalise_digits
from idp.settings import Settings
from idp.store import Store

MESSAGE = N_("Too many sign-in attempts. Please wait and try again.")
INFLIGHT_SECONDS = 10  # longest a verification (argon2, a database round trip) should take
_MAX_EXPONENT = 30  # 2**30 s is past any sane cap; keeps the arithmetic small


def normalise_account(account: str) -> str:
    """The account as sign-in looks it up: a national ID in ASCII digits, else the lower-cased username."""
    account = (account or "").strip()
    digits = normalise_digits(account)
    return digits if digits.isdigit() else account.lower()


def account_for(identity_id: int | None, login: str) -> str:
    """One counter per identity, whether it signs in with its username or its national ID;
    a name that matches no identity gets its own counter, which behaves the same."""
    return f"identity:{identity_id}" if identity_id is not None else normalise_account(login)


class LoginThrottle:
    def __init__(self, store: Store, settings: Settings, clock=time.time):
        self.store = store
        self.settings = settings
        self.clock = clock
        self._hash_key = hmac.new(settings.secret_key.encode(), b"login-throttle", hashlib.sha256).digest()

    def check(self, account: str, ip: str) -> None:
        """Raise Throttled(retry_after=seconds) if a sign-in for `account` from `ip` may not be tried now.
        A refusal, not a sleep: a waiting request would tie up a worker."""
        account_key, ip_key = self._hash("account", account), self._hash("ip", ip)
        now = self.clock()
        wait = max(self._until(f"throttle:lock:{account_key}"),
                   self._delay_until(account_key),
                   self._until(f"throttle:iplock:{ip_key}")) - now
        if wait > 0:
            raise Throttled(MESSAGE, retry_after=max(1, math.ceil(wait)))
        # One attempt at a time per account: without it, a burst of parallel guesses would all pass
        # this check before the first failure is counted. Freed by record_*/release, or on expiry.
        if not self.store.add(f"throttle:inflight:{account_key}", b"1", INFLIGHT_SECONDS):
            raise Throttled(MESSAGE, retry_after=1)

    def release(self, account: str) -> None:
        """End an attempt that was neither a failure nor a full success (e.g. a second factor is next)."""
        self.store.delete(f"throttle:inflight:{self._hash('account', account)}")

    def record_failure(self, account: str, ip: str) -> bool:
        """Count a failed sign-in; True when this failure locked the account. Each failure while the
        window still holds `login_lockout_after` or more locks it again (NIST: bounded consecutive failures)."""
        account_key, now = self._hash("account", account), self.clock()
        self.store.delete(f"throttle:inflight:{account_key}")
        failures = self.store.incr(f"throttle:fail:{account_key}", self._window)
        self.store.set(f"throttle:last:{account_key}", repr(now).encode(), self.settings.login_max_delay_seconds + 1)
        self._record_ip_failure(ip, now)
        if failures < self.settings.login_lockout_after:
            return False
        self._lock(f"throttle:lock:{account_key}", now)
        return True

    def record_success(self, account: str) -> None:
        """Forget the account's failures and delay (not its client IP's: a spray may include one hit)."""
        account_key = self._hash("account", account)
        self.store.delete(f"throttle:fail:{account_key}", f"throttle:last:{account_key}",
                          f"throttle:inflight:{account_key}")

    def unlock(self, account: str) -> None:
        """Lift a lock and forget the failures (an administrator's action)."""
        account_key = self._hash("account", account)
        self.store.delete(f"throttle:lock:{account_key}", f"throttle:fail:{account_key}",
                          f"throttle:last:{account_key}")

    def is_locked(self, account: str) -> bool:
        return self._until(f"throttle:lock:{self._hash('account', account)}") > self.clock()

    # --- helpers ------------------------------------------------------------------------------

    @property
    def _window(self) -> int:
        return self.settings.login_failure_window_minutes * 60

    def _hash(self, kind: str, value: str) -> str:
        text = normalise_account(value) if kind == "account" else (value or "")
        return hmac.new(self._hash_key, f"{kind}:{text}".encode(), hashlib.sha256).hexdigest()

    def _until(self, key: str) -> float:
        raw = self.store.get(key)
        return float(raw) if raw is not None else 0.0

    def _delay_until(self, account_key: str) -> float:
        """When the exponential delay after the last failure ends: 2 ** (failures - delay_after) s, capped."""
        raw = self.store.get(f"throttle:fail:{account_key}")
        failures = int(raw) if raw is not None else 0
        if failures == 0 or failures < self.settings.login_delay_after:
            return 0.0
        exponent = min(failures - self.settings.login_delay_after, _MAX_EXPONENT)
        return self._until(f"throttle:last:{account_key}") + min(2 ** exponent, self.settings.login_max_delay_seconds)

    def _record_ip_failure(self, ip: str, now: float) -> None:
        limit = self.settings.ip_lockout_after
        if limit and self.store.incr(f"throttle:ipfail:{self._hash('ip', ip)}", self._window) >= limit:
            self._lock(f"throttle:iplock:{self._hash('ip', ip)}", now)

    def _lock(self, key: str, now: float) -> None:
        seconds = self.settings.login_lockout_minutes * 60
        self.store.set(key, repr(now + seconds).encode(), seconds)
