"""The web's side of the sign-in throttle (idp.identity.throttle), in one place: which throttle, the
check that refuses with 429, and the message a page shows (NIST SP 800-63B §5.2.2).

Every view that counts guesses — sign-in, the second factor, re-authentication, a password change,
recovery's second factor, registration's birth-date check, passkey sign-in — asks `refusal()` and
renders its own page with the answer; none catches `Throttled` itself.
"""
from __future__ import annotations

from flask import g, request
from flask_babel import ngettext

from idp.authn.sign_in import Attempt
from idp.errors import Throttled
from idp.identity import devices
from idp.identity.locks import DatabaseLocks
from idp.identity.throttle import CaptchaRequired, HardLocked, LoginThrottle
from idp.web.context import db_session, services
from idp.web.i18n import translate

STATUS = 429  # RFC 6585 §4


def login_throttle() -> LoginThrottle:
    """The sign-in throttle: counters in the store, the locks of identities in the database. One
    per request, so that a lock row read at a step's check is not read again at its success."""
    if "login_throttle" not in g:
        g.login_throttle = LoginThrottle(services().store, services().settings, locks=DatabaseLocks(db_session()))
    return g.login_throttle


def refusal(throttle: LoginThrottle, key: str, **options) -> Throttled | None:
    """Check `key` and this request's address; the refusal (to show with `message`), or None to go on."""
    try:
        throttle.check(key, request.remote_addr or "", **options)
    except Throttled as e:
        return e
    return None


def message(e: Throttled) -> str:
    """What the citizen is told: the lock's own message, or how long to wait."""
    if isinstance(e, (HardLocked, CaptchaRequired)):
        return translate(e.message)
    minutes = max(1, -(-e.retry_after // 60))
    if e.retry_after < 60:
        return ngettext("Too many attempts. Try again in %(num)d second.",
                        "Too many attempts. Try again in %(num)d seconds.", max(1, e.retry_after))
    return ngettext("Too many attempts. Try again in %(num)d minute.",
                    "Too many attempts. Try again in %(num)d minutes.", minutes)


def known_device(db, identity_id) -> str | None:
    """This browser's device token, if it completed a sign-in for the identity before."""
    token = request.cookies.get(devices.COOKIE)
    return token if devices.is_known(db, identity_id, token) else None


def attempt(captcha_solved: bool = False) -> Attempt:
    """This request, as the sign-in rules (idp.authn.sign_in) see it."""
    return Attempt(request.remote_addr or "", request.cookies.get(devices.COOKIE), captcha_solved)
