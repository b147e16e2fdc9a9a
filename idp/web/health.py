"""Probes for load balancers and orchestrators, and Prometheus metrics.

/livez: the process answers (touches nothing else: a database outage must not get every
instance restarted). /readyz: it can serve — database, Redis, signing keys, secrets, and not
draining — each named in the JSON, 503 when any is not. /healthz: the same as /readyz.
"""
from __future__ import annotations

import hmac
import logging

from flask import Blueprint, abort, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST

from idp import probes
from idp.metrics import METRICS, QueueDepth
from idp.settings import is_loopback_host
from idp.web.context import services

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)

NO_STORE = {"Cache-Control": "no-store"}


@bp.get("/livez")
def livez():
    return jsonify(status="ok"), 200, NO_STORE


@bp.get("/readyz")
@bp.get("/healthz")
def readyz():
    ready, report = probes.readiness(services(), services().settings.probe_timeout_ms / 1000)
    if not ready:
        log.warning("not ready: %s", report["parts"], extra={"errors": report["errors"]})
    return (jsonify(status="ok" if ready else "unavailable", checks=report["parts"]),
            200 if ready else 503, NO_STORE)


@bp.get("/metrics")
def metrics():
    """Prometheus exposition: for the monitoring network only — from loopback, or with the bearer
    token set in IDP_METRICS_TOKEN. Under gunicorn, one scrape covers every worker."""
    token = services().settings.metrics_token
    presented = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    allowed = is_loopback_host(request.remote_addr) if not token else \
        hmac.compare_digest(presented.encode(), token.encode())
    if not allowed:
        abort(404)
    body = METRICS.exposition([QueueDepth(services().mailer.queue.depth)])
    return body, 200, {"Content-Type": CONTENT_TYPE_LATEST, **NO_STORE}
