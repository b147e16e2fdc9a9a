"""Which civil registry the app asks: declared in settings, checked at start-up, built once and held
by the app (idp/identity/registry_client.py)."""
import pytest

from idp import create_app
from idp.errors import ConfigError
from idp.identity.registry import DatabaseRegistry
from idp.identity.registry_http import HttpRegistry
from idp.settings import load_settings


def settings(tmp_path, **env):
    return load_settings(environ={"IDP_INSTANCE_PATH": str(tmp_path), **env})


def test_the_default_is_the_imported_table(tmp_path):
    s = settings(tmp_path)
    assert (s.registry, s.registry_url, s.registry_timeout_seconds, s.registry_cache_seconds) == \
        ("database", "", 3, 60)


@pytest.mark.parametrize("env,message", [
    ({"IDP_REGISTRY": "ldap"}, "IDP_REGISTRY: expected database or http"),
    ({"IDP_REGISTRY": "http"}, "IDP_REGISTRY_URL: IDP_REGISTRY=http needs an absolute http(s) URL"),
    ({"IDP_REGISTRY": "http", "IDP_REGISTRY_URL": "registry.example.gov.sa"}, "IDP_REGISTRY_URL: IDP_REGISTRY=http"),
    ({"IDP_REGISTRY": "http", "IDP_REGISTRY_URL": "ftp://registry.example.gov.sa"}, "IDP_REGISTRY_URL"),
    ({"IDP_REGISTRY": "http", "IDP_REGISTRY_URL": "https://registry.example.gov.sa/v1?key=1"}, "no query"),
    ({"IDP_REGISTRY_URL": "https://registry.example.gov.sa/v1"}, "IDP_REGISTRY_URL: set, but IDP_REGISTRY is database"),
    ({"IDP_REGISTRY": "http", "IDP_REGISTRY_URL": "http://registry.example.gov.sa/v1"},
     "IDP_REGISTRY_URL: must be https unless it is a loopback address"),
    ({"IDP_REGISTRY": "http", "IDP_REGISTRY_URL": "https://registry.example.gov.sa/v1"},
     "IDP_REGISTRY_CLIENT_CERT and IDP_REGISTRY_CLIENT_KEY: required with an https registry"),
    ({"IDP_REGISTRY": "http", "IDP_REGISTRY_URL": "https://registry.example.gov.sa/v1",
      "IDP_REGISTRY_CLIENT_CERT": "/etc/idp/registry.pem"}, "IDP_REGISTRY_CLIENT_KEY: required"),
    ({"IDP_REGISTRY": "http", "IDP_REGISTRY_URL": "http://127.0.0.1:8443/v1",
      "IDP_REGISTRY_CLIENT_CERT": "/etc/idp/registry.pem"}, "need an https IDP_REGISTRY_URL"),
    ({"IDP_REGISTRY_TIMEOUT_SECONDS": "0"}, "IDP_REGISTRY_TIMEOUT_SECONDS: must be greater than zero"),
    ({"IDP_REGISTRY_TIMEOUT_SECONDS": "soon"}, "IDP_REGISTRY_TIMEOUT_SECONDS: expected a whole number"),
    ({"IDP_REGISTRY_CACHE_SECONDS": "-1"}, "IDP_REGISTRY_CACHE_SECONDS: must not be negative"),
])
def test_a_bad_registry_setting_names_itself(tmp_path, env, message):
    with pytest.raises(ConfigError) as raised:
        settings(tmp_path, **env)
    assert message in raised.value.message and "\n" not in raised.value.message


def test_plain_http_only_to_a_loopback_address(tmp_path):
    s = settings(tmp_path, IDP_REGISTRY="http", IDP_REGISTRY_URL="http://127.0.0.1:8443/v1")
    assert s.registry_url == "http://127.0.0.1:8443/v1"


def test_a_zero_cache_is_allowed(tmp_path):
    assert settings(tmp_path, IDP_REGISTRY_CACHE_SECONDS="0").registry_cache_seconds == 0


def start(tmp_path, migrated_database, database_url, **overrides):
    return create_app({"instance_path": str(tmp_path / "instance"), "database_url": database_url, **overrides})


def test_the_app_holds_the_database_registry_by_default(tmp_path, migrated_database, database_url):
    assert isinstance(start(tmp_path, migrated_database, database_url).extensions["idp"].registry, DatabaseRegistry)


def test_the_app_holds_the_http_registry_when_configured(tmp_path, migrated_database, database_url,
                                                         registry_certificates):
    registry = start(tmp_path, migrated_database, database_url, registry="http",
                     registry_url="https://127.0.0.1:8443/v1/",
                     registry_client_cert=str(registry_certificates.client_cert),
                     registry_client_key=str(registry_certificates.client_key),
                     registry_ca=str(registry_certificates.ca),
                     registry_timeout_seconds=2, registry_cache_seconds=30).extensions["idp"].registry
    assert isinstance(registry, HttpRegistry)
    assert (registry.base_url, registry.timeout, registry.cache.seconds) == ("https://127.0.0.1:8443/v1", 2, 30)


@pytest.mark.parametrize("files,message", [
    ({"registry_client_cert": "/no/such/cert.pem"}, "IDP_REGISTRY_CLIENT_CERT / IDP_REGISTRY_CLIENT_KEY: cannot load"),
    ({"registry_client_key": "ca"}, "IDP_REGISTRY_CLIENT_CERT / IDP_REGISTRY_CLIENT_KEY: cannot load"),
    ({"registry_ca": "/no/such/ca.pem"}, "IDP_REGISTRY_CA: cannot load it"),
])
def test_start_up_stops_on_a_certificate_or_key_it_cannot_load(tmp_path, migrated_database, database_url,
                                                                registry_certificates, files, message):
    paths = {"registry_client_cert": str(registry_certificates.client_cert),
             "registry_client_key": str(registry_certificates.client_key), "registry_ca": str(registry_certificates.ca)}
    paths.update({k: str(registry_certificates.ca) if v == "ca" else v for k, v in files.items()})
    with pytest.raises(ConfigError) as raised:
        start(tmp_path, migrated_database, database_url, registry="http",
              registry_url="https://registry.example.gov.sa/v1", **paths)
    assert message in raised.value.message
