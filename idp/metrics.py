"""Prometheus metrics: security events by kind (from the audit log) and request latency.

One registry per process, as Prometheus scrapes processes (with several gunicorn workers, use
prometheus_client's multiprocess mode or scrape each worker).
"""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class Metrics:
    def __init__(self):
        self.registry = CollectorRegistry()
        self.events = Counter("idp_security_events", "Security events, by audit kind", ["kind"],
                              registry=self.registry)
        self.requests = Histogram("idp_request_seconds", "Request handling time, by endpoint and status",
                                  ["endpoint", "status"], registry=self.registry,
                                  buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))


METRICS = Metrics()
