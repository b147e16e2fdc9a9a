"""The captcha image endpoint, and `captcha_service()` for the blueprints that ask for a captcha."""
from __future__ import annotations

from flask import Blueprint, Response, abort, current_app

from idp.identity.captcha import CaptchaService, derive_key, is_challenge_id

bp = Blueprint("captcha", __name__)


def captcha_service() -> CaptchaService:
    """The app's captcha service. TEST_CAPTCHA_ANSWER is honoured only under TESTING (browser tests)."""
    services = current_app.extensions["idp"]
    fixed = current_app.config.get("TEST_CAPTCHA_ANSWER") if current_app.testing else None
    return CaptchaService(services.store, services.settings.captcha_ttl_seconds, fixed,
                          key=derive_key(services.settings.secret_key))


@bp.get("/captcha/<challenge_id>.png")
def image(challenge_id: str):
    """The challenge's picture (OWASP ASVS V2.2.1 anti-automation). Never cached: a cached image
    would outlive its single-use answer. 404 for malformed, unknown or expired ids."""
    if not is_challenge_id(challenge_id):
        abort(404)
    png = captcha_service().image(challenge_id)
    if png is None:
        abort(404)
    return Response(png, mimetype="image/png", headers={"Cache-Control": "no-store"})
