"""The captcha's audio alternative and "new picture" button (issue 12, Deliver 1; WCAG 2.2 SC 1.1.1)."""
from __future__ import annotations

import io
import re
import wave

import pytest

from idp.identity.captcha_audio import espeak_program
from idp.web.captcha import captcha_service
from tests.conftest import csrf_token

needs_espeak = pytest.mark.skipif(espeak_program() is None, reason="espeak-ng not installed (make install adds it)")


def new_challenge(app) -> str:
    with app.app_context():
        return captcha_service().new()


def parse_wav(data: bytes) -> wave._wave_params:
    with wave.open(io.BytesIO(data)) as w:
        params = w.getparams()
        frames = w.readframes(params.nframes)
    assert len(frames) == params.nframes * params.sampwidth * params.nchannels
    return params


@needs_espeak
@pytest.mark.parametrize("lang", ["ar", "en"])
def test_audio_is_a_valid_wav_in_both_languages(app, client, lang):
    challenge_id = new_challenge(app)
    response = client.get(f"/captcha/{lang}/{challenge_id}.wav")
    assert response.status_code == 200
    assert response.mimetype == "audio/wav"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.data[:4] == b"RIFF" and response.data[8:12] == b"WAVE"
    params = parse_wav(response.data)
    assert params.nchannels == 1 and params.sampwidth == 2
    assert params.nframes / params.framerate > 2  # five digits with pauses: seconds, not silence


@needs_espeak
def test_audio_differs_each_time(app, client):
    """Random speed, pitch, pauses and noise: no fixed waveform for a script to match."""
    challenge_id = new_challenge(app)
    first = client.get(f"/captcha/en/{challenge_id}.wav").data
    second = client.get(f"/captcha/en/{challenge_id}.wav").data
    assert first != second


@needs_espeak
def test_audio_does_not_carry_the_answer_as_text(app, client):
    app.config["TEST_CAPTCHA_ANSWER"] = "24680"
    challenge_id = new_challenge(app)
    data = client.get(f"/captcha/en/{challenge_id}.wav").data
    assert b"24680" not in data and b"2 4 6 8 0" not in data and b"LIST" not in data


@pytest.mark.parametrize("path", ["/captcha/fr/{id}.wav", "/captcha/en/unknown.wav", "/captcha/ar/bad!id.wav"])
def test_unknown_language_or_challenge_is_404(app, client, path):
    assert client.get(path.format(id=new_challenge(app))).status_code == 404


@needs_espeak
def test_used_challenge_has_no_audio(app, client):
    challenge_id = new_challenge(app)
    with app.app_context():
        captcha_service().verify(challenge_id, "00000")
    assert client.get(f"/captcha/ar/{challenge_id}.wav").status_code == 404


def test_audio_without_synthesiser_is_503(app, client, monkeypatch):
    monkeypatch.setattr("idp.identity.captcha_audio.espeak_program", lambda: None)
    assert client.get(f"/captcha/ar/{new_challenge(app)}.wav").status_code == 503


def test_registration_page_offers_audio_in_both_languages_and_a_new_picture(client):
    html = client.get("/register").get_data(as_text=True)
    assert '/captcha/ar/' in html and '/captcha/en/' in html and "<audio" in html
    assert 'name="new_captcha"' in html


def hidden_captcha_id(html: str) -> str:
    return re.search(r'name="captcha_id" type="hidden" value="([^"]+)"', html).group(1)


def test_new_picture_keeps_the_fields_and_checks_nothing(web):
    page = web.get("/register").get_data(as_text=True)
    old = hidden_captcha_id(page)
    again = web.client.post("/register", data={
        "csrf_token": csrf_token(page), "national_id": "1000000001", "birth_date": "15/09/1410",
        "calendar": "hijri", "captcha_id": old, "captcha": "", "new_captcha": "1"})
    assert again.status_code == 200
    html = again.get_data(as_text=True)
    assert 'value="1000000001"' in html and "field-errors" not in html
    assert hidden_captcha_id(html) != old  # a fresh challenge


def test_new_picture_on_sign_in_is_not_an_attempt(web):
    page = web.get("/login").get_data(as_text=True)
    response = web.client.post("/login", data={"csrf_token": csrf_token(page), "username": "nobody",
                                               "password": "wrong", "new_captcha": "1"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "field-errors" not in html and "/captcha/en/" in html
