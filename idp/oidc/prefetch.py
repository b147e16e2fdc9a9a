"""What an authorization request reads, in one query: its client, the signed-in identity and that
identity's consent to the client (issue 10: one database round trip where there were three)."""
from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from idp.models import Consent, Identity, RelyingParty
from idp.oidc.clients import client_metadata


# Built once: a prebuilt statement's cache key is memoized (see idp.oidc.clients._FIND_OIDC).
_QUERY = (select(RelyingParty, Identity, Consent.scopes).select_from(RelyingParty)
          .outerjoin(Identity, Identity.uuid == bindparam("identity_uuid"))
          .outerjoin(Consent, (Consent.identity_id == Identity.id) & (Consent.relying_party_id == RelyingParty.id))
          .where(RelyingParty.protocol == "oidc", RelyingParty.client_id == bindparam("client_id")))


class WithIdentity(NamedTuple):
    metadata: dict | None  # the client as ClientMetadata gives it; None when unknown or disabled
    identity: Identity | None
    consented_scopes: list[str] | None  # the identity's consent to this client, None when none


def load_with_identity(session: Session, client_id: str, identity_uuid: str) -> WithIdentity | None:
    """An authorization request's client, the signed-in identity (with its registry person) and its
    consent to that client, in one query instead of three. None when there is no such client (the
    caller then reads the identity alone)."""
    if not isinstance(identity_uuid, str) or len(identity_uuid) != 36 or not isinstance(client_id, str) \
            or not 0 < len(client_id) <= 64 or "\x00" in client_id:
        return None  # as clients.find_oidc: no such id can be registered (PostgreSQL refuses NUL in text)
    row = session.execute(_QUERY, {"identity_uuid": identity_uuid, "client_id": client_id}).first()
    if row is None:
        return None
    rp: RelyingParty = row[0]
    identity: Identity | None = row[1]
    scopes: list[str] | None = row[2]
    return WithIdentity(client_metadata(rp) if rp.enabled else None, identity,
                        list(scopes) if scopes is not None else None)
