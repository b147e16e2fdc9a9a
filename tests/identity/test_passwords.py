import pytest
from argon2 import PasswordHasher

from idp.errors import ValidationError
from idp.identity import passwords
from idp.identity.passwords import (
    check_password_policy,
    hash_password,
    needs_rehash,
    verify_dummy,
    verify_password,
)

STRONG_12 = "zjX8 pmQ2 vv"
TOO_SHORT = "Use at least 12 characters."
TOO_LONG = "Use at most 128 characters."
COMMON = "This password is on a list of common or leaked passwords. Choose another."
HAS_ID = "The password must not contain your national ID number."
HAS_USERNAME = "The password must not contain your username."
GUESSABLE = "This password is too easy to guess. Try a few unrelated words."
NATIONAL_ID = "1012345672"
LONG_128 = ("orange quartz lantern whisper " * 5)[:128]


# --- hashing ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def stored():
    return hash_password("correct horse battery staple")


def test_hash_is_argon2id_with_owasp_parameters(stored):
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert hash_password("correct horse battery staple") != stored  # salted


def test_verify(stored):
    assert verify_password(stored, "correct horse battery staple") is True
    assert verify_password(stored, "correct horse battery stapl") is False
    assert verify_password(stored, "Correct horse battery staple") is False


@pytest.mark.parametrize(
    "bad_hash",
    [
        None,
        "",
        "garbage",
        "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",  # bcrypt
        "$argon2id$v=19$m=19456,t=2,p=1$AAAA$BBBB",  # parses, but the output is too short
        "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$",
    ],
)
def test_malformed_hash_does_not_verify(bad_hash):
    assert verify_password(bad_hash, "correct horse battery staple") is False


@pytest.mark.parametrize(
    ("typed", "stored_as"),
    [
        ("ｐａｓｓｗｏｒｄ ｏｎｅ", "password one"),  # full-width forms
        ("password one", "ｐａｓｓｗｏｒｄ ｏｎｅ"),
        ("ﬁnal ﬂight", "final flight"),  # ligatures
        ("café", "cafe\u0301"),  # precomposed é, and e + combining acute
        ("\ufee3\ufed4\ufe8e\ufe97\ufef4\ufea2 three", "مفاتيح three"),  # Arabic presentation forms
    ],
)
def test_nfkc_equivalent_passwords_verify(typed, stored_as):
    assert verify_password(hash_password(stored_as), typed)


def test_needs_rehash(stored):
    weaker = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("x" * 12)
    assert needs_rehash(weaker) is True
    assert needs_rehash(stored) is False
    assert needs_rehash("garbage") is True


def test_verify_dummy_costs_one_real_verification():
    assert verify_dummy("anything at all") is None
    # The same parameters as every stored hash, so the time spent is the same.
    assert not needs_rehash(passwords._DUMMY_HASH)


# --- policy -------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "password",
    [
        STRONG_12,
        "correct horse battery staple",
        "كلمة سر طويلة جدا للاختبار",  # Arabic passphrase
        "Tea at 5 with Noura 🍵 in Abha",
        "ذهبنا إلى جدة في ١٤٤٥",
        LONG_128,
    ],
)
def test_accepted(password):
    check_password_policy(
        password, username="ali.alharbi", national_id=NATIONAL_ID, email="ali@example.com"
    )


@pytest.mark.parametrize(
    ("password", "context", "message"),
    [
        ("", {}, TOO_SHORT),
        ("zjX8 pmQ2 v", {}, TOO_SHORT),  # 11
        ("ｚｊＸ８ ｐｍＱ２ ｖ", {}, TOO_SHORT),  # 11 code points after NFKC
        (LONG_128 + "x", {}, TOO_LONG),
        ("password123456", {}, COMMON),  # "password" with digits after it
        ("1qaz2wsx3edc", {}, COMMON),
        ("QWERTYUIOP123", {}, COMMON),  # case does not help
        ("leavemealone!!", {}, COMMON),
        ("Sonyericsson2024!", {}, COMMON),
        ("my id 1012345672 ok!", {"national_id": NATIONAL_ID}, HAS_ID),
        ("my id ١٠١٢٣٤٥٦٧٢ ok!", {"national_id": NATIONAL_ID}, HAS_ID),  # Arabic-Indic
        ("my id 1012 345 672 ok!", {"national_id": NATIONAL_ID}, HAS_ID),
        ("Ali.Alharbi rules Najd", {"username": "ali.alharbi"}, HAS_USERNAME),
        ("aaaaaaaaaaaaaaa", {}, GUESSABLE),
        ("abcdefghijklmnop", {}, GUESSABLE),
        ("mohammedalqahtani", {"names": ("Mohammed", "Alqahtani")}, GUESSABLE),
        ("faisalotaibi2024", {"email": "faisalotaibi@example.com"}, GUESSABLE),
        ("محمد القحطاني ١٤١٠", {"names": ("محمد القحطاني", None)}, GUESSABLE),  # words of a name
        ("k4ramel.saad", {"username": "k4ramel.saad"}, HAS_USERNAME),
    ],
)
def test_refused(password, context, message):
    with pytest.raises(ValidationError) as caught:
        check_password_policy(password, **context)
    assert caught.value.message == message
    assert caught.value.field == "password"


def test_length_bounds_exactly():
    assert len(LONG_128) == 128 and len(STRONG_12) == 12
    check_password_policy(LONG_128)
    check_password_policy(STRONG_12)
    with pytest.raises(ValidationError, match="at most 128"):
        check_password_policy(LONG_128 + "x")


@pytest.mark.parametrize(
    ("password", "context"),
    [
        ("mohammedalqahtani", {}),  # it is the names that make it guessable
        ("faisalotaibi2024", {}),
        ("محمد القحطاني ١٤١٠", {}),
        ("zz top sings the blues", {"username": "zz"}),  # usernames under 3 are not looked for
    ],
)
def test_context_is_what_refuses(password, context):
    check_password_policy(password, **context)


def test_only_the_first_64_characters_are_scored():
    # zxcvbn refuses input over 72 characters and is slow long before that.
    check_password_policy(STRONG_12 + "a" * 116)
    with pytest.raises(ValidationError, match="too easy"):
        check_password_policy("a" * 64 + STRONG_12)


def test_missing_details_are_skipped():
    check_password_policy(STRONG_12, username=None, national_id=None, email=None, names=(None,))
