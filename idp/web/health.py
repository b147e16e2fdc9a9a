"""Liveness for load balancers and monitoring: the database and the store must both answer."""
from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text

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
