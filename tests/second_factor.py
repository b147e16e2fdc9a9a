"""Second-factor codes for test identities. Every identity has a second factor (idp.web.enrolment),
so tests sign in with one; a TOTP time step is spent once per identity (RFC 6238 §5.2), so each
code is taken from a step of the drift window not used yet, else a recovery code is used."""
from __future__ import annotations

import time

import pyotp

STEP = 30
_used: dict[str, set[int]] = {}  # secret → time steps whose code was spent
_made: dict[str, object] = {}  # username or national ID → the made identity (this test's)


def forget_all() -> None:
    _made.clear()


def remember(made) -> None:
    """Make `made`'s codes available to the sign-in helpers, by username and by national ID."""
    _made[made.username] = made
    _made[made.identity.national_id] = made


def spent(secret: str, at: float) -> None:
    _used.setdefault(secret, set()).add(int(at // STEP))


def fresh_totp(secret: str) -> str | None:
    """A code from the drift window (current step first) not used before, or None."""
    now = int(time.time() // STEP)
    used = _used.setdefault(secret, set())
    for step in (now, now + 1, now - 1):
        if step not in used:
            used.add(step)
            return pyotp.TOTP(secret).generate_otp(step)
    return None


def code_for(made) -> str:
    """A code `made` has not used: TOTP while the window has one, else one of its recovery codes."""
    return fresh_totp(made.secret) or made.recovery_codes.pop()


def made_for(login: str):
    return _made.get(login)


def turn_on_totp(db, services, identity) -> str:
    """TOTP for an identity a test made with `accounts.create` (every identity has a second factor);
    its secret, for `fresh_totp`."""
    from idp.identity import mfa, totp

    secret, at = totp.new_secret(), time.time() - STEP
    mfa.enable_totp(db, services.store, services.fernet, identity, secret, pyotp.TOTP(secret).at(at))
    spent(secret, at)
    return secret
