"""Proof of possession of the civil registry's mobile number: a one-time code by SMS (NIST SP
800-63A §5.3.3 address confirmation; 800-63B §5.1.3 out-of-band codes).

A code is 6 random digits, valid `sms_code_minutes`, good for one use and `sms_code_attempts`
wrong entries. The store keeps only an HMAC of it, bound to the registration it was sent for, and
compares in constant time. Sending is limited per person (`sms_resend_seconds` between codes,
`sms_codes_per_day`), keyed by a keyed hash of the national ID, so nobody can flood a citizen's
phone. Losing the store costs a resend, nothing more.
"""
from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import math
import secrets
import time
from collections.abc import Callable

from idp.errors import N_, Throttled
from idp.identity.national_id import normalise_digits
from idp.identity.sms import SmsSender
from idp.store import Store

CODE_DIGITS = 6
TOO_SOON = N_("A code was sent a moment ago. Please wait before asking for another.")


@dataclasses.dataclass(frozen=True)
class Check:
    """The outcome of entering a code: `ok`, or why not (`wrong`, `spent`: ask for a new one)."""

    ok: bool
    spent: bool = False
    national_id: str | None = None


def new_flow_id() -> str:
    return secrets.token_urlsafe(16)


def normalise_code(text: str | None) -> str:
    return normalise_digits("".join((text or "").split()))[:32]


class MobileProof:
    def __init__(self, store: Store, settings, clock=time.time):
        self.store = store
        self.settings = settings
        self.clock = clock
        self._key = hmac.new(settings.secret_key.encode(), b"mobile-proof", hashlib.sha256).digest()

    def send(self, flow_id: str, national_id: str, mobile: str, sender: SmsSender,
             text: Callable[[str], str]) -> bool:
        """Make a new code for this registration (any earlier one stops working) and text it.
        Throttled when the person was sent one too recently or too often today. False when the
        sender could not hand the message over."""
        person, now = self._hash(f"person:{national_id}"), self.clock()
        resend = self.settings.sms_resend_seconds
        last = self.store.get(f"mobile-proof:last:{person}")  # a time read against `clock`, as the throttle does
        if resend and last is not None and now - float(last) < resend:
            raise Throttled(TOO_SOON, retry_after=max(1, math.ceil(resend - (now - float(last)))))
        if resend:
            self.store.set(f"mobile-proof:last:{person}", repr(now).encode(), resend + 1)
        if self.store.incr(f"mobile-proof:day:{person}", 86400) > self.settings.sms_codes_per_day:
            raise Throttled(TOO_SOON, retry_after=max(60, self.store.ttl(f"mobile-proof:day:{person}") or 86400))
        code = f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"
        ttl = self.settings.sms_code_minutes * 60
        record = {"hash": self._code_hash(flow_id, code), "national_id": national_id,
                  "expires": self.clock() + ttl}
        self.store.delete(f"mobile-proof:tries:{flow_id}")
        self.store.set(f"mobile-proof:code:{flow_id}", json.dumps(record).encode(), ttl)
        return sender.send(mobile, text(code))

    def check(self, flow_id: str, code: str | None) -> Check:
        """Whether `code` is this registration's code; a right code is used up (single use)."""
        key = f"mobile-proof:code:{flow_id}"
        raw = self.store.get(key)
        if raw is None:
            return Check(ok=False, spent=True)
        record = json.loads(raw)
        if self.clock() >= record["expires"]:
            self.store.delete(key)
            return Check(ok=False, spent=True)
        tries = self.store.incr(f"mobile-proof:tries:{flow_id}", math.ceil(record["expires"] - self.clock()) + 1)
        if tries > self.settings.sms_code_attempts:
            self.store.delete(key)
            return Check(ok=False, spent=True)
        given = normalise_code(code)
        if not (len(given) == CODE_DIGITS and given.isdigit()
                and hmac.compare_digest(self._code_hash(flow_id, given), record["hash"])):
            spent = tries >= self.settings.sms_code_attempts
            if spent:
                self.store.delete(key)
            return Check(ok=False, spent=spent)
        if self.store.pop(key) is None:  # a parallel request used it first
            return Check(ok=False, spent=True)
        return Check(ok=True, national_id=record["national_id"])

    def _hash(self, text: str) -> str:
        return hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()

    def _code_hash(self, flow_id: str, code: str) -> str:
        return self._hash(f"code:{flow_id}:{code}")


def sms_text(code: str, minutes: int) -> str:
    """The SMS, Arabic then English (a phone may show either); it says never to pass the code on."""
    return (f"رمز التحقق للنفاذ الوطني الموحد: {code}\nصالح {minutes} دقائق. لا تشاركه مع أحد.\n"
            f"National SSO code: {code}\nValid {minutes} minutes. Never share it.")
