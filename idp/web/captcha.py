"""The captcha picture and audio endpoints, and `captcha_service()` for the blueprints that ask for a captcha."""
from __future__ import annotations

from flask import Blueprint, Response, abort, current_app

from idp.identity.captcha import CaptchaService, derive_key, is_challenge_id
from idp.identity.captcha_audio import LANGUAGES, AudioUnavailable

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


@bp.get("/captcha/<lang>/<challenge_id>.wav")
def audio(lang: str, challenge_id: str):
    """The challenge's digits spoken in Arabic or English (WCAG 2.2 SC 1.1.1, the picture's
    alternative). Never cached, like the picture. 404 for an unknown language or challenge; 503
    when the synthesiser is missing or busy (logged; the page still offers the picture)."""
    if lang not in LANGUAGES or not is_challenge_id(challenge_id):
        abort(404)
    try:
        wav = captcha_service().audio(challenge_id, lang)
    except AudioUnavailable as e:
        current_app.logger.warning("captcha audio unavailable: %s", e)
        abort(503)
    if wav is None:
        abort(404)
    return Response(wav, mimetype="audio/wav", headers={"Cache-Control": "no-store"})


def wants_new_challenge(form) -> bool:
    """Whether the form was posted with the "new picture" button (no JavaScript needed): the page
    is shown again with the fields kept and a fresh challenge, and nothing is checked or counted."""
    return "new_captcha" in form
