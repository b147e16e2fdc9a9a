"""Settings: declared once, defaults in config/, IDP_* environment, one clear line on a bad value."""
import os
import stat

import pytest

from cryptography.fernet import Fernet

from idp.errors import ConfigError
from idp.settings import FIELDS, load_settings


def test_every_setting_has_a_default(tmp_path):
    settings = load_settings({"instance_path": str(tmp_path)}, environ={})
    assert settings.issuer == "http://127.0.0.1:5000"
    assert settings.database_url == f"sqlite:///{tmp_path / 'idp.sqlite3'}"
    assert set(FIELDS) == set(vars(settings))


def test_environment_overrides_defaults(tmp_path):
    settings = load_settings(environ={"IDP_INSTANCE_PATH": str(tmp_path), "IDP_ISSUER": "https://sso.example.gov.sa/",
                                      "IDP_SESSION_IDLE_MINUTES": "15"})
    assert settings.issuer == "https://sso.example.gov.sa" and settings.session_idle_minutes == 15
    assert settings.is_https


def test_generated_secrets_are_private_and_stable(tmp_path):
    first = load_settings({"instance_path": str(tmp_path)}, environ={})
    second = load_settings({"instance_path": str(tmp_path)}, environ={})
    assert first.secret_key == second.secret_key and len(first.secret_key) >= 32
    assert first.data_key == second.data_key
    mode = stat.S_IMODE(os.stat(tmp_path / "secret_key").st_mode)
    assert mode == 0o600


@pytest.mark.parametrize("env,message", [
    ({"IDP_ISSUER": "http://sso.example.gov.sa"}, "IDP_ISSUER: must be https"),
    ({"IDP_ISSUER": "not a url"}, "IDP_ISSUER"),
    ({"IDP_SESSION_IDLE_MINUTES": "soon"}, "IDP_SESSION_IDLE_MINUTES: expected a whole number"),
    ({"IDP_SESSION_IDLE_MINUTES": "0"}, "IDP_SESSION_IDLE_MINUTES: must be greater than zero"),
    ({"IDP_REDIS_URL": "http://127.0.0.1"}, "IDP_REDIS_URL"),
    ({"IDP_SMTP_URL": "mail.example.com"}, "IDP_SMTP_URL"),
    ({"IDP_SECRET_KEY": "short"}, "IDP_SECRET_KEY"),
    ({"IDP_DATA_KEY": "not-a-fernet-key"}, "IDP_DATA_KEY"),
    ({"IDP_DEFAULT_LOCALE": "fr"}, "IDP_DEFAULT_LOCALE"),
    ({"IDP_CONFIG": "/no/such/file.toml"}, "IDP_CONFIG"),
    # operations
    ({"IDP_LOG_FORMAT": "xml"}, "IDP_LOG_FORMAT: expected text or json"),
    ({"IDP_MAIL_DELIVERY": "carrier-pigeon"}, "IDP_MAIL_DELIVERY: expected background, external or inline"),
    ({"IDP_PASSWORD_CHECKS_PER_WORKER": "-1"}, "IDP_PASSWORD_CHECKS_PER_WORKER: must not be negative"),
    ({"IDP_PROBE_TIMEOUT_MS": "0"}, "IDP_PROBE_TIMEOUT_MS: must be greater than zero"),
    ({"IDP_MAIL_MAX_ATTEMPTS": "0"}, "IDP_MAIL_MAX_ATTEMPTS: must be greater than zero"),
    ({"IDP_MAIL_FIRST_RETRY_SECONDS": "soon"}, "IDP_MAIL_FIRST_RETRY_SECONDS: expected a whole number"),
])
def test_bad_setting_names_itself(tmp_path, env, message):
    with pytest.raises(ConfigError) as raised:
        load_settings(environ={"IDP_INSTANCE_PATH": str(tmp_path), **env})
    assert message in raised.value.message and "\n" not in raised.value.message


def test_loopback_http_issuers_are_allowed(tmp_path):
    for issuer in ("http://127.0.0.1:5000", "http://localhost:8080", "http://[::1]:5000"):
        assert load_settings(environ={"IDP_INSTANCE_PATH": str(tmp_path), "IDP_ISSUER": issuer}).issuer == issuer


def test_local_config_file(tmp_path):
    config = tmp_path / "local.toml"
    config.write_text('issuer = "https://sso.example.gov.sa"\nlogin_lockout_after = 5\n')
    settings = load_settings(environ={"IDP_INSTANCE_PATH": str(tmp_path), "IDP_CONFIG": str(config)})
    assert settings.login_lockout_after == 5


def test_unknown_key_in_config_file(tmp_path):
    config = tmp_path / "local.toml"
    config.write_text('isuer = "https://typo.example"\n')
    with pytest.raises(ConfigError, match="unknown setting"):
        load_settings(environ={"IDP_INSTANCE_PATH": str(tmp_path), "IDP_CONFIG": str(config)})


# --- secrets and signing keys --------------------------------------------------------------------

def test_subject_salt_is_generated_once_and_private(tmp_path):
    first = load_settings({"instance_path": str(tmp_path)}, environ={})
    assert first.subject_salt == load_settings({"instance_path": str(tmp_path)}, environ={}).subject_salt
    assert len(first.subject_salt) >= 32 and not first.subject_salt.startswith("legacy:")
    assert first.subject_salt not in (first.secret_key, first.data_key)
    assert stat.S_IMODE(os.stat(tmp_path / "subject_salt").st_mode) == 0o600


def test_an_instance_folder_from_before_the_subject_salt_keeps_its_identifiers(tmp_path):
    """Its identifiers were derived from its generated data key: the salt made for it carries them."""
    from idp.subject_salt import from_data_key

    (tmp_path / "data_key").write_text(Fernet.generate_key().decode())
    settings = load_settings({"instance_path": str(tmp_path)}, environ={})
    assert settings.subject_salt == from_data_key(settings.data_key)


def test_several_data_keys(tmp_path):
    keys = [Fernet.generate_key().decode() for _ in range(2)]
    settings = load_settings({"instance_path": str(tmp_path)}, environ={"IDP_DATA_KEYS_OLD": f" {keys[0]}, {keys[1]},"})
    assert settings.old_data_keys == keys


@pytest.mark.parametrize("env,message", [
    ({"IDP_SUBJECT_SALT": "too-short"}, "IDP_SUBJECT_SALT: must be at least 32 characters"),
    ({"IDP_SUBJECT_SALT": "legacy:bm90LWVub3VnaA=="}, "IDP_SUBJECT_SALT: a legacy salt is the exact output"),
    ({"IDP_SUBJECT_SALT": "legacy:***"}, "IDP_SUBJECT_SALT: a legacy salt"),
    ({"IDP_DATA_KEYS_OLD": "not-a-fernet-key"}, "IDP_DATA_KEYS_OLD: each key must be a valid Fernet key"),
    ({"IDP_KEYS_REFRESH_SECONDS": "often"}, "IDP_KEYS_REFRESH_SECONDS: expected a whole number"),
    ({"IDP_KEYS_REFRESH_SECONDS": "0"}, "IDP_KEYS_REFRESH_SECONDS: must be greater than zero"),
])
def test_bad_secret_settings_are_one_line(tmp_path, env, message):
    with pytest.raises(ConfigError) as e:
        load_settings({"instance_path": str(tmp_path)}, environ=env)
    assert e.value.message.startswith(message) and "\n" not in e.value.message
