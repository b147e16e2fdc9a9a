"""JSON answers for clients calling from code (token, userinfo, revocation, introspection, discovery)."""
from __future__ import annotations

from flask import jsonify


def cors(response):
    """Discovery, JWKS, token, userinfo and revocation are called from browsers of public clients."""
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
    response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
    return response


def json_response(data, status: int = 200, headers: dict | None = None):
    """Token, userinfo and their errors: never cached (RFC 6749 §5.1 names both headers)."""
    response = jsonify(data)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    response.headers.update(headers or {})
    return cors(response)
