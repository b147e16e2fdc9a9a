import pytest

from idp.errors import ValidationError
from idp.identity.contact import normalise_email, normalise_mobile, normalise_username

# --- mobile -------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "typed",
    [
        "0551234567",
        "551234567",
        "966551234567",
        "+966551234567",
        "00966551234567",
        "055 123 4567",
        "055-123-4567",
        "+966 55 123 4567",
        " 0551234567 ",
        "٠٥٥١٢٣٤٥٦٧",  # Arabic-Indic
        "۰۵۵۱۲۳۴۵۶۷",  # Persian
        "+٩٦٦ ٥٥ ١٢٣ ٤٥٦٧",
    ],
)
def test_mobile_accepted(typed):
    assert normalise_mobile(typed) == "+966551234567"


@pytest.mark.parametrize(
    "typed",
    [
        "",
        None,
        "0111234567",  # a Riyadh landline
        "05512345678",  # one digit too many
        "055123456",  # one too few
        "+9660551234567",  # trunk 0 kept after the country code
        "+971501234567",  # UAE
        "0966551234567",
        "+05512345678",
        "055123456a",
        "055.123.4567",
        "5" * 100,
    ],
)
def test_mobile_refused(typed):
    with pytest.raises(ValidationError) as caught:
        normalise_mobile(typed)
    assert caught.value.message == "Enter a Saudi mobile number, e.g. 05XXXXXXXX."
    assert caught.value.field == "mobile"


def test_mobile_field_is_named():
    with pytest.raises(ValidationError) as caught:
        normalise_mobile("123", field="phone")
    assert caught.value.field == "phone"


# --- email --------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("ali@example.com", "ali@example.com"),
        ("  Ali.AlHarbi@Example.COM ", "Ali.AlHarbi@example.com"),  # local part kept as typed
        ("first+tag@mail.example.sa", "first+tag@mail.example.sa"),
        ("nora@Bücher.Example", "nora@bücher.example"),  # IDN
        ("مستخدم@example.sa", "مستخدم@example.sa"),  # internationalised local part
        ("x@a-b.co", "x@a-b.co"),
        ("a" * 64 + "@example.com", "a" * 64 + "@example.com"),
    ],
)
def test_email_accepted(typed, expected):
    assert normalise_email(typed) == expected


FORMAT = "Enter an email address like name@example.com."
EMAIL_TOO_LONG = "This email address is too long."


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("", FORMAT),
        (None, FORMAT),
        ("ali", FORMAT),
        ("ali@", FORMAT),
        ("@example.com", FORMAT),
        ("ali@localhost", FORMAT),  # no dot
        ("ali@@example.com", FORMAT),
        ("ali@x@example.com", FORMAT),
        ("ali al@example.com", FORMAT),
        ("ali@exa mple.com", FORMAT),
        ("ali\t@example.com", FORMAT),
        ("ali\x00@example.com", FORMAT),
        ("ali\u200b@example.com", FORMAT),  # zero-width space
        ("ali@example\u202e.com", FORMAT),  # right-to-left override
        ("ali@example..com", FORMAT),
        ("ali@.example.com", FORMAT),
        ("ali@example.com.", FORMAT),
        ("ali@-example.com", FORMAT),
        ("ali@exa_mple.com", FORMAT),
        ("ali@exa!mple.com", FORMAT),
        ("ali@" + "a" * 64 + ".com", FORMAT),  # DNS label over 63
        ("a" * 65 + "@example.com", EMAIL_TOO_LONG),
        ("ali@" + ".".join(["a" * 62] * 4) + ".com", EMAIL_TOO_LONG),  # 259 characters
    ],
)
def test_email_refused(typed, message):
    with pytest.raises(ValidationError) as caught:
        normalise_email(typed)
    assert caught.value.message == message
    assert caught.value.field == "email"


# --- username -----------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("ali.alharbi", "ali.alharbi"),
        ("Ali_AlHarbi-1990", "ali_alharbi-1990"),
        ("  Noura  ", "noura"),
        ("ａｌｉ９９", "ali99"),  # full-width
        ("abcd", "abcd"),
        ("a" * 32, "a" * 32),
        ("a.b.c.d", "a.b.c.d"),
        ("admins", "admins"),
    ],
)
def test_username_accepted(typed, expected):
    assert normalise_username(typed) == expected


LENGTH = "A username has 4 to 32 characters."
CHARS = "Use only English letters, digits, dots, hyphens and underscores."
LETTER_FIRST = "Start the username with a letter."
DOTS = "A username cannot have two dots in a row."
RESERVED = "This username is reserved. Choose another."


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("", LENGTH),
        (None, LENGTH),
        ("ali", LENGTH),
        ("a" * 33, LENGTH),
        ("a" * 1000, LENGTH),
        ("علي_الحربي", CHARS),
        ("ali alharbi", CHARS),
        ("ali@harbi", CHARS),
        ("ali+1", CHARS),
        ("alí.harbi", CHARS),
        ("1012345672", LETTER_FIRST),  # could be taken for a national ID
        ("١٠١٢٣٤٥٦٧٢", CHARS),
        ("_ali", LETTER_FIRST),
        (".ali", LETTER_FIRST),
        ("9lives", LETTER_FIRST),
        ("ali..harbi", DOTS),
        ("admin", RESERVED),
        ("Administrator", RESERVED),
        ("ROOT", RESERVED),
        ("nafath", RESERVED),
        ("support", RESERVED),
        ("ｓｙｓｔｅｍ", RESERVED),
        ("test", RESERVED),
    ],
)
def test_username_refused(typed, message):
    with pytest.raises(ValidationError) as caught:
        normalise_username(typed)
    assert caught.value.message == message
    assert caught.value.field == "username"
