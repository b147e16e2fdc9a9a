"""The key ring: key lifecycle (publish, sign, retire), JWKS (RFC 7517 §5), keys in the database
(SQLite, or PostgreSQL with IDP_TEST_DATABASE_URL), several instances, the SAML certificate."""
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from joserfc import jws, jwt
from joserfc.jwk import ECKey, RSAKey
from sqlalchemy import select, update

from idp.errors import Conflict
from idp.keyring import DEFAULT_RETENTION_SECONDS, InvalidToken, KeyRing, KeyRingError, passphrase_from_environment
from idp.models import SigningKey

CLAIMS = {"iss": "https://sso.example.gov.sa", "sub": "1000010018", "aud": "rp", "nonce": "n-0S6_WzA2Mj"}


class Clock:
    """The ring's notion of now, moved by the test."""

    def __init__(self, now=1_750_000_000):
        self.now = now

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def database(migrated_database):
    """The test database, with no signing keys before or after the test."""
    def clear():
        with migrated_database.engine.begin() as connection:
            connection.execute(SigningKey.__table__.delete())
    clear()
    yield migrated_database
    clear()


@pytest.fixture
def ring(database, clock):
    return KeyRing(database, clock=clock)


def header(token: str) -> dict:
    """The protected header, unverified (RFC 7515 §7.1)."""
    return jws.extract_compact(token.encode()).headers()


def kids(ring) -> list:
    return [k["kid"] for k in ring.jwks()["keys"]]


def one_line(error) -> str:
    message = error.value.message
    assert "\n" not in message
    return message


def stored(database, kid) -> SigningKey:
    with database.session() as session:
        return session.get(SigningKey, kid)


# --- lifecycle -------------------------------------------------------------------------------

def test_first_key_signs_and_a_second_is_published_before_it_signs(ring):
    first = ring.generate("ES256")
    assert first["state"] == "active" and first["published"]
    second = ring.generate("ES256")
    assert second["state"] == "next" and second["activated_at"] is None
    assert set(kids(ring)) == {first["kid"], second["kid"]}
    token = ring.sign(CLAIMS, alg="ES256")
    assert header(token)["kid"] == first["kid"]
    assert ring.signing_key("ES256")[0] == first["kid"]


def test_a_second_next_key_is_refused(ring):
    ring.generate("ES256")
    waiting = ring.generate("ES256")
    with pytest.raises(Conflict) as e:
        ring.generate("ES256")
    assert waiting["kid"] in one_line(e) and "idp keys rotate --alg ES256" in e.value.message


def test_rotate_needs_a_published_next_key(ring):
    ring.generate("ES256")
    with pytest.raises(KeyRingError) as e:
        ring.rotate("ES256")
    assert "idp keys generate --alg ES256" in one_line(e) and "JWKS" in e.value.message


def test_rotate_promotes_next_retires_active_and_publishes_a_fresh_next(ring, clock):
    old = ring.generate("ES256")
    waiting = ring.generate("ES256")
    before = ring.sign(CLAIMS, alg="ES256")
    clock.now += 3600
    result = ring.rotate("ES256")
    assert result["active"]["kid"] == waiting["kid"] and result["active"]["activated_at"] == clock.now
    assert result["retired"]["kid"] == old["kid"] and result["retired"]["retired_at"] == clock.now
    fresh = result["next"]
    assert fresh["state"] == "next" and fresh["kid"] not in (old["kid"], waiting["kid"])
    assert header(ring.sign(CLAIMS, alg="ES256"))["kid"] == waiting["kid"]
    assert ring.verify(before) == CLAIMS
    assert set(kids(ring)) == {old["kid"], waiting["kid"], fresh["kid"]}
    states = {e["kid"]: e["state"] for e in ring.list()}
    assert states == {old["kid"]: "retired", waiting["kid"]: "active", fresh["kid"]: "next"}
    assert ring.rotate("ES256")["active"]["kid"] == fresh["kid"]  # later rotations need no generate


def test_retired_key_verifies_until_retention_ends_then_leaves_the_jwks(ring, clock):
    old = ring.generate("ES256")
    ring.generate("ES256")
    token = ring.sign(CLAIMS, alg="ES256")
    ring.rotate("ES256")
    clock.now += DEFAULT_RETENTION_SECONDS - 1
    assert ring.verify(token) == CLAIMS and old["kid"] in kids(ring)
    clock.now += 1
    assert old["kid"] not in kids(ring)
    assert {e["kid"]: e["published"] for e in ring.list()}[old["kid"]] is False
    with pytest.raises(InvalidToken, match="unknown or expired key"):
        ring.verify(token)


def test_retention_is_the_constructors(database, clock):
    ring = KeyRing(database, clock=clock, retention_seconds=600)
    old = ring.generate("ES256")
    ring.generate("ES256")
    ring.rotate("ES256")
    clock.now += 600
    assert old["kid"] not in kids(ring)


def test_rs256_and_es256_sign_side_by_side(ring):
    rsa_key, ec_key = ring.generate("RS256"), ring.generate("ES256")
    assert rsa_key["state"] == ec_key["state"] == "active"
    rs, es = ring.sign(CLAIMS), ring.sign(CLAIMS, alg="ES256")
    assert (header(rs)["alg"], header(rs)["kid"]) == ("RS256", rsa_key["kid"])
    assert (header(es)["alg"], header(es)["kid"]) == ("ES256", ec_key["kid"])
    assert ring.verify(rs) == ring.verify(es) == CLAIMS
    jwks = {k["kid"]: k for k in ring.jwks()["keys"]}
    assert jwks[rsa_key["kid"]]["kty"] == "RSA" and jwks[ec_key["kid"]]["crv"] == "P-256"
    assert RSAKey.import_key(jwks[rsa_key["kid"]]).public_key.key_size == 3072


def test_typ_header(ring):
    ring.generate("ES256")
    assert header(ring.sign(CLAIMS, alg="ES256", typ="logout+jwt"))["typ"] == "logout+jwt"
    assert header(ring.sign(CLAIMS, alg="ES256"))["typ"] == "JWT"


def test_no_key_yet_says_what_to_run(ring):
    with pytest.raises(KeyRingError) as e:
        ring.sign(CLAIMS)
    assert "idp keys generate --alg RS256" in one_line(e)
    assert ring.jwks() == {"keys": []} and ring.list() == []


@pytest.mark.parametrize("alg", ["HS256", "none", "PS256"])
def test_unsupported_algorithm(ring, alg):
    with pytest.raises(KeyRingError, match="unsupported"):
        ring.generate(alg)


# --- JWKS ------------------------------------------------------------------------------------

def test_jwks_has_public_parts_only_and_kid_is_the_thumbprint(ring):
    ring.generate("RS256")
    ring.generate("ES256")
    ring.generate("ES256")
    for key in ring.jwks()["keys"]:
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)
        assert key["use"] == "sig" and key["alg"] in ("RS256", "ES256")
        imported = (RSAKey if key["kty"] == "RSA" else ECKey).import_key(key)
        assert not imported.is_private and imported.thumbprint() == key["kid"]


def test_jwks_lists_active_before_next(ring):
    active = ring.generate("ES256")
    waiting = ring.generate("ES256")
    assert kids(ring) == [active["kid"], waiting["kid"]]


# --- verify ----------------------------------------------------------------------------------

def test_verify_refuses_other_signers_and_broken_tokens(ring):
    ring.generate("ES256")
    token = ring.sign(CLAIMS, alg="ES256")
    stranger = ECKey.generate_key("P-256", {"kid": "a-key-of-another-provider"})
    head, payload, signature = token.split(".")
    forged_payload = jwt.encode({"alg": "ES256"}, {**CLAIMS, "sub": "someone-else"},
                                ECKey.generate_key("P-256")).split(".")[1]
    cases = {
        "unknown or expired key": jwt.encode({"alg": "ES256", "kid": stranger.kid}, CLAIMS, stranger),
        "signature is not valid": f"{head}.{forged_payload}.{signature}",
        "malformed": "not-a-token",
        "algorithm": "eyJhbGciOiJub25lIn0." + payload + ".",
    }
    for expected, bad in cases.items():
        with pytest.raises(InvalidToken, match=expected):
            ring.verify(bad)


def test_verify_refuses_a_token_whose_alg_differs_from_its_key(ring):
    ring.generate("ES256")
    ring.generate("RS256")
    es_kid = ring.signing_key("ES256")[0]
    _, rsa_key = ring.signing_key("RS256")
    rsa_signed = jwt.encode({"alg": "RS256", "kid": es_kid}, CLAIMS, RSAKey.import_key(
        rsa_key.as_dict(private=True, kid=es_kid)))
    with pytest.raises(InvalidToken):
        ring.verify(rsa_signed)


# --- keys in the database --------------------------------------------------------------------

def test_stored_row_holds_the_public_jwk_and_the_private_key(ring, database):
    kid = ring.generate("ES256")["kid"]
    row = stored(database, kid)
    assert row.purpose == "oidc" and row.alg == "ES256" and row.state == "active"
    assert row.public_jwk == ring.jwks()["keys"][0] and "d" not in row.public_jwk
    assert row.private_pem.startswith("-----BEGIN PRIVATE KEY-----")


def test_passphrase_encrypts_keys(database, clock):
    ring = KeyRing(database, passphrase=b"correct horse", clock=clock)
    kid = ring.generate("ES256")["kid"]
    assert stored(database, kid).private_pem.startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    token = KeyRing(database, passphrase=b"correct horse").sign(CLAIMS, alg="ES256")
    assert ring.verify(token) == CLAIMS


@pytest.mark.parametrize("passphrase,expected", [
    (b"wrong horse", "wrong IDP_KEYS_PASSPHRASE"),
    (None, "encrypted; set IDP_KEYS_PASSPHRASE"),
])
def test_wrong_or_missing_passphrase_is_one_line_naming_the_key(database, passphrase, expected):
    kid = KeyRing(database, passphrase=b"correct horse").generate("ES256")["kid"]
    other = KeyRing(database, passphrase=passphrase)
    with pytest.raises(KeyRingError) as e:
        other.sign(CLAIMS, alg="ES256")
    assert kid in one_line(e) and expected in e.value.message
    assert kids(other) == [kid]  # publishing needs only the public part


def test_passphrase_set_for_an_unencrypted_key(database):
    KeyRing(database).generate("ES256")
    with pytest.raises(KeyRingError, match="not encrypted, but IDP_KEYS_PASSPHRASE is set"):
        KeyRing(database, passphrase=b"p").sign(CLAIMS, alg="ES256")


def test_passphrase_from_environment():
    assert passphrase_from_environment({}) is None
    assert passphrase_from_environment({"IDP_KEYS_PASSPHRASE": ""}) is None
    assert passphrase_from_environment({"IDP_KEYS_PASSPHRASE": "كلمة"}) == "كلمة".encode()


def test_a_damaged_or_swapped_private_key_is_one_line_naming_the_key(ring, database):
    kid = ring.generate("ES256")["kid"]
    with database.engine.begin() as connection:
        connection.execute(update(SigningKey).where(SigningKey.kid == kid).values(
            private_pem="-----BEGIN PRIVATE KEY-----\nbroken\n-----END PRIVATE KEY-----\n"))
    with pytest.raises(KeyRingError) as e:
        KeyRing(database).sign(CLAIMS, alg="ES256")
    assert kid in one_line(e) and "damaged" in e.value.message
    other = ECKey.generate_key("P-256").as_pem(private=True).decode()
    with database.engine.begin() as connection:
        connection.execute(update(SigningKey).where(SigningKey.kid == kid).values(private_pem=other))
    with pytest.raises(KeyRingError, match=f"signing key {kid}: the stored private key is another key"):
        KeyRing(database).sign(CLAIMS, alg="ES256")


def test_rotate_never_promotes_a_key_that_cannot_be_loaded(database):
    KeyRing(database, passphrase=b"right").generate("ES256")
    waiting = KeyRing(database, passphrase=b"right").generate("ES256")["kid"]
    with pytest.raises(KeyRingError, match="wrong IDP_KEYS_PASSPHRASE"):
        KeyRing(database, passphrase=b"wrong").rotate("ES256")
    assert stored(database, waiting).state == "next"


def test_concurrent_generations_never_make_two_active_keys(database):
    """Several instances generating at once: the advisory lock (PostgreSQL) or the unique index
    decide; each either succeeds or is told to run again."""
    outcomes = []

    def generate():
        try:
            outcomes.append(KeyRing(database).generate("ES256")["state"])
        except Conflict as e:
            outcomes.append(e.message)

    threads = [threading.Thread(target=generate) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with database.session() as session:
        states = session.scalars(select(SigningKey.state).where(SigningKey.alg == "ES256")).all()
    assert states.count("active") == 1 and states.count("next") <= 1 and len(states) == len(set(states))
    assert len(outcomes) == 4 and outcomes.count("active") == 1
    assert all(o in ("active", "next") or "already published" in o or "run the command again" in o
               for o in outcomes), outcomes


# --- several instances -----------------------------------------------------------------------

def test_another_instance_sees_a_rotation_within_its_refresh_interval(database):
    cli_clock, web_clock = Clock(), Clock()
    cli_ring = KeyRing(database, clock=cli_clock)
    web_ring = KeyRing(database, clock=web_clock, refresh_seconds=5)
    first = cli_ring.generate("ES256")["kid"]
    assert web_ring.signing_key("ES256")[0] == first
    waiting = cli_ring.generate("ES256")["kid"]
    assert waiting not in kids(web_ring)  # checked less than refresh_seconds ago: not asked again
    web_clock.now += 5
    assert waiting in kids(web_ring)
    cli_ring.rotate("ES256")
    web_clock.now += 4
    assert web_ring.signing_key("ES256")[0] == first
    web_clock.now += 1
    assert web_ring.signing_key("ES256")[0] == waiting
    assert header(web_ring.sign(CLAIMS, alg="ES256"))["kid"] == waiting


def test_an_unchanged_table_is_not_read_again(database):
    ring = KeyRing(database, refresh_seconds=0)
    ring.generate("ES256")
    entries = ring._current()
    assert ring._current() is entries  # the version query said nothing changed


def test_loaded_keys_are_cached(ring, database):
    kid = ring.generate("ES256")["kid"]
    ring.sign(CLAIMS, alg="ES256")
    with database.engine.begin() as connection:  # a process that loaded the key does not decrypt it again
        connection.execute(update(SigningKey).where(SigningKey.kid == kid).values(private_pem="gone"))
    assert header(ring.sign(CLAIMS, alg="ES256"))["kid"] == kid


# --- SAML certificate ------------------------------------------------------------------------

def test_saml_certificate_made_once_and_replaced_with_force(database, clock):
    ring = KeyRing(database, passphrase=b"secret", clock=clock)
    assert ring.saml_signing() is None
    made = ring.generate_saml("sso.example.gov.sa")
    assert made["created"] and made["subject"] == "CN=sso.example.gov.sa"
    row = stored(database, made["kid"])
    assert row.purpose == "saml" and row.private_pem.startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    certificate = x509.load_pem_x509_certificate(row.certificate.encode())
    assert certificate.public_key().key_size == 3072
    assert isinstance(certificate.signature_hash_algorithm, hashes.SHA256)
    assert (certificate.not_valid_after_utc - certificate.not_valid_before_utc).days == 3 * 365
    fingerprint = certificate.fingerprint(hashes.SHA256()).hex(":").upper()
    assert made["sha256_fingerprint"] == fingerprint
    signing = KeyRing(database, passphrase=b"secret").saml_signing()
    private = serialization.load_pem_private_key(signing["key_pem"], None)  # decrypted for xmlsec1
    assert private.public_key().public_numbers() == certificate.public_key().public_numbers()
    again = ring.generate_saml("sso.example.gov.sa")
    assert not again["created"] and again["sha256_fingerprint"] == fingerprint
    replaced = ring.generate_saml("sso.example.gov.sa", force=True)
    assert replaced["created"] and replaced["sha256_fingerprint"] != fingerprint
    assert stored(database, made["kid"]).state == "retired"
    assert ring.saml_signing()["kid"] == replaced["kid"]
    assert kids(ring) == [] and ring.list() == []  # SAML keys are not ID token keys


def test_a_database_blip_keeps_the_known_keys_in_use(ring, clock):
    from idp.db import Database

    kid = ring.generate("ES256")["kid"]
    ring.sign(CLAIMS, alg="ES256")
    working, ring.database = ring.database, Database("postgresql+psycopg://postgres@127.0.0.1:1/none")
    clock.now += 60  # past the refresh interval: the ring asks, the database does not answer
    try:
        assert header(ring.sign(CLAIMS, alg="ES256"))["kid"] == kid and kids(ring) == [kid]
    finally:
        ring.database.dispose()
        ring.database = working
