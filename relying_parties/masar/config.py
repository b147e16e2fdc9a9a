"""Masar's settings, each declared once with its default and meaning.

Read from `MASAR_*` environment variables, then from the overrides given to `create_app`.
A missing or bad value stops start-up with one line naming the setting (`ConfigError`).
"""
from __future__ import annotations

import dataclasses
import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

REPO_ROOT = Path(__file__).resolve().parents[2]
INSTANCE = REPO_ROOT / "instance"
SECRET_KEY_FILE = INSTANCE / "masar_secret_key"
LOOPBACK = {"127.0.0.1", "::1", "localhost"}


@dataclasses.dataclass(frozen=True)
class Setting:
    name: str
    default: str | None
    doc: str


SETTINGS = (
    Setting("MASAR_IDP_ISSUER", "http://127.0.0.1:5000", "The national IdP's issuer; discovery is under it"),
    Setting("MASAR_CLIENT_ID", None, "Masar's client_id at the IdP (`idp rp register-oidc`)"),
    Setting("MASAR_CLIENT_SECRET", None, "Masar's client_secret, shown once at registration"),
    Setting("MASAR_BASE_URL", "http://127.0.0.1:5001", "Masar's public URL; its redirect URIs are built on it"),
    Setting("MASAR_DATABASE", str(INSTANCE / "masar.sqlite3"), "The portal's own SQLite file"),
    Setting("MASAR_SECRET_KEY", None, "Signs the session cookie and CSRF tokens; else generated once into "
                                      "instance/masar_secret_key"),
)


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the message is one line naming it."""


def load(overrides: dict | None = None) -> tuple[dict, dict]:
    """Return (Masar's settings, the remaining overrides, which are plain Flask config)."""
    overrides = dict(overrides or {})
    values = {}
    for setting in SETTINGS:
        raw = overrides.pop(setting.name, None) or os.environ.get(setting.name) or setting.default
        values[setting.name] = raw.strip() if isinstance(raw, str) else raw
    for name in ("MASAR_CLIENT_ID", "MASAR_CLIENT_SECRET"):
        if not values[name]:
            raise ConfigError(f"{name} is required: register Masar with `idp rp register-oidc` and set it")
    for name in ("MASAR_IDP_ISSUER", "MASAR_BASE_URL"):
        values[name] = _base_url(name, values[name])
    values["MASAR_SECRET_KEY"] = values["MASAR_SECRET_KEY"] or _generated_secret(SECRET_KEY_FILE)
    return values, overrides


def _base_url(name: str, url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ConfigError(f"{name} must be an absolute http(s) URL without query or fragment, not {url!r}")
    # Tokens and cookies cross this URL: plain http is only acceptable on the machine itself.
    if parts.scheme == "http" and parts.hostname not in LOOPBACK:
        raise ConfigError(f"{name} must use https (http only on loopback), not {url!r}")
    return url.rstrip("/")


def _generated_secret(path: Path) -> str:
    """The key generated on an earlier start, or a new one (mode 0600, never overwritten)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        # Written aside, then linked into place: workers starting together all end up with one key.
        draft = path.with_name(f".{path.name}.{os.getpid()}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(32) + "\n")
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    key = path.read_text().strip()
    if not key:
        raise ConfigError(f"{path} is empty: delete it or set MASAR_SECRET_KEY")
    return key
