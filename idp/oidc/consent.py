"""Consent (OIDC Core 1.0 §3.1.2.4): remembered per identity and relying party until the asked
scopes grow; revocable from the account page."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from idp.models import Consent, utcnow


def find(session: Session, identity_id: int, relying_party_id: int) -> Consent | None:
    return session.scalar(select(Consent).where(Consent.identity_id == identity_id,
                                                Consent.relying_party_id == relying_party_id))


def covers(session: Session, identity_id: int, relying_party_id: int, scopes) -> bool:
    consent = find(session, identity_id, relying_party_id)
    return consent is not None and set(scopes) <= set(consent.scopes)


def grant(session: Session, identity_id: int, relying_party_id: int, scopes) -> None:
    consent = find(session, identity_id, relying_party_id)
    if consent is None:
        session.add(Consent(identity_id=identity_id, relying_party_id=relying_party_id, scopes=sorted(set(scopes))))
    else:
        consent.scopes = sorted(set(scopes))
        consent.granted_at = utcnow()


def revoke(session: Session, identity_id: int, relying_party_id: int) -> bool:
    consent = find(session, identity_id, relying_party_id)
    if consent is None:
        return False
    session.delete(consent)
    return True


def connected_services(session: Session, identity_id: int) -> list[Consent]:
    return list(session.scalars(select(Consent).where(Consent.identity_id == identity_id)
                                .order_by(Consent.granted_at.desc())))
