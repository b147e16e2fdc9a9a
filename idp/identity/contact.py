"""Mobile numbers, email addresses and usernames as people type them, in one canonical form."""
from __future__ import annotations

import re
import unicodedata

from idp.errors import N_, ValidationError
from idp.identity.national_id import normalise_digits

MAX_INPUT = 64  # longer than any of these can be; refuse before doing any work

# Saudi mobile numbers are 5 followed by eight digits (ITU-T E.164 country code 966); people
# write them nationally (05…), bare (5…) or internationally (+966 / 00966 / 966).
_SAUDI_MOBILE = re.compile(r"(?:\+966|00966|966|0)?(5[0-9]{8})")


def normalise_mobile(text: str, field: str = "mobile") -> str:
    """A Saudi mobile number in E.164 form, +9665XXXXXXXX, or ValidationError."""
    digits = normalise_digits(text or "")
    match = _SAUDI_MOBILE.fullmatch(digits) if len(digits) <= MAX_INPUT else None
    if match is None:
        raise ValidationError(N_("Enter a Saudi mobile number, e.g. 05XXXXXXXX."), field=field)
    return "+966" + match.group(1)


# --- email --------------------------------------------------------------------------------

MAX_EMAIL = 254  # RFC 5321 §4.5.3.1.3 path limit, less the angle brackets (RFC 3696 errata)
MAX_LOCAL_PART = 64  # RFC 5321 §4.5.3.1.1
_DNS_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


def _has_invisible(text: str) -> bool:
    # Whitespace, controls and format characters (zero-width, bidi overrides) make addresses
    # that look like someone else's.
    return any(char.isspace() or unicodedata.category(char).startswith("C") for char in text)


def _is_hostname(domain: str) -> bool:
    try:
        ascii_domain = domain.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return False
    labels = ascii_domain.split(".")
    return len(ascii_domain) <= 253 and len(labels) >= 2 and all(map(_DNS_LABEL.fullmatch, labels))


def normalise_email(text: str, field: str = "email") -> str:
    """The address with its domain lower-cased (the local part is the mailbox owner's, RFC 5321
    §2.4, so it is kept as typed), or ValidationError."""
    email = (text or "").strip()
    if len(email) > MAX_EMAIL:
        raise ValidationError(N_("This email address is too long."), field=field)
    local, at, domain = email.partition("@")
    if len(local) > MAX_LOCAL_PART:
        raise ValidationError(N_("This email address is too long."), field=field)
    well_formed = at and local and "@" not in domain and not _has_invisible(email)
    if not (well_formed and _is_hostname(domain)):
        raise ValidationError(N_("Enter an email address like name@example.com."), field=field)
    return f"{local}@{domain.lower()}"


# --- usernames ----------------------------------------------------------------------------

USERNAME_MIN, USERNAME_MAX = 4, 32
_USERNAME_CHARS = re.compile(r"[a-z0-9._-]+")
# Names a person could use to pose as the service or its staff.
RESERVED_USERNAMES = frozenset({
    "admin", "administrator", "root", "support", "system", "nafath", "sso", "idp",
    "security", "help", "info", "test", "abuse", "postmaster", "webmaster", "hostmaster",
    "noreply", "no-reply", "operator", "staff", "official", "owner", "null", "anonymous",
})


def normalise_username(text: str, field: str = "username") -> str:
    """The username in lower case, or ValidationError naming the rule it breaks.

    It must start with a letter so that it can never be taken for a national ID number.
    """
    # NFKC first: full-width letters become ASCII rather than being refused.
    username = unicodedata.normalize("NFKC", (text or "").strip()[:MAX_INPUT]).lower()
    if not USERNAME_MIN <= len(username) <= USERNAME_MAX:
        raise ValidationError(N_("A username has 4 to 32 characters."), field=field)
    if not (username.isascii() and _USERNAME_CHARS.fullmatch(username)):
        raise ValidationError(
            N_("Use only English letters, digits, dots, hyphens and underscores."), field=field
        )
    if not username[0].isalpha():
        raise ValidationError(N_("Start the username with a letter."), field=field)
    if ".." in username:
        raise ValidationError(N_("A username cannot have two dots in a row."), field=field)
    if username in RESERVED_USERNAMES:
        raise ValidationError(N_("This username is reserved. Choose another."), field=field)
    return username
