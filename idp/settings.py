"""Every setting, declared once: its type and meaning here, its default in config/defaults.toml.

Load order: config/defaults.toml → config/local.toml (or the file named by IDP_CONFIG)
→ IDP_* environment variables → overrides passed to create_app (tests).
A bad value stops start-up with one line naming the setting.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import secrets
import tomllib
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.fernet import Fernet

from idp import resources
from idp import subject_salt
from idp.errors import ConfigError

CONFIG_DIR = resources.config_dir()


@dataclasses.dataclass(frozen=True)
class Settings:
    issuer: str  # public base URL of the IdP; https in production, http only on loopback
    database_url: str  # SQLAlchemy URL of the durable store
    redis_url: str  # redis:// URL of the ephemeral store; empty for the in-process store
    smtp_url: str  # smtp[s]://[user:password@]host[:port][?starttls=1]; empty for the outbox folder
    mail_from: str  # From: header of mail sent to citizens
    secret_key: str  # signs CSRF tokens; never committed
    data_key: str  # Fernet key that encrypts TOTP secrets at rest
    instance_path: str  # generated secrets, SQLite file, outbox
    keys_path: str  # keys/ folder of an earlier version, read by `idp keys import` (keys live in the database)
    default_locale: str  # "ar" or "en"
    session_idle_minutes: int
    session_absolute_hours: int
    reauth_minutes: int
    login_delay_after: int
    login_max_delay_seconds: int
    login_lockout_after: int
    login_lockout_minutes: int
    login_failure_window_minutes: int
    ip_captcha_after: int  # failures from one client IP before its unknown sources must solve a captcha
    captcha_ttl_seconds: int
    email_verification_hours: int
    recovery_link_minutes: int
    registration_step_minutes: int
    oidc_code_seconds: int
    oidc_access_token_seconds: int
    oidc_id_token_seconds: int
    oidc_refresh_token_hours: int
    # durable token state (issue 8)
    refresh_reuse_grace_seconds: int  # a rotated refresh token presented again this soon is a retry, not theft
    # back-channel logout (issue 11)
    backchannel_logout_attempts: int  # tries per logout token before it is given up (each one audited)
    backchannel_logout_retry_seconds: int  # delay before the 2nd try; doubles after each failed one
    backchannel_logout_timeout_seconds: int  # how long one POST to a portal may take
    max_request_bytes: int
    metrics_token: str  # bearer token for /metrics; empty: /metrics answers loopback clients only
    trusted_proxies: int
    # Host header (issue 15): links always come from the issuer; this only widens what is accepted
    trusted_hosts: str  # other host names the Host header may carry (comma-separated), e.g. for probes
    # secrets and signing keys shared by every instance (README: "Secrets and signing keys")
    subject_salt: str  # salt of pairwise sub and persistent NameIDs; never rotated
    data_keys_old: str  # other Fernet keys accepted to decrypt data, comma-separated (data key rotation)
    keys_refresh_seconds: int  # how often an instance checks the database for new signing keys
    # proofing and lockout
    sms_gateway_url: str  # https URL of the SMS gateway (JSON POST); empty: <instance>/sms-outbox/*.json
    sms_gateway_token: str  # bearer token for the SMS gateway; from the environment, never committed
    sms_gateway_timeout_seconds: int  # connect and read timeout of one SMS gateway request
    sms_code_minutes: int  # how long a one-time code sent by SMS stays valid
    sms_code_attempts: int  # wrong entries before a code is spent
    sms_resend_seconds: int  # least time between two codes to one person
    sms_codes_per_day: int  # most codes sent to one person in 24 hours
    # consecutive failures for one account from one source before a lock only an administrator lifts
    login_hard_cap: int
    # consecutive wrong second-factor codes before TOTP is locked (recovery code or administrator)
    totp_max_failures: int
    device_cookie_days: int  # lifetime of the "known device" cookie set after a sign-in
    # operations (issue 9)
    instance_name: str  # names this instance in logs; empty: the host name
    log_format: str  # "text" (development) or "json" (one object a line; the production command's default)
    password_checks_per_worker: int  # password hashings in flight per worker before sign-ins get 503; 0: no limit
    probe_timeout_ms: int  # how long /readyz waits for each dependency before calling it down
    mail_delivery: str  # "background" (a sender thread per worker), "external" (only `idp mail send`), "inline"
    mail_max_attempts: int  # delivery attempts before a message is given up (backoff doubles to an hour)
    mail_first_retry_seconds: int  # wait after the first failed attempt; doubles each time, at most an hour
    # civil registry (issue 13): README "Civil registry"
    registry: str  # "database" (the imported registry_people table) or "http" (the service at registry_url)
    registry_url: str  # base URL of the registry service; https, or http on a loopback address
    registry_client_cert: str  # PEM client certificate presented to an https registry (required with https)
    registry_client_key: str  # PEM private key of that certificate (required with https)
    registry_ca: str  # PEM CA bundle the registry's certificate must chain to; empty: the system's
    registry_timeout_seconds: int  # connect and read timeout of one registry request
    registry_cache_seconds: int  # how long a registry answer is reused in-process; 0: never

    @property
    def is_https(self) -> bool:
        return self.issuer.startswith("https://")

    @property
    def trusted_host_list(self) -> list[str]:
        return [h.strip().lower() for h in self.trusted_hosts.split(",") if h.strip()]

    @property
    def outbox_path(self) -> Path:
        return Path(self.instance_path) / "outbox"

    @property
    def old_data_keys(self) -> list[str]:
        return [key.strip() for key in self.data_keys_old.split(",") if key.strip()]

    @property
    def sms_outbox_path(self) -> Path:
        return Path(self.instance_path) / "sms-outbox"


FIELDS = {f.name: f for f in dataclasses.fields(Settings)}


def load_settings(overrides: dict | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    environ = os.environ if environ is None else environ
    values = _read_toml(CONFIG_DIR / "defaults.toml")
    missing = set(FIELDS) - set(values)
    if missing:
        raise ConfigError(f"config/defaults.toml lacks a default for: {', '.join(sorted(missing))}")
    local = environ.get("IDP_CONFIG") or str(CONFIG_DIR / "local.toml")
    if Path(local).exists():
        values.update(_read_toml(Path(local)))
    elif environ.get("IDP_CONFIG"):
        raise ConfigError(f"IDP_CONFIG: no such file: {local}")
    for name in FIELDS:
        env_name = "IDP_" + name.upper()
        if env_name in environ:
            values[name] = environ[env_name]
    values.update(overrides or {})
    unknown = set(values) - set(FIELDS)
    if unknown:
        raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    values = {name: _coerce(name, value) for name, value in values.items()}
    values = _fill_derived(values)
    settings = Settings(**values)
    _validate(settings)
    return settings



def _read_toml(path: Path) -> dict:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{path}: {e}") from None


def _coerce(name: str, value):
    kind = FIELDS[name].type
    if kind == "int":
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"IDP_{name.upper()}: expected a whole number, got {value!r}") from None
        if number < 0:
            raise ConfigError(f"IDP_{name.upper()}: must not be negative")
        return number
    return str(value).strip()


def _fill_derived(values: dict) -> dict:
    home = resources.default_home()
    instance = Path(values["instance_path"] or home / "instance").resolve()
    # An instance folder from before the subject salt existed: its identifiers came from the data key.
    upgrading = (instance / "data_key").exists() and not (instance / "subject_salt").exists()
    values["instance_path"] = str(instance)
    values["keys_path"] = str(Path(values["keys_path"] or home / "keys").resolve())
    values["issuer"] = values["issuer"].rstrip("/")
    if not values["database_url"]:
        instance.mkdir(parents=True, exist_ok=True)
        values["database_url"] = f"sqlite:///{instance / 'idp.sqlite3'}"
    if not values["secret_key"]:
        values["secret_key"] = _generated_secret(instance / "secret_key", lambda: secrets.token_urlsafe(48))
    if not values["data_key"]:
        values["data_key"] = _generated_secret(instance / "data_key", lambda: Fernet.generate_key().decode())
    if not values["subject_salt"]:
        values["subject_salt"] = _generated_secret(instance / "subject_salt", lambda: (
            subject_salt.from_data_key(values["data_key"]) if upgrading else secrets.token_urlsafe(32)))
    return values


def _generated_secret(path: Path, make) -> str:
    """A secret made once per instance, so that none is ever committed or hard-coded."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(make())
    return path.read_text().strip()


def is_loopback_host(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


_HOST_NAME = re.compile(r"\.?[a-z0-9-]+(\.[a-z0-9-]+)*")  # a leading dot: that domain and its subdomains


def _validate(s: Settings) -> None:
    url = urlsplit(s.issuer)
    if url.scheme not in ("http", "https") or not url.hostname or url.query or url.fragment:
        raise ConfigError(f"IDP_ISSUER: not an absolute http(s) URL: {s.issuer!r}")
    if url.scheme == "http" and not is_loopback_host(url.hostname):
        raise ConfigError("IDP_ISSUER: must be https unless it is a loopback address")
    if s.redis_url and urlsplit(s.redis_url).scheme not in ("redis", "rediss", "unix"):
        raise ConfigError("IDP_REDIS_URL: expected redis://, rediss:// or unix://")
    if s.smtp_url and urlsplit(s.smtp_url).scheme not in ("smtp", "smtps"):
        raise ConfigError("IDP_SMTP_URL: expected smtp:// or smtps://")
    for host in s.trusted_host_list:
        if not _HOST_NAME.fullmatch(host):
            raise ConfigError(f"IDP_TRUSTED_HOSTS: not a host name: {host!r} (no scheme, port or path)")
    if s.sms_gateway_url:
        gateway = urlsplit(s.sms_gateway_url)
        if gateway.scheme not in ("http", "https") or not gateway.hostname:
            raise ConfigError("IDP_SMS_GATEWAY_URL: not an absolute http(s) URL")
        if gateway.scheme == "http" and not is_loopback_host(gateway.hostname):
            raise ConfigError("IDP_SMS_GATEWAY_URL: must be https unless it is a loopback address")
    _validate_registry(s)
    if s.log_format not in ("text", "json"):
        raise ConfigError("IDP_LOG_FORMAT: expected text or json")
    if s.mail_delivery not in ("background", "external", "inline"):
        raise ConfigError("IDP_MAIL_DELIVERY: expected background, external or inline")
    if s.default_locale not in ("ar", "en"):
        raise ConfigError("IDP_DEFAULT_LOCALE: expected ar or en")
    if len(s.secret_key) < 32:
        raise ConfigError("IDP_SECRET_KEY: must be at least 32 characters")
    try:
        Fernet(s.data_key.encode())
    except ValueError:
        raise ConfigError("IDP_DATA_KEY: not a valid Fernet key (32 url-safe base64-encoded bytes)") from None
    for old in s.old_data_keys:
        try:
            Fernet(old.encode())
        except ValueError:
            raise ConfigError("IDP_DATA_KEYS_OLD: each key must be a valid Fernet key, comma-separated") from None
    if s.subject_salt.startswith(subject_salt.LEGACY_PREFIX):
        if subject_salt.legacy_salts(s.subject_salt) is None:
            raise ConfigError("IDP_SUBJECT_SALT: a legacy salt is the exact output of "
                              "`idp secrets subject-salt --from-data-key`")
    elif len(s.subject_salt) < 32:
        raise ConfigError("IDP_SUBJECT_SALT: must be at least 32 characters")
    if s.oidc_code_seconds > 60:
        raise ConfigError("IDP_OIDC_CODE_SECONDS: at most 60 (authorization codes must be short-lived)")
    for name in ("session_idle_minutes", "session_absolute_hours", "login_lockout_after",
                 "captcha_ttl_seconds", "recovery_link_minutes", "max_request_bytes",
                 "oidc_code_seconds", "oidc_access_token_seconds", "oidc_id_token_seconds",
                 "oidc_refresh_token_hours", "keys_refresh_seconds", "sms_gateway_timeout_seconds",
                 "sms_code_minutes", "sms_code_attempts", "sms_codes_per_day", "login_hard_cap",
                 "totp_max_failures", "device_cookie_days", "probe_timeout_ms", "mail_max_attempts",
                 "mail_first_retry_seconds", "backchannel_logout_attempts", "backchannel_logout_timeout_seconds",
                 "registry_timeout_seconds"):
        if getattr(s, name) == 0:
            raise ConfigError(f"IDP_{name.upper()}: must be greater than zero")


def _validate_registry(s: Settings) -> None:
    """http needs a URL, https needs our client certificate (the registry holds personal data and
    must know who asks); plain http only to a loopback address (e.g. a local TLS-terminating proxy)."""
    if s.registry not in ("database", "http"):
        raise ConfigError("IDP_REGISTRY: expected database or http")
    if s.registry == "database":
        if s.registry_url:
            raise ConfigError("IDP_REGISTRY_URL: set, but IDP_REGISTRY is database; set IDP_REGISTRY=http to use it")
        return
    url = urlsplit(s.registry_url)
    if url.scheme not in ("http", "https") or not url.hostname or url.query or url.fragment:
        raise ConfigError("IDP_REGISTRY_URL: IDP_REGISTRY=http needs an absolute http(s) URL, no query")
    if url.scheme == "http":
        if not is_loopback_host(url.hostname):
            raise ConfigError("IDP_REGISTRY_URL: must be https unless it is a loopback address")
        if s.registry_client_cert or s.registry_client_key or s.registry_ca:
            raise ConfigError("IDP_REGISTRY_CLIENT_CERT, _KEY and _CA need an https IDP_REGISTRY_URL")
    elif not (s.registry_client_cert and s.registry_client_key):
        raise ConfigError("IDP_REGISTRY_CLIENT_CERT and IDP_REGISTRY_CLIENT_KEY: required with an https registry")
