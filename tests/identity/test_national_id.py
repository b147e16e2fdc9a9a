import pytest

from idp.errors import ValidationError
from idp.identity.national_id import check_digit, id_type, is_valid, normalise_digits, parse

# Valid numbers, their last digit the Luhn check digit of the first nine.
CITIZEN = "1012345672"
RESIDENT = "2123456788"


@pytest.mark.parametrize(
    ("first_nine", "digit"),
    [("101234567", "2"), ("212345678", "8"), ("100000000", "8"), ("234567890", "4")],
)
def test_check_digit(first_nine, digit):
    assert check_digit(first_nine) == digit


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("1012345672", "1012345672"),
        (" 1012345672 ", "1012345672"),
        ("1012 345 672", "1012345672"),
        ("1-012-345-672", "1012345672"),
        ("١٠١٢٣٤٥٦٧٢", "1012345672"),  # Arabic-Indic
        ("۱۰۱۲۳۴۵۶۷۲", "1012345672"),  # Persian
        ("2123456788", "2123456788"),
    ],
)
def test_parse_accepts(typed, expected):
    assert parse(typed) == expected


@pytest.mark.parametrize(
    "typed",
    [
        "",
        None,
        "1012345673",  # wrong check digit
        "1012345627",  # two digits swapped
        "3012345670",  # neither citizen (1) nor resident (2)
        "0012345672",
        "101234567",  # nine digits
        "10123456720",  # eleven
        "101234567a",
        "1012345672.",
        "１０１２３４５６７２",  # full-width digits are not normalised
        "१०१२३४५६७२",  # nor Devanagari
    ],
)
def test_parse_refuses(typed):
    with pytest.raises(ValidationError) as caught:
        parse(typed)
    assert caught.value.field == "national_id"
    assert "national ID" in caught.value.message


def test_parse_names_the_field():
    with pytest.raises(ValidationError) as caught:
        parse("123", field="username")
    assert caught.value.field == "username"


def test_is_valid_needs_ascii_digits():
    assert is_valid(CITIZEN)
    assert not is_valid("١٠١٢٣٤٥٦٧٢")  # parse() normalises; is_valid() does not


def test_normalise_digits():
    assert normalise_digits(" ٠١٢-٣٤٥ ٦٧٨٩ ") == "0123456789"


def test_id_type():
    assert id_type(CITIZEN) == "citizen"
    assert id_type(RESIDENT) == "resident"
