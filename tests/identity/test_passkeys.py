"""idp.identity.passkeys with a software authenticator (WebAuthn §7.1 registration, §7.2 assertion)."""
import contextlib
import json
import time

import pytest

from idp.errors import ValidationError
from idp.identity import passkeys
from idp.models import Passkey, PasskeyHandle
from tests.identity.softkey import SoftKey, b64url

ISSUER = "http://localhost:5000"
RP = passkeys.relying_party(ISSUER, "National SSO")


@pytest.fixture
def citizen(people, identities):
    """Without TOTP: its passkeys are its only second factor."""
    return identities.make(people["citizen"], totp=False).identity


@contextlib.contextmanager
def refused_for(reason):
    """Refused, for the reason (in the log's words) given: the message shown is always the same."""
    with pytest.raises(passkeys.PasskeyRefused) as refused:
        yield refused
    assert reason.lower() in refused.value.reason.lower(), refused.value.reason
    assert refused.value.message == "That passkey could not be used. Try again."


def _register(db, identity, key=None, name="my phone", **kwargs):
    key = key or SoftKey(RP.rp_id, RP.origin)
    options, state = passkeys.registration_options(db, RP, identity, time.time())
    passkey = passkeys.register(db, RP, identity, key.create(json.loads(options), **kwargs), state, name, time.time())
    db.commit()
    return key, passkey


def _sign_in(db, key, now=None, **kwargs):
    options, state = passkeys.authentication_options(RP, time.time())
    return passkeys.authenticate(db, RP, key.get(json.loads(options), **kwargs), state, now or time.time())


@pytest.mark.parametrize("issuer, rp_id, origin", [
    ("http://localhost:5000", "localhost", "http://localhost:5000"),
    ("https://sso.example.sa", "sso.example.sa", "https://sso.example.sa"),
    ("https://SSO.example.sa:8443/", "sso.example.sa", "https://sso.example.sa:8443"),
])
def test_the_rp_id_is_the_issuers_host(issuer, rp_id, origin):
    rp = passkeys.relying_party(issuer, "x")
    assert (rp.rp_id, rp.origin) == (rp_id, origin)


@pytest.mark.parametrize("issuer", ["http://127.0.0.1:5000", "http://[::1]:5000"])
def test_no_rp_id_for_an_ip_address(issuer):
    assert passkeys.relying_party(issuer, "x") is None


def test_registration_options(db, citizen):
    _, existing = _register(db, citizen)
    options, state = passkeys.registration_options(db, RP, citizen, time.time())
    options = json.loads(options)
    assert options["rp"] == {"id": "localhost", "name": "National SSO"}
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert options["authenticatorSelection"]["userVerification"] == "required"
    assert options["attestation"] == "none"
    assert [p["alg"] for p in options["pubKeyCredParams"]] == [-7, -257]
    assert [c["id"] for c in options["excludeCredentials"]] == [existing.credential_id]
    handle = db.get(PasskeyHandle, citizen.id).handle
    assert options["user"]["id"] == handle and citizen.national_id not in handle and len(handle) >= 43
    assert state["challenge"] == options["challenge"]


def test_register_then_sign_in(db, citizen):
    key, passkey = _register(db, citizen)
    assert (passkey.name, passkey.transports, passkey.backup_eligible) == ("my phone", ["internal"], False)
    result = _sign_in(db, key)
    assert result.identity.id == citizen.id and result.amr == ["hwk", "user", "mfa"]
    assert result.passkey.sign_count == 1 and result.passkey.last_used_at is not None


def test_a_synced_passkey_is_swk_and_its_backup_state_recorded(db, citizen):
    key, passkey = _register(db, citizen, SoftKey(RP.rp_id, RP.origin, synced=True))
    assert passkey.backup_eligible and passkey.backed_up
    assert _sign_in(db, key).amr == ["swk", "user", "mfa"]


@pytest.mark.parametrize("kwargs, reason", [
    ({"uv": False}, "verif"),
    ({"origin": "https://evil.example"}, "origin"),
    ({"rp_id": "evil.example"}, "RP ID"),
])
def test_bad_registrations_are_refused(db, citizen, kwargs, reason):
    with pytest.raises(passkeys.PasskeyRefused) as refused:
        _register(db, citizen, **kwargs)
    assert reason.lower() in refused.value.reason.lower()
    assert db.query(Passkey).count() == 0


@pytest.mark.parametrize("kwargs, reason", [
    ({"uv": False}, "verif"),
    ({"origin": "https://evil.example"}, "origin"),
    ({"rp_id": "evil.example"}, "RP ID"),
])
def test_bad_assertions_are_refused(db, citizen, kwargs, reason):
    key, _ = _register(db, citizen)
    with pytest.raises(passkeys.PasskeyRefused) as refused:
        _sign_in(db, key, **kwargs)
    assert reason.lower() in refused.value.reason.lower()


def test_challenges_are_single_use_and_expire(db, citizen):
    key, _ = _register(db, citizen)
    options, state = passkeys.authentication_options(RP, time.time())
    other_options, _ = passkeys.authentication_options(RP, time.time())
    with refused_for("challenge"):  # another challenge's answer
        passkeys.authenticate(db, RP, key.get(json.loads(other_options)), state, time.time())
    with refused_for("expired"):
        passkeys.authenticate(db, RP, key.get(json.loads(options)), state, time.time() + 301)
    with refused_for("no challenge"):  # the caller popped it
        passkeys.authenticate(db, RP, key.get(json.loads(options)), None, time.time())


def test_a_sign_count_that_does_not_grow_is_refused_as_a_clone(db, citizen):
    key, passkey = _register(db, citizen)
    _sign_in(db, key, counter=5)
    db.commit()
    with pytest.raises(passkeys.SignCountRegressed) as refused:
        _sign_in(db, key, counter=5)
    assert refused.value.identity_id == citizen.id
    assert db.get(Passkey, passkey.id).sign_count == 5


def test_a_counter_that_stays_zero_is_accepted(db, citizen):
    key, _ = _register(db, citizen)
    _sign_in(db, key, counter=0)
    assert _sign_in(db, key, counter=0).passkey.sign_count == 0


def test_an_unknown_credential_or_someone_elses_is_refused(db, citizen, people, identities):
    with refused_for("unknown"):
        key = SoftKey(RP.rp_id, RP.origin)
        key.user_handle = b"x" * 32
        _sign_in(db, key)
    key, _ = _register(db, citizen)
    other = identities.make(people["citizen2"], username="citizen.two").identity
    options, state = passkeys.authentication_options(RP, time.time())
    with refused_for("another identity"):
        passkeys.authenticate(db, RP, key.get(json.loads(options)), state, time.time(),
                              expected_identity_id=other.id)


def test_a_user_handle_that_does_not_match_is_refused(db, citizen):
    key, _ = _register(db, citizen)
    key.user_handle = b"y" * 32
    with refused_for("user handle"):
        _sign_in(db, key)


def test_a_missing_user_handle_is_refused(db, citizen):
    key, _ = _register(db, citizen)
    options, state = passkeys.authentication_options(RP, time.time())
    assertion = key.get(json.loads(options))
    assertion["response"]["userHandle"] = None
    with refused_for("user handle"):
        passkeys.authenticate(db, RP, assertion, state, time.time())


def test_the_same_credential_cannot_be_registered_twice(db, citizen):
    key, _ = _register(db, citizen)
    with refused_for("already registered"):
        _register(db, citizen, key)


@pytest.mark.parametrize("name", ["", "   ", "x" * 65, "bad\x00name"])
def test_names_are_checked(db, citizen, name):
    _, passkey = _register(db, citizen)
    with pytest.raises(ValidationError):
        passkeys.rename(db, citizen, passkey.id, name)


def test_rename_and_remove(db, citizen):
    _, first = _register(db, citizen)
    _, second = _register(db, citizen)
    assert passkeys.rename(db, citizen, first.id, "  laptop  ").name == "laptop"
    passkeys.remove(db, citizen, first.id)
    with pytest.raises(ValidationError, match="only second factor"):  # the last one stays
        passkeys.remove(db, citizen, second.id)
    assert [p.id for p in passkeys.list_for(db, citizen)] == [second.id]


def test_the_last_passkey_goes_when_totp_remains(db, people, identities):
    identity = identities.make(people["citizen"], totp=True).identity
    _, passkey = _register(db, identity)
    passkeys.remove(db, identity, passkey.id)
    assert not passkeys.has_any(db, identity)


def test_someone_elses_passkey_cannot_be_renamed_or_removed(db, citizen, people, identities):
    _, passkey = _register(db, citizen)
    other = identities.make(people["citizen2"], username="citizen.two").identity
    with pytest.raises(ValidationError, match="No such"):
        passkeys.rename(db, other, passkey.id, "mine")
    with pytest.raises(ValidationError, match="No such"):
        passkeys.remove(db, other, passkey.id)


def test_b64url_helper_round_trips():
    assert b64url(b"\xff\xfe") == "__4"
