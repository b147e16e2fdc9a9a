"""idp.identity.credentials: each credential change returns an Outcome naming its audit event, and
a password change ends the other sessions in the caller's transaction."""
from __future__ import annotations

import pyotp
from sqlalchemy import select

from idp import audit
from idp.audit import Actor
from idp.identity import credentials, totp
from idp.identity.sessions import SessionStore
from idp.models import AuditEvent
from tests.conftest import STRONG_PASSWORD

NEW_PASSWORD = "a different long passphrase 8"


def _sessions(services) -> SessionStore:
    return SessionStore.from_settings(services.db.engine, services.settings)


def test_a_wrong_current_password_is_refused_on_its_field_and_records_nothing(services, db, people, identities):
    identity = identities.make(people["citizen"]).identity
    result = credentials.change_password(db, _sessions(services), identity, "not the password", NEW_PASSWORD, None)
    assert (result.success, result.event) == (False, None)
    assert result.errors == {"current_password": "Your current password is not correct."}
    audit.record_outcome(db, Actor(ip="192.0.2.1"), result)
    db.commit()
    assert db.scalars(select(AuditEvent.kind).where(AuditEvent.identity_id == identity.id)).all() == []


def test_the_same_password_again_is_refused_on_the_new_field(services, db, people, identities):
    identity = identities.make(people["citizen"]).identity
    result = credentials.change_password(db, _sessions(services), identity, STRONG_PASSWORD, STRONG_PASSWORD, None)
    assert result.errors == {"new_password": "Choose a password different from the current one."}


def test_a_change_ends_the_other_sessions_and_names_its_event(services, db, people, identities):
    identity = identities.make(people["citizen"]).identity
    sessions = _sessions(services)
    sessions.create("this-one", {"identity_uuid": identity.uuid})
    sessions.create("another", {"identity_uuid": identity.uuid})
    result = credentials.change_password(db, sessions, identity, STRONG_PASSWORD, NEW_PASSWORD, keep_session="this-one")
    assert (result.success, result.event, dict(result.extra)) == (True, "password.changed", {"via": "account"})
    audit.record_outcome(db, Actor(ip="192.0.2.1"), result)
    db.commit()
    assert sessions.load("this-one") is not None and sessions.load("another") is None
    kinds = db.scalars(select(AuditEvent.kind).where(AuditEvent.identity_id == identity.id)).all()
    assert kinds == ["password.changed"]


def test_a_reset_ends_every_session(services, db, people, identities):
    identity = identities.make(people["citizen"]).identity
    sessions = _sessions(services)
    sessions.create("mine", {"identity_uuid": identity.uuid})
    result = credentials.reset_password(db, sessions, identity, NEW_PASSWORD)
    db.commit()
    assert (result.event, dict(result.extra)) == ("password.changed", {"via": "recovery"})
    assert sessions.load("mine") is None


def test_a_weak_reset_is_refused_and_changes_nothing(services, db, people, identities):
    identity = identities.make(people["citizen"]).identity
    result = credentials.reset_password(db, _sessions(services), identity, "password")
    assert not result.success and list(result.errors) == ["new_password"]


def test_an_email_change_is_refused_for_a_bad_address_and_masked_when_sent(services, db, people, identities):
    identity = identities.make(people["citizen"]).identity
    refused = credentials.request_email_change(db, services.mailer, identity, "not an address", 24, lambda t: t)
    assert not refused.success and list(refused.errors) == ["email"]
    sent = credentials.request_email_change(db, services.mailer, identity, "New.Address@Example.com", 24,
                                            lambda t: f"https://idp.example/verify/{t}")
    assert (sent.success, sent.event, sent.value) == (True, "identity.email_change_requested", "Ne***@example.com")


def test_totp_on_with_a_good_code_gives_recovery_codes_to_show_not_to_record(services, db, people, identities):
    identity = identities.make(people["citizen"]).identity
    secret = totp.new_secret()
    wrong = credentials.enable_totp(db, services.store, services.fernet, identity, secret, "000000")
    assert not wrong.success and list(wrong.errors) == ["otp"]
    result = credentials.enable_totp(db, services.store, services.fernet, identity, secret, pyotp.TOTP(secret).now())
    assert (result.success, result.event) == (True, "mfa.totp_enabled")
    assert len(result.value) >= 8 and result.extra == {}  # the codes never reach the audit log
    assert credentials.regenerate_recovery_codes(db, identity).event == "mfa.recovery_codes_regenerated"
    assert credentials.disable_totp(db, identity).event == "mfa.totp_disabled"
