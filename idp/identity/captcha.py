"""A self-hosted image captcha: anti-automation for sign-in and registration (OWASP ASVS V2.2.1,
V2.2.4), with no third-party service that would see our citizens' requests.

Answers are five digits: most people here type in Arabic, and Latin letters in a distorted
image confuse them; Arabic-Indic digits are accepted as the same answer. Each challenge is
single use: `verify` removes the answer before it compares, so one challenge buys one guess.
"""
from __future__ import annotations

import hmac
import re
import secrets
import threading

from captcha.image import ImageCaptcha

from idp.identity.national_id import normalise_digits
from idp.store import Store

ANSWER_LENGTH = 5
MAX_ANSWER_CHARS = 32  # anything longer is not an attempt at five digits; refuse before work
_CHALLENGE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_FIXED_ANSWER = re.compile(r"[0-9]{%d}" % ANSWER_LENGTH)
_renderers = threading.local()  # one ImageCaptcha per thread: its fonts are loaded lazily


def is_challenge_id(text: str) -> bool:
    """Whether `text` could be a challenge id; checked before any store lookup."""
    return bool(text) and _CHALLENGE_ID.fullmatch(text) is not None


def normalise_answer(text: str) -> str:
    """What a person typed, as ASCII digits: Arabic-Indic/Persian digits mapped, spaces dropped."""
    return normalise_digits("".join(text.split()))


class CaptchaService:
    """Issues, draws and checks challenges kept in the ephemeral store under `captcha:<id>`.

    `fixed_answer` makes every challenge's answer that string. It exists ONLY so that automated
    browser tests can get past the captcha; the app passes it only when Flask's TESTING is on
    (config TEST_CAPTCHA_ANSWER), never in production.
    """

    def __init__(self, store: Store, ttl_seconds: int, fixed_answer: str | None = None):
        if fixed_answer is not None and not _FIXED_ANSWER.fullmatch(fixed_answer):
            raise ValueError(f"fixed_answer must be {ANSWER_LENGTH} ASCII digits")
        self.store = store
        self.ttl_seconds = ttl_seconds
        self.fixed_answer = fixed_answer

    def new(self) -> str:
        """A fresh challenge id (URL-safe, 22 characters); its answer expires after the ttl."""
        challenge_id = secrets.token_urlsafe(16)
        answer = self.fixed_answer or "".join(secrets.choice("0123456789") for _ in range(ANSWER_LENGTH))
        self.store.set(_key(challenge_id), answer.encode(), self.ttl_seconds)
        return challenge_id

    def image(self, challenge_id: str) -> bytes | None:
        """The challenge drawn as a PNG, or None when unknown or expired. Does not use it up."""
        if not is_challenge_id(challenge_id):
            return None
        answer = self.store.get(_key(challenge_id))
        return None if answer is None else render_png(answer.decode())

    def verify(self, challenge_id: str, answer: str | None) -> bool:
        """Whether `answer` solves the challenge. The challenge is used up whatever the outcome,
        atomically (`Store.pop`), so concurrent guesses at one challenge get one chance between them."""
        if not is_challenge_id(challenge_id):
            return False
        expected = self.store.pop(_key(challenge_id))
        if expected is None or not answer or len(answer) > MAX_ANSWER_CHARS:
            return False
        given = normalise_answer(answer)
        return bool(given) and hmac.compare_digest(given.encode(), expected)


def render_png(text: str) -> bytes:
    """`text` distorted on a noisy background (captcha's ImageCaptcha), as PNG bytes."""
    renderer = getattr(_renderers, "image_captcha", None)
    if renderer is None:
        renderer = _renderers.image_captcha = ImageCaptcha(width=180, height=64)
    return renderer.generate(text, format="png").getvalue()


def _key(challenge_id: str) -> str:
    return f"captcha:{challenge_id}"
