"""Operational hooks around every request: the request id, the request's log line and metrics,
and load shedding of password checks.

The request id and the status are taken at the WSGI boundary, around everything Flask does —
error handlers and the session save included — so a 503 caused by the store while saving the
session is logged and counted as the 503 the client got, not the 200 the view returned.
"""
from __future__ import annotations

import logging
import time

from flask import Flask, render_template, request

from idp import logs
from idp.admission import Gate, Overloaded
from idp.metrics import METRICS

log = logging.getLogger("idp.request")

# POSTs that run argon2 (a password, or a recovery code, checked or hashed). Everything else —
# probes, discovery, JWKS, tokens — never waits behind them.
PASSWORD_ENDPOINTS = {"auth.login", "auth.second_factor", "account.reauth", "account.change_password",
                      "registration.credentials", "recovery.new_password"}
SHED_RETRY_AFTER = 2  # seconds: a burst passes quickly; clients that honour it spread out


class RequestObserver:
    """WSGI middleware: X-Request-ID in and out, one log line and one observation per request."""

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        request_id = logs.accept_request_id(environ.get("HTTP_X_REQUEST_ID"))
        environ["idp.request_id"] = request_id
        tokens = logs.bind_request_id(request_id)
        started = time.perf_counter()
        seen = {}

        def start(status, headers, exc_info=None):
            seen["status"] = int(status.split(" ", 1)[0])
            headers = [(k, v) for k, v in headers if k.lower() != "x-request-id"]
            headers.append(("X-Request-ID", request_id))
            return start_response(status, headers, exc_info)

        try:
            return self.wsgi_app(environ, start)
        finally:
            self._observe(environ, seen.get("status", 500), time.perf_counter() - started)
            logs.unbind_request_id(tokens)

    @staticmethod
    def _observe(environ, status: int, seconds: float) -> None:
        endpoint = environ.get("idp.endpoint") or "unmatched"
        METRICS.requests.labels(endpoint, str(status)).observe(seconds)
        if endpoint in ("health.livez", "health.readyz", "health.metrics") and status < 400:
            return  # probes and scrapes every few seconds would drown the log
        line = {"method": environ.get("REQUEST_METHOD"), "route": environ.get("idp.route") or "unmatched",
                "endpoint": endpoint, "status": status, "duration_ms": round(seconds * 1000, 1),
                "remote": environ.get("REMOTE_ADDR"), **logs.request_facts()}
        log.info("%s %s %s", line["method"], line["route"], status, extra=line)


def init_app(app: Flask, password_checks_per_worker: int) -> None:
    gate = Gate(password_checks_per_worker, SHED_RETRY_AFTER)
    app.extensions["idp.password_gate"] = gate

    @app.url_value_preprocessor  # runs before every before_request hook, even one that fails
    def _note_route(endpoint, _values):
        # The route pattern (/oidc/consent/<pending_id>), never the path: no ids or tokens in labels.
        request.environ["idp.endpoint"] = endpoint
        request.environ["idp.route"] = request.url_rule.rule if request.url_rule else None

    @app.before_request
    def _admit_password_check():
        """Refuse at once: before the account is looked up, the throttle counts anything or argon2 runs."""
        if request.method != "POST" or request.endpoint not in PASSWORD_ENDPOINTS:
            return None
        if not gate.try_enter():
            METRICS.shed.labels(request.endpoint).inc()
            if request.endpoint == "auth.login":
                METRICS.sign_ins.labels("shed").inc()
            raise Overloaded(gate.retry_after)
        request.environ["idp.admitted"] = gate
        METRICS.in_flight.inc()
        return None

    @app.teardown_request
    def _leave(_exc):
        admitted = request.environ.pop("idp.admitted", None)
        if admitted is not None:
            admitted.leave()
            METRICS.in_flight.dec()

    @app.errorhandler(Overloaded)
    def _overloaded(e):
        log.warning("shed: password checks busy", extra={"endpoint": request.endpoint})
        return (render_template("error.html", status=503), 503,
                {"Retry-After": str(e.retry_after), "Cache-Control": "no-store"})

    app.wsgi_app = RequestObserver(app.wsgi_app)  # type: ignore[method-assign]  # Flask's middleware idiom
