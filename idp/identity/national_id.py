"""Saudi national ID numbers: 10 digits, the first 1 (citizen) or 2 (resident),
the last a Luhn check digit over the first nine."""
from __future__ import annotations

from idp.errors import N_, ValidationError

_ARABIC_INDIC = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")


def normalise_digits(text: str) -> str:
    """Arabic-Indic and Persian digits as ASCII, spaces and dashes removed (how people type IDs)."""
    return text.translate(_ARABIC_INDIC).replace(" ", "").replace("-", "").strip()


def check_digit(first_nine: str) -> str:
    """The Luhn digit that completes `first_nine`."""
    total = 0
    for position, char in enumerate(reversed(first_nine)):
        digit = int(char)
        if position % 2 == 0:  # doubled: the rightmost payload digit, then every other one
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return str((10 - total % 10) % 10)


def is_valid(national_id: str) -> bool:
    return (
        len(national_id) == 10
        and national_id.isascii()
        and national_id.isdigit()
        and national_id[0] in "12"
        and check_digit(national_id[:9]) == national_id[9]
    )


def parse(text: str, field: str = "national_id") -> str:
    """A valid national ID from what a person typed, or ValidationError."""
    national_id = normalise_digits(text or "")
    if not is_valid(national_id):
        raise ValidationError(
            N_("Enter a valid 10-digit national ID or residence (iqama) number."), field=field
        )
    return national_id


def id_type(national_id: str) -> str:
    return "citizen" if national_id.startswith("1") else "resident"
