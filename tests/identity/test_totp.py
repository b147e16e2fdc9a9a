import base64
import math
import re
import xml.etree.ElementTree as ET
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from cryptography.fernet import Fernet, InvalidToken

from idp.identity import totp
from idp.identity.totp import (
    decrypt_secret,
    encrypt_secret,
    generate_recovery_codes,
    hash_recovery_code,
    new_secret,
    normalise_recovery_code,
    provisioning_uri,
    qr_svg,
    recovery_code_matches,
    verify_totp,
)
from hashlib import sha256

from sqlalchemy import select

from idp.models import UsedMark, utcnow
from idp.oidc.token_families import aware
from idp.store.memory import MemoryStore

# RFC 6238 Appendix B: the SHA-1 seed "12345678901234567890"; the 6-digit code is the last
# six digits of the 8-digit value the RFC lists (HOTP truncation is modulo 10^digits).
RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()
RFC_VECTORS = [
    (59, "287082"),
    (1111111109, "081804"),
    (1111111111, "050471"),
    (1234567890, "005924"),
    (2000000000, "279037"),
    (20000000000, "353130"),
]
T = 1234567890  # step 41152263, 0 s into it: "005924"


@pytest.fixture
def store():
    return MemoryStore()


# --- secrets and enrolment ----------------------------------------------------------------

def test_new_secret_is_160_random_bits():
    secret = new_secret()
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    assert len(base64.b32decode(secret)) == 20
    assert len({new_secret() for _ in range(20)}) == 20


def test_provisioning_uri():
    uri = provisioning_uri(RFC_SECRET, "1012345672", "Nafath")
    parts = urlsplit(uri)
    query = parse_qs(parts.query)
    assert (parts.scheme, parts.netloc) == ("otpauth", "totp")
    assert unquote(parts.path) == "/Nafath:1012345672"
    assert query["secret"] == [RFC_SECRET]
    assert query["issuer"] == ["Nafath"]
    # Defaults left out of the URI, as apps assume them: SHA1, 6 digits, 30 s.
    assert not {"algorithm", "digits", "period"} & set(query)


def test_qr_svg_is_inline_svg():
    svg = qr_svg(provisioning_uri(new_secret(), "ali@example.com", "Nafath"))
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "<?xml" not in svg
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.find("{http://www.w3.org/2000/svg}path") is not None


def test_secret_encryption_round_trip():
    fernet = Fernet(Fernet.generate_key())
    secret = new_secret()
    token = encrypt_secret(fernet, secret)
    assert secret not in token
    assert encrypt_secret(fernet, secret) != token  # random IV
    assert decrypt_secret(fernet, token) == secret
    with pytest.raises(InvalidToken):
        decrypt_secret(Fernet(Fernet.generate_key()), token)


# --- verification (RFC 6238) --------------------------------------------------------------

@pytest.mark.parametrize(("now", "code"), RFC_VECTORS)
def test_rfc_6238_vectors(db, now, code):
    assert verify_totp(db, 1, RFC_SECRET, code, now=now)


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [
        (-31, False), (-30, True), (-1, True), (0, True),
        (29, True), (30, True), (59, True), (60, False),
    ],
)
def test_one_step_of_drift_either_side(db, offset, accepted):
    # "005924" belongs to the step starting at T: accepted from one step before to one after.
    assert verify_totp(db, 1, RFC_SECRET, "005924", now=T + offset) is accepted


@pytest.mark.parametrize(
    "typed",
    ["005 924", " 005924 ", "00-59-24", "٠٠٥٩٢٤", "۰۰۵۹۲۴"],
)
def test_typed_forms_accepted(db, typed):
    assert verify_totp(db, 1, RFC_SECRET, typed, now=T)


@pytest.mark.parametrize(
    "typed",
    ["", None, "5924", "0059244", "005925", "OO5924", "00592４", "+05924", "005924\n1"],
)
def test_wrong_codes_refused(db, typed):
    assert not verify_totp(db, 1, RFC_SECRET, typed, now=T)


def test_replay_refused(db):
    assert verify_totp(db, 7, RFC_SECRET, "005924", now=T)
    assert not verify_totp(db, 7, RFC_SECRET, "005924", now=T)
    assert not verify_totp(db, 7, RFC_SECRET, "005924", now=T + 45)  # still in the window


def test_replay_is_per_identity(db):
    assert verify_totp(db, 7, RFC_SECRET, "005924", now=T)
    assert verify_totp(db, 8, RFC_SECRET, "005924", now=T)


def test_next_step_after_a_used_one(db):
    assert verify_totp(db, 7, RFC_SECRET, "005924", now=T)
    next_code = totp._totp(RFC_SECRET).at(T + 30)
    assert verify_totp(db, 7, RFC_SECRET, next_code, now=T + 30)


def test_a_wrong_code_does_not_use_up_the_step(db):
    assert not verify_totp(db, 7, RFC_SECRET, "000000", now=T)
    assert verify_totp(db, 7, RFC_SECRET, "005924", now=T)


def test_used_step_is_kept_as_long_as_it_is_acceptable(db):
    # Used at the earliest moment (one step early), the code stays acceptable for 90 s more.
    assert verify_totp(db, 7, RFC_SECRET, "005924", now=T - 30)
    mark = db.scalar(select(UsedMark).where(UsedMark.key_hash == sha256(b"totp-used:7:41152263").hexdigest()))
    assert (aware(mark.expires_at) - utcnow()).total_seconds() >= 90


def test_a_used_step_is_in_the_database_not_the_store(services):
    """A Redis restart must not make a spent code spendable: the mark is committed to the database,
    and another session (another instance) sees it."""
    with services.db.session() as first:
        assert verify_totp(first, "someone", RFC_SECRET, "005924", now=T)
        first.commit()
    with services.db.session() as second:
        assert not verify_totp(second, "someone", RFC_SECRET, "005924", now=T)


def test_now_defaults_to_the_clock(db):
    current = totp._totp(RFC_SECRET).now()
    assert verify_totp(db, 1, RFC_SECRET, current)


# --- recovery codes -----------------------------------------------------------------------

def test_recovery_codes_shape():
    codes = generate_recovery_codes()
    assert len(codes) == 10
    assert len(set(codes)) == 10
    for code in codes:
        assert re.fullmatch(r"[A-HJKMNP-Z2-9]{4}-[A-HJKMNP-Z2-9]{4}-[A-HJKMNP-Z2-9]{4}", code)
        assert not set(code) & set("0O1IL")
    assert len(generate_recovery_codes(3)) == 3


def test_recovery_codes_carry_at_least_50_bits():
    alphabet = totp.RECOVERY_ALPHABET
    assert len(set(alphabet)) == len(alphabet) == 31
    assert totp.RECOVERY_LENGTH * math.log2(len(alphabet)) >= 50


@pytest.mark.parametrize(
    ("typed", "normalised"),
    [
        ("ABCD-EFGH-JKMN", "ABCDEFGHJKMN"),
        ("abcd efgh jkmn", "ABCDEFGHJKMN"),
        (" abcd-efgh-jkmn\n", "ABCDEFGHJKMN"),
        ("ＡＢＣＤ－ＥＦＧＨ－ＪＫＭＮ", "ABCDEFGHJKMN"),  # full-width
        ("", ""),
        (None, ""),
    ],
)
def test_normalise_recovery_code(typed, normalised):
    assert normalise_recovery_code(typed) == normalised


@pytest.fixture(scope="module")
def recovery():
    code = generate_recovery_codes(1)[0]
    return code, hash_recovery_code(code)


def test_recovery_code_hash_is_argon2id(recovery):
    code, stored = recovery
    assert stored.startswith("$argon2id$")
    assert code not in stored
    assert hash_recovery_code(code.lower().replace("-", " ")) != stored  # salted


def test_recovery_code_matches(recovery):
    code, stored = recovery
    assert recovery_code_matches(stored, code)
    assert recovery_code_matches(stored, code.lower())
    assert recovery_code_matches(stored, code.replace("-", ""))
    assert recovery_code_matches(stored, " ".join(code.split("-")))


@pytest.mark.parametrize(
    "typed", ["", "ABCD-EFGH-JKMN", "ABCD-EFGH-JK", "ABCD-EFGH-JKMN-P", "ABC0-EFGH-JKMN"]
)
def test_recovery_code_mismatch(recovery, typed):
    _, stored = recovery
    assert not recovery_code_matches(stored, typed)
