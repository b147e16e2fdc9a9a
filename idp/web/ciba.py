"""The backchannel authentication endpoint (CIBA Core 1.0 §7): a thin view over idp.oidc.ciba.
Clients authenticate exactly as at the token endpoint (the same ClientAuthenticator)."""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from urllib.parse import parse_qsl

from flask import Blueprint, request
from pyop.exceptions import InvalidClientAuthentication, OAuthError

from idp import audit
from idp.oidc import ciba
from idp.web.context import actor, db_session, services
from idp.web.oidc import claimed_client, provider, refuse_repeated, verified_id_token
from idp.web.responses import json_response

bp = Blueprint("oidc_ciba", __name__)


def _error(e: ciba.CibaError):
    """§13: JSON; 401 with WWW-Authenticate for invalid_client; Retry-After when rate limited."""
    headers = {"WWW-Authenticate": 'Basic realm="token"'} if e.status == 401 else {}
    if e.retry_after:
        headers["Retry-After"] = str(e.retry_after)
    return json_response({"error": e.error, "error_description": e.description}, e.status, headers)


@bp.post("/oidc/backchannel")
def backchannel_authentication():
    """CIBA Core 1.0 §7.1 (request), §7.3 (response), §13 (errors); poll mode only."""
    pairs = parse_qsl(request.get_data(as_text=True), keep_blank_values=True)
    authorization = request.headers.get("Authorization")
    try:
        if request.mimetype != "application/x-www-form-urlencoded":
            raise ciba.CibaError("invalid_request", "form-encoded body required")
        params = _params(pairs)
        client_id = _authenticate(params, pairs, authorization)
        ciba.limit_client(services().store, client_id)
        checked = ciba.check(params, provider().clients[client_id], verified_id_token)
        ciba.limit_citizen(services().store, _hash_key(), checked)
    except ciba.CibaError as e:
        audit.record(db_session(), "ciba.refused", actor(), None, error=e.error,
                     **claimed_client(pairs, authorization))
        db_session().commit()
        return _error(e)
    db = db_session()
    started = ciba.begin(db, checked, dt.datetime.fromtimestamp(provider().ciba_clock(), dt.UTC))
    # the identity is recorded for the audit trail only; the answer is the same without one
    audit.record(db, "ciba.requested", actor(), started.identity.id if started.identity else None,
                 client_id=client_id, scopes=checked.scope.split(), known=started.identity is not None,
                 approval=started.row.approval_id is not None)
    db.commit()
    return json_response(ciba.response(started, checked))


def _params(pairs: list[tuple[str, str]]) -> dict:
    try:
        refuse_repeated(pairs)
    except OAuthError as e:
        raise ciba.CibaError("invalid_request", str(e)) from None
    return dict(pairs)


def _authenticate(params: dict, pairs, authorization: str | None) -> str:
    try:
        return provider().client_authenticator.authenticate(params, authorization)
    except InvalidClientAuthentication as e:
        raise ciba.CibaError("invalid_client", str(e), status=401) from None


def _hash_key() -> bytes:
    return hmac.new(services().settings.secret_key.encode(), b"ciba-rate", hashlib.sha256).digest()
