"""OpenID Connect Back-Channel Logout 1.0: which portals an IdP session signed in to, and the
logout tokens they are owed when it ends.

At every code (and SAML assertion) issued, the portal, the `sub` it was given and the session's
`sid` are recorded in PostgreSQL (`PortalSignIn`): a session ending on another device, by a password
reset or by an administrator's lock can then be told to every portal without the browser. `sid` is a
random value kept in the session data (§2.1: never the session cookie's id).

When a session ends, each OIDC portal with a registered back-channel logout URI gets a delivery row
(`LogoutDelivery`) in the caller's transaction; idp.oidc.logout_delivery signs and sends it off the
request path, after the commit. Nothing here signs, sends or imports Flask.
"""
from __future__ import annotations

import datetime as dt
import secrets
import weakref

from sqlalchemy import delete, event, select
from sqlalchemy.orm import Session

from idp.models import LogoutDelivery, PortalSignIn, RelyingParty, utcnow

SESSION_KEY = "logout_sid"  # where the IdP session keeps its sid
SAML_ENDED_KEY = "saml_sign_ins_ended"  # in the database session's info: SAML sign-ins this request ended
EVENT = "http://schemas.openid.net/event/backchannel-logout"
# engine → a function that wakes that app's deliverer; called after a commit that queued deliveries
_WAKERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def new_sid() -> str:
    return secrets.token_urlsafe(24)


def record_sign_in(db: Session, identity_uuid: str, sid: str, protocol: str, client_id: str, sub: str) -> None:
    """This session signed `identity_uuid` in to `client_id`, which knows them as `sub`."""
    known = db.scalar(select(PortalSignIn.id).where(
        PortalSignIn.sid == sid, PortalSignIn.client_id == client_id, PortalSignIn.sub == sub,
        PortalSignIn.ended_at.is_(None)).limit(1))
    if known is None:
        db.add(PortalSignIn(identity_uuid=identity_uuid, sid=sid, protocol=protocol, client_id=client_id,
                            sub=sub))


def session_ended(db: Session, identity, sid: str | None) -> list[PortalSignIn]:
    """One IdP session ended (sign-out, RP-initiated logout): tell the portals it signed in to."""
    if not sid:
        return []
    return _end(db, identity, PortalSignIn.identity_uuid == identity.uuid, PortalSignIn.sid == sid)


def sessions_ended(db: Session, identity, client_id: str | None = None) -> list[PortalSignIn]:
    """Every session of `identity` ended (sign out of all devices, password change or reset, an
    administrator's lock), or — with `client_id` — its sign-ins to one portal (consent withdrawn)."""
    conditions = [PortalSignIn.identity_uuid == identity.uuid]
    if client_id is not None:
        conditions.append(PortalSignIn.client_id == client_id)
    return _end(db, identity, *conditions)


def open_sign_ins(db: Session, identity_uuid: str, protocol: str | None = None) -> list[PortalSignIn]:
    conditions = [PortalSignIn.identity_uuid == identity_uuid, PortalSignIn.ended_at.is_(None)]
    if protocol:
        conditions.append(PortalSignIn.protocol == protocol)
    return list(db.scalars(select(PortalSignIn).where(*conditions).order_by(PortalSignIn.id)))


def saml_services(db: Session, identity_uuid: str) -> list[RelyingParty]:
    """The SAML service providers this identity was ever signed in to (the account page's connected
    services: SAML asks no consent, so the sign-ins are the record)."""
    entity_ids = select(PortalSignIn.client_id).where(PortalSignIn.identity_uuid == identity_uuid,
                                                      PortalSignIn.protocol == "saml")
    return list(db.scalars(select(RelyingParty).where(RelyingParty.protocol == "saml",
                                                      RelyingParty.entity_id.in_(entity_ids))
                           .order_by(RelyingParty.name)))


def _end(db: Session, identity, *conditions) -> list[PortalSignIn]:
    ended = list(db.scalars(select(PortalSignIn).where(PortalSignIn.ended_at.is_(None), *conditions)
                            .with_for_update()))
    now = utcnow()
    for row in ended:
        row.ended_at = now
    queued = _enqueue(db, identity, [row for row in ended if row.protocol == "oidc"])
    if queued:
        db.info["logout_queued"] = True
    # SAML SPs are told through a browser (idp.web.saml_logout), if the session ended in one
    db.info.setdefault(SAML_ENDED_KEY, []).extend(
        {"sp": row.client_id, "name_id": row.sub} for row in ended if row.protocol == "saml")
    return ended


def _enqueue(db: Session, identity, sign_ins: list[PortalSignIn]) -> int:
    """One delivery per (portal, sid): §2.4 claims but iss and iat, which are set at each attempt."""
    if not sign_ins:
        return 0
    portals = {rp.client_id: rp for rp in db.scalars(select(RelyingParty).where(
        RelyingParty.protocol == "oidc", RelyingParty.enabled.is_(True),
        RelyingParty.backchannel_logout_uri.is_not(None),
        RelyingParty.client_id.in_({row.client_id for row in sign_ins})))}
    queued = set()
    for row in sign_ins:
        rp = portals.get(row.client_id)
        if rp is None or (row.client_id, row.sid) in queued:
            continue
        queued.add((row.client_id, row.sid))
        claims: dict[str, object] = {"aud": rp.client_id, "sub": row.sub, "sid": row.sid,
                                     "jti": secrets.token_urlsafe(24), "events": {EVENT: {}}}
        db.add(LogoutDelivery(client_id=rp.client_id, identity_id=identity.id, uri=rp.backchannel_logout_uri,
                              claims=claims, alg=rp.id_token_alg, attempts=0, next_attempt_at=utcnow(),
                              state="pending"))
    return len(queued)


def saml_not_told(db: Session, identity_id: int) -> int:
    """Audit the SAML sign-ins this transaction ended where no browser will carry a LogoutRequest
    (an administrator's lock): the SPs cannot be reached, and the record says so."""
    from idp import audit

    ended = db.info.pop(SAML_ENDED_KEY, [])
    for record in ended:
        audit.record(db, "saml.logout_unreachable", audit.CLI, identity_id, entity_id=record["sp"],
                     reason="no browser to carry the LogoutRequest")
    return len(ended)


def prune(db: Session, keep_sign_ins_hours: int, now=None) -> int:
    """Delete sign-ins that ended a day ago or began longer ago than any IdP session lives, and
    deliveries finished a week ago (their attempts stay in the audit log)."""
    now = now or utcnow()
    day = dt.timedelta(days=1)
    count = db.execute(delete(PortalSignIn).where(
        (PortalSignIn.ended_at < now - day) | (PortalSignIn.created_at < now - dt.timedelta(hours=keep_sign_ins_hours))
    ).execution_options(synchronize_session=False)).rowcount  # type: ignore[attr-defined]  # DML: a CursorResult
    return count + db.execute(delete(LogoutDelivery).where(
        LogoutDelivery.state != "pending", LogoutDelivery.created_at < now - 7 * day
    ).execution_options(synchronize_session=False)).rowcount  # type: ignore[attr-defined]  # DML: a CursorResult


def on_queued(engine, wake) -> None:
    """Call `wake()` after any commit on `engine` that queued a logout delivery."""
    _WAKERS[engine] = wake


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.info.pop("logout_queued", False):
        wake = _WAKERS.get(session.get_bind())
        if wake is not None:
            wake()


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop("logout_queued", None)
