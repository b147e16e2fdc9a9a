"""Sign-in throttling that cannot be aimed at a citizen (NIST SP 800-63B §5.2.2 rate limiting;
OWASP ASVS V2.2.1 anti-automation; OWASP Authentication Cheat Sheet, "account lockout").

Failures are counted per account AND per source — a known device (a browser that signed in to
that account before, `devices`) or else the client IP — so an attacker's failures slow and lock
only the attacker's own (account, source) pairs:

- an exponential delay for an (account, source) after `login_delay_after` failures;
- a temporary lock of that (account, source) at `login_lockout_after` failures within the window;
- the NIST cap: `login_hard_cap` consecutive failures of one (account, source) lock that pair
  until an administrator lifts it;
- an account under attack (`login_delay_after` failures from anywhere) and a client IP that sprays
  (`ip_captcha_after` failures) make unknown sources solve a captcha first; known devices never
  need one. Nothing IP-wide ever refuses correct credentials (carrier-grade NAT puts a whole
  mobile network behind one address);
- the second factor: `totp_max_failures` consecutive wrong codes for an identity lock TOTP until a
  recovery code or an administrator (the code space is small; the cap is per identity, whoever asks).

Locks of identities live in PostgreSQL (`locks.DatabaseLocks`): losing the store unlocks nothing.
Counters live in the store and may be lost. Store keys carry keyed hashes (HMAC-SHA-256) of the
account name, IP and device, never the values; counters are kept for any name typed, whether or not
an identity has it, so refusals never reveal which accounts exist.
"""
from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time

from idp.errors import N_, Throttled
from idp.identity.locks import FOREVER, WHOLE, LockBook, StoreLocks
from idp.identity.national_id import normalise_digits
from idp.settings import Settings
from idp.store import Store

MESSAGE = N_("Too many sign-in attempts. Please wait and try again.")
HARD_LOCKED = N_("Too many failed sign-ins from here. Sign-in from this device or network is locked; "
                 "contact support to unlock it.")
CAPTCHA_NEEDED = N_("Many failed sign-ins were seen for this account. Type the digits in the picture "
                    "as well, then sign in.")
INFLIGHT_SECONDS = 10  # longest a verification (argon2, a database round trip) should take
_MAX_EXPONENT = 30  # 2**30 s is past any sane cap; keeps the arithmetic small
WHOLE_ACCOUNT = WHOLE
RUN_SECONDS = 7 * 86400  # how long a run of consecutive failures is remembered without a new one


class HardLocked(Throttled):
    """The (account, source) pair reached the hard cap; only an administrator lifts it."""


class CaptchaRequired(Throttled):
    """The account is under attack, or the IP sprays, and this source is not a known device."""


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
    """`locks` keeps the locks of identities (`DatabaseLocks` in the app); names that match no
    identity, and every lock when `locks` is None, are kept in the store."""

    def __init__(self, store: Store, settings: Settings, clock=time.time, locks: LockBook | None = None):
        self.store = store
        self.settings = settings
        self.clock = clock
        self._store_locks = StoreLocks(store, clock)
        self._identity_locks = locks or self._store_locks
        self._hash_key = hmac.new(settings.secret_key.encode(), b"login-throttle", hashlib.sha256).digest()

    def check(self, account: str, ip: str, *, device: str | None = None, captcha_solved: bool | None = None,
              delay: bool = True) -> None:
        """Raise Throttled (retry_after=seconds), HardLocked or CaptchaRequired if a sign-in for
        `account` may not be tried now from `device` (a known device's token) or else `ip`.
        A refusal, not a sleep: a waiting request would tie up a worker. `captcha_solved` is None
        on steps that ask no captcha (they follow one that did, or a proof of email), else whether
        the request solved one. `delay` False skips the exponential delay (a second-factor code
        retyped after a slip is not a password guess)."""
        a, src, now = self._hash("account", account), self._source(ip, device), self.clock()
        locked_until = self._locks(account).until(a, src)
        if locked_until == FOREVER:
            raise HardLocked(HARD_LOCKED, retry_after=3600)
        # The counters this check reads, in one round trip: the delay's, then the captcha's.
        asks_captcha = device is None and captcha_solved is False
        delay_keys = [f"throttle:fail:{a}:{src}", f"throttle:last:{a}:{src}"] if delay else []
        keys = delay_keys + (self._captcha_keys(a, ip) if asks_captcha else [])
        counters = self.store.get_many(*keys) if keys else []
        delay_until = self._delay_until(*counters[:2]) if delay else 0.0
        wait = max(locked_until, delay_until) - now
        if wait > 0:
            raise Throttled(MESSAGE, retry_after=max(1, math.ceil(wait)))
        if asks_captcha and self._under_attack_or_spraying(counters[len(delay_keys):]):
            raise CaptchaRequired(CAPTCHA_NEEDED, retry_after=0)
        # One attempt at a time per account: without it, a burst of parallel guesses would all pass
        # this check before the first failure is counted. Every attempt frees its slot when it ends
        # (record_*/release), so a sequential attempt is never refused by it; expiry frees it if not.
        if not self.store.add(f"throttle:inflight:{a}", secrets.token_hex(4).encode(), INFLIGHT_SECONDS):
            raise Throttled(MESSAGE, retry_after=max(1, self.store.ttl(f"throttle:inflight:{a}") or 1))

    def needs_captcha(self, account: str, ip: str) -> bool:
        """Whether an unknown source must solve a captcha: the account is under attack, or the IP sprays."""
        return self._under_attack_or_spraying(self.store.get_many(*self._captcha_keys(self._hash("account", account),
                                                                                      ip)))

    def _captcha_keys(self, a: str, ip: str) -> list[str]:
        keys = [f"throttle:fail:{a}"]
        if self.settings.ip_captcha_after:
            keys.append(f"throttle:ipfail:{self._hash('ip', ip)}")
        return keys

    def _under_attack_or_spraying(self, counts: list[bytes | None]) -> bool:
        """From the counts of `_captcha_keys`: the account's failures, and the IP's when counted."""
        under_attack = _int(counts[0]) >= self.settings.login_delay_after
        spraying = len(counts) > 1 and _int(counts[1]) >= self.settings.ip_captcha_after
        return under_attack or spraying

    def release(self, account: str) -> None:
        """End an attempt that was neither a failure nor a full success (e.g. a second factor is next)."""
        self.store.delete(f"throttle:inflight:{self._hash('account', account)}")

    def record_failure(self, account: str, ip: str, *, device: str | None = None,
                       second_factor: bool = False) -> bool:
        """Count a failure; True when it locked (account, source) — or, with `second_factor`, TOTP."""
        a, src, now = self._hash("account", account), self._source(ip, device), self.clock()
        self.store.delete(f"throttle:inflight:{a}")
        self.store.incr(f"throttle:fail:{a}", self._window)
        failures = self.store.incr(f"throttle:fail:{a}:{src}", self._window)
        self.store.set(f"throttle:last:{a}:{src}", repr(now).encode(), self.settings.login_max_delay_seconds + 1)
        self.store.sadd(f"throttle:sources:{a}", src, RUN_SECONDS)
        if self.settings.ip_captcha_after:
            self.store.incr(f"throttle:ipfail:{self._hash('ip', ip)}", self._window)
        locks = self._locks(account)
        locked = False
        if second_factor and locks.count_failure(a, WHOLE_ACCOUNT) >= self.settings.totp_max_failures:
            locks.lock(a, WHOLE_ACCOUNT, FOREVER)
            locked = True
        if self.store.incr(f"throttle:run:{a}:{src}", RUN_SECONDS) >= self.settings.login_hard_cap:
            locks.lock(a, src, FOREVER)
            return True
        if failures >= self.settings.login_lockout_after:
            locks.lock(a, src, now + self.settings.login_lockout_minutes * 60)
            return True
        return locked

    def record_success(self, account: str, ip: str = "", *, device: str | None = None,
                       second_factor: bool = False) -> None:
        """Forget the account's failures and this source's delay and run (not the client IP's: a
        spray may include one hit). With `second_factor`, the TOTP count starts again too."""
        a, src = self._hash("account", account), self._source(ip, device)
        self.store.delete(f"throttle:fail:{a}", f"throttle:fail:{a}:{src}", f"throttle:last:{a}:{src}",
                          f"throttle:run:{a}:{src}", f"throttle:inflight:{a}")
        locks = self._locks(account)
        if locks.until(a, src) != FOREVER:
            locks.reset(a, src)
        if second_factor:
            locks.reset(a, WHOLE_ACCOUNT)

    def unlock(self, account: str) -> None:
        """Lift every lock of the account and forget its failures (an administrator's action)."""
        a = self._hash("account", account)
        for src in self.store.smembers(f"throttle:sources:{a}"):
            self.store.delete(f"throttle:fail:{a}:{src}", f"throttle:last:{a}:{src}", f"throttle:run:{a}:{src}")
        self.store.delete(f"throttle:fail:{a}", f"throttle:sources:{a}")
        self._locks(account).clear(a)

    def is_locked(self, account: str) -> bool:
        """Whether any lock holds for the account (from some source, or its second factor)."""
        return self._locks(account).any_locked(self._hash("account", account), self.clock())

    def second_factor_locked(self, account: str) -> bool:
        a = self._hash("account", account)
        return self._locks(account).until(a, WHOLE_ACCOUNT) > self.clock()

    # --- helpers ------------------------------------------------------------------------------

    @property
    def _window(self) -> int:
        return self.settings.login_failure_window_minutes * 60

    def _locks(self, account: str) -> LockBook:
        return self._identity_locks if account.startswith("identity:") else self._store_locks

    def _hash(self, kind: str, value: str) -> str:
        text = normalise_account(value) if kind == "account" else (value or "")
        return hmac.new(self._hash_key, f"{kind}:{text}".encode(), hashlib.sha256).hexdigest()

    def _source(self, ip: str, device: str | None) -> str:
        return "d" + self._hash("device", device)[:40] if device else "i" + self._hash("ip", ip)[:40]

    def _delay_until(self, failures_raw: bytes | None, last_raw: bytes | None) -> float:
        """When the exponential delay after the last failure ends: 2 ** (failures - delay_after) s,
        capped; from the (account, source)'s failure count and last failure's time, as stored."""
        failures = _int(failures_raw)
        if failures == 0 or failures < self.settings.login_delay_after:
            return 0.0
        exponent = min(failures - self.settings.login_delay_after, _MAX_EXPONENT)
        return (float(last_raw) if last_raw else 0.0) + min(2 ** exponent, self.settings.login_max_delay_seconds)


def _int(raw: bytes | None) -> int:
    return int(raw) if raw is not None else 0
