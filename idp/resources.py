"""Where the project's own files are: the top-level `config/` and `migrations/` of a checkout when
running from one, else the copies a built wheel ships inside the package (`idp/_shipped/`, put
there by setup.py's build step).

The checkout stays the source; the wheel carries a copy, so an installed package runs anywhere.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
CHECKOUT_DIR = PACKAGE_DIR.parent


def running_from_checkout() -> bool:
    return (CHECKOUT_DIR / "config" / "defaults.toml").is_file() and \
        (CHECKOUT_DIR / "migrations" / "env.py").is_file()


def _shipped(name: str) -> Path:
    return Path(str(resources.files("idp") / "_shipped" / name))


def config_dir() -> Path:
    """The folder holding defaults.toml (and, in a checkout, local.toml)."""
    return CHECKOUT_DIR / "config" if running_from_checkout() else _shipped("config")


def migrations_dir() -> Path:
    """Alembic's script location."""
    return CHECKOUT_DIR / "migrations" if running_from_checkout() else _shipped("migrations")


def default_home() -> Path:
    """Where `instance/` and `keys/` go unless configured: beside a checkout, or the working
    directory of an installed package (never inside site-packages)."""
    return CHECKOUT_DIR if running_from_checkout() else Path.cwd()
