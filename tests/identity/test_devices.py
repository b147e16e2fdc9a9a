"""Known devices (idp.identity.devices): remembered once per (identity, browser), refreshed when
the browser signs in again, with whatever else the transaction wrote kept."""
from __future__ import annotations

from sqlalchemy import func, select

from idp.identity import devices
from idp.models import AuditEvent, KnownDevice


def test_remembering_a_browser_twice_keeps_one_row_and_the_rest_of_the_transaction(db, identities, people):
    identity = identities.make(people["citizen"], totp=False).identity
    token = devices.new_token()
    devices.remember(db, identity.id, token)
    first_seen = db.scalar(select(KnownDevice.last_seen_at))
    db.add(AuditEvent(kind="sign_in.succeeded", identity_id=identity.id, detail={}))
    devices.remember(db, identity.id, token)  # commits the event with it
    assert db.scalar(select(func.count()).select_from(KnownDevice)) == 1
    assert db.scalar(select(KnownDevice.last_seen_at)) >= first_seen
    assert db.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.kind == "sign_in.succeeded")) == 1
    assert devices.is_known(db, identity.id, token)
    assert not devices.is_known(db, identity.id, devices.new_token())
