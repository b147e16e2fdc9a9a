"""Authenticator-app codes for the bench's identities, as a person's app would give them.

Every identity of ours has a second factor, and the IdP accepts a TOTP code once per 30-second
time step per identity (RFC 6238 §5.2: a replayed code is refused; idp/identity/totp.py). One
identity could therefore sign in at most about twice a step, so the bench signs in with a pool of
identities, round-robin, each used at most once per time step. A code is taken from the current
step or, when every identity has spent that one, from the next: the IdP accepts one step either
side (totp.DRIFT_STEPS), and the next step's code stays acceptable until that step has ended, so a
sign-in that crosses a step boundary still succeeds. Only when both are spent everywhere does the
pool wait for the next step (never in a `make bench` run: prepare() makes enough identities).
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pyotp

STEP_SECONDS = 30  # idp.identity.totp.STEP_SECONDS
AHEAD_STEPS = 1  # ≤ idp.identity.totp.DRIFT_STEPS: how far ahead a code may be taken


@dataclass
class PoolIdentity:
    username: str
    password: str
    secret: str  # the base32 TOTP secret, as the authenticator app holds it
    spent: set[int] = field(default_factory=set)  # time steps whose code this identity used


@dataclass(frozen=True)
class SignIn:
    """One sign-in's credentials: the password, and the second-factor code reserved for it."""
    username: str
    password: str
    code: str


class TotpPool:
    """Identities with TOTP, each used at most once per time step (thread-safe)."""

    def __init__(self, identities: list[PoolIdentity], clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep):
        if not identities:
            raise ValueError("a TOTP pool needs at least one identity")
        self.identities = identities
        self._clock, self._sleep = clock, sleep
        self._next = 0
        self._lock = threading.Lock()
        self.waits = 0  # how often every code of the window was spent (reported, never expected)

    @classmethod
    def from_prepared(cls, prepared: list[dict]) -> TotpPool:
        """From bench.setup_ours.prepare()'s "totp" list: username, password, secret, spent step."""
        return cls([PoolIdentity(p["username"], p["password"], p["secret"], {p["spent_step"]}) for p in prepared])

    def take(self) -> SignIn:
        """The next identity (round-robin) with a code of the current or next step it has not used."""
        with self._lock:
            while True:
                now = int(self._clock() // STEP_SECONDS)
                for step in range(now, now + AHEAD_STEPS + 1):
                    for _ in range(len(self.identities)):
                        identity = self.identities[self._next]
                        self._next = (self._next + 1) % len(self.identities)
                        if step not in identity.spent:
                            # steps older than the drift window can never be accepted again
                            identity.spent = {s for s in identity.spent if s >= now - 1} | {step}
                            code = pyotp.TOTP(identity.secret, interval=STEP_SECONDS).generate_otp(step)
                            return SignIn(identity.username, identity.password, code)
                self.waits += 1
                self._sleep(max(0.0, (now + 1) * STEP_SECONDS - self._clock()) + 0.05)
