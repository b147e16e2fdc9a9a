"""Structured logs: one JSON object a line, for the app and for gunicorn's access log.

Each line carries the time, level, logger, message, the request id (from the balancer's
X-Request-ID, or made here) and the instance's name; the request line adds method, route,
status, duration and the client or SP where known. Nothing here logs a query string, a form,
a header value or a cookie: the access log writes the path without its query (OAuth codes and
states travel there), and `redact()` blanks known secret parameters wherever a URL must appear.
"""
from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import os
import re
import secrets
import socket
import sys
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
# What the request turned out to concern (client_id, sp), for its request log line.
_facts: contextvars.ContextVar[dict | None] = contextvars.ContextVar("request_facts", default=None)

# X-Request-ID from the balancer: short and printable, nothing that could forge a log line.
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,64}$")
SECRET_PARAMETERS = {"code", "state", "nonce", "token", "id_token_hint", "access_token", "refresh_token",
                     "client_secret", "client_assertion", "code_verifier", "password", "otp",
                     "samlrequest", "samlresponse", "relaystate", "login_hint"}
# The same parameters written inside any message (a URL quoted by a library): a safety net.
_IN_TEXT = re.compile(r"(?i)\b(" + "|".join(sorted(SECRET_PARAMETERS)) + r")=([^&\s'\"<>]+)")
# Standard LogRecord attributes: everything else passed in `extra` becomes a JSON field.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def instance_name() -> str:
    return os.environ.get("IDP_INSTANCE_NAME") or socket.gethostname()


def accept_request_id(given: str | None) -> str:
    """The balancer's request id when it is well-formed, else a new one."""
    if given and REQUEST_ID.fullmatch(given):
        return given
    return secrets.token_hex(16)


def bind_request_id(request_id: str):
    return _request_id.set(request_id), _facts.set({})


def unbind_request_id(tokens) -> None:
    _request_id.reset(tokens[0])
    _facts.reset(tokens[1])


def note(**facts) -> None:
    """Remember facts about the current request (a client id, an SP) for its log line."""
    current = _facts.get()
    if current is not None:
        current.update({k: str(v)[:200] for k, v in facts.items() if v})


def request_facts() -> dict:
    return dict(_facts.get() or {})


def current_request_id() -> str | None:
    return _request_id.get()


def redact(url: str) -> str:
    """`url` with the values of secret-bearing query parameters replaced by "REDACTED"."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    query = [(k, "REDACTED" if k.lower() in SECRET_PARAMETERS else v)
             for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    return urlunsplit(parts._replace(query=urlencode(query)))


class JsonFormatter(logging.Formatter):
    def __init__(self, instance: str | None = None):
        super().__init__()
        self.instance = instance or instance_name()

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": _IN_TEXT.sub(r"\1=REDACTED", record.getMessage()),
            "instance": self.instance,
            "pid": record.process,
        }
        request_id = getattr(record, "request_id", None) or current_request_id()
        if request_id:
            line["request_id"] = request_id
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in line and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def configure(json_lines: bool, level: int = logging.INFO) -> None:
    """The root logger writes to stderr: JSON lines in production, readable text in development."""
    root = logging.getLogger()
    handler = next((h for h in root.handlers if getattr(h, "_idp", False)), None)
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
        handler._idp = True  # type: ignore[attr-defined]  # our mark, to find the handler again
        root.addHandler(handler)
    handler.setFormatter(JsonFormatter() if json_lines else
                         logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.setLevel(level)


def gunicorn_logger_class():
    """gunicorn's Logger with JSON lines for its error log and an access log without query strings."""
    from gunicorn.glogging import Logger

    class JsonGunicornLogger(Logger):
        def setup(self, cfg):
            super().setup(cfg)
            for logger in (self.error_log, self.access_log):
                for handler in logger.handlers:
                    handler.setFormatter(JsonFormatter())

        def access(self, resp, req, environ, request_time):
            if not self.cfg.accesslog:
                return
            status = resp.status.split(None, 1)[0] if isinstance(resp.status, str) else resp.status
            headers = {k.lower(): v for k, v in (resp.headers or [])}
            self.access_log.info("access", extra={
                "request_id": headers.get("x-request-id"),
                "method": environ.get("REQUEST_METHOD"),
                "path": environ.get("PATH_INFO"),  # never the query: codes and states travel there
                "status": int(status),
                "duration_ms": round(request_time.total_seconds() * 1000, 1),
                "bytes": getattr(resp, "sent", None),
                "remote": environ.get("REMOTE_ADDR"),
                "user_agent": (environ.get("HTTP_USER_AGENT") or "")[:200],
            })

    return JsonGunicornLogger
