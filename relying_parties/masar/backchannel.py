"""The receiving side of OpenID Connect Back-Channel Logout 1.0: the IdP POSTs a signed logout
token here when a citizen's IdP session ends, and Masar ends its own sign-ins for that session.

The token is validated as §2.6 says: signature against the IdP's JWKS (explicitly typed
`logout+jwt`, §2.4), iss, aud, iat, the back-channel logout event, a `sub` or `sid`, no `nonce`,
and its jti used once. The IdP is told 200 when the token was accepted, 400 otherwise (§2.8).
"""
from __future__ import annotations

import logging
import time

import requests
from flask import Blueprint, current_app, jsonify, request
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from relying_parties.masar import storage

log = logging.getLogger(__name__)
bp = Blueprint("backchannel", __name__)

EVENT = "http://schemas.openid.net/event/backchannel-logout"
MAX_AGE = 300  # seconds: the IdP signs each attempt afresh, so an older token is a replay
ALGS = ["RS256", "ES256"]


class Refused(ValueError):
    """The logout token is not one Masar accepts."""


@bp.post("/backchannel-logout")
def backchannel_logout():
    """OpenID Connect Back-Channel Logout 1.0 §2.5–§2.8."""
    try:
        claims = validate(request.form.get("logout_token", ""))
    except (Refused, JoseError, ValueError, RuntimeError, requests.RequestException) as e:
        log.warning("logout token refused: %s", e)
        return _answer({"error": "invalid_request", "error_description": "logout token refused"}, 400)
    ended = storage.end_sign_ins(claims.get("sub"), claims.get("sid"))
    log.info("back-channel logout: %d sign-in(s) ended", ended)
    return _answer({}, 200)


def _answer(body: dict, status: int):
    response = jsonify(body) if body else current_app.response_class(status=status)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def validate(token: str) -> dict:
    if not token or len(token) > 8192:
        raise Refused("no logout_token")
    from relying_parties.masar.auth import _metadata, idp

    issuer = _metadata()["issuer"]
    try:
        decoded = jwt.decode(token, KeySet.import_key_set(idp().fetch_jwk_set()), algorithms=ALGS)
    except JoseError:  # perhaps a key the IdP published since: fetch once more
        decoded = jwt.decode(token, KeySet.import_key_set(idp().fetch_jwk_set(force=True)), algorithms=ALGS)
    if decoded.header.get("typ") != "logout+jwt":
        raise Refused("not typed logout+jwt")
    claims = decoded.claims
    audience = claims.get("aud")
    if claims.get("iss") != issuer:
        raise Refused("another issuer")
    if current_app.config["MASAR_CLIENT_ID"] not in (audience if isinstance(audience, list) else [audience]):
        raise Refused("not for Masar")
    iat = claims.get("iat")
    if not isinstance(iat, int) or not time.time() - MAX_AGE <= iat <= time.time() + 60:
        raise Refused("iat missing or not recent")
    if not isinstance(claims.get("events"), dict) or EVENT not in claims["events"]:
        raise Refused("no back-channel logout event")
    if "nonce" in claims:
        raise Refused("a logout token must not carry a nonce")
    if not (isinstance(claims.get("sub"), str) or isinstance(claims.get("sid"), str)):
        raise Refused("neither sub nor sid")
    if not isinstance(claims.get("jti"), str) or not storage.first_use_of(claims["jti"], 2 * MAX_AGE):
        raise Refused("jti missing or seen before")
    return claims
