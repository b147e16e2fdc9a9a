"""The captcha's audio alternative (WCAG 2.2 SC 1.1.1: a non-text test needs an alternative in
another sense): the challenge's digits spoken in Arabic or English by espeak-ng, run on this
machine (Debian package espeak-ng, installed by `make install`), never a network service.

Like reCAPTCHA's audio it is an alternative, not an easier path: the voice's speed and pitch
vary per request, silences between digits vary, and low noise is mixed in, so a script gets no
fixed waveform per digit to match. The answer is never in the URL or the file's metadata.
"""
from __future__ import annotations

import array
import io
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import wave

LANGUAGES = {"ar": "ar", "en": "en"}  # our locale -> espeak-ng voice
_ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
TIMEOUT_SECONDS = 10
# espeak-ng takes ~0.1 s of CPU per challenge; at most this many run at once per process, so a
# flood of audio requests queues nothing and costs at most this many processes.
_slots = threading.BoundedSemaphore(2)


class AudioUnavailable(Exception):
    """No synthesiser on this machine, too many at once, or it failed: the page says so."""


def espeak_program() -> str | None:
    """The espeak-ng executable, if installed."""
    return shutil.which("espeak-ng")


def speak_digits(digits: str, lang: str) -> bytes:
    """`digits` read out one by one in `lang` ("ar" or "en"), as a 16-bit mono WAV file."""
    if lang not in LANGUAGES:
        raise ValueError(f"unsupported language {lang!r}")
    if not digits.isascii() or not digits.isdigit():
        raise ValueError("only ASCII digits can be spoken")
    program = espeak_program()
    if program is None:
        raise AudioUnavailable("espeak-ng is not installed")
    if not _slots.acquire(blocking=False):
        raise AudioUnavailable("too many audio challenges being made at once")
    try:
        return _add_noise(_synthesise(program, digits, lang))
    finally:
        _slots.release()


def _synthesise(program: str, digits: str, lang: str) -> bytes:
    shown = digits.translate(_ARABIC_INDIC) if lang == "ar" else digits
    text = " ".join(f"{d}," for d in shown)  # a comma after each digit: one digit, a pause, the next
    speed = 115 + secrets.randbelow(40)  # words per minute: slow enough to follow, varied
    pitch = 35 + secrets.randbelow(30)
    gap = 4 + secrets.randbelow(6)  # extra pause between words, in 10 ms units
    with tempfile.TemporaryDirectory(prefix="captcha-") as folder:
        out = os.path.join(folder, "challenge.wav")
        try:
            subprocess.run([program, "-v", LANGUAGES[lang], "-s", str(speed), "-p", str(pitch),  # noqa: S603
                            "-g", str(gap), "-w", out, "--", text],  # our own program; the text is digits
                           check=True, timeout=TIMEOUT_SECONDS, capture_output=True, stdin=subprocess.DEVNULL)
            with open(out, "rb") as f:
                return f.read()
        except (OSError, subprocess.SubprocessError) as e:
            raise AudioUnavailable(f"espeak-ng failed: {type(e).__name__}") from e


def _add_noise(wav: bytes) -> bytes:
    """The speech with random-length leading silence and low white noise (about -30 dB)."""
    with wave.open(io.BytesIO(wav)) as source:
        params = source.getparams()
        frames = source.readframes(source.getnframes())
    if params.sampwidth != 2 or params.nchannels != 1:
        raise AudioUnavailable("unexpected audio format from espeak-ng")
    samples = array.array("h", frames)
    if sys.byteorder == "big":
        samples.byteswap()
    lead = array.array("h", bytes(2 * (params.framerate // 4 + secrets.randbelow(params.framerate // 2))))
    samples = lead + samples + array.array("h", bytes(params.framerate))
    level = 900
    rand = secrets.SystemRandom()
    noisy = array.array("h", (max(-32768, min(32767, s + int(rand.gauss(0, level)))) for s in samples))
    if sys.byteorder == "big":
        noisy.byteswap()
    out = io.BytesIO()
    with wave.open(out, "wb") as sink:
        sink.setnchannels(1)
        sink.setsampwidth(2)
        sink.setframerate(params.framerate)
        sink.writeframes(noisy.tobytes())
    return out.getvalue()
