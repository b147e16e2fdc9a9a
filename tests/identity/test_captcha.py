"""The image captcha (OWASP ASVS V2.2.1 anti-automation): single use, expiry, digit answers."""
from __future__ import annotations


import pytest

from idp.identity.captcha import CaptchaService, is_challenge_id
from idp.store.memory import MemoryStore

TTL = 300
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
PERSIAN = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")


@pytest.fixture
def service(any_store):
    return CaptchaService(any_store, TTL)


def answer_of(service: CaptchaService, challenge_id: str) -> str:
    return service.store.get(f"captcha:{challenge_id}").decode()


def test_new_challenge_has_url_safe_id_and_five_digit_answer(service):
    ids = {service.new() for _ in range(20)}
    assert len(ids) == 20
    for challenge_id in ids:
        assert is_challenge_id(challenge_id) and len(challenge_id) >= 22
        answer = answer_of(service, challenge_id)
        assert len(answer) == 5 and answer.isascii() and answer.isdigit()


def test_answer_is_stored_with_the_ttl(service):
    challenge_id = service.new()
    assert 0 < service.store.ttl(f"captcha:{challenge_id}") <= TTL


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
    service = CaptchaService(MemoryStore(clock=clock), TTL)
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
