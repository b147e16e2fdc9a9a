"""Sign in with the national app: OpenID Connect CIBA Core 1.0, poll mode, from Masar's side.

The employee types their national ID; Masar (authenticated with its client credentials, by
Authlib) asks the IdP's backchannel authentication endpoint (§7.1) to have the citizen approve in
the national app, shows the two-digit number the IdP returns (`binding_message`, the IdP's
documented extension), and polls the token endpoint (§10.1) — from the page's script every
`interval` seconds, or when the employee presses "Continue" without JavaScript. Masar itself never
polls sooner than the interval, and adds 5 seconds at each `slow_down` (§11). The ID token is
validated as in the code flow (Authlib against the IdP's JWKS: signature, iss, aud, exp, at_hash);
the claims come from userinfo. The auth_req_id stays on Masar's server (a signed session cookie
carries it only to Masar; it is useless without Masar's client secret).
"""
from __future__ import annotations

import logging
import re
import time
from urllib.parse import urlsplit

import requests
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from flask import (Blueprint, current_app, jsonify, make_response, redirect, render_template, request, session,
                   url_for)
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import InputRequired, ValidationError

from relying_parties.masar import auth, storage

log = logging.getLogger(__name__)
bp = Blueprint("ciba", __name__)

GRANT_TYPE = "urn:openid:params:grant-type:ciba"
WAIT_KEY = "ciba_wait"
_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "0123456789" * 2)
_NATIONAL_ID = re.compile(r"[12][0-9]{9}")


def _national_id(_form, field) -> None:
    field.data = (field.data or "").translate(_DIGITS).replace(" ", "").replace("-", "")
    if not _NATIONAL_ID.fullmatch(field.data):
        raise ValidationError(_l("Enter your 10-digit national ID or iqama number."))


class AppSignInForm(FlaskForm):
    national_id = StringField(_l("National ID or iqama number"), validators=[InputRequired(), _national_id])


class ContinueForm(FlaskForm):
    pass


def _client() -> OAuth2Session:
    config = current_app.config
    return OAuth2Session(config["MASAR_CLIENT_ID"], config["MASAR_CLIENT_SECRET"],
                         token_endpoint_auth_method="client_secret_basic")  # noqa: S106 (a method name)


@bp.route("/login/app", methods=["GET", "POST"])
def start():
    """The national ID, then the backchannel authentication request (CIBA Core 1.0 §7.1)."""
    if auth.current_sign_in() is not None:
        return redirect(url_for("views.profile"))
    form = AppSignInForm()
    if not form.validate_on_submit():
        return render_template("app_sign_in.html", form=form), 400 if form.is_submitted() else 200
    try:
        metadata = auth._metadata()
        client = _client()
        response = client.post(metadata["backchannel_authentication_endpoint"], timeout=10,
                               auth=client.client_auth("client_secret_basic"),
                               data={"scope": auth.SCOPE, "login_hint": form.national_id.data})
        answer = response.json()
    except (requests.RequestException, auth.SignInError, KeyError, ValueError) as e:
        log.error("cannot reach the IdP's backchannel authentication endpoint: %s", e)
        return auth.failed(503)
    if response.status_code != 200 or not _well_formed(answer):
        log.warning("the IdP refused the backchannel request: %s", str(answer.get("error"))[:60])
        return auth.failed()
    interval, now = int(answer.get("interval", 5)), time.time()
    session[WAIT_KEY] = {"auth_req_id": answer["auth_req_id"], "number": answer["binding_message"],
                         "interval": interval, "next_poll": now + interval, "expires": now + answer["expires_in"]}
    return redirect(url_for("ciba.wait"), 303)


def _well_formed(answer: dict) -> bool:
    return isinstance(answer.get("auth_req_id"), str) and isinstance(answer.get("expires_in"), int) and \
        re.fullmatch(r"[0-9]{2}", str(answer.get("binding_message", ""))) is not None


@bp.get("/login/app/wait")
def wait():
    """The number to pick in the app; the script polls, the button works without it."""
    waiting = session.get(WAIT_KEY)
    if waiting is None:
        return redirect(url_for("ciba.start"))
    response = make_response(render_template("app_wait.html", number=waiting["number"],
                                             interval=waiting["interval"], form=ContinueForm(),
                                             not_yet=request.args.get("not_yet") == "1"))
    # The one page with a script (our own file; it polls Masar only): the app's policy plus that.
    idp = urlsplit(current_app.config["MASAR_IDP_ISSUER"])
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; connect-src 'self'; "
        f"form-action 'self' {idp.scheme}://{idp.netloc}; frame-ancestors 'none'; base-uri 'none'")
    return response


@bp.post("/login/app/check")
def check():
    """One poll of the token endpoint (§10.1), never sooner than the interval. JSON for the script
    ({"state": "pending"|"done", "next": url}); a redirect for the button."""
    wants_json = request.accept_mimetypes.best == "application/json"
    if not ContinueForm().validate_on_submit():
        return auth.failed()
    outcome = _poll()
    if outcome == "pending":
        return jsonify(state="pending", interval=session[WAIT_KEY]["interval"]) if wants_json \
            else redirect(url_for("ciba.wait", not_yet=1), 303)
    target = url_for("views.profile") if outcome == "signed_in" else url_for("ciba.ended", why=outcome)
    return jsonify(state="done", next=target) if wants_json else redirect(target, 303)


@bp.get("/login/app/ended/<why>")
def ended(why):
    if why == "declined":
        return render_template("declined.html")
    return render_template("app_ended.html", expired=why == "expired"), 400


def _poll() -> str:
    """"pending", "signed_in", "declined", "expired" or "failed"; ends the wait unless pending."""
    waiting = session.get(WAIT_KEY)
    if waiting is None:
        return "expired"
    now = time.time()
    if now >= waiting["expires"]:
        session.pop(WAIT_KEY, None)
        return "expired"
    if now < waiting["next_poll"]:
        return "pending"  # the IdP asked for `interval` between polls: wait, without asking it
    try:
        metadata = auth._metadata()
        token = _client().fetch_token(metadata["token_endpoint"], grant_type=GRANT_TYPE,
                                      auth_req_id=waiting["auth_req_id"])
    except OAuthError as e:
        return _refused(waiting, e.error, now)
    except (requests.RequestException, auth.SignInError, ValueError, KeyError) as e:
        log.error("cannot poll the IdP's token endpoint: %s", e)
        session[WAIT_KEY] = {**waiting, "next_poll": now + waiting["interval"]}
        return "pending"
    session.pop(WAIT_KEY, None)
    try:
        claims = _verified_claims(token)
    except auth.SIGN_IN_FAILURES as e:
        log.warning("app sign-in failed: %s: %s", type(e).__name__, e)
        return "failed"
    session.clear()  # a fresh session for the new sign-in, against fixation
    session[auth.SESSION_KEY] = storage.start_sign_in(claims, token["id_token"])
    return "signed_in"


def _refused(waiting: dict, error: str, now: float) -> str:
    """§11: pending and slow_down keep waiting (slow_down adds 5 s); anything else ends it."""
    if error in ("authorization_pending", "slow_down"):
        interval = waiting["interval"] + (5 if error == "slow_down" else 0)
        session[WAIT_KEY] = {**waiting, "interval": interval, "next_poll": now + interval}
        return "pending"
    session.pop(WAIT_KEY, None)
    if error == "access_denied":
        return "declined"
    if error != "expired_token":
        log.warning("the IdP answered the poll with %s", error[:60])
    return "expired" if error == "expired_token" else "failed"


def _verified_claims(token: dict) -> dict:
    """The ID token checked as in the code flow (Authlib: JWKS signature, iss, aud, exp, at_hash;
    no nonce in CIBA), then the claims from userinfo about the same subject (OIDC Core 1.0 §5.3.2)."""
    client = auth.idp()
    id_claims = client.parse_id_token(token, nonce=None)
    if not id_claims or not id_claims.get("sub"):
        raise auth.SignInError("no ID token in the token response")
    info = client.userinfo(token=token)
    if info.get("sub") != id_claims["sub"]:
        raise auth.SignInError("userinfo is about another subject")
    claims = {**id_claims, **info}
    return {name: claims[name] for name in auth.KEPT_CLAIMS if name in claims}
