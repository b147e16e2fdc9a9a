import datetime as dt

import pytest
from hijridate import Hijri, ummalqura

from idp.errors import ValidationError
from idp.identity.birthdate import format_hijri, parse_birth_date, to_hijri

TODAY = dt.date(2026, 6, 15)
DOES_NOT_EXIST = "This date does not exist in the chosen calendar."
HIJRI_RANGE = "Enter a Hijri date between the years 1343 and 1500 AH."
UNPARSEABLE = "Enter the date as day/month/year."
FUTURE = "A date of birth cannot be in the future."
TOO_OLD = "A date of birth cannot be more than 130 years ago."


def parse(text, calendar="gregorian", today=TODAY):
    return parse_birth_date(text, calendar, today=today)


@pytest.mark.parametrize(
    ("text", "calendar", "expected"),
    [
        ("1990-03-05", "gregorian", dt.date(1990, 3, 5)),
        ("1990/03/05", "gregorian", dt.date(1990, 3, 5)),
        ("05/03/1990", "gregorian", dt.date(1990, 3, 5)),
        ("05-03-1990", "gregorian", dt.date(1990, 3, 5)),
        ("5/3/1990", "gregorian", dt.date(1990, 3, 5)),
        ("  05 / 03 / 1990  ", "gregorian", dt.date(1990, 3, 5)),
        ("٠٥/٠٣/١٩٩٠", "gregorian", dt.date(1990, 3, 5)),  # Arabic-Indic digits
        ("۱۹۹۰-۰۳-۰۵", "gregorian", dt.date(1990, 3, 5)),  # Persian digits
        ("1410-05-20", "hijri", dt.date(1989, 12, 18)),
        ("٢٠/٠٥/١٤١٠", "hijri", dt.date(1989, 12, 18)),
        ("1445/02/30", "hijri", dt.date(2023, 9, 15)),  # Safar 1445 has 30 days
        ("1447-02-29", "hijri", dt.date(2025, 8, 23)),  # … Safar 1447 only 29
        ("2024-02-29", "gregorian", dt.date(2024, 2, 29)),
    ],
)
def test_accepted(text, calendar, expected):
    born = parse(text, calendar)
    assert born == expected
    assert type(born) is dt.date  # not hijridate's Gregorian subclass


@pytest.mark.parametrize(
    ("text", "calendar", "message"),
    [
        ("1447-02-30", "hijri", DOES_NOT_EXIST),  # Safar 1447 has 29 days
        ("30/02/1447", "hijri", DOES_NOT_EXIST),
        ("1445-13-01", "hijri", DOES_NOT_EXIST),
        ("1445-00-10", "hijri", DOES_NOT_EXIST),
        ("1445-01-00", "hijri", DOES_NOT_EXIST),
        ("31/04/1990", "gregorian", DOES_NOT_EXIST),
        ("1991-02-29", "gregorian", DOES_NOT_EXIST),  # not a leap year
        ("1900-02-29", "gregorian", DOES_NOT_EXIST),  # century, not a leap year
        ("30/02/1992", "gregorian", DOES_NOT_EXIST),
        ("1990-13-01", "gregorian", DOES_NOT_EXIST),
        ("1300-01-01", "hijri", HIJRI_RANGE),
        ("1600-01-01", "hijri", HIJRI_RANGE),
        ("1342-12-29", "hijri", HIJRI_RANGE),
        ("1600-02-30", "hijri", HIJRI_RANGE),  # the year is checked before the day
        ("2026-06-16", "gregorian", FUTURE),
        ("2090-01-01", "gregorian", FUTURE),
        ("1460-01-01", "hijri", FUTURE),
        ("1896-06-14", "gregorian", TOO_OLD),
        ("0999-01-01", "gregorian", TOO_OLD),
        ("", "gregorian", UNPARSEABLE),
        ("yesterday", "gregorian", UNPARSEABLE),
        ("1990-03", "gregorian", UNPARSEABLE),
        ("90-03-05", "gregorian", UNPARSEABLE),
        ("19 90-03-05", "gregorian", UNPARSEABLE),  # spaces never join numbers
        ("1990-0 3-05", "gregorian", UNPARSEABLE),
        ("1990-03/05", "gregorian", UNPARSEABLE),  # one separator throughout
        ("1990.03.05", "gregorian", UNPARSEABLE),
        ("1990-03-05T00:00", "gregorian", UNPARSEABLE),
        ("१९९०-०३-०५", "gregorian", UNPARSEABLE),  # Devanagari digits are not ours
        ("05/03/1990" + " " * 30 + "x", "gregorian", UNPARSEABLE),
        ("0" * 40, "gregorian", UNPARSEABLE),
    ],
)
def test_refused(text, calendar, message):
    with pytest.raises(ValidationError) as caught:
        parse(text, calendar)
    assert caught.value.message == message
    assert caught.value.field == "birth_date"


@pytest.mark.parametrize("calendar", ["julian", "", "Hijri", None])
def test_unknown_calendar(calendar):
    with pytest.raises(ValidationError, match="Gregorian or the Hijri"):
        parse("1990-03-05", calendar)


def test_none_is_unparseable():
    with pytest.raises(ValidationError, match="day/month/year"):
        parse(None)


def test_field_is_named_in_the_error():
    with pytest.raises(ValidationError) as caught:
        parse_birth_date("31/04/1990", "gregorian", field="dob", today=TODAY)
    assert caught.value.field == "dob"


def test_limits_are_inclusive():
    assert parse("2026-06-15") == TODAY
    assert parse("1896-06-15") == dt.date(1896, 6, 15)


def test_130_years_before_29_february():
    leap_day = dt.date(2024, 2, 29)
    assert parse("1894-02-28", today=leap_day) == dt.date(1894, 2, 28)
    with pytest.raises(ValidationError, match="130 years"):
        parse("1894-02-27", today=leap_day)


def test_today_defaults_to_the_real_date():
    tomorrow = dt.date.today() + dt.timedelta(days=1)
    with pytest.raises(ValidationError, match="future"):
        parse_birth_date(tomorrow.isoformat(), "gregorian")


def test_range_message_matches_hijridate():
    (first, *_), (last, *_) = ummalqura.HIJRI_RANGE
    assert (first, last) == (1343, 1500)
    assert str(first) in HIJRI_RANGE and str(last) in HIJRI_RANGE


def test_to_hijri():
    assert to_hijri(dt.date(1989, 12, 18)) == (1410, 5, 20)
    assert format_hijri(dt.date(1989, 12, 18)) == "1410-05-20"
    assert format_hijri(dt.date(1924, 8, 1)) == "1343-01-01"


@pytest.mark.parametrize("date", [dt.date(1924, 7, 31), dt.date(1900, 1, 1), dt.date(2077, 11, 17)])
def test_to_hijri_outside_the_tables(date):
    assert to_hijri(date) is None
    assert format_hijri(date) is None


@pytest.mark.parametrize("hijri", [(1343, 1, 1), (1410, 5, 20), (1446, 12, 29), (1445, 2, 30)])
def test_round_trip(hijri):
    born = parse("-".join(f"{part:02d}" for part in hijri), "hijri")
    assert to_hijri(born) == hijri
    assert Hijri(*hijri).to_gregorian() == born


@pytest.mark.parametrize("date, lang, words", [
    (dt.date(1990, 3, 15), "ar", "18 شعبان 1410 هـ"),
    (dt.date(1990, 3, 15), "en", "18 Shaban 1410 AH"),
    (dt.date(1985, 12, 31), "en", "19 Rabi al-Thani 1406 AH"),
    (dt.date(1990, 4, 15), "ar", "20 رمضان 1410 هـ"),
])
def test_hijri_dates_are_shown_with_month_names(date, lang, words):
    from idp.identity.birthdate import hijri_in_words

    assert hijri_in_words(date, lang) == words
