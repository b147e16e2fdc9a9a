"""The service provider's settings, each declared once with its default and meaning.

Read from `SAMLSP_*` environment variables, then from the overrides given to `create_app`.
A bad value stops start-up with one line naming the setting (`ConfigError`).
"""
from __future__ import annotations

import dataclasses
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

REPO_ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = {"127.0.0.1", "::1", "localhost"}


@dataclasses.dataclass(frozen=True)
class Setting:
    name: str
    default: str | None
    doc: str


SETTINGS = (
    Setting("SAMLSP_BASE_URL", "http://127.0.0.1:5002",
            "The SP's public URL; its entityID, ACS and SLS are built on it"),
    Setting("SAMLSP_IDP_METADATA_URL", "http://127.0.0.1:5000/saml/metadata", "Where the IdP publishes its metadata"),
    Setting("SAMLSP_INSTANCE_PATH", str(REPO_ROOT / "instance" / "saml_sp"),
            "Generated files: the SP's key (0600) and certificate, the secret key, the SQLite file"),
    Setting("SAMLSP_SECRET_KEY", None, "Signs the session cookie and CSRF tokens; else generated once into "
                                       "the instance folder"),
)


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the message is one line naming it."""


def load(overrides: dict | None = None) -> tuple[dict, dict]:
    """Return (the SP's settings, the remaining overrides, which are plain Flask config)."""
    overrides = dict(overrides or {})
    values = {}
    for setting in SETTINGS:
        raw = overrides.pop(setting.name, None) or os.environ.get(setting.name) or setting.default
        values[setting.name] = raw.strip() if isinstance(raw, str) else raw
    values["SAMLSP_BASE_URL"] = _url("SAMLSP_BASE_URL", values["SAMLSP_BASE_URL"]).rstrip("/")
    values["SAMLSP_IDP_METADATA_URL"] = _url("SAMLSP_IDP_METADATA_URL", values["SAMLSP_IDP_METADATA_URL"])
    folder = Path(values["SAMLSP_INSTANCE_PATH"])
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as e:
        raise ConfigError(f"SAMLSP_INSTANCE_PATH {str(folder)!r} cannot be created: {e.strerror}") from None
    values["SAMLSP_INSTANCE_PATH"] = str(folder)
    values["SAMLSP_SECRET_KEY"] = values["SAMLSP_SECRET_KEY"] or _generated_secret(folder / "secret_key")
    return values, overrides


def _url(name: str, url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ConfigError(f"{name} must be an absolute http(s) URL without query or fragment, not {url!r}")
    # Assertions and the IdP's certificate cross this URL: plain http only on the machine itself.
    if parts.scheme == "http" and parts.hostname not in LOOPBACK:
        raise ConfigError(f"{name} must use https (http only on loopback), not {url!r}")
    return url


def write_once(path: Path, make: Callable[[], bytes], mode: int) -> bytes:
    """The file written on an earlier start, or what `make()` returns, written now; never overwritten.

    Written aside, then linked into place: workers starting together all end up with one file.
    """
    if not path.exists():
        draft = path.with_name(f".{path.name}.{os.getpid()}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(make())
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_bytes()


def _generated_secret(path: Path) -> str:
    key = write_once(path, lambda: (secrets.token_urlsafe(32) + "\n").encode(), 0o600).decode().strip()
    if not key:
        raise ConfigError(f"{path} is empty: delete it or set SAMLSP_SECRET_KEY")
    return key
