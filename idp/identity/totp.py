"""Authenticator-app codes (TOTP, RFC 6238) and recovery codes.

SHA-1, 6 digits and a 30-second step: RFC 6238's defaults and the only parameters every
authenticator app honours (several ignore the `algorithm`, `digits` and `period` URI fields).
Secrets are stored encrypted with Fernet; the key comes from configuration, not the database.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import unicodedata

import pyotp
import qrcode
import qrcode.image.svg
from cryptography.fernet import Fernet, MultiFernet

from sqlalchemy.orm import Session

from idp import used_once
from idp.identity import passwords
from idp.identity.national_id import normalise_digits

DIGITS = 6
STEP_SECONDS = 30
DRIFT_STEPS = 1  # RFC 6238 §5.2 and §6: accept one step either side for clock drift
SECRET_CHARS = 32  # base32 characters: 32 x 5 = 160 bits, the length RFC 4226 §4 recommends
# A used step stays recorded until it can no longer be accepted: at most 90 s after its start.
USED_TTL = 120

# No 0/O, 1/I/L: a recovery code is copied by hand from paper. 31 symbols, so 12 of them
# carry 59 bits (10 would carry only 49.5).
RECOVERY_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
RECOVERY_GROUPS = 3
RECOVERY_GROUP_LENGTH = 4
RECOVERY_LENGTH = RECOVERY_GROUPS * RECOVERY_GROUP_LENGTH


def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret, digits=DIGITS, digest=hashlib.sha1, interval=STEP_SECONDS)


def new_secret() -> str:
    """A random 160-bit shared secret, base32 as authenticator apps expect it."""
    return pyotp.random_base32(length=SECRET_CHARS)


def provisioning_uri(secret: str, account_name: str, issuer_name: str) -> str:
    """The otpauth://totp/… URI (Google Authenticator Key URI Format) for the QR code."""
    return _totp(secret).provisioning_uri(name=account_name, issuer_name=issuer_name)


def qr_svg(uri: str) -> str:
    """The QR code of `uri` as an <svg> element for inline HTML: no XML declaration, no Pillow."""
    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage)
    return image.to_string(encoding="unicode")


def encrypt_secret(fernet: Fernet | MultiFernet, secret: str) -> str:
    return fernet.encrypt(secret.encode("ascii")).decode("ascii")


def decrypt_secret(fernet: Fernet | MultiFernet, token: str) -> str:
    """The secret; raises cryptography.fernet.InvalidToken when the key does not fit."""
    return fernet.decrypt(token.encode("ascii")).decode("ascii")


def _normalise_code(code: str) -> str:
    return normalise_digits(code or "")


def _matching_step(secret: str, code: str, now: float) -> int | None:
    """The time step, within the drift window, whose code is `code` (RFC 6238 §4.2, §5.2)."""
    totp = _totp(secret)
    current = int(now // STEP_SECONDS)
    matched = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        # No early exit: every candidate is computed and compared in constant time.
        if hmac.compare_digest(totp.generate_otp(step), code) and matched is None:
            matched = step
    return matched


def verify_totp(
    session: Session, identity_ref: int | str, secret: str, code: str, now: float | None = None
) -> bool:
    """True when `code` is the current code (± one step) and not used before (RFC 6238 §5.2).

    The matched step is recorded per identity in the database (idp.used_once), in the caller's
    transaction, so a code overheard or phished can be replayed neither later, nor in a concurrent
    request, nor after a Redis restart.
    """
    code = _normalise_code(code)
    if len(code) != DIGITS or not (code.isascii() and code.isdigit()):
        return False
    step = _matching_step(secret, code, time.time() if now is None else now)
    if step is None:
        return False
    return used_once.spend(session, f"totp-used:{identity_ref}:{step}", USED_TTL)


def generate_recovery_codes(count: int = 10) -> list[str]:
    """`count` single-use recovery codes like ABCD-EFGH-JKMN, each of 59 random bits."""
    return [_format_recovery_code(_random_recovery_code()) for _ in range(count)]


def _random_recovery_code() -> str:
    return "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_LENGTH))


def _format_recovery_code(code: str) -> str:
    size = RECOVERY_GROUP_LENGTH
    return "-".join(code[start : start + size] for start in range(0, len(code), size))


def normalise_recovery_code(text: str) -> str:
    """Upper case, without dashes or whitespace; full-width characters as ASCII."""
    text = unicodedata.normalize("NFKC", text or "").upper()
    return "".join(char for char in text if char != "-" and not char.isspace())


def hash_recovery_code(code: str) -> str:
    """An argon2id hash of the normalised code, made by the password hasher."""
    return passwords.hash_password(normalise_recovery_code(code))


def recovery_code_matches(stored_hash: str, text: str) -> bool:
    code = normalise_recovery_code(text)
    # The shape is public; refusing a wrong one early saves an argon2 run per stored code.
    if len(code) != RECOVERY_LENGTH or not set(code) <= set(RECOVERY_ALPHABET):
        return False
    return passwords.verify_password(stored_hash, code)
