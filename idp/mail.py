"""Outgoing mail: over SMTP (IDP_SMTP_URL), or, with none configured, as .eml files in the
instance outbox so that the demo works offline. Callers never learn whether delivery failed:
that would tell an attacker whether an address is registered; failures are logged.

With a database (the app's Mailer), `send` only queues the message in the mail_outbox table
(idp/outbox.py); a sender delivers it, retrying while the SMTP server is away. Without one
(a bare Mailer), `send` delivers at once.
"""
from __future__ import annotations

import logging
import smtplib
import threading
import ssl
import time
import uuid
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, unquote, urlsplit

from idp.metrics import METRICS

if TYPE_CHECKING:  # idp.outbox imports this module
    from idp.outbox import SenderThread

log = logging.getLogger(__name__)


class Mailer:
    def __init__(self, sender: str, smtp_url: str = "", outbox: Path | None = None, queue=None,
                 delivery: str = "background"):
        self.sender = sender
        self.smtp_url = smtp_url
        self.outbox = outbox
        self.queue = queue  # an idp.outbox.Outbox; None: deliver at once
        self.delivery = delivery  # background | external | inline (see settings.mail_delivery)
        self._sender_thread: SenderThread | None = None
        self._sender_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings, queue=None) -> Mailer:
        return cls(settings.mail_from, settings.smtp_url, settings.outbox_path, queue, settings.mail_delivery)

    def send(self, to: str, subject: str, body: str, session=None) -> bool:
        """Queue one plain-text message (or, without a queue, send it now). True when it was
        queued or handed over. With `session`, the message joins the caller's transaction and is
        queued by the caller's commit; without, it is committed on its own at once."""
        if self.queue is None:
            return self.deliver(to, subject, body)
        message_id = self.queue.enqueue(to, subject, body, session=session)
        if session is not None:  # queued by the caller's commit: deliver from then on
            from sqlalchemy import event

            event.listen(session, "after_commit", lambda _s: self._after_queued(None), once=True)
        else:
            self._after_queued(message_id)
        return True

    def _after_queued(self, message_id: int | None) -> None:
        if self.delivery == "inline":
            self.queue.deliver_due(self, only=message_id)
        elif self.delivery == "background":
            self.start_sender().wake()

    def start_sender(self):
        """This process's sender thread (started once, on first use, after any fork)."""
        with self._sender_lock:
            if self._sender_thread is None or not self._sender_thread.is_alive():
                from idp.outbox import SenderThread

                self._sender_thread = SenderThread(self.queue, self)
                self._sender_thread.start()
            return self._sender_thread

    def stop_sender(self, timeout: float = 5) -> None:
        with self._sender_lock:
            thread, self._sender_thread = self._sender_thread, None
        if thread is not None:
            thread.stop(timeout)

    def deliver(self, to: str, subject: str, body: str) -> bool:
        """Hand one message to SMTP (or the outbox folder) now; False when that failed."""
        try:
            self.transmit(to, subject, body)
        except (OSError, smtplib.SMTPException) as e:
            log.error("mail to a citizen was not sent (subject %r): %s", subject, e)
            return False
        return True

    def transmit(self, to: str, subject: str, body: str) -> None:
        """Hand one message over, raising OSError or SMTPException when that fails."""
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(domain="idp.local")
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(body)
        if not self.smtp_url:
            self._write_outbox(message)
            return
        started = time.perf_counter()
        try:
            self._send_smtp(message)
        except (OSError, smtplib.SMTPException):
            METRICS.dependency_errors.labels("smtp").inc()
            raise
        finally:
            METRICS.dependency.labels("smtp").observe(time.perf_counter() - started)

    def _send_smtp(self, message: EmailMessage) -> None:
        url = urlsplit(self.smtp_url)
        options = parse_qs(url.query)
        host = url.hostname or "localhost"
        client: smtplib.SMTP
        if url.scheme == "smtps":
            client = smtplib.SMTP_SSL(host, url.port or 465, timeout=10,
                                      context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(host, url.port or 25, timeout=10)
        with client:
            if url.scheme == "smtp" and options.get("starttls", ["0"])[0] in ("1", "true"):
                client.starttls(context=ssl.create_default_context())
            if url.username:
                client.login(unquote(url.username), unquote(url.password or ""))
            client.send_message(message)
        log.info("mail handed to SMTP server %s (subject %r)", host, message["Subject"])

    def _write_outbox(self, message: EmailMessage) -> None:
        if self.outbox is None:
            raise RuntimeError("no outbox folder configured")
        self.outbox.mkdir(parents=True, exist_ok=True)
        path = self.outbox / f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}.eml"
        path.write_bytes(message.as_bytes())
        path.chmod(0o600)
        log.info("mail written to the outbox: %s (subject %r)", path, message["Subject"])
