"""Shared secrets: the subject salt, the fingerprints that keep every instance's secrets the same,
and several data keys. Through create_app, as an instance starts."""
import hashlib
import hmac

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from idp import create_app
from idp.errors import ConfigError
from idp.models import Identity, SecretFingerprint
from idp.subject_salt import LABELS, from_data_key, salt_for


@pytest.fixture
def instance(app, tmp_path, database_url, store, smtp):
    """Starts another instance on the app's database: its own folders, the app's secrets unless told."""
    settings = app.extensions["idp"].settings
    started = []

    def start(name="other", **overrides):
        values = {"instance_path": str(tmp_path / name), "keys_path": str(tmp_path / name / "keys"),
                  "database_url": database_url, "smtp_url": smtp.url, "store": store, "TESTING": True,
                  "secret_key": settings.secret_key, "data_key": settings.data_key,
                  "subject_salt": settings.subject_salt}
        values.update(overrides)
        other = create_app(values)
        started.append(other)
        return other
    yield start
    for other in started:
        other.extensions["idp"].db.dispose()


def refusal(start, **overrides) -> str:
    with pytest.raises(ConfigError) as e:
        start(**overrides)
    assert "\n" not in e.value.message
    return e.value.message


# --- the subject salt ------------------------------------------------------------------------------

def test_a_legacy_salt_gives_exactly_the_salts_once_derived_from_the_data_key():
    data_key = Fernet.generate_key().decode()
    legacy = from_data_key(data_key)
    for protocol, label in LABELS.items():
        assert salt_for(legacy, protocol) == hmac.new(data_key.encode(), label, hashlib.sha256).digest()
    assert data_key not in legacy


def test_a_random_salt_gives_one_salt_per_protocol():
    assert salt_for("x" * 40, "oidc") != salt_for("x" * 40, "saml") != salt_for("y" * 40, "saml")


# --- fingerprints ------------------------------------------------------------------------------------

def test_the_first_instance_records_fingerprints_that_reveal_nothing(app, db):
    settings = app.extensions["idp"].settings
    rows = {row.name: row for row in db.scalars(select(SecretFingerprint))}
    assert set(rows) == {"secret_key", "subject_salt", "data_key", "keys_passphrase"}
    assert len({row.salt for row in rows.values()}) == 4
    for name, secret in (("secret_key", settings.secret_key), ("subject_salt", settings.subject_salt),
                         ("data_key", settings.data_key)):
        assert secret not in rows[name].digest and rows[name].digest != hashlib.sha256(secret.encode()).hexdigest()


def test_an_instance_with_the_same_secrets_starts(instance):
    assert instance().extensions["idp"] is not None


@pytest.mark.parametrize("setting,value,expected", [
    ("secret_key", "another-secret-key-of-sufficient-length-0123", "IDP_SECRET_KEY: differs from the value"),
    ("subject_salt", "another-subject-salt-of-sufficient-length-01", "IDP_SUBJECT_SALT: differs from the value"),
    ("data_key", Fernet.generate_key().decode(), "IDP_DATA_KEY: neither it nor IDP_DATA_KEYS_OLD"),
])
def test_an_instance_with_a_different_secret_refuses_to_start(instance, setting, value, expected):
    assert refusal(instance, **{setting: value}).startswith(expected)


def test_a_different_keys_passphrase_refuses_to_start(instance, monkeypatch):
    monkeypatch.setenv("IDP_KEYS_PASSPHRASE", "a passphrase the others do not have")
    assert refusal(instance).startswith("IDP_KEYS_PASSPHRASE: differs from the value")


def test_the_passphrase_is_recorded_when_set(instance, db, monkeypatch):
    db.execute(SecretFingerprint.__table__.delete())
    db.commit()
    monkeypatch.setenv("IDP_KEYS_PASSPHRASE", "correct horse battery staple")
    instance("first")
    monkeypatch.setenv("IDP_KEYS_PASSPHRASE", "correct horse battery staple")
    instance("second")
    monkeypatch.delenv("IDP_KEYS_PASSPHRASE")
    assert refusal(instance, name="third").startswith("IDP_KEYS_PASSPHRASE")


def test_mid_rotation_an_instance_with_the_recorded_key_among_its_old_keys_starts(app, instance):
    current = app.extensions["idp"].settings.data_key
    new = Fernet.generate_key().decode()
    instance("ahead", data_key=new, data_keys_old=current)       # step 2: the new key encrypts
    instance("accepting", data_keys_old=new)                     # step 1: the new key only accepted
    assert refusal(instance, name="lost", data_key=new).startswith("IDP_DATA_KEY")


# --- upgrading: identifiers once derived from the data key -----------------------------------------

def test_identities_from_before_the_salt_need_the_legacy_salt(app, instance, db, people, identities):
    made = identities.make(people["citizen"])
    db.execute(Identity.__table__.update().where(Identity.id == made.identity.id)
               .values(subject_seed=str(made.identity.id)))  # as migration 0003 left it
    db.execute(SecretFingerprint.__table__.delete())  # as the first start after the upgrade finds it
    db.commit()
    assert refusal(instance).startswith("IDP_SUBJECT_SALT: identities made before this version exist")
    legacy = from_data_key(app.extensions["idp"].settings.data_key)
    upgraded = instance("upgraded", subject_salt=legacy)
    assert upgraded.extensions["idp"].settings.subject_salt == legacy
    assert refusal(instance, name="forgetful").startswith("IDP_SUBJECT_SALT: differs")


def test_a_database_without_the_table_yet_does_not_stop_the_start(tmp_path, store):
    fresh = create_app({"instance_path": str(tmp_path), "store": store})  # idp db upgrade checks later
    result = fresh.test_cli_runner().invoke(args=["idp", "db", "upgrade"])
    assert result.exit_code == 0, result.output
    with fresh.extensions["idp"].db.session() as session:
        assert len(session.scalars(select(SecretFingerprint)).all()) == 4
    fresh.extensions["idp"].db.dispose()


def test_a_first_recorded_data_key_must_read_the_secrets_already_stored(app, instance, db, people, identities):
    identities.make(people["citizen"], totp=True)
    db.execute(SecretFingerprint.__table__.delete())  # the first start after an upgrade
    db.commit()
    line = refusal(instance, data_key=Fernet.generate_key().decode())
    assert line == "IDP_DATA_KEY: neither it nor IDP_DATA_KEYS_OLD decrypts the TOTP secrets already in the database"
    instance("right")  # the key that wrote them
