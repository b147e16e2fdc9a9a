"""Password hashing and the password policy.

Hashing: argon2id with the OWASP Password Storage Cheat Sheet's first recommended
configuration (m=19 MiB, t=2, p=1). Policy: NIST SP 800-63B §5.1.1.2 and OWASP ASVS 4.0 V2.1
(level 2) — length, not composition; refuse known and guessable passwords.

Every password is NFKC-normalised first (SP 800-63B §5.1.1.2), so the same password typed on
a different keyboard or input method (full-width forms, ligatures, compatibility characters)
hashes and checks the same.
"""
from __future__ import annotations

import threading
import unicodedata

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from idp.errors import N_, ValidationError
from idp.identity.national_id import normalise_digits

MIN_LENGTH = 12  # ASVS 4.0 V2.1.1
MAX_LENGTH = 128  # ASVS 4.0 V2.1.2 (at least 64 must be allowed; 128 is the upper bound there)
MIN_SCORE = 3  # zxcvbn: 3 = "safely unguessable", ~10^8 guesses or more
ZXCVBN_PREFIX = 64  # zxcvbn's matching is superlinear; the first 64 characters decide the score

# OWASP Password Storage Cheat Sheet, "Argon2id": m=19456 (19 MiB), t=2, p=1.
HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1, hash_len=32, salt_len=16)

# zxcvbn's bundled list of the 30,000 most common passwords (from leaked password dumps).
_COMMON = frozenset(word.casefold() for word in FREQUENCY_LISTS["passwords"])
_TRAILING = "0123456789!@#$%^&*()-_=+.,;:?'\"~`[]{}\\|/<> "

# zxcvbn stores the user inputs of each call in a module-level dictionary, so two threads
# scoring at once could see each other's inputs. Serialise the calls.
_ZXCVBN_LOCK = threading.Lock()


def normalise(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


def hash_password(password: str) -> str:
    """An argon2id PHC string ($argon2id$v=19$m=…) for the NFKC form of `password`."""
    return HASHER.hash(normalise(password))


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True when `password` matches; False on a mismatch or a malformed or missing hash."""
    if not stored_hash:
        verify_dummy(password)  # an account without a password costs the same as one with
        return False
    try:
        return HASHER.verify(stored_hash, normalise(password))
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """True when the hash was made with other parameters than ours (or is not ours at all)."""
    try:
        return HASHER.check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True


# Signing in with an unknown username must take as long as with a known one, or the response
# time tells an attacker which national IDs / usernames have accounts (OWASP Authentication
# Cheat Sheet, "Authentication Responses"). The dummy hash is made once, with our parameters.
_DUMMY_HASH = HASHER.hash("dummy password, never matches anything")


def verify_dummy(password: str) -> None:
    """Spend the time of one verification, for a sign-in whose account does not exist."""
    verify_password(_DUMMY_HASH, password)


def _is_common(password: str) -> bool:
    folded = password.casefold()
    return folded in _COMMON or folded.rstrip(_TRAILING) in _COMMON


def _contains(password: str, value: str, min_length: int) -> bool:
    return len(value) >= min_length and value.casefold() in password.casefold()


def _user_inputs(username: str, national_id: str, email: str, names) -> list[str]:
    """What zxcvbn should treat as known words: the person's own details, and each word of
    their names (a full name is one dictionary entry to zxcvbn; "mohammed" alone is not)."""
    words = [username, national_id, email.partition("@")[0]]
    for name in filter(None, names):
        words += [name, *name.split()]
    return [word for word in words if word]


def _score(password: str, user_inputs: list[str]) -> int:
    with _ZXCVBN_LOCK:
        return zxcvbn(password[:ZXCVBN_PREFIX], user_inputs=user_inputs)["score"]


def check_password_policy(
    password: str,
    *,
    username: str | None = "",
    national_id: str | None = "",
    email: str | None = "",
    names=(),
) -> None:
    """Refuse a password that NIST SP 800-63B §5.1.1.2 / OWASP ASVS V2.1 says to refuse.

    Any Unicode is allowed and there are no composition rules. Missing details (None) are
    skipped. Raises ValidationError with field="password" and one message for the first
    reason found.
    """
    password = normalise(password or "")
    username, national_id, email = username or "", national_id or "", email or ""
    if len(password) < MIN_LENGTH:
        raise ValidationError(N_("Use at least 12 characters."), field="password")
    if len(password) > MAX_LENGTH:
        raise ValidationError(N_("Use at most 128 characters."), field="password")
    if _is_common(password):
        raise ValidationError(
            N_("This password is on a list of common or leaked passwords. Choose another."),
            field="password",
        )
    # Digits as ASCII, spaces and dashes dropped: the ID typed in Arabic-Indic digits or in
    # groups ("1012 345 678") is found too.
    if _contains(normalise_digits(password), national_id, 1):
        raise ValidationError(
            N_("The password must not contain your national ID number."), field="password"
        )
    if _contains(password, username, 3):
        raise ValidationError(N_("The password must not contain your username."), field="password")
    if _score(password, _user_inputs(username, national_id, email, names)) < MIN_SCORE:
        raise ValidationError(
            N_("This password is too easy to guess. Try a few unrelated words."),
            field="password",
        )
