"""Prometheus metrics: requests, sign-ins, tokens, dependencies, the mail queue, security events.

Under gunicorn every worker is a process of its own. With PROMETHEUS_MULTIPROC_DIR set (the
production config sets it, and empties it at start), prometheus_client writes each worker's
values to files in that directory and one scrape of any worker reads them all (`exposition()`),
so a scrape answers for the whole instance. Without it (tests, `flask run`), one registry per
process.

Most security counts are derived from the audit events (`count_event`), so that the views
that record them need no metrics code of their own.
"""
from __future__ import annotations

import os
import sys
from importlib import metadata

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
DEPENDENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)


def multiprocess_dir() -> str:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


class Metrics:
    def __init__(self):
        if multiprocess_dir():  # prometheus_client writes there from the first metric on
            os.makedirs(multiprocess_dir(), exist_ok=True)
        self.registry = CollectorRegistry()
        r = self.registry
        self.events = Counter("idp_security_events", "Security events, by audit kind", ["kind"], registry=r)
        self.requests = Histogram("idp_request_seconds", "Request handling time, by endpoint and status",
                                  ["endpoint", "status"], registry=r, buckets=LATENCY_BUCKETS)
        self.sign_ins = Counter("idp_sign_ins", "Password sign-in attempts, by outcome "
                                "(success, wrong_password, locked, throttled, shed)", ["outcome"], registry=r)
        self.second_factor = Counter("idp_second_factor", "Second-factor checks, by result "
                                     "(totp, recovery, failed)", ["result"], registry=r)
        self.lockouts = Counter("idp_lockouts", "Identities locked after repeated failures", registry=r)
        self.tokens = Counter("idp_tokens_issued", "Token responses, by grant type and client",
                              ["grant_type", "client_id"], registry=r)
        self.refresh_reuse = Counter("idp_refresh_reuse_detected", "Refresh tokens presented again "
                                     "after use (the family is revoked)", ["client_id"], registry=r)
        self.saml_responses = Counter("idp_saml_responses", "SAML responses sent, by service provider",
                                      ["sp"], registry=r)
        self.dependency = Histogram("idp_dependency_seconds", "Calls to backing services, by dependency",
                                    ["dependency"], registry=r, buckets=DEPENDENCY_BUCKETS)
        self.dependency_errors = Counter("idp_dependency_errors", "Failed calls to backing services",
                                         ["dependency"], registry=r)
        self.mail = Counter("idp_mail", "Mail delivery attempts, by result (sent, retry, failed)",
                            ["result"], registry=r)
        self.shed = Counter("idp_shed_requests", "Requests refused at once because this worker's "
                            "password verifications were all busy", ["endpoint"], registry=r)
        self.in_flight = Gauge("idp_password_verifications_in_flight", "Password requests being "
                               "served now", registry=r, multiprocess_mode="livesum")
        self.build = Gauge("idp_build_info", "Version of the running code (always 1)",
                           ["version", "python"], registry=r, multiprocess_mode="max")
        self.build.labels(_version(), sys.version.split()[0]).set(1)

    def exposition(self, extra_collectors=()) -> bytes:
        """The text format for one scrape: every worker's values in multiprocess mode, then
        `extra_collectors` (values read at scrape time, such as the mail queue's depth)."""
        # set again here: a value set before gunicorn forked the worker stays in the master's files
        self.build.labels(_version(), sys.version.split()[0]).set(1)
        registry = self.registry
        if multiprocess_dir():
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        extra = CollectorRegistry(auto_describe=False)
        for collector in extra_collectors:
            extra.register(collector)
        return generate_latest(registry) + generate_latest(extra)


def _version() -> str:
    try:
        return metadata.version("national-idp")
    except metadata.PackageNotFoundError:
        return "unknown"


class QueueDepth:
    """A collector read at scrape time: the mail outbox's pending messages and the oldest one's age."""

    def __init__(self, measure):
        self.measure = measure  # () -> (pending, oldest_age_seconds)

    def collect(self):
        try:
            pending, oldest = self.measure()
        except Exception:  # the database is down: say nothing rather than a wrong zero
            return
        yield GaugeMetricFamily("idp_mail_queue_depth", "Messages waiting for delivery", value=pending)
        yield GaugeMetricFamily("idp_mail_queue_oldest_seconds", "Age of the oldest undelivered message",
                                value=oldest)


# Audit kind → the counter it feeds, beyond idp_security_events{kind}. Outcomes of sign-in
# come from the audit detail ("reason"), so the views record an event once and both follow.
SIGN_IN_FAILURE_OUTCOMES = {"password": "wrong_password", "locked": "locked"}


def count_event(kind: str, detail: dict) -> None:
    """Feed the counters derived from one audit event (called by idp.audit.record)."""
    METRICS.events.labels(kind).inc()
    if kind == "sign_in.succeeded":
        METRICS.sign_ins.labels("success").inc()
        method = str(detail.get("method", ""))
        if "otp" in method:
            METRICS.second_factor.labels("totp").inc()
        elif "recovery" in method:
            METRICS.second_factor.labels("recovery").inc()
    elif kind == "sign_in.failed":
        reason = detail.get("reason")
        if reason == "second_factor":
            METRICS.second_factor.labels("failed").inc()
        else:
            METRICS.sign_ins.labels(SIGN_IN_FAILURE_OUTCOMES.get(reason or "", "other")).inc()
    elif kind == "sign_in.locked":
        METRICS.lockouts.inc()
    elif kind in TOKEN_KINDS:
        METRICS.tokens.labels(TOKEN_KINDS[kind], str(detail.get("client_id") or "unknown")[:64]).inc()
    elif kind in REFRESH_REUSE_KINDS:
        METRICS.refresh_reuse.labels(str(detail.get("client_id", "unknown"))[:64]).inc()
    elif kind in SAML_RESPONSE_KINDS:
        METRICS.saml_responses.labels(str(detail.get("sp") or detail.get("entity_id") or "unknown")[:200]).inc()


# Audit kinds that the protocol views record; named here so the counters follow them.
TOKEN_KINDS = {"oidc.token_issued": "authorization_code", "oidc.token_refreshed": "refresh_token"}
REFRESH_REUSE_KINDS = {"oidc.refresh_reuse", "oidc.code_reuse"}  # raised by idp.oidc.engine.ReplayDetected
SAML_RESPONSE_KINDS = {"saml.sso"}


METRICS = Metrics()


def observe_engine(engine) -> None:
    """Time every statement on `engine` and count its failures (PostgreSQL or SQLite)."""
    import time

    from sqlalchemy import event

    dependency = "postgresql" if engine.dialect.name == "postgresql" else engine.dialect.name

    @event.listens_for(engine, "before_cursor_execute")
    def _started(conn, cursor, statement, parameters, context, executemany):
        conn.info.setdefault("idp_started", []).append(time.perf_counter())

    @event.listens_for(engine, "after_cursor_execute")
    def _finished(conn, cursor, statement, parameters, context, executemany):
        started = conn.info.get("idp_started")
        if started:
            METRICS.dependency.labels(dependency).observe(time.perf_counter() - started.pop())

    @event.listens_for(engine, "handle_error")
    def _failed(context):
        METRICS.dependency_errors.labels(dependency).inc()
        connection = context.connection
        if connection is not None and connection.info.get("idp_started"):
            connection.info["idp_started"].pop()
