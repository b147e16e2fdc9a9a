"""Signing citizens in through the national IdP, over HTTP only.

OpenID Connect Core 1.0 §3.1 (authorization code flow) with PKCE S256 (RFC 7636), `state` and
`nonce`, all handled by Authlib; the ID token is validated against the IdP's JWKS, the claims come
from userinfo (§5.3). Signing out is OpenID Connect RP-Initiated Logout 1.0.
"""
from __future__ import annotations

import functools
import logging

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.flask_client import OAuth
from flask import Blueprint, current_app, g, redirect, render_template, request, session, url_for
from joserfc.errors import JoseError

from relying_parties.masar import i18n, storage

log = logging.getLogger(__name__)
bp = Blueprint("auth", __name__)

IDP = "nafath"
SCOPE = "openid profile email phone"
SESSION_KEY = "sign_in"
# What Masar keeps of the claims: what it shows, and nothing more.
KEPT_CLAIMS = ("sub", "name#ar", "name#en", "name", "id_type", "birthdate", "birthdate_hijri", "gender",
               "email", "email_verified", "phone_number", "phone_number_verified",
               "sid")  # the IdP session's id, for back-channel logout
# Everything that can go wrong between the IdP's answer and a verified sign-in.
SIGN_IN_FAILURES = (AuthlibBaseError, JoseError, requests.RequestException, ValueError)


class SignInError(ValueError):
    """The IdP's answer is not one Masar can accept."""


def init_app(app) -> None:
    oauth = OAuth(app)
    oauth.register(
        IDP,
        client_id=app.config["MASAR_CLIENT_ID"],
        client_secret=app.config["MASAR_CLIENT_SECRET"],
        server_metadata_url=app.config["MASAR_IDP_ISSUER"] + "/.well-known/openid-configuration",
        client_kwargs={"scope": SCOPE, "code_challenge_method": "S256", "default_timeout": 10},
    )
    app.register_blueprint(bp)

    @app.context_processor
    def signed_in_context():
        return {"signed_in": current_sign_in() is not None}


def idp():
    return current_app.extensions["authlib.integrations.flask_client"].create_client(IDP)


def base_url() -> str:
    # Built from configuration, not from the request's Host: it must equal the registered URI.
    return current_app.config["MASAR_BASE_URL"]


def current_sign_in() -> dict | None:
    if "masar_sign_in" not in g:
        g.masar_sign_in = storage.find_sign_in(session.get(SESSION_KEY))
    return g.masar_sign_in


def sign_in_required(view):
    """Only for a signed-in citizen (else home); the view receives the sign-in as its first argument."""
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        found = current_sign_in()
        if found is None:
            return redirect(url_for("views.home"))
        return view(found, *args, **kwargs)
    return wrapper


def _metadata() -> dict:
    metadata = idp().load_server_metadata()
    # OpenID Connect Discovery 1.0 §4.3: the document must name the issuer we asked.
    if metadata.get("issuer") != current_app.config["MASAR_IDP_ISSUER"]:
        raise SignInError(f"discovery names issuer {metadata.get('issuer')!r}")
    return metadata


def failed(status: int = 400):
    return render_template("error.html", reason="unavailable" if status == 503 else "sign_in"), status


@bp.get("/login")
def login():
    """Send the citizen to the IdP's authorization endpoint (OIDC Core 1.0 §3.1.2.1)."""
    if current_sign_in() is not None:
        return redirect(url_for("views.profile"))
    try:
        _metadata()
    except (requests.RequestException, SignInError) as e:
        log.error("cannot reach the IdP's discovery document: %s", e)
        return failed(503)
    return idp().authorize_redirect(base_url() + "/auth/callback", ui_locales=i18n.current())


@bp.get("/auth/callback")
def callback():
    """The IdP's answer (OIDC Core 1.0 §3.1.2.5–6): a code to exchange, or an error."""
    error = request.args.get("error")
    if error == "access_denied":
        return render_template("declined.html")
    if error:
        log.warning("the IdP answered %s: %s", error, request.args.get("error_description", "")[:200])
        return failed()
    try:
        claims, id_token = _exchange()
    except SIGN_IN_FAILURES as e:
        log.warning("sign-in failed: %s: %s", type(e).__name__, e)
        return failed()
    session.clear()  # a fresh session for the new sign-in, against fixation
    session[SESSION_KEY] = storage.start_sign_in(claims, id_token)
    return redirect(url_for("views.profile"))


def _exchange() -> tuple[dict, str]:
    """Code → tokens (ID token validated by Authlib: signature, iss, aud, exp, nonce) → userinfo."""
    client, metadata = idp(), _metadata()
    # RFC 9207 §2.4: an `iss` in the answer must be our IdP's, against mix-up attacks.
    if "iss" in request.args and request.args["iss"] != metadata["issuer"]:
        raise SignInError(f"authorization response from issuer {request.args['iss']!r}")
    token = client.authorize_access_token()
    if "userinfo" not in token:
        raise SignInError("no ID token in the token response")
    info = client.userinfo(token=token)
    # OIDC Core 1.0 §5.3.2: userinfo about anyone else must not be used.
    if info.get("sub") != token["userinfo"]["sub"]:
        raise SignInError("userinfo is about another subject")
    claims = {**token["userinfo"], **info}
    return {name: claims[name] for name in KEPT_CLAIMS if name in claims}, token["id_token"]


@bp.post("/logout")
def logout():
    """Sign out here, then at the IdP (RP-Initiated Logout 1.0 §2), which sends the citizen back home."""
    ended = storage.end_sign_in(session.get(SESSION_KEY))
    session.clear()
    if ended is None:
        return redirect(url_for("views.home"))
    try:
        _metadata()
        return idp().logout_redirect(post_logout_redirect_uri=base_url() + "/", id_token_hint=ended["id_token"],
                                     ui_locales=i18n.current())
    except (requests.RequestException, SignInError, RuntimeError) as e:
        # Signed out of Masar all the same; the IdP session ends on its own timeout.
        log.error("cannot sign out at the IdP: %s", e)
        return redirect(url_for("views.home"))


def signed_out_here() -> bool:
    """Whether this request is the IdP sending the citizen back after logout (the `state` we sent)."""
    if "state" not in request.args:
        return False
    try:
        idp().validate_logout_response()
    except AuthlibBaseError:
        return False
    return True
