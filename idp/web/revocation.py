"""The token revocation (RFC 7009) and introspection (RFC 7662) endpoints: thin views over
idp.oidc.revocation and idp.oidc.introspection. Clients authenticate exactly as at the token
endpoint (the same ClientAuthenticator, the same registered method)."""
from __future__ import annotations

from urllib.parse import parse_qsl

from flask import Blueprint, current_app, request
from pyop.exceptions import OAuthError

from idp import audit
from idp.oidc import introspection, revocation
from idp.web.context import actor, db_session, services
from idp.web import errors
from idp.web.oidc import claimed_client, provider, refuse_repeated
from idp.web.responses import cors, json_response

bp = errors.for_oauth(Blueprint("oidc_tokens", __name__))


def _authenticated_request() -> tuple[str, dict]:
    """(client_id, parameters) of a form-encoded POST from an authenticated client, or OAuthError."""
    if request.mimetype != "application/x-www-form-urlencoded":
        raise OAuthError("form-encoded body required", "invalid_request")
    pairs = parse_qsl(request.get_data(as_text=True), keep_blank_values=True)
    refuse_repeated(pairs)
    params = dict(pairs)
    try:
        client_id = provider().client_authenticator.authenticate(params, request.headers.get("Authorization"))
    except OAuthError:  # audited here, answered by idp.web.errors
        audit.record(db_session(), "oidc.client_auth_failed", actor(), None, endpoint=request.endpoint,
                     **claimed_client(pairs, request.headers.get("Authorization")))
        db_session().commit()
        raise
    if "token" not in params:
        raise OAuthError("token is required", "invalid_request")
    return client_id, params


@bp.route("/oidc/revoke", methods=["POST", "OPTIONS"])
def revoke():
    """RFC 7009 §2: 200 for a revoked, unknown or foreign token alike (§2.2)."""
    if request.method == "OPTIONS":
        return cors(current_app.response_class(status=204))
    client_id, params = _authenticated_request()
    result = revocation.revoke(provider().authz_state, client_id, params["token"], params.get("token_type_hint"))
    audit.record(db_session(), "oidc.token_revoked", actor(), None, client_id=client_id,
                 outcome=result.outcome, token_type=result.kind)
    db_session().commit()
    return json_response({})


@bp.post("/oidc/introspect")
def introspect():
    """RFC 7662 §2: for resource servers (registered with --introspection) only."""
    client_id, params = _authenticated_request()
    try:
        answer = introspection.introspect(provider().authz_state, provider().clients, services().settings.issuer,
                                          client_id, params["token"], params.get("token_type_hint"))
    except introspection.NotAResourceServer:  # audited here, answered by idp.web.errors
        audit.record(db_session(), "oidc.introspection_refused", actor(), None, client_id=client_id)
        db_session().commit()
        raise
    return json_response(answer)
