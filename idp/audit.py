"""Security events, one function per kind. Each is a row in audit_events and a log line.

Never pass a password, code, token or secret here: the detail is stored and logged as it is.
"""
from __future__ import annotations

import dataclasses
import logging
from typing import cast

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from idp import logs
from idp.metrics import count_event
from idp.models import AuditEvent

log = logging.getLogger("idp.audit")
# Built once: a prebuilt INSERT skips the unit of work and the statement construction of an ORM add
# (about 0.1 ms of CPU per event; every code exchange and refresh records one; issue 10).
_INSERT = insert(cast(Table, AuditEvent.__table__))


@dataclasses.dataclass(frozen=True)
class Actor:
    """Where a request came from. `admin` is set for CLI actions."""

    ip: str | None = None
    user_agent: str | None = None
    admin: str | None = None


CLI = Actor(admin="cli")


def record(session: Session, kind: str, actor: Actor, identity_id: int | None = None, **detail) -> None:
    """Write the event in `session`'s transaction; it is kept with the caller's own commit (and
    gone with its rollback)."""
    if actor.admin:
        detail["admin"] = actor.admin
    request_id = logs.current_request_id()
    if request_id:  # ties the event to the balancer's and the access log's lines
        detail["request_id"] = request_id
    logs.note(client_id=detail.get("client_id"), sp=detail.get("entity_id"))
    session.execute(_INSERT, {"kind": kind, "identity_id": identity_id, "ip": actor.ip,
                              "user_agent": (actor.user_agent or "")[:300] or None, "detail": detail})
    log.info("%s identity=%s ip=%s %s", kind, identity_id, actor.ip, detail or "",
             extra={"event": kind, "identity_id": identity_id})
    count_event(kind, detail)


def admin_action(s, actor, identity_id, action): record(s, f"admin.{action}", actor, identity_id)
# registration
def registry_unavailable(s, actor, reason): record(s, "registration.registry_unavailable", actor, reason=reason)


def record_outcome(s, actor, outcome) -> None:
    """Record a service's `idp.outcomes.Outcome` under the event the service named (if any), then
    the further events it carries, in order."""
    if outcome.event:
        record(s, outcome.event, actor, outcome.identity_id, **outcome.extra)
    for event, extra in outcome.also:
        record(s, event, actor, outcome.identity_id, **extra)
