"""The relying-party registry (idp.oidc.clients): RFC 9700 registration rules, client secrets,
and the client metadata pyop reads."""
import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc.jwk import ECKey, OctKey, RSAKey

from idp.errors import NotFound, ValidationError
from idp.models import RelyingParty
from idp.oidc import clients

CALLBACK = "https://portal.example.gov.sa/oidc/callback"


@pytest.fixture
def session(migrated_database):
    """A session on the migrated database, without building the app."""
    with migrated_database.session() as session:
        yield session
        session.rollback()
    with migrated_database.engine.begin() as connection:
        connection.execute(RelyingParty.__table__.delete())


@pytest.fixture
def metadata(migrated_database):
    return clients.ClientMetadata(migrated_database.session)


def register(session, **kwargs):
    kwargs.setdefault("name", "Ministry portal")
    kwargs.setdefault("redirect_uris", [CALLBACK])
    rp, secret = clients.register_oidc(session, **kwargs)
    session.commit()
    return rp, secret


def public_jwks(*keys):
    return {"keys": [key.as_dict(private=False) for key in keys]}


def rsa_1024_jwk():
    numbers = rsa.generate_private_key(65537, 1024).public_key().public_numbers()

    def b64(n):
        return base64.urlsafe_b64encode(n.to_bytes((n.bit_length() + 7) // 8, "big")).rstrip(b"=").decode()
    return {"kty": "RSA", "n": b64(numbers.n), "e": b64(numbers.e)}


# --- client_id and client secret ---------------------------------------------------------

def test_confidential_client_gets_a_secret_shown_once_and_stored_as_sha256(session):
    rp, secret = register(session)
    assert len(secret) >= 43 and rp.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(clients.describe(rp)) and "secret_hash" not in clients.describe(rp)
    assert len(rp.client_id) >= 22  # ≥ 128 bits of url-safe base64
    assert rp.client_id != register(session)[0].client_id


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_secret_methods_get_a_secret(session, method):
    rp, secret = register(session, auth_method=method)
    assert rp.auth_method == method and clients.secret_matches(rp, secret)


@pytest.mark.parametrize("method,keys", [
    ("none", {}),
    ("private_key_jwt", {"jwks": public_jwks(ECKey.generate_key("P-256"))}),
    ("private_key_jwt", {"jwks_uri": "https://portal.example.gov.sa/jwks.json"}),
])
def test_public_and_key_clients_have_no_secret(session, method, keys):
    rp, secret = register(session, auth_method=method, **keys)
    assert secret is None and rp.secret_hash is None
    assert not clients.secret_matches(rp, "anything")


def test_secret_matches_only_the_secret_itself(session):
    rp, secret = register(session)
    assert clients.secret_matches(rp, secret)
    for wrong in (None, "", secret[:-1], secret + "x", secret.upper(), rp.secret_hash, "x" * 10_000,
                  "\ud800", b"bytes", 42):
        assert not clients.secret_matches(rp, wrong), wrong


def test_rotate_secret_replaces_the_old_one(session):
    rp, old = register(session)
    new = clients.rotate_secret(session, rp.client_id)
    session.commit()
    assert new != old and clients.secret_matches(rp, new) and not clients.secret_matches(rp, old)


def test_rotate_secret_refused_without_a_secret_method(session):
    rp, _ = register(session, auth_method="none")
    with pytest.raises(ValidationError, match="no client secret"):
        clients.rotate_secret(session, rp.client_id)
    with pytest.raises(NotFound):
        clients.rotate_secret(session, "no-such-client")


# --- registration rules ------------------------------------------------------------------

@pytest.mark.parametrize("uri", [
    CALLBACK, "https://portal.example.gov.sa/cb?tenant=1", "https://portal.example.gov.sa:8443/cb",
    "http://127.0.0.1:8080/cb", "http://127.9.9.9/cb", "http://[::1]:9000/cb", "http://localhost/cb",
])
def test_accepted_redirect_uris(session, uri):
    assert register(session, redirect_uris=[uri])[0].redirect_uris == [uri]


@pytest.mark.parametrize("uri,message", [
    ("http://portal.example.gov.sa/cb", "https"),
    ("http://10.0.0.1/cb", "https"),
    ("http://localhost.evil.example/cb", "https"),
    ("ftp://portal.example.gov.sa/cb", "https"),
    ("javascript:alert(1)", "absolute"),
    ("/oidc/callback", "absolute"),
    ("//portal.example.gov.sa/cb", "absolute"),
    ("https:/cb", "absolute"),
    (CALLBACK + "#frag", "fragment"),
    (CALLBACK + "#", "fragment"),
    ("https://user:pw@portal.example.gov.sa/cb", "user name"),
    ("https://*.example.gov.sa/cb", "wildcard"),
    ("https://portal.example.gov.sa/*", "wildcard"),
    ("https://portal.example.gov.sa/" + "a" * 1024, "longer than 1024"),
    ("https://portal.example.gov.sa/c b", "spaces"),
    ("https://portal.example.gov.sa/\u0645", "ASCII"),
    ("https://portal.example.gov.sa\\@evil.example/cb", "backslash"),
    ("https://portal.example.gov.sa:99999/cb", "not a valid URI"),
    ("", "empty"),
])
def test_refused_redirect_uris(session, uri, message):
    with pytest.raises(ValidationError, match=message):
        register(session, redirect_uris=[uri])
    with pytest.raises(ValidationError, match="post-logout redirect URI"):
        register(session, post_logout_redirect_uris=[uri])


def test_at_least_one_redirect_uri(session):
    with pytest.raises(ValidationError, match="at least one redirect URI"):
        register(session, redirect_uris=[])


def test_duplicate_uris_and_scopes_are_kept_once(session):
    rp, _ = register(session, redirect_uris=[CALLBACK, CALLBACK], scopes=["openid", "email", "openid"])
    assert rp.redirect_uris == [CALLBACK] and rp.scopes == ["openid", "email"]


@pytest.mark.parametrize("name,message", [
    ("", "1 to 200"), ("   ", "1 to 200"), ("x" * 201, "1 to 200"), ("Portal\x1b[31m", "control"),
])
def test_refused_names(session, name, message):
    with pytest.raises(ValidationError, match=message):
        register(session, name=name)


@pytest.mark.parametrize("kwargs,message", [
    ({"scopes": ["openid", "address"]}, "unknown scope 'address'"),
    ({"scopes": ["profile"]}, "must include openid"),
    ({"scopes": ["openid", "national_id"]}, "national_id scope"),
    ({"auth_method": "client_secret_jwt"}, "client authentication method"),
    ({"subject_type": "random"}, "subject type"),
    ({"id_token_alg": "HS256"}, "signing algorithm"),
    ({"id_token_alg": "none"}, "signing algorithm"),
    ({"redirect_uris": [CALLBACK, "https://other.example.gov.sa/cb"]}, "one host"),
])
def test_refused_settings(session, kwargs, message):
    with pytest.raises(ValidationError, match=message):
        register(session, **kwargs)


def test_national_id_scope_with_permission(session):
    rp, _ = register(session, scopes=["openid", "national_id"], allow_national_id=True)
    assert rp.allow_national_id and "national_id" in rp.scopes


def test_public_subjects_may_span_hosts(session):
    uris = [CALLBACK, "https://other.example.gov.sa/cb"]
    assert register(session, redirect_uris=uris, subject_type="public")[0].redirect_uris == uris


# --- private_key_jwt keys ----------------------------------------------------------------

def test_private_key_jwt_with_public_keys(session):
    jwks = public_jwks(ECKey.generate_key("P-256"), RSAKey.generate_key(2048))
    rp, _ = register(session, auth_method="private_key_jwt", jwks=jwks)
    assert rp.jwks == jwks and rp.jwks_uri is None


@pytest.mark.parametrize("kwargs,message", [
    ({"jwks": {"keys": [ECKey.generate_key("P-256").as_dict(private=True)]}}, "private key material"),
    ({"jwks": {"keys": [OctKey.generate_key(256).as_dict()]}}, "private key material"),
    ({"jwks": {"keys": [rsa_1024_jwk()]}}, "2048"),
    ({"jwks": {"keys": [ECKey.generate_key("secp256k1").as_dict(private=False)]}}, "curve"),
    ({"jwks": {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "AA"}]}}, "key type"),
    ({"jwks": {"keys": [{"kty": "EC", "crv": "P-256", "x": "!!", "y": "!!"}]}}, "cannot be used"),
    ({"jwks": {"keys": [{**ECKey.generate_key("P-256").as_dict(private=False), "use": "enc"}]}}, "use: sig"),
    ({"jwks": {"keys": []}}, "1 to 10 keys"),
    ({"jwks": [ECKey.generate_key("P-256").as_dict(private=False)]}, "JSON object"),
    ({"jwks": {"keys": ["not a key"]}}, "JSON object"),
    ({}, "exactly one of jwks or jwks_uri"),
    ({"jwks": public_jwks(ECKey.generate_key("P-256")), "jwks_uri": "https://rp.example.gov.sa/jwks"},
     "exactly one"),
    ({"jwks_uri": "http://rp.example.gov.sa/jwks"}, "https"),
    ({"jwks_uri": "https://rp.example.gov.sa/jwks#k"}, "fragment"),
])
def test_refused_private_key_jwt_keys(session, kwargs, message):
    with pytest.raises(ValidationError, match=message):
        register(session, auth_method="private_key_jwt", **kwargs)


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post", "none"])
@pytest.mark.parametrize("keys", [{"jwks": public_jwks(ECKey.generate_key("P-256"))},
                                  {"jwks_uri": "https://rp.example.gov.sa/jwks"}])
def test_keys_refused_for_other_methods(session, method, keys):
    with pytest.raises(ValidationError, match="only for private_key_jwt"):
        register(session, auth_method=method, **keys)


# --- administration ----------------------------------------------------------------------

def test_get_by_client_id_or_entity_id(session):
    rp, _ = register(session)
    saml = RelyingParty(protocol="saml", entity_id="https://sp.example.gov.sa/saml", name="SAML portal",
                        redirect_uris=[], post_logout_redirect_uris=[], scopes=[])
    session.add(saml)
    session.commit()
    assert clients.get(session, rp.client_id) is rp
    assert clients.get(session, saml.entity_id) is saml
    assert clients.find_oidc(session, saml.entity_id) is None
    assert [r.name for r in clients.list_all(session)] == ["Ministry portal", "SAML portal"]
    with pytest.raises(NotFound):
        clients.get(session, "no-such-client")


def test_remove(session):
    rp, _ = register(session)
    clients.remove(session, rp.client_id)
    session.commit()
    assert clients.find_oidc(session, rp.client_id) is None


# --- the client metadata pyop reads ------------------------------------------------------

def test_metadata_has_what_pyop_reads_and_no_secret(session, metadata):
    rp, secret = register(session, redirect_uris=["http://127.0.0.1:8080/cb"],
                          post_logout_redirect_uris=["http://127.0.0.1:8080/bye"], require_loa2=True)
    data = metadata[rp.client_id]
    assert data == {
        "client_id": rp.client_id, "relying_party_id": rp.id, "name": "Ministry portal",
        "redirect_uris": ["http://127.0.0.1:8080/cb"], "post_logout_redirect_uris": ["http://127.0.0.1:8080/bye"],
        "response_types": ["code"], "token_endpoint_auth_method": "client_secret_basic",
        "subject_type": "pairwise", "sector_identifier_uri": "https://127.0.0.1/",
        "id_token_signed_response_alg": "RS256", "scopes": ["openid"], "require_loa2": True,
        "require_loa3": False, "allow_national_id": False, "jwks": None, "jwks_uri": None,
        "introspection": False, "backchannel_logout_uri": None, "backchannel_logout_session_required": False,
        "ciba": False,
    }
    assert secret not in str(data) and rp.secret_hash not in str(data)


def test_metadata_holds_only_enabled_oidc_clients(session, metadata):
    rp, _ = register(session)
    session.add(RelyingParty(protocol="saml", entity_id="urn:sp", name="SAML", redirect_uris=[],
                             post_logout_redirect_uris=[], scopes=[]))
    session.commit()
    assert rp.client_id in metadata and list(metadata) == [rp.client_id] and len(metadata) == 1
    assert "urn:sp" not in metadata and None not in metadata and "x" * 100 not in metadata

    clients.set_enabled(session, rp.client_id, False)
    session.commit()
    assert rp.client_id not in metadata and len(metadata) == 0 and list(metadata) == []
    with pytest.raises(KeyError):
        metadata[rp.client_id]

    clients.set_enabled(session, rp.client_id, True)
    session.commit()
    assert metadata[rp.client_id]["client_id"] == rp.client_id


def test_metadata_is_a_copy(session, metadata):
    rp, _ = register(session, auth_method="private_key_jwt", jwks=public_jwks(ECKey.generate_key("P-256")))
    metadata[rp.client_id]["jwks"]["keys"].clear()
    metadata[rp.client_id]["redirect_uris"].append("https://evil.example/cb")
    assert metadata[rp.client_id]["redirect_uris"] == [CALLBACK]
    assert len(metadata[rp.client_id]["jwks"]["keys"]) == 1


# --- one read per request (issue 10) -------------------------------------------------------------

class Counter:
    """Counts the SQL statements the engine sends."""

    def __init__(self, engine):
        from sqlalchemy import event

        self.count = 0
        event.listen(engine, "before_cursor_execute", self._seen)
        self.engine, self.event = engine, event

    def _seen(self, *_args):
        self.count += 1

    def close(self):
        self.event.remove(self.engine, "before_cursor_execute", self._seen)


@pytest.fixture
def counter(migrated_database):
    counter = Counter(migrated_database.engine)
    yield counter
    counter.close()


def test_a_scope_reads_each_client_once(session, metadata, counter):
    rp, _ = register(session)
    counter.count = 0
    token = metadata.open_scope()
    try:
        for _ in range(10):
            assert metadata[rp.client_id]["client_id"] == rp.client_id
            assert rp.client_id in metadata and "unknown-client" not in metadata
        assert counter.count == 2  # the client, and the unknown id (a miss is remembered too)
    finally:
        metadata.close_scope(token)


def test_a_client_disabled_between_scopes_is_refused_in_the_next(session, metadata):
    rp, _ = register(session)
    token = metadata.open_scope()
    assert rp.client_id in metadata
    metadata.close_scope(token)
    clients.set_enabled(session, rp.client_id, False)
    session.commit()
    token = metadata.open_scope()
    try:
        assert rp.client_id not in metadata
        with pytest.raises(KeyError):
            metadata[rp.client_id]
    finally:
        metadata.close_scope(token)


def test_without_a_scope_every_lookup_reads_the_database(session, metadata, counter):
    rp, _ = register(session)
    counter.count = 0
    metadata[rp.client_id]
    metadata[rp.client_id]
    assert counter.count == 2
    clients.set_enabled(session, rp.client_id, False)
    session.commit()
    assert rp.client_id not in metadata


def test_closing_a_scope_twice_still_forgets(session, metadata, counter):
    rp, _ = register(session)
    token = metadata.open_scope()
    metadata[rp.client_id]
    metadata.close_scope(token)
    metadata.close_scope(token)  # e.g. a teardown that runs twice: no error, nothing remembered
    counter.count = 0
    metadata[rp.client_id]
    metadata[rp.client_id]
    assert counter.count == 2
