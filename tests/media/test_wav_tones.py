"""WAV read/write (8 kHz 16-bit mono) and generated tones and prompts."""

from __future__ import annotations

import math
import pathlib
import wave
from array import array

import pytest

from trio_srf.media import _tones as tones
from trio_srf.media._wav import WavFormatError, read_wav, wav_duration, write_wav


def test_wav_round_trip(tmp_path: pathlib.Path) -> None:
    samples = array("h", [0, 1, -1, 32767, -32768, 1234, -4321])
    path = tmp_path / "x.wav"
    assert write_wav(path, samples) == 7
    assert read_wav(path) == samples
    assert wav_duration(path) == pytest.approx(7 / 8000)
    with wave.open(str(path), "rb") as reader:
        assert (reader.getframerate(), reader.getsampwidth(), reader.getnchannels()) == (8000, 2, 1)
        assert reader.readframes(2) == b"\x00\x00\x01\x00"  # little-endian on disk


def test_wav_accepts_a_list(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "list.wav"
    write_wav(str(path), [5, -5])
    assert list(read_wav(str(path))) == [5, -5]


def test_wav_rejects_other_formats(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "stereo.wav"
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(2)
        writer.setsampwidth(2)
        writer.setframerate(16000)
        writer.writeframes(bytes(8))
    with pytest.raises(WavFormatError, match="16000 Hz 16-bit 2 channel"):
        read_wav(path)
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not a wav file at all")
    with pytest.raises(WavFormatError, match="not a PCM WAV"):
        read_wav(junk)
    with pytest.raises(WavFormatError):
        wav_duration(junk)


def _correlate(samples: array[int], frequency: float) -> float:
    """Normalized magnitude of the ``frequency`` component (1.0 for a pure tone)."""
    w = 2 * math.pi * frequency / 8000
    re = sum(s * math.cos(w * i) for i, s in enumerate(samples))
    im = sum(s * math.sin(w * i) for i, s in enumerate(samples))
    energy = math.sqrt(sum(s * s for s in samples) * len(samples) / 2)
    return math.hypot(re, im) / energy


def test_sine_values() -> None:
    tone = tones.sine(2000, 0.001, amplitude=0.5)  # 8 samples, a quarter period each
    assert list(tone) == [0, 16384, 0, -16384, 0, 16384, 0, -16384]
    assert len(tones.sine(440, 0.25)) == 2000
    assert _correlate(tones.sine(440, 0.1), 440) == pytest.approx(1.0, abs=0.01)


def test_dual_tone_and_dtmf() -> None:
    tone = tones.dtmf_tone("5", 0.1)
    assert len(tone) == 800
    assert tones.DTMF_FREQUENCIES["5"] == (770, 1336)
    assert _correlate(tone, 770) > 0.65
    assert _correlate(tone, 1336) > 0.65
    assert _correlate(tone, 941) < 0.1
    assert max(tone) <= 0.25 * 32767 + 1


def test_silence_concat_and_ramp() -> None:
    assert tones.silence(0.01) == array("h", [0] * 80)
    joined = tones.concat([1, 2], array("h", [3]), tones.silence(0.000125))
    assert joined == array("h", [1, 2, 3, 0])
    ramped = tones.sine(1000, 0.1, 0.5, ramp=0.01)
    assert ramped[0] == 0
    assert ramped[2] == 410  # 16383.5 * 2/80 of the way up the 80-sample ramp
    assert ramped[202] == 16384  # past the ramp: full amplitude
    assert ramped[-1] == 0
    with pytest.raises(ValueError, match="negative"):
        tones.silence(-1)


def test_prompts_are_short_and_not_silent() -> None:
    for prompt, low, high in [
        (tones.enter_number_prompt(), 0.5, 0.7),
        (tones.invalid_prompt(), 0.4, 0.6),
        (tones.cannot_complete_prompt(), 0.9, 1.1),
        (tones.beep(), 0.19, 0.21),
    ]:
        assert low <= len(prompt) / 8000 <= high
        assert max(prompt) > 5000
    sit = tones.cannot_complete_prompt()
    assert _correlate(sit[:2640], 913.8) > 0.9
