"""The token endpoint's CIBA grant, `urn:openid:params:grant-type:ciba` (CIBA Core 1.0 §10, §11),
poll mode: the state machine of one authentication request, in PostgreSQL.

    pending ──approved, first poll that sees it──▶ issued   (tokens, once; then invalid_grant)
       │ ──denied / wrong number / cancelled─────▶ refused  (access_denied)
       └──past expires_at, or the approval expired──────────  expired_token

While pending, each poll answers `authorization_pending`; a poll sooner than `interval` seconds
after the previous one answers `slow_down` and adds SLOW_DOWN_STEP seconds to the interval for
this and every later poll (§11). The poll time is compare-and-set, so two concurrent polls cannot
both pass as on time; `issued` is set the same way, so only one poll ever gets the tokens.

Nothing here issues tokens: the engine does, through the code flow's machinery (engine.py, 11).
"""
from __future__ import annotations

import dataclasses
import datetime as dt

from pyop.exceptions import OAuthError
from sqlalchemy import update
from sqlalchemy.orm import Session

from idp.approval import requests as approvals
from idp.authn import levels
from idp.models import Approval, CibaRequest
from idp.oidc.ciba import SLOW_DOWN_STEP, auth_req_id_hash
from idp.oidc.token_families import aware

POLL_LEEWAY = dt.timedelta(seconds=1)  # network jitter: a client sleeping `interval` may arrive early
REFUSED = frozenset({"denied", "cancelled"})  # the approval service's ends that mean "no"


@dataclasses.dataclass(frozen=True)
class Approved:
    """What the citizen approved, for the tokens."""

    identity_uuid: str
    client_id: str
    scope: str
    acr: str
    amr: list
    auth_time: int


def _error(code: str, description: str) -> OAuthError:
    return OAuthError(description, code)


def poll(db: Session, auth_req_id, client_id: str, now: dt.datetime) -> Approved:
    """One poll (§10.1) by the authenticated `client_id`: Approved once, else the §11 error.
    Commits the poll's own changes (its time, a longer interval, the end state) itself."""
    if not isinstance(auth_req_id, str) or not 0 < len(auth_req_id) <= 200:
        raise _error("invalid_request", "auth_req_id is required")
    row = db.get(CibaRequest, auth_req_id_hash(auth_req_id))
    if row is None or row.client_id != client_id:  # §11: issued to another client is invalid_grant
        raise _error("invalid_grant", "unknown auth_req_id")
    if row.state == "issued":
        raise _error("invalid_grant", "the tokens of this auth_req_id were issued already")
    if row.state == "refused":
        raise _error("access_denied", "the citizen did not approve")
    if now >= _utc(row.expires_at):
        raise _error("expired_token", "the authentication request expired")
    _pace(db, row, now)
    if row.approval_id is None:  # no identity with that national ID: it waits, then expires
        raise _error("authorization_pending", "waiting for the citizen's approval")
    return _settle(db, row, now)


def _pace(db: Session, row: CibaRequest, now: dt.datetime) -> None:
    """§11 slow_down: the interval grows by SLOW_DOWN_STEP for this and all later polls."""
    previous = aware(row.last_polled_at)
    early = previous is not None and now < previous + dt.timedelta(seconds=row.interval) - POLL_LEEWAY
    same = CibaRequest.last_polled_at.is_(None) if previous is None else CibaRequest.last_polled_at == previous
    values = {"interval": CibaRequest.interval + SLOW_DOWN_STEP} if early else {"last_polled_at": now}
    moved = _update(db, row, values, same)
    db.commit()
    if early or not moved:  # not moved: a concurrent poll of the same request got in first
        raise _error("slow_down", "polled too often; wait the interval, which grew by 5 seconds")


def _settle(db: Session, row: CibaRequest, now: dt.datetime) -> Approved:
    found = approvals.get(db, row.approval_id or "", now)
    status = found.status if found is not None else "expired"
    if status == "pending":
        raise _error("authorization_pending", "waiting for the citizen's approval")
    if status in REFUSED:
        _end(db, row, "refused")
        raise _error("access_denied", "the citizen did not approve")
    if status != "approved" or found is None:  # None: the approval is gone (pruned)
        raise _error("expired_token", "the citizen's approval request expired")
    amr = list(found.amr or [])
    acr = levels.level_for(amr)
    if row.acr and not levels.satisfies(acr, row.acr):  # acr_values (§7.1) that this approval misses
        _end(db, row, "refused")
        raise _error("access_denied", "the approval did not reach the requested acr")
    if not _end(db, row, "issued"):
        raise _error("invalid_grant", "the tokens of this auth_req_id were issued already")
    if approvals.redeem(db, found.id, now) is None:  # expired since, or used by another: nothing commits
        raise _error("expired_token", "the citizen's approval request expired")
    db.commit()
    decided = db.get(Approval, found.id)  # auth_time: when the citizen approved (the view has no such field)
    approved_at = (decided.decided_at if decided is not None else None) or now
    return Approved(identity_uuid=row.identity_uuid or "", client_id=row.client_id, scope=row.scope, acr=acr,
                    amr=amr, auth_time=int(_utc(approved_at).timestamp()))


def _end(db: Session, row: CibaRequest, state: str) -> bool:
    ended = _update(db, row, {"state": state}, CibaRequest.state == "pending")
    db.commit() if state == "refused" else db.flush()
    return ended


def _update(db: Session, row: CibaRequest, values: dict, condition) -> bool:
    result = db.execute(update(CibaRequest).where(CibaRequest.id == row.id, condition).values(**values)
                        .execution_options(synchronize_session=False))
    db.expire(row)
    return result.rowcount == 1  # type: ignore[attr-defined]


def _utc(moment: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes; every time here is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)
