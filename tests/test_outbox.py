"""The mail outbox: queued in the database, delivered over real SMTP (aiosmtpd), retried with backoff."""
import datetime as dt

import pytest
from sqlalchemy import select

from idp.mail import Mailer
from idp.models import OutboxMail
from idp.outbox import Outbox, backoff
from tests.live import free_port


class Clock:
    def __init__(self):
        self.now = dt.datetime.now(dt.UTC)

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += dt.timedelta(seconds=seconds)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def outbox(services, clock):
    return Outbox(services.db, services.fernet, max_attempts=3, clock=clock)


def mailer_for(outbox, smtp_url, delivery="external"):
    return Mailer("IdP <no-reply@idp.test>", smtp_url, queue=outbox, delivery=delivery)


def rows(db):
    db.expire_all()
    return db.scalars(select(OutboxMail).order_by(OutboxMail.id)).all()


def test_send_only_queues_and_the_body_is_encrypted_at_rest(outbox, smtp, db):
    mailer = mailer_for(outbox, smtp.url)
    assert mailer.send("citizen@example.com", "Reset your password", "https://idp.test/recover/link/SECRET-LINK")
    assert smtp.messages == []
    [row] = rows(db)
    assert row.sent_at is None and row.attempts == 0 and "SECRET-LINK" not in row.body
    assert outbox.depth()[0] == 1


def test_delivery_marks_sent_and_blanks_the_body(outbox, smtp, db):
    mailer = mailer_for(outbox, smtp.url)
    mailer.send("citizen@example.com", "Subject", "the body with a link")
    assert outbox.deliver_due(mailer) == (1, 0)
    assert "the body with a link" in smtp.body(smtp.last_to("citizen@example.com"))
    [row] = rows(db)
    assert row.sent_at is not None and row.body == ""
    assert outbox.deliver_due(mailer) == (0, 0)  # never twice
    assert len(smtp.messages) == 1 and outbox.depth() == (0, 0.0)


def test_an_smtp_outage_delays_and_loses_nothing(outbox, smtp, db, clock):
    down = mailer_for(outbox, f"smtp://127.0.0.1:{free_port()}")
    down.send("citizen@example.com", "Subject", "body")
    assert outbox.deliver_due(down) == (0, 1)
    [row] = rows(db)
    assert row.attempts == 1 and row.sent_at is None and "Error" in row.last_error
    assert outbox.deliver_due(mailer_for(outbox, smtp.url)) == (0, 0)  # not due before its backoff
    clock.advance(backoff(1))
    assert outbox.deliver_due(mailer_for(outbox, smtp.url)) == (1, 0)
    assert len(smtp.to("citizen@example.com")) == 1


def test_a_message_is_given_up_after_the_last_attempt(outbox, db, clock):
    down = mailer_for(outbox, f"smtp://127.0.0.1:{free_port()}")
    down.send("citizen@example.com", "Subject", "body")
    for attempt in range(1, 4):
        assert outbox.deliver_due(down) == (0, 1)
        clock.advance(backoff(attempt))
    [row] = rows(db)
    assert row.failed_at is not None and row.attempts == 3 and row.body == ""
    assert outbox.deliver_due(down) == (0, 0) and outbox.depth()[0] == 0


def test_a_claimed_message_is_not_claimed_again_until_its_lease_ends(outbox, clock):
    outbox.enqueue("citizen@example.com", "Subject", "body")
    assert len(outbox.claim()) == 1
    assert outbox.claim() == []
    clock.advance(121)  # the claimant died without reporting back: another sender takes over
    assert len(outbox.claim()) == 1


@pytest.mark.parametrize("attempts,seconds", [(1, 30), (2, 60), (3, 120), (8, 3600), (30, 3600)])
def test_backoff_doubles_up_to_an_hour(attempts, seconds):
    assert backoff(attempts) == seconds


def test_mail_queued_in_the_callers_transaction_waits_for_its_commit(outbox, smtp, db):
    mailer = mailer_for(outbox, smtp.url, delivery="inline")
    mailer.send("citizen@example.com", "Subject", "body", session=db)
    assert smtp.messages == []
    db.rollback()  # the caller's work failed: no mail about it
    assert rows(db) == [] and smtp.messages == []
    mailer.send("citizen@example.com", "Subject", "body", session=db)
    db.commit()
    assert len(smtp.to("citizen@example.com")) == 1


def test_the_background_sender_delivers(outbox, smtp):
    import time

    mailer = mailer_for(outbox, smtp.url, delivery="background")
    try:
        mailer.send("citizen@example.com", "Subject", "body")
        deadline = time.monotonic() + 10
        while not smtp.to("citizen@example.com") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(smtp.to("citizen@example.com")) == 1
    finally:
        mailer.stop_sender()


def test_a_changed_data_key_fails_the_message_instead_of_retrying_forever(services, smtp, db, clock):
    from cryptography.fernet import Fernet

    Outbox(services.db, Fernet(Fernet.generate_key()), clock=clock).enqueue("citizen@example.com", "S", "body")
    outbox = Outbox(services.db, services.fernet, clock=clock)
    assert outbox.deliver_due(mailer_for(outbox, smtp.url)) == (0, 1)
    [row] = rows(db)
    assert row.failed_at is not None and "undecryptable" in row.last_error and smtp.messages == []
