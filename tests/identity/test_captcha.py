"""The image captcha (OWASP ASVS V2.2.1 anti-automation): single use, expiry, digit answers."""
from __future__ import annotations
import io
import wave

import pytest

from idp.identity import captcha_audio
from idp.identity.captcha import ALPHABET, CaptchaService, is_challenge_id, render_png
from idp.store.memory import MemoryStore

TTL = 300
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
PERSIAN = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")


@pytest.fixture
def service(any_store, clock):
    return CaptchaService(any_store, TTL, clock=clock)


def answer_of(service: CaptchaService, challenge_id: str) -> str:
    return service.answer(challenge_id)


def test_new_challenge_has_url_safe_id_and_five_digit_answer(service):
    ids = {service.new() for _ in range(20)}
    assert len(ids) == 20
    for challenge_id in ids:
        assert is_challenge_id(challenge_id) and len(challenge_id) >= 22
        answer = answer_of(service, challenge_id)
        assert len(answer) == 5 and answer.isascii() and answer.isdigit()


def test_a_new_challenge_stores_nothing_and_an_answered_one_is_marked_until_it_expires(clock):
    """Showing a captcha writes nothing (issue 15, 5); answering one marks it used for its ttl."""
    store = MemoryStore(clock=clock)
    service = CaptchaService(store, TTL, clock=clock)
    challenge_id = service.new()
    assert service.image(challenge_id) and store._data == {}
    clock.advance(100)
    service.verify(challenge_id, "00000")
    [(key, (_value, expires))] = store._data.items()
    assert key.startswith("captcha-used:") and challenge_id not in key
    assert expires - clock() <= TTL - 100 + 1


def test_a_challenge_sealed_under_another_key_or_altered_is_unknown(any_store, clock):
    ours = CaptchaService(any_store, TTL, key=b"k" * 32, clock=clock)
    theirs = CaptchaService(any_store, TTL, key=b"x" * 32, clock=clock)
    challenge_id = theirs.new()
    assert ours.answer(challenge_id) is None and not ours.verify(challenge_id, theirs.answer(challenge_id))
    mine = ours.new()
    altered = mine[:-2] + ("AA" if mine[-2:] != "AA" else "BB")
    assert ours.answer(altered) is None and ours.answer(mine[:-1]) is None


def test_image_is_a_png_and_does_not_use_up_the_challenge(service):
    challenge_id = service.new()
    first, second = service.image(challenge_id), service.image(challenge_id)
    assert first.startswith(b"\x89PNG\r\n\x1a\n") and second.startswith(b"\x89PNG")
    assert service.verify(challenge_id, answer_of(service, challenge_id))


def test_right_answer_verifies_once(service):
    challenge_id = service.new()
    answer = answer_of(service, challenge_id)
    assert service.verify(challenge_id, answer)
    assert not service.verify(challenge_id, answer)
    assert service.image(challenge_id) is None


def test_wrong_answer_uses_up_the_challenge(service):
    challenge_id = service.new()
    answer = answer_of(service, challenge_id)
    wrong = "".join(str((int(c) + 1) % 10) for c in answer)
    assert not service.verify(challenge_id, wrong)
    assert not service.verify(challenge_id, answer)


@pytest.mark.parametrize("spell", [
    lambda a: a.translate(ARABIC_INDIC),
    lambda a: a.translate(PERSIAN),
    lambda a: " ".join(a),
    lambda a: f"  {a[:2].translate(ARABIC_INDIC)} {a[2:]}\t",
], ids=["arabic-indic", "persian", "spaced", "mixed"])
def test_answer_in_other_digit_scripts_and_with_spaces(service, spell):
    challenge_id = service.new()
    assert service.verify(challenge_id, spell(answer_of(service, challenge_id)))


@pytest.mark.parametrize("given", ["", None, "   ", "1" * 33, "abcde", "١٢٣"], ids=repr)
def test_bad_answers_fail_and_still_use_up_the_challenge(service, given):
    challenge_id = service.new()
    answer = answer_of(service, challenge_id)
    assert not service.verify(challenge_id, given)
    assert not service.verify(challenge_id, answer)


def test_answer_with_extra_characters_fails(service):
    challenge_id = service.new()
    assert not service.verify(challenge_id, answer_of(service, challenge_id) + "0")


@pytest.mark.parametrize("challenge_id", ["", "unknown-id", "a" * 65, "../etc", "has space", "ü" * 10],
                         ids=repr)
def test_unknown_or_malformed_ids(service, challenge_id):
    assert service.image(challenge_id) is None
    assert not service.verify(challenge_id, "12345")


def test_challenge_expires(clock):
    service = CaptchaService(MemoryStore(clock=clock), TTL, clock=clock)
    challenge_id = service.new()
    answer = answer_of(service, challenge_id)
    clock.advance(TTL)
    assert service.image(challenge_id) is None
    assert not service.verify(challenge_id, answer)


def test_fixed_answer_for_browser_tests(any_store):
    service = CaptchaService(any_store, TTL, fixed_answer="24680")
    challenge_id = service.new()
    assert service.verify(challenge_id, "٢٤٦٨٠")


@pytest.mark.parametrize("fixed", ["1234", "123456", "abcde", "١٢٣٤٥", ""], ids=repr)
def test_fixed_answer_must_be_five_ascii_digits(any_store, fixed):
    with pytest.raises(ValueError):
        CaptchaService(any_store, TTL, fixed_answer=fixed)


# --- Issue 12 (Deliver 1): glyphs without look-alikes, AA contrast, and the audio alternative ---

def test_answers_leave_out_look_alike_digits(service):
    digits = "".join(answer_of(service, service.new()) for _ in range(200))
    assert set(digits) <= set(ALPHABET) and not {"1", "7"} & set(digits)
    assert len(set(digits)) == len(ALPHABET)  # every allowed digit is used


def _luminance(rgb) -> float:
    def channel(c):
        c /= 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (channel(c) for c in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


@pytest.mark.parametrize("attempt", range(5))
def test_picture_ink_meets_aa_contrast(attempt):
    """WCAG 2.2 SC 1.4.3 (4.5:1) between the darkest ink and the background (its commonest colour)."""
    from PIL import Image
    image = Image.open(io.BytesIO(render_png("23456"))).convert("RGB")
    counts = sorted(image.getcolors(1 << 16), reverse=True)
    background = counts[0][1]
    ink = min((colour for _, colour in counts), key=_luminance)
    ratio = (_luminance(background) + 0.05) / (_luminance(ink) + 0.05)
    assert ratio >= 4.5


@pytest.mark.skipif(captcha_audio.espeak_program() is None, reason="espeak-ng not installed")
@pytest.mark.parametrize("lang", ["ar", "en"])
def test_audio_speaks_the_challenge(service, lang):
    challenge_id = service.new()
    with wave.open(io.BytesIO(service.audio(challenge_id, lang))) as w:
        assert w.getnframes() > w.getframerate()  # more than a second of sound
    assert service.answer(challenge_id) is not None  # listening does not use it up


@pytest.mark.parametrize("digits, lang", [("12a45", "en"), ("١٢٣٤٥", "ar"), ("12345", "fr"), ("", "en")])
def test_audio_refuses_what_it_should_not_speak(digits, lang):
    with pytest.raises(ValueError):
        captcha_audio.speak_digits(digits, lang)
