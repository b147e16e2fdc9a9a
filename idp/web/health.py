"""Liveness for load balancers and monitoring: the database and the store must both answer."""
from __future__ import annotations

import hmac
import time

from flask import Blueprint, abort, g, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from idp.metrics import METRICS
from idp.settings import is_loopback_host
from idp.store import StoreUnavailable
from idp.web.context import db_session, services

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    checks = {}
    try:
        db_session().execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception:  # any failure is "down"; the detail goes to the log via the error handler
        checks["database"] = "down"
    try:
        services().store.ping()
        checks["store"] = "ok"
    except StoreUnavailable:
        checks["store"] = "down"
    healthy = all(v == "ok" for v in checks.values())
    return jsonify(status="ok" if healthy else "unavailable", checks=checks), 200 if healthy else 503


@bp.get("/metrics")
def metrics():
    """Prometheus exposition: for the monitoring network only — from loopback, or with the bearer
    token set in IDP_METRICS_TOKEN."""
    token = services().settings.metrics_token
    presented = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    allowed = is_loopback_host(request.remote_addr) if not token else \
        hmac.compare_digest(presented.encode(), token.encode())
    if not allowed:
        abort(404)
    return generate_latest(METRICS.registry), 200, {"Content-Type": CONTENT_TYPE_LATEST}


@bp.before_app_request
def _start_timer():
    g.request_started = time.perf_counter()


@bp.after_app_request
def _observe(response):
    started = g.pop("request_started", None)
    if started is not None:
        METRICS.requests.labels(request.endpoint or "unknown", str(response.status_code)).observe(
            time.perf_counter() - started)
    return response
