"""Speed of the key ring: one signature per ID token issued, one verification per id_token_hint.
Run with `make bench`; there are no time limits here, only numbers to compare."""
import pytest

from idp.db import Database
from idp.keyring import KeyRing

ID_TOKEN_CLAIMS = {
    "iss": "https://sso.example.gov.sa", "sub": "b8c1e0f2-3a4d-4e5f-9a6b-7c8d9e0f1a2b", "aud": "rp-portal",
    "iat": 1_750_000_000, "exp": 1_750_000_300, "auth_time": 1_749_999_990, "nonce": "n-0S6_WzA2Mj",
    "acr": "urn:sa:nafath:loa:2", "amr": ["pwd", "otp"],
}


@pytest.fixture(scope="module")
def ring(tmp_path_factory):
    database = Database(f"sqlite:///{tmp_path_factory.mktemp('keys') / 'bench.sqlite3'}")
    database.upgrade()
    ring = KeyRing(database)
    ring.generate("RS256")
    ring.generate("ES256")
    return ring


@pytest.mark.bench
@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_sign(benchmark, ring, alg):
    token = benchmark(ring.sign, ID_TOKEN_CLAIMS, alg)
    assert ring.verify(token) == ID_TOKEN_CLAIMS


@pytest.mark.bench
@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_verify(benchmark, ring, alg):
    token = ring.sign(ID_TOKEN_CLAIMS, alg)
    assert benchmark(ring.verify, token) == ID_TOKEN_CLAIMS
