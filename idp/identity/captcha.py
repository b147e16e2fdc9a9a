"""A self-hosted image captcha: anti-automation for sign-in and registration (OWASP ASVS V2.2.1,
V2.2.4), with no third-party service that would see our citizens' requests.

Answers are five digits: most people here type in Arabic, and Latin letters in a distorted
image confuse them; Arabic-Indic digits are accepted as the same answer. Only digits that a
rotated, distorted glyph cannot turn into another are drawn: no 1 (read as 7, and as Arabic ١) and
no 7. The text is dark on a light background (at least 4.5:1, WCAG 2.2 SC 1.4.3), and the same
digits can be heard instead (`captcha_audio`, SC 1.1.1).

A challenge is stateless until it is answered: its id is the answer and its expiry sealed with
AES-GCM under a key only the server has, so showing a page with a captcha writes nothing (a
cookieless GET must not grow the store, issue 15). Each challenge is still single use: `verify`
marks its nonce used (`Store.add`, atomically) before it compares, so one challenge buys one guess.
"""
from __future__ import annotations

import base64
import binascii
import hmac
import os
import re
import secrets
import struct
import threading
import time

from captcha.image import ImageCaptcha
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from idp.identity import captcha_audio
from idp.identity.national_id import normalise_digits
from idp.store import Store

ANSWER_LENGTH = 5
ALPHABET = "02345689"  # 8**5 = 32768 answers per challenge; each challenge buys one guess
MAX_ANSWER_CHARS = 32  # anything longer is not an attempt at five digits; refuse before work
_CHALLENGE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_FIXED_ANSWER = re.compile(rf"[0-9]{{{ANSWER_LENGTH}}}")
_renderers = threading.local()  # one ImageCaptcha per thread: its fonts are loaded lazily
_NONCE_BYTES = 12
_SEALED = struct.Struct(f">{ANSWER_LENGTH}sQ")  # the answer and its expiry (epoch seconds)


def derive_key(secret: str) -> bytes:
    """The captcha's AES-256 key, derived from the app's secret key (so every worker shares it)."""
    return hmac.new(secret.encode(), b"idp captcha challenge v1", "sha256").digest()


def is_challenge_id(text: str) -> bool:
    """Whether `text` could be a challenge id; checked before any store lookup."""
    return bool(text) and _CHALLENGE_ID.fullmatch(text) is not None


def normalise_answer(text: str) -> str:
    """What a person typed, as ASCII digits: Arabic-Indic/Persian digits mapped, spaces dropped."""
    return normalise_digits("".join(text.split()))


class CaptchaService:
    """Issues, draws and checks challenges; only an answered challenge leaves a mark in the store
    (`captcha-used:<nonce>`, until the challenge would have expired anyway).

    `key` (32 bytes, see `derive_key`) seals the challenges; without one a random key is made,
    good for this object only. `fixed_answer` makes every challenge's answer that string. It
    exists ONLY so that automated browser tests can get past the captcha; the app passes it only
    when Flask's TESTING is on (config TEST_CAPTCHA_ANSWER), never in production.
    """

    def __init__(self, store: Store, ttl_seconds: int, fixed_answer: str | None = None, *,
                 key: bytes | None = None, clock=time.time):
        if fixed_answer is not None and not _FIXED_ANSWER.fullmatch(fixed_answer):
            raise ValueError(f"fixed_answer must be {ANSWER_LENGTH} ASCII digits")
        self.store = store
        self.ttl_seconds = ttl_seconds
        self.fixed_answer = fixed_answer
        self._aead = AESGCM(key or os.urandom(32))
        self.clock = clock

    def new(self) -> str:
        """A fresh challenge id (URL-safe, 55 characters). Nothing is stored."""
        answer = self.fixed_answer or "".join(secrets.choice(ALPHABET) for _ in range(ANSWER_LENGTH))
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, _SEALED.pack(answer.encode(), int(self.clock()) + self.ttl_seconds),
                                    None)
        return base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode()

    def answer(self, challenge_id: str) -> str | None:
        """The answer of a genuine, unexpired, unused challenge (to draw it), else None."""
        opened = self._open(challenge_id)
        if opened is None or self.store.get(_used_key(opened[0])) is not None:
            return None
        return opened[1]

    def image(self, challenge_id: str) -> bytes | None:
        """The challenge drawn as a PNG, or None when unknown, expired or used. Does not use it up."""
        answer = self.answer(challenge_id)
        return None if answer is None else render_png(answer)

    def audio(self, challenge_id: str, lang: str) -> bytes | None:
        """The challenge spoken in `lang` as a WAV file, or None when unknown, expired or used.
        Raises captcha_audio.AudioUnavailable when it cannot be spoken now. Does not use it up."""
        answer = self.answer(challenge_id)
        return None if answer is None else captcha_audio.speak_digits(answer, lang)

    def verify(self, challenge_id: str, answer: str | None) -> bool:
        """Whether `answer` solves the challenge. The challenge is used up whatever the outcome,
        atomically (`Store.add`), so concurrent guesses at one challenge get one chance between them."""
        opened = self._open(challenge_id)
        if opened is None:
            return False
        nonce, expected, expires = opened
        left = max(1, int(expires - self.clock()) + 1)
        if not self.store.add(_used_key(nonce), b"1", left):
            return False
        if not answer or len(answer) > MAX_ANSWER_CHARS:
            return False
        given = normalise_answer(answer)
        return bool(given) and hmac.compare_digest(given.encode(), expected.encode())

    def _open(self, challenge_id: str) -> tuple[str, str, int] | None:
        """(nonce, answer, expiry) of a challenge we sealed that has not expired, else None."""
        if not is_challenge_id(challenge_id):
            return None
        try:
            raw = base64.urlsafe_b64decode(challenge_id + "=" * (-len(challenge_id) % 4))
            nonce, sealed = raw[:_NONCE_BYTES], raw[_NONCE_BYTES:]
            answer, expires = _SEALED.unpack(self._aead.decrypt(nonce, sealed, None))
        except (binascii.Error, ValueError, InvalidTag, struct.error):
            return None
        if expires <= self.clock():
            return None
        return base64.urlsafe_b64encode(nonce).decode().rstrip("="), answer.decode(), expires


def render_png(text: str) -> bytes:
    """`text` distorted on a noisy background (captcha's ImageCaptcha), as PNG bytes. The library
    picks text colours as light as grey 200 on white; ours are at most 90 per channel on a
    background of at least 240, a contrast of at least 6:1."""
    renderer = getattr(_renderers, "image_captcha", None)
    if renderer is None:
        renderer = _renderers.image_captcha = ImageCaptcha(width=180, height=64)
        renderer.character_rotate = (-20, 20)  # the library tilts up to ±30°; less reads more easily
    background = (240 + secrets.randbelow(16), 240 + secrets.randbelow(16), 240 + secrets.randbelow(16))
    ink = (secrets.randbelow(91), secrets.randbelow(91), secrets.randbelow(91), 255)
    return renderer.generate(text, format="png", bg_color=background, fg_color=ink).getvalue()


def _used_key(nonce: str) -> str:
    return f"captcha-used:{nonce}"
