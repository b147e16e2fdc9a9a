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


def store_keys(store) -> list[str]:
    """Every key the app has in the store (either implementation)."""
    if hasattr(store, "client"):
        return [k.decode()[len(store.prefix):] for k in store.client.scan_iter(match=store.prefix + "*")]
    return list(store._data)


def test_a_cookieless_registration_page_stores_no_captcha(app, store):
    """Issue 15 (5): anonymous GETs must not grow the store. The challenge is sealed into its id;
    only an answer leaves a mark (single use)."""
    import re
    pages = [app.test_client().get("/register").get_data(as_text=True) for _ in range(5)]
    assert [k for k in store_keys(store) if k.startswith("captcha")] == []
    ids = [re.search(r'name="captcha_id" type="hidden" value="([^"]+)"', page).group(1) for page in pages]
    assert len(set(ids)) == 5
    client = app.test_client()
    assert all(client.get(f"/captcha/{challenge_id}.png").status_code == 200 for challenge_id in ids)
    with app.app_context():
        assert not captcha_service().verify(ids[0], "not-it")
    assert [k for k in store_keys(store) if k.startswith("captcha")] != []
    assert client.get(f"/captcha/{ids[0]}.png").status_code == 404   # used up
