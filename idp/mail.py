"""Outgoing mail: over SMTP (IDP_SMTP_URL), or, with none configured, as .eml files in the
instance outbox so that the demo works offline. Callers never learn whether delivery failed:
that would tell an attacker whether an address is registered; failures are logged."""
from __future__ import annotations

import logging
import smtplib
import ssl
import time
import uuid
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

log = logging.getLogger(__name__)


class Mailer:
    def __init__(self, sender: str, smtp_url: str = "", outbox: Path | None = None):
        self.sender = sender
        self.smtp_url = smtp_url
        self.outbox = outbox

    @classmethod
    def from_settings(cls, settings) -> "Mailer":
        return cls(settings.mail_from, settings.smtp_url, settings.outbox_path)

    def send(self, to: str, subject: str, body: str) -> bool:
        """Send one plain-text message; True when it was handed over (or written to the outbox)."""
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(domain="idp.local")
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(body)
        try:
            if self.smtp_url:
                self._send_smtp(message)
            else:
                self._write_outbox(message)
        except (OSError, smtplib.SMTPException) as e:
            log.error("mail to a citizen was not sent (subject %r): %s", subject, e)
            return False
        return True

    def _send_smtp(self, message: EmailMessage) -> None:
        url = urlsplit(self.smtp_url)
        options = parse_qs(url.query)
        host = url.hostname or "localhost"
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
        self.outbox.mkdir(parents=True, exist_ok=True)
        path = self.outbox / f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}.eml"
        path.write_bytes(message.as_bytes())
        path.chmod(0o600)
        log.info("mail written to the outbox: %s (subject %r)", path, message["Subject"])
