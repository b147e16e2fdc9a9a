"""The web side of the one sign-in decision (idp.authn.decision): what the browser's session holds,
and the page each step leads to. The OIDC and SAML views build `Requirements` from their requests,
call `decide`, put a refusal in their protocol's terms and otherwise return `next_page`."""
from __future__ import annotations

import time

from flask import redirect, session, url_for

from idp.authn import levels, pending
from idp.authn.decision import Authentication, Decision, Requirements, Step, decide
from idp.approval import devices as app_devices
from idp.identity import passkeys
from idp.web.context import current_identity, db_session, signed_in_identity


def current_authentication(identity) -> Authentication | None:
    if identity is None:
        return None
    return Authentication(identity=identity.uuid, level=session.get("acr"),
                          auth_time=float(session.get("auth_time") or 0),
                          signed_in_at=float(session.get("signed_in_at") or 0))


def decide_now(required: Requirements) -> Decision:
    identity = current_identity()
    # Looked up only when the session falls short: an answer given at once costs no query.
    has_passkey = has_app_device = False
    if identity is not None and not levels.satisfies(session.get("acr"), required.level):
        has_passkey = passkeys.has_any(db_session(), identity)
        # the app is asked for only where a passkey would be and there is none (LoA 3)
        has_app_device = not has_passkey and levels.rank(required.level) >= levels.rank(levels.LOA3) and \
            app_devices.has_any(db_session(), identity)
    return decide(required, current_authentication(identity),
                  has_second_factor=bool(identity is not None and identity.has_totp), now=time.time(),
                  has_passkey=has_passkey, has_app_device=has_app_device)


def next_page(decision: Decision, here: str, login_hint: str | None = None):
    """The redirect that takes the browser to the step, coming back to `here`; None to proceed."""
    if decision.step is Step.SIGN_IN:
        return redirect(url_for("auth.login", next=here, login_hint=login_hint))
    if decision.step is Step.ENROL_SECOND_FACTOR:
        return redirect(url_for("account.two_step", next=here))
    if decision.step is Step.PASSKEY:
        return redirect(url_for("passkeys.sign_in_page", next=here))
    if decision.step is Step.APP_APPROVAL:
        return redirect(url_for("app_sign_in.start", next=here))
    if decision.step is Step.ENROL_PASSKEY:
        return redirect(url_for("passkeys.manage", next=here))
    if decision.step is Step.SECOND_FACTOR:
        session["mfa_pending"] = {"identity_uuid": signed_in_identity().uuid, "at": time.time(), "next": here}
        return redirect(url_for("auth.second_factor"))
    return None


# --- requests waiting for a sign-in, per protocol, in the session --------------------------------

def remember(kind: str, record: dict) -> str:
    """Keep a relying party's request (`kind`: "oidc_pending" or "saml_pending"); returns its id."""
    mapping, pending_id = pending.add(session.get(kind), record, time.time())
    session[kind] = mapping
    return pending_id


def recall(kind: str, pending_id: str) -> dict | None:
    return pending.get(session.get(kind), pending_id, time.time())


def forget(kind: str, pending_id: str) -> None:
    remaining = pending.drop(session.get(kind), pending_id)
    if remaining:
        session[kind] = remaining
    else:  # as before the request arrived, so an answered request leaves the session unwritten
        session.pop(kind, None)
