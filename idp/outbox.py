"""The mail outbox: messages queued in the database, delivered by a sender with retries.

A request only inserts a row (cheap, and the same cost whoever the mail is for); a sender —
a thread in each worker, or `idp mail send` — claims due rows and hands them to SMTP. A failed
attempt is retried with exponential backoff (30 s doubling to an hour), so an SMTP outage of
minutes, or hours, delays mail and loses none. Delivery is at least once: a sender that dies
between SMTP's "250 OK" and marking the row sent leaves it to be sent again once its lease ends.

Claiming: PostgreSQL selects due rows `FOR UPDATE SKIP LOCKED`, so senders on every worker and
instance never wait for each other; every backend then moves the claimed row's due time a
lease ahead with a compare-and-set UPDATE (on SQLite, whose writes are serialised, that alone
makes the claim).
"""
from __future__ import annotations

import datetime as dt
import logging
import threading

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import func, select, update

from idp.metrics import METRICS
from idp.models import OutboxMail, utcnow

log = logging.getLogger(__name__)

LEASE_SECONDS = 120  # longer than one SMTP conversation (10 s timeout a step)
FIRST_RETRY_SECONDS = 30
MAX_RETRY_SECONDS = 3600
BATCH = 20


def backoff(attempts: int, first: int = FIRST_RETRY_SECONDS) -> int:
    """Seconds before the next try after `attempts` failed ones: 30, 60, 120 … at most an hour."""
    return min(MAX_RETRY_SECONDS, first * 2 ** max(0, attempts - 1))


class Outbox:
    def __init__(self, database, fernet: Fernet | MultiFernet, max_attempts: int = 20, clock=utcnow,
                 first_retry: int = FIRST_RETRY_SECONDS):
        self.database = database
        self.fernet = fernet
        self.max_attempts = max_attempts
        self.first_retry = first_retry
        self.clock = clock

    def enqueue(self, to: str, subject: str, body: str, session=None) -> int | None:
        """Queue a message: in `session` (the caller commits it), or committed here at once."""
        row = OutboxMail(recipient=to, subject=subject[:300], attempts=0, next_attempt_at=self.clock(),
                         body=self.fernet.encrypt(body.encode()).decode())
        if session is not None:
            session.add(row)
            return None
        with self.database.session() as own:
            own.add(row)
            own.commit()
            return row.id

    def claim(self, limit: int = BATCH, only: int | None = None) -> list[OutboxMail]:
        """Due rows, each now leased to this caller for LEASE_SECONDS."""
        now = self.clock()
        due = (OutboxMail.sent_at.is_(None), OutboxMail.failed_at.is_(None), OutboxMail.next_attempt_at <= now)
        with self.database.session() as session:
            query = select(OutboxMail).where(*due).order_by(OutboxMail.next_attempt_at).limit(limit)
            if only is not None:
                query = query.where(OutboxMail.id == only)
            rows = session.scalars(query.with_for_update(skip_locked=True)).all()
            claimed = []
            for row in rows:
                taken = session.execute(update(OutboxMail).where(OutboxMail.id == row.id, *due).values(
                    next_attempt_at=now + dt.timedelta(seconds=LEASE_SECONDS)),
                    execution_options={"synchronize_session": False})
                if taken.rowcount == 1:
                    claimed.append(row)
            session.commit()
            return claimed

    def deliver_due(self, mailer, only: int | None = None) -> tuple[int, int]:
        """Try every due message once; (sent, not sent)."""
        sent = failed = 0
        for row in self.claim(only=only):
            try:
                body = self.fernet.decrypt(row.body.encode()).decode()
            except InvalidToken:  # the data key changed under it: it can never be sent
                self._finish(row.id, failed_at=self.clock(), last_error="body undecryptable (data key changed?)")
                METRICS.mail.labels("failed").inc()
                failed += 1
                continue
            try:
                mailer.transmit(row.recipient, row.subject, body)
            except Exception as e:  # noqa: BLE001 - any failure is retried; the detail is logged
                self._failed(row, e)
                failed += 1
            else:
                self._finish(row.id, sent_at=self.clock(), body="", last_error=None)
                METRICS.mail.labels("sent").inc()
                log.info("mail delivered", extra={"mail_id": row.id, "attempts": row.attempts + 1})
                sent += 1
        return sent, failed

    def _failed(self, row: OutboxMail, error: Exception) -> None:
        attempts = row.attempts + 1
        detail = f"{type(error).__name__}: {error}"[:300]
        if attempts >= self.max_attempts:
            self._finish(row.id, attempts=attempts, failed_at=self.clock(), body="", last_error=detail)
            METRICS.mail.labels("failed").inc()
            log.error("mail given up after %d attempts: %s", attempts, detail, extra={"mail_id": row.id})
            return
        retry = backoff(attempts, self.first_retry)
        self._finish(row.id, attempts=attempts, last_error=detail,
                     next_attempt_at=self.clock() + dt.timedelta(seconds=retry))
        METRICS.mail.labels("retry").inc()
        log.warning("mail not delivered, retrying in %d s: %s", retry, detail, extra={"mail_id": row.id})

    def _finish(self, row_id: int, **values) -> None:
        with self.database.session() as session:
            session.execute(update(OutboxMail).where(OutboxMail.id == row_id).values(**values),
                            execution_options={"synchronize_session": False})
            session.commit()

    def depth(self) -> tuple[int, float]:
        """(messages waiting, age in seconds of the oldest one)."""
        with self.database.session() as session:
            pending, oldest = session.execute(
                select(func.count(OutboxMail.id), func.min(OutboxMail.created_at))
                .where(OutboxMail.sent_at.is_(None), OutboxMail.failed_at.is_(None))).one()
        if oldest is None:
            return pending, 0.0
        if oldest.tzinfo is None:  # SQLite hands back naive UTC
            oldest = oldest.replace(tzinfo=dt.UTC)
        return pending, max(0.0, (self.clock() - oldest).total_seconds())

    def next_due_in(self) -> float | None:
        """Seconds until the next message falls due (0 when one is due now), None when none waits."""
        with self.database.session() as session:
            due = session.scalar(select(func.min(OutboxMail.next_attempt_at))
                                 .where(OutboxMail.sent_at.is_(None), OutboxMail.failed_at.is_(None)))
        if due is None:
            return None
        if due.tzinfo is None:
            due = due.replace(tzinfo=dt.UTC)
        return max(0.0, (due - self.clock()).total_seconds())


class SenderThread(threading.Thread):
    """Delivers due mail in the background of one worker process; woken by each new message."""

    IDLE_SECONDS = 10  # also picks up what other processes queued or left behind

    def __init__(self, outbox: Outbox, mailer):
        super().__init__(name="idp-mail-sender", daemon=True)
        self.outbox, self.mailer = outbox, mailer
        self._wake, self._stopping = threading.Event(), threading.Event()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 5) -> None:
        self._stopping.set()
        self._wake.set()
        self.join(timeout)

    def run(self) -> None:
        while not self._stopping.is_set():
            wait: float = self.IDLE_SECONDS
            try:
                self.outbox.deliver_due(self.mailer)
                due = self.outbox.next_due_in()
                if due is not None:
                    wait = min(wait, max(0.5, due))
            except Exception:  # noqa: BLE001 - the database is down: try again later
                log.warning("mail sender: the outbox could not be read", exc_info=True)
            self._wake.wait(wait)
            self._wake.clear()
