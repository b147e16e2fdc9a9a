"""The one place a CivilRegistry is built from settings (at start-up; the app holds it).

IDP_REGISTRY=database asks the imported `registry_people` table; IDP_REGISTRY=http asks the
service at IDP_REGISTRY_URL (idp/identity/registry_http.py) over TLS with our client certificate
(IDP_REGISTRY_CLIENT_CERT, IDP_REGISTRY_CLIENT_KEY) and the registry's certificate checked
against IDP_REGISTRY_CA (empty: the system's trust store). Settings check the shape of the
values; this loads the files, so an unreadable key or certificate stops start-up too.
"""
from __future__ import annotations

import ssl
from urllib.parse import urlsplit

from idp.db import Database
from idp.errors import ConfigError
from idp.identity.registry import CivilRegistry, DatabaseRegistry
from idp.identity.registry_http import HttpRegistry
from idp.settings import Settings


def registry_from_settings(settings: Settings, database: Database) -> CivilRegistry:
    if settings.registry == "database":
        return DatabaseRegistry(database)
    tls = None
    if urlsplit(settings.registry_url).scheme == "https":
        tls = client_tls_context(settings.registry_client_cert, settings.registry_client_key, settings.registry_ca)
    return HttpRegistry(settings.registry_url, tls, timeout_seconds=settings.registry_timeout_seconds,
                        cache_seconds=settings.registry_cache_seconds)


def client_tls_context(cert_path: str, key_path: str, ca_path: str = "") -> ssl.SSLContext:
    """TLS 1.2 or later, the server's certificate and host name verified (RFC 9325 §3, §7.3),
    our certificate presented when the server asks for it."""
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_path or None)
    except (OSError, ssl.SSLError) as e:
        raise ConfigError(f"IDP_REGISTRY_CA: cannot load it: {_why(e)}") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert_path, key_path)
    except (OSError, ssl.SSLError) as e:
        raise ConfigError(f"IDP_REGISTRY_CLIENT_CERT / IDP_REGISTRY_CLIENT_KEY: cannot load them: {_why(e)}") from None
    return context


def _why(error: Exception) -> str:
    return str(getattr(error, "strerror", None) or getattr(error, "reason", None) or error)
