"""Dates of birth as people type them, in the Gregorian or the Hijri (Umm al-Qura) calendar.

Saudi documents give dates of birth in either calendar, so the form asks which one was used;
everything is stored as the Gregorian date. Conversion is by `hijridate`, whose Umm al-Qura
tables cover 1343–1500 AH (1 August 1924 – 16 November 2077).
"""
from __future__ import annotations

import datetime as dt
import re

from hijridate import Gregorian, Hijri

from idp.errors import N_, ValidationError

CALENDARS = ("gregorian", "hijri")
MAX_AGE_YEARS = 130
MAX_LENGTH = 32  # the longest sensible input is ~12 chars; anything much longer is not a date

_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")
# re.ASCII: \d would otherwise match every script's digits, which int() then accepts silently.
# Whitespace is allowed only around a separator, so "19 90/1/1" can never become 1990.
_YEAR_FIRST = re.compile(r"(\d{4})\s*([-/])\s*(\d{1,2})\s*\2\s*(\d{1,2})", re.ASCII)
_DAY_FIRST = re.compile(r"(\d{1,2})\s*([-/])\s*(\d{1,2})\s*\2\s*(\d{4})", re.ASCII)


def _split(text: str, field: str) -> tuple[int, int, int]:
    """(year, month, day) from YYYY-MM-DD, YYYY/MM/DD, DD/MM/YYYY or DD-MM-YYYY."""
    text = (text or "").strip().translate(_DIGITS)
    if len(text) <= MAX_LENGTH:
        if match := _YEAR_FIRST.fullmatch(text):
            year, _, month, day = match.groups()
            return int(year), int(month), int(day)
        if match := _DAY_FIRST.fullmatch(text):
            day, _, month, year = match.groups()
            return int(year), int(month), int(day)
    raise ValidationError(N_("Enter the date as day/month/year."), field=field)


def _gregorian(year: int, month: int, day: int, field: str) -> dt.date:
    try:
        return dt.date(year, month, day)
    except ValueError:  # 31 April, 29 February of a common year, month 13, year 0
        raise ValidationError(
            N_("This date does not exist in the chosen calendar."), field=field
        ) from None


def _from_hijri(year: int, month: int, day: int, field: str) -> dt.date:
    # hijridate checks the year first (OverflowError), then the month and the day against the
    # month's real length in that year (ValueError): Umm al-Qura months have 29 or 30 days.
    try:
        gregorian = Hijri(year, month, day).to_gregorian()
    except OverflowError:
        raise ValidationError(
            N_("Enter a Hijri date between the years 1343 and 1500 AH."), field=field
        ) from None
    except ValueError:
        raise ValidationError(
            N_("This date does not exist in the chosen calendar."), field=field
        ) from None
    return dt.date(gregorian.year, gregorian.month, gregorian.day)


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February, and that year is not a leap year
        return day.replace(year=day.year - years, day=28)


def _check_plausible(born: dt.date, today: dt.date, field: str) -> None:
    if born > today:
        raise ValidationError(N_("A date of birth cannot be in the future."), field=field)
    if born < _years_before(today, MAX_AGE_YEARS):
        raise ValidationError(
            N_("A date of birth cannot be more than 130 years ago."), field=field
        )


def parse_birth_date(
    text: str, calendar: str, field: str = "birth_date", today: dt.date | None = None
) -> dt.date:
    """The Gregorian date of birth from `text` typed in `calendar` ("gregorian" or "hijri").

    Arabic-Indic and Persian digits are accepted. Raises ValidationError naming `field`.
    """
    if calendar not in CALENDARS:
        raise ValidationError(N_("Choose the Gregorian or the Hijri calendar."), field=field)
    year, month, day = _split(text, field)
    convert = _from_hijri if calendar == "hijri" else _gregorian
    born = convert(year, month, day, field)
    _check_plausible(born, today or dt.date.today(), field)
    return born


def to_hijri(date: dt.date) -> tuple[int, int, int] | None:
    """(year, month, day) in the Umm al-Qura calendar, or None outside 1924-08-01..2077-11-16."""
    try:
        hijri = Gregorian.fromdate(date).to_hijri()
    except OverflowError:
        return None
    return hijri.year, hijri.month, hijri.day


def format_hijri(date: dt.date) -> str | None:
    """The Umm al-Qura date as "YYYY-MM-DD" (for display and a `birthdate_hijri` claim), or None."""
    hijri = to_hijri(date)
    if hijri is None:
        return None
    year, month, day = hijri
    return f"{year:04d}-{month:02d}-{day:02d}"


# The Umm al-Qura months, as the Saudi calendar names them (Arabic) and as they are usually
# transliterated (English).
HIJRI_MONTHS = {
    "ar": ("محرم", "صفر", "ربيع الأول", "ربيع الآخر", "جمادى الأولى", "جمادى الآخرة", "رجب", "شعبان",
           "رمضان", "شوال", "ذو القعدة", "ذو الحجة"),
    "en": ("Muharram", "Safar", "Rabi al-Awwal", "Rabi al-Thani", "Jumada al-Ula", "Jumada al-Akhirah",
           "Rajab", "Shaban", "Ramadan", "Shawwal", "Dhu al-Qadah", "Dhu al-Hijjah"),
}


def hijri_in_words(date: dt.date, lang: str) -> str | None:
    """The Umm al-Qura date with its month named: "15 رمضان 1410 هـ" or "15 Ramadan 1410 AH"."""
    hijri = to_hijri(date)
    if hijri is None:
        return None
    year, month, day = hijri
    if lang == "ar":
        return f"{day} {HIJRI_MONTHS['ar'][month - 1]} {year} هـ"
    return f"{day} {HIJRI_MONTHS['en'][month - 1]} {year} AH"
