"""Approval requests: a sign-in the citizen approves in the app by picking the number shown on the
signing-in screen among three, then confirming with the phone's passkey (issue 14). Durable state
in PostgreSQL (`approval_requests`); no Flask. Used by the web sign-in ("Sign in with the app") and
by CIBA (OpenID Connect CIBA Core 1.0 §7: the `binding_message` is the number).

API (times are timezone-aware UTC datetimes; `now` defaults to the current time):

- `start(db, identity, *, portal_name_ar, portal_name_en, origin, binding_number=None, place=None,
  now=None, rate_limited=True) -> ApprovalRequest` — `origin` is "web" or "ciba"; `binding_number` is a string of 2 to 6
  ASCII digits (ValidationError otherwise); when None a two-digit number "10".."99" is picked. The
  request offers three distinct numbers of that length, the binding number among them, in random
  order; it expires after `LIFETIME` (120 s). One pending request per identity: starting one cancels
  the identity's older pending request (status "cancelled", reason "superseded"), so nobody can
  block a citizen by keeping a request open. More than `MAX_STARTS` starts per identity within
  `WINDOW` raise `idp.errors.Throttled` (durable count, push-fatigue guard); `rate_limited=False`
  skips that check for a caller that knows the citizen is asking (the web sign-in from a browser
  that signed in as this identity before), so strangers' requests cannot lock the citizen out.
  The id is 256 random bits, URL-safe. The caller commits.
- `get(db, request_id, now=None) -> ApprovalRequest | None` — None for an unknown id.
- `pending_for(db, identity_uuid, now=None) -> ApprovalRequest | None` — the live pending request.
- `approve(db, request_id, device, chosen_number, amr, now=None) -> ApprovalRequest` — call only
  after the device's WebAuthn assertion over `challenge(request, chosen_number)` checked out
  (`idp.approval.devices.verify_approval` does both). `device` is the `models.AppDevice` that signed;
  it must belong to the request's identity. A wrong number sets status "denied", reason
  "wrong_number" (the caller audits `approval.wrong_number`: possible push fatigue) and raises
  `WrongNumber`; otherwise status "approved" with `amr` kept. Raises `NotPending` when the request is
  unknown, expired, already decided or another identity's.
- `deny(db, request_id, device, now=None) -> ApprovalRequest` — the citizen declined ("denied",
  reason "declined"). Raises `NotPending` like `approve`.
- `redeem(db, request_id, now=None) -> ApprovalRequest | None` — marks an approved request used,
  exactly once (one conditional UPDATE), within `REDEEM_WINDOW` (60 s) of its approval: the one
  caller that gets it back signs in; every other caller (and any later) gets None.
- `challenge(request, number) -> bytes` — the WebAuthn challenge that binds the request and the
  chosen number.

`ApprovalRequest` (frozen): id, identity_uuid, origin, binding_number, choices, portal_name_ar,
portal_name_en, place, created_at, expires_at, status ("pending", "approved", "denied", "expired",
"cancelled"; "expired" is computed: a request still pending after `expires_at`; an approved request
stays "approved" and `redeem` refuses it once `REDEEM_WINDOW` has passed), reason, amr (set at approval, e.g.
["hwk", "user", "mfa"]), redeemed_at, device_id.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import random
import secrets

from sqlalchemy import case, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from idp.errors import N_, IdpError, Throttled, ValidationError
from idp.models import AppDevice, Approval, Identity, utcnow

LIFETIME = dt.timedelta(seconds=120)
# An approval given in the request's last second still has time to be collected (a poll interval
# or two), and not much more: it is a bearer of a sign-in until used.
REDEEM_WINDOW = dt.timedelta(seconds=60)
MAX_STARTS = 5  # requests per identity within WINDOW: enough for retries, too few to wear a citizen down
WINDOW = dt.timedelta(minutes=10)
ORIGINS = ("web", "ciba")
_rng = random.SystemRandom()


class NotPending(IdpError):
    """The request is not waiting for a decision (unknown, expired, decided, or not this device's)."""

    http_status = 409

    def __init__(self) -> None:
        super().__init__(N_("This request is no longer waiting for approval."))


class WrongNumber(IdpError):
    """The citizen picked a number other than the one shown: the request is refused."""

    http_status = 409

    def __init__(self) -> None:
        super().__init__(N_("That was not the number shown. The request was refused for your safety."))


@dataclasses.dataclass(frozen=True)
class ApprovalRequest:
    id: str
    identity_uuid: str
    origin: str
    binding_number: str
    choices: list[str]
    portal_name_ar: str
    portal_name_en: str
    place: str | None
    created_at: dt.datetime
    expires_at: dt.datetime
    status: str
    reason: str | None
    amr: list[str]
    redeemed_at: dt.datetime | None
    device_id: int | None
    salt: str = dataclasses.field(repr=False, default="")


def start(db: Session, identity: Identity, *, portal_name_ar: str, portal_name_en: str, origin: str,
          binding_number: str | None = None, place: str | None = None,
          now: dt.datetime | None = None, rate_limited: bool = True) -> ApprovalRequest:
    now = now or utcnow()
    if origin not in ORIGINS:
        raise ValueError(f"origin must be one of {ORIGINS}")
    number = _check_number(binding_number) if binding_number is not None else str(_rng.randint(10, 99))
    recent = db.scalar(select(func.count()).select_from(Approval).where(
        Approval.identity_uuid == identity.uuid, Approval.created_at > now - WINDOW)) if rate_limited else 0
    if (recent or 0) >= MAX_STARTS:
        raise Throttled(N_("Too many approval requests. Please wait a few minutes and try again."),
                        retry_after=int(WINDOW.total_seconds()))
    row = Approval(id=secrets.token_urlsafe(32), identity_uuid=identity.uuid, origin=origin,
                   binding_number=number, choices=_choices(number), salt=secrets.token_hex(32),
                   portal_name_ar=portal_name_ar[:200], portal_name_en=portal_name_en[:200],
                   place=(place or None) and place[:100], created_at=now, expires_at=now + LIFETIME,
                   status="pending", amr=[])
    for attempt in (1, 2):  # a concurrent start may win the one pending slot between our two statements
        _cancel_pending(db, identity.uuid, now)
        try:
            with db.begin_nested():
                db.add(row)
            break
        except IntegrityError:
            if attempt == 2:
                raise
    return _view(row, now)


def get(db: Session, request_id: str, now: dt.datetime | None = None) -> ApprovalRequest | None:
    row = _row(db, request_id)
    return _view(row, now or utcnow()) if row is not None else None


def pending_for(db: Session, identity_uuid: str, now: dt.datetime | None = None) -> ApprovalRequest | None:
    now = now or utcnow()
    row = db.scalar(select(Approval).where(Approval.identity_uuid == identity_uuid, Approval.status == "pending",
                                           Approval.expires_at > now))
    return _view(row, now) if row is not None else None


def approve(db: Session, request_id: str, device: AppDevice, chosen_number: str, amr: list[str],
            now: dt.datetime | None = None) -> ApprovalRequest:
    now = now or utcnow()
    row = _decidable(db, request_id, device, now)
    right = hmac.compare_digest(str(chosen_number).encode(), row.binding_number.encode())
    status, reason = ("approved", None) if right else ("denied", "wrong_number")
    _decide(db, row, device, now, status, reason, list(amr) if right else [])
    if not right:
        raise WrongNumber()
    return _view(row, now)


def deny(db: Session, request_id: str, device: AppDevice, now: dt.datetime | None = None) -> ApprovalRequest:
    now = now or utcnow()
    row = _decidable(db, request_id, device, now)
    _decide(db, row, device, now, "denied", "declined", [])
    return _view(row, now)


def redeem(db: Session, request_id: str, now: dt.datetime | None = None) -> ApprovalRequest | None:
    now = now or utcnow()
    done = db.execute(update(Approval).where(
        Approval.id == request_id, Approval.status == "approved", Approval.redeemed_at.is_(None),
        Approval.decided_at > now - REDEEM_WINDOW).values(redeemed_at=now).execution_options(synchronize_session=False))
    if done.rowcount != 1:  # type: ignore[attr-defined]
        return None
    row = _row(db, request_id)
    if row is None:
        return None
    db.refresh(row)
    return _view(row, now)


def challenge(request: ApprovalRequest, number: str) -> bytes:
    """The WebAuthn challenge for approving `request` with `number` (WebAuthn §13.4.3): 32 bytes that
    depend on the request's random salt, its id and the number, so an assertion approves that
    request with that number only. It needs no server state: the request itself is single-use."""
    return hashlib.sha256(b"approval\x00" + request.salt.encode() + b"\x00" + request.id.encode()
                          + b"\x00" + str(number).encode()).digest()


# --- internals -----------------------------------------------------------------------------------

def _check_number(number: str) -> str:
    if not isinstance(number, str) or not (2 <= len(number) <= 6) or not number.isascii() or not number.isdigit():
        raise ValidationError(N_("The number to show must be 2 to 6 digits."), field="binding_number")
    return number


def _choices(number: str) -> list[str]:
    low, high = (10, 99) if len(number) == 2 else (10 ** (len(number) - 1), 10 ** len(number) - 1)
    picked = {number}
    while len(picked) < 3:
        picked.add(str(_rng.randint(low, high)).zfill(len(number)))
    choices = sorted(picked)
    _rng.shuffle(choices)
    return choices


def _cancel_pending(db: Session, identity_uuid: str, now: dt.datetime) -> None:
    """An older pending request gives way; one that ran out is recorded as expired, not cancelled."""
    ran_out = Approval.expires_at <= now
    db.execute(update(Approval).where(Approval.identity_uuid == identity_uuid, Approval.status == "pending")
               .values(status=case((ran_out, "expired"), else_="cancelled"),
                       reason=case((ran_out, None), else_="superseded"), decided_at=now)
               .execution_options(synchronize_session=False))


def _row(db: Session, request_id: str) -> Approval | None:
    if not isinstance(request_id, str) or not 0 < len(request_id) <= 64:
        return None
    return db.get(Approval, request_id)


def _decidable(db: Session, request_id: str, device: AppDevice, now: dt.datetime) -> Approval:
    row = _row(db, request_id)
    if row is None:
        raise NotPending()
    owner = db.scalar(select(Identity.uuid).where(Identity.id == device.identity_id))
    if owner != row.identity_uuid or row.status != "pending" or _aware(row.expires_at) <= now:
        raise NotPending()
    return row


def _decide(db: Session, row: Approval, device: AppDevice, now: dt.datetime, status: str,
            reason: str | None, amr: list[str]) -> None:
    """Pending → decided, once: the conditional UPDATE loses cleanly to a concurrent decision."""
    done = db.execute(update(Approval).where(Approval.id == row.id, Approval.status == "pending")
                      .values(status=status, reason=reason, decided_at=now, device_id=device.id, amr=amr)
                      .execution_options(synchronize_session=False))
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise NotPending()
    db.refresh(row)


def _aware(value: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes for timezone-aware columns; they were stored in UTC."""
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _view(row: Approval, now: dt.datetime) -> ApprovalRequest:
    expires_at = _aware(row.expires_at)
    status = "expired" if row.status == "pending" and expires_at <= now else row.status
    return ApprovalRequest(
        id=row.id, identity_uuid=row.identity_uuid, origin=row.origin, binding_number=row.binding_number,
        choices=list(row.choices), portal_name_ar=row.portal_name_ar, portal_name_en=row.portal_name_en,
        place=row.place, created_at=_aware(row.created_at), expires_at=expires_at, status=status,
        reason=row.reason, amr=list(row.amr or []),
        redeemed_at=_aware(row.redeemed_at) if row.redeemed_at else None, device_id=row.device_id,
        salt=row.salt)
