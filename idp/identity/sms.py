"""Outgoing SMS: through an HTTP gateway (IDP_SMS_GATEWAY_URL), or, with none configured, as JSON
files in the instance's sms-outbox so that the demo works offline (as mail does with its outbox).

Like the mailer, `send` only says whether the message was handed over; the reason for a failure
goes to the log, never the number, the text (it holds a one-time code) or the gateway's token.
"""
from __future__ import annotations

import json
import logging
import os
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)


class SmsSender(Protocol):
    def send(self, to: str, text: str) -> bool:
        """Hand one message for `to` (E.164, +9665XXXXXXXX) over; True when it was accepted."""


class FileOutbox:
    """Each message a file `<instance>/sms-outbox/<time>-<random>.json`: {"to": …, "text": …}, mode 0600."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def send(self, to: str, text: str) -> bool:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            path = self.folder / f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}.json"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({"to": to, "text": text}, f, ensure_ascii=False)
        except OSError as e:
            log.error("SMS not written to the outbox: %s", e.strerror)
            return False
        log.info("SMS written to the outbox: %s", path.name)
        return True


class HttpGateway:
    """POST {"to": …, "text": …} as JSON with `Authorization: Bearer <token>`; any 2xx is accepted.

    Timeouts bound both the connection and each read, so a stalled gateway costs a request a few
    seconds, never a hung worker. Redirects are not followed: the token must go nowhere else."""

    def __init__(self, url: str, token: str, timeout_seconds: float = 5):
        self.url = url
        self.token = token
        self.timeout = timeout_seconds
        self._opener = urllib.request.build_opener(_NoRedirect)

    def send(self, to: str, text: str) -> bool:
        body = json.dumps({"to": to, "text": text}).encode()
        # S310: settings accept only an http(s) URL here (https unless loopback)
        request = urllib.request.Request(self.url, data=body, method="POST", headers={  # noqa: S310
            "Content-Type": "application/json", "Accept": "application/json",
            **({"Authorization": f"Bearer {self.token}"} if self.token else {})})
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                response.read(4096)
                status = response.status
        except urllib.error.HTTPError as e:
            log.error("SMS gateway refused a message: HTTP %s", e.code)
            return False
        except (urllib.error.URLError, OSError, ValueError) as e:
            reason = getattr(e, "reason", None) or type(e).__name__
            log.error("SMS gateway not reached: %s", reason)
            return False
        if not 200 <= status < 300:
            log.error("SMS gateway answered HTTP %s", status)
            return False
        log.info("SMS handed to the gateway (HTTP %s)", status)
        return True


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # a 3xx becomes an HTTPError: refused


def sender_from_settings(settings) -> SmsSender:
    if settings.sms_gateway_url:
        return HttpGateway(settings.sms_gateway_url, settings.sms_gateway_token,
                           settings.sms_gateway_timeout_seconds)
    return FileOutbox(settings.sms_outbox_path)


def mask_mobile(mobile: str) -> str:
    """+966512345123 → +9665•••••123: enough for the owner to recognise, too little to call."""
    if not mobile or len(mobile) < 9:
        return "•••"
    return mobile[:5] + "•" * (len(mobile) - 8) + mobile[-3:]
