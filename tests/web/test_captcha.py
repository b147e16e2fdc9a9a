"""GET /captcha/<id>.png and the captcha_service() helper."""
from __future__ import annotations

import pytest

from idp.web.captcha import captcha_service


def new_challenge(app) -> str:
    with app.app_context():
        return captcha_service().new()


def test_image(app, client):
    challenge_id = new_challenge(app)
    response = client.get(f"/captcha/{challenge_id}.png")
    assert response.status_code == 200
    assert response.mimetype == "image/png"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.data.startswith(b"\x89PNG\r\n\x1a\n")


def test_image_can_be_reloaded(app, client):
    challenge_id = new_challenge(app)
    assert client.get(f"/captcha/{challenge_id}.png").status_code == 200
    assert client.get(f"/captcha/{challenge_id}.png").status_code == 200


@pytest.mark.parametrize("challenge_id", ["unknown", "a" * 65, "bad!id", "%20"], ids=repr)
def test_unknown_or_malformed_id_is_404(client, challenge_id):
    assert client.get(f"/captcha/{challenge_id}.png").status_code == 404


def test_used_challenge_is_404(app, client):
    challenge_id = new_challenge(app)
    with app.app_context():
        captcha_service().verify(challenge_id, "00000")
    assert client.get(f"/captcha/{challenge_id}.png").status_code == 404


def test_fixed_answer_only_under_testing(app):
    app.config["TEST_CAPTCHA_ANSWER"] = "24680"
    with app.app_context():
        service = captcha_service()
        assert service.fixed_answer == "24680"
        assert service.verify(service.new(), "24680")
    app.testing = False
    with app.app_context():
        assert captcha_service().fixed_answer is None
