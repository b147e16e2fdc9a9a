"""Readiness: can this process serve sign-ins now? Each part is checked in a thread of its own
with one deadline, so a dependency that hangs (a stalled PostgreSQL, a frozen Redis) makes the
answer "timeout" within the deadline instead of hanging the probe — a balancer with a short
health-check timeout then takes out the instances that are really unwell, not all of them.

Liveness needs none of this: it only says the process answers.
"""
from __future__ import annotations

import concurrent.futures
import os
import threading
import time

from sqlalchemy import select, text

from idp.models import Identity

# Set when the process is asked to stop: readiness fails at once while requests in flight (and
# the balancer's last ones) are still served, so the balancer moves traffic away first.
DRAINING = threading.Event()

_executor: concurrent.futures.ThreadPoolExecutor | None = None
_executor_pid: int | None = None
_executor_lock = threading.Lock()


def _pool() -> concurrent.futures.ThreadPoolExecutor:
    """One small pool per process (a forked worker must not reuse its parent's threads)."""
    global _executor, _executor_pid
    with _executor_lock:
        if _executor is None or _executor_pid != os.getpid():
            _executor = concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="idp-probe")
            _executor_pid = os.getpid()
        return _executor


def check_database(services) -> None:
    with services.db.engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def check_store(services) -> None:
    services.store.ping()


def check_signing_keys(services) -> None:
    services.keyring.signing_key("RS256")  # raises KeyRingError when there is no active key


def check_secrets(services) -> None:
    """The data key must decrypt what it encrypted — and what is already stored with it."""
    fernet = services.fernet
    if fernet.decrypt(fernet.encrypt(b"probe")) != b"probe":
        raise ValueError("data key does not round-trip")
    with services.db.session() as session:
        sample = session.scalar(select(Identity.totp_secret).where(Identity.totp_secret.is_not(None)).limit(1))
    if sample is not None:
        fernet.decrypt(sample.encode())  # InvalidToken: IDP_DATA_KEY differs from the one that wrote it


# name → check(services); a check raises when its part is not ready. Other parts may add theirs.
CHECKS = {
    "database": check_database,
    "store": check_store,
    "signing_keys": check_signing_keys,
    "secrets": check_secrets,
}


def readiness(services, timeout: float, checks: dict | None = None) -> tuple[bool, dict]:
    """(ready, {part: "ok" | "down" | "timeout" | "draining"}) within about `timeout` seconds."""
    checks = CHECKS if checks is None else checks
    futures = {name: _pool().submit(check, services) for name, check in checks.items()}
    deadline = time.monotonic() + timeout
    parts: dict[str, str] = {}
    errors: dict[str, str] = {}
    for name, future in futures.items():
        try:
            future.result(timeout=max(0.0, deadline - time.monotonic()))
            parts[name] = "ok"
        except concurrent.futures.TimeoutError:
            future.cancel()
            parts[name] = "timeout"
        except Exception as e:  # noqa: BLE001 - any failure means "not ready"; the kind is logged
            parts[name] = "down"
            errors[name] = type(e).__name__
    parts["draining"] = "yes" if DRAINING.is_set() else "no"
    ready = all(parts[name] == "ok" for name in checks) and not DRAINING.is_set()
    return ready, {"parts": parts, "errors": errors}
