"""The key ring: key lifecycle (publish, sign, retire), JWKS (RFC 7517 §5), files on disk, several processes."""
import json
import os
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from joserfc import jws, jwt
from joserfc.jwk import ECKey, RSAKey

from idp.errors import Conflict
from idp.keyring import (DEFAULT_RETENTION_SECONDS, InvalidToken, KeyRing, KeyRingError,
                         passphrase_from_environment, saml_certificate)

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
def ring(tmp_path, clock):
    return KeyRing(tmp_path / "keys", clock=clock)


def header(token: str) -> dict:
    """The protected header, unverified (RFC 7515 §7.1)."""
    return jws.extract_compact(token.encode()).headers()


def kids(ring) -> list:
    return [k["kid"] for k in ring.jwks()["keys"]]


def one_line(error) -> str:
    message = error.value.message
    assert "\n" not in message
    return message


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


def test_retention_is_the_constructors(tmp_path, clock):
    ring = KeyRing(tmp_path, clock=clock, retention_seconds=600)
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

def test_verify_refuses_other_signers_and_broken_tokens(ring, tmp_path):
    ring.generate("ES256")
    token = ring.sign(CLAIMS, alg="ES256")
    stranger = KeyRing(tmp_path / "elsewhere")
    stranger.generate("ES256")
    head, payload, signature = token.split(".")
    forged_payload = jwt.encode({"alg": "ES256"}, {**CLAIMS, "sub": "someone-else"},
                                ECKey.generate_key("P-256")).split(".")[1]
    cases = {
        "unknown or expired key": stranger.sign(CLAIMS, alg="ES256"),
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


# --- files -----------------------------------------------------------------------------------

def test_private_files_are_0600_whatever_the_umask(ring):
    previous = os.umask(0)
    try:
        ring.generate("ES256")
        ring.generate("ES256")
        ring.rotate("ES256")
    finally:
        os.umask(previous)
    files = [p for p in ring.directory.iterdir() if p.suffix in (".pem", ".json")]
    assert len(files) == 4
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert not [p for p in ring.directory.iterdir() if p.name.endswith(".tmp")]
    metadata = json.loads(ring.metadata_path.read_text())
    assert sorted(metadata[0]) == ["activated_at", "alg", "created_at", "kid", "retired_at", "state"]


def test_passphrase_encrypts_keys(tmp_path, clock):
    ring = KeyRing(tmp_path, passphrase=b"correct horse", clock=clock)
    kid = ring.generate("ES256")["kid"]
    assert b"ENCRYPTED PRIVATE KEY" in (tmp_path / f"{kid}.pem").read_bytes()
    token = KeyRing(tmp_path, passphrase=b"correct horse").sign(CLAIMS, alg="ES256")
    assert ring.verify(token) == CLAIMS


@pytest.mark.parametrize("passphrase,expected", [
    (b"wrong horse", "wrong IDP_KEYS_PASSPHRASE"),
    (None, "encrypted; set IDP_KEYS_PASSPHRASE"),
])
def test_wrong_or_missing_passphrase_is_one_line_naming_the_file(tmp_path, passphrase, expected):
    kid = KeyRing(tmp_path, passphrase=b"correct horse").generate("ES256")["kid"]
    with pytest.raises(KeyRingError) as e:
        KeyRing(tmp_path, passphrase=passphrase).sign(CLAIMS, alg="ES256")
    assert str(tmp_path / f"{kid}.pem") in one_line(e) and expected in e.value.message


def test_passphrase_set_for_an_unencrypted_key(tmp_path):
    KeyRing(tmp_path).generate("ES256")
    with pytest.raises(KeyRingError, match="not encrypted, but IDP_KEYS_PASSPHRASE is set"):
        KeyRing(tmp_path, passphrase=b"p").jwks()


def test_passphrase_from_environment():
    assert passphrase_from_environment({}) is None
    assert passphrase_from_environment({"IDP_KEYS_PASSPHRASE": ""}) is None
    assert passphrase_from_environment({"IDP_KEYS_PASSPHRASE": "كلمة"}) == "كلمة".encode()


@pytest.mark.parametrize("content,expected", [
    ("{not json", "corrupted"),
    ('{"keys": []}', "expected a list"),
    ('[{"kid": "../../etc/passwd", "alg": "ES256", "state": "active", "created_at": 1}]', "bad kid"),
    ('[{"kid": "AAAAAAAAAAAAAAAAAAAA", "alg": "HS256", "state": "active", "created_at": 1}]', "bad alg"),
    ('[{"kid": "AAAAAAAAAAAAAAAAAAAA", "alg": "ES256", "state": "retired", "created_at": 1}]', "timestamps"),
])
def test_corrupted_metadata_is_one_line_naming_the_file(ring, content, expected):
    ring.directory.mkdir()
    ring.metadata_path.write_text(content)
    with pytest.raises(KeyRingError) as e:
        ring.list()
    assert str(ring.metadata_path) in one_line(e) and expected in e.value.message


def test_damaged_or_missing_key_file_is_one_line_naming_the_file(ring, tmp_path):
    kid = ring.generate("ES256")["kid"]
    path = ring.directory / f"{kid}.pem"
    path.write_bytes(b"-----BEGIN PRIVATE KEY-----\nbroken\n-----END PRIVATE KEY-----\n")
    with pytest.raises(KeyRingError) as e:
        KeyRing(ring.directory).sign(CLAIMS, alg="ES256")
    assert str(path) in one_line(e) and "damaged" in e.value.message
    path.unlink()
    with pytest.raises(KeyRingError, match="cannot read"):
        KeyRing(ring.directory).jwks()


def test_a_key_file_swapped_for_another_key_is_refused(ring, tmp_path):
    first = ring.generate("ES256")["kid"]
    other = KeyRing(tmp_path / "other")
    other_kid = other.generate("ES256")["kid"]
    (ring.directory / f"{first}.pem").write_bytes((other.directory / f"{other_kid}.pem").read_bytes())
    with pytest.raises(KeyRingError, match=f"not the private key {first}"):
        KeyRing(ring.directory).sign(CLAIMS, alg="ES256")


# --- several processes -----------------------------------------------------------------------

def bump_mtime(path):
    """Make the change visible even where mtimes are whole seconds."""
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))


def test_another_instance_sees_a_rotation(tmp_path):
    cli_ring, web_ring = KeyRing(tmp_path), KeyRing(tmp_path)
    first = cli_ring.generate("ES256")["kid"]
    assert web_ring.signing_key("ES256")[0] == first
    waiting = cli_ring.generate("ES256")["kid"]
    bump_mtime(cli_ring.metadata_path)
    assert waiting in kids(web_ring)
    cli_ring.rotate("ES256")
    bump_mtime(cli_ring.metadata_path)
    assert web_ring.signing_key("ES256")[0] == waiting
    assert header(web_ring.sign(CLAIMS, alg="ES256"))["kid"] == waiting


def test_loaded_keys_are_cached(tmp_path):
    ring = KeyRing(tmp_path)
    kid = ring.generate("ES256")["kid"]
    ring.sign(CLAIMS, alg="ES256")
    (tmp_path / f"{kid}.pem").unlink()  # a process that loaded the key no longer reads the file
    assert header(ring.sign(CLAIMS, alg="ES256"))["kid"] == kid


# --- SAML certificate ------------------------------------------------------------------------

def test_saml_certificate_made_once(tmp_path, clock):
    made = saml_certificate(tmp_path, "sso.example.gov.sa", b"secret", clock=clock)
    assert made["created"] and made["subject"] == "CN=sso.example.gov.sa"
    key_path, cert_path = tmp_path / "saml-signing.key", tmp_path / "saml-signing.crt"
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert b"ENCRYPTED PRIVATE KEY" in key_path.read_bytes()
    certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
    assert certificate.public_key().key_size == 3072
    assert isinstance(certificate.signature_hash_algorithm, hashes.SHA256)
    assert (certificate.not_valid_after_utc - certificate.not_valid_before_utc).days == 3 * 365
    fingerprint = certificate.fingerprint(hashes.SHA256()).hex(":").upper()
    assert made["sha256_fingerprint"] == fingerprint
    again = saml_certificate(tmp_path, "sso.example.gov.sa", b"secret", clock=clock)
    assert not again["created"] and again["sha256_fingerprint"] == fingerprint
    replaced = saml_certificate(tmp_path, "sso.example.gov.sa", b"secret", force=True, clock=clock)
    assert replaced["created"] and replaced["sha256_fingerprint"] != fingerprint


def test_saml_half_a_pair_is_refused(tmp_path):
    saml_certificate(tmp_path, "sso.example.gov.sa")
    (tmp_path / "saml-signing.crt").unlink()
    with pytest.raises(KeyRingError, match="without its pair; use --force"):
        saml_certificate(tmp_path, "sso.example.gov.sa")
