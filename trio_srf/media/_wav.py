"""WAV files for prompts and recordings: 8 kHz, 16-bit, mono PCM (stdlib :mod:`wave`).

Rules this module keeps:

* **One format.** The media endpoint plays and records narrowband telephone audio, so
  :func:`read_wav` accepts only 8000 Hz, 16-bit, one-channel PCM files and raises
  :class:`WavFormatError` (a :class:`ValueError`) for anything else, naming what it found.
  Convert other files beforehand (``sox in.wav -r 8000 -c 1 -b 16 out.wav``).
* **Samples are ``array("h")``** in native byte order; WAV data is little-endian, so the
  bytes are swapped on big-endian machines.
* :func:`write_wav` writes exactly the samples given; :func:`wav_duration` reads only the
  header.
"""

from __future__ import annotations

import os
import sys
import wave
from array import array
from collections.abc import Iterable
from typing import Final

__all__ = [
    "SAMPLE_RATE",
    "WavFormatError",
    "read_wav",
    "wav_duration",
    "write_wav",
]

SAMPLE_RATE: Final = 8000
"""The only sample rate the media endpoint uses (G.711, RFC 3551 §4.5.14)."""

StrPath = str | os.PathLike[str]


class WavFormatError(ValueError):
    """The file is not an 8 kHz, 16-bit, mono PCM WAV file (or not a WAV file at all)."""


def _check(reader: wave.Wave_read, path: StrPath) -> None:
    rate, width, channels = reader.getframerate(), reader.getsampwidth(), reader.getnchannels()
    if (rate, width, channels) != (SAMPLE_RATE, 2, 1):
        raise WavFormatError(
            f"{os.fspath(path)}: need 8000 Hz 16-bit mono, got {rate} Hz "
            f"{8 * width}-bit {channels} channel(s)"
        )


def read_wav(path: StrPath) -> array[int]:
    """Read all samples of an 8 kHz 16-bit mono WAV file.

    Args:
        path: The file.

    Returns:
        The samples as ``array("h")``.

    Raises:
        WavFormatError: Not a PCM WAV file, or another rate, width or channel count.
        OSError: The file cannot be read.
    """
    try:
        with wave.open(os.fspath(path), "rb") as reader:
            _check(reader, path)
            data = reader.readframes(reader.getnframes())
    except (wave.Error, EOFError) as exc:
        raise WavFormatError(f"{os.fspath(path)}: not a PCM WAV file ({exc})") from None
    samples = array("h")
    samples.frombytes(data[: len(data) // 2 * 2])
    if sys.byteorder == "big":
        samples.byteswap()
    return samples


def write_wav(path: StrPath, samples: Iterable[int]) -> int:
    """Write samples as an 8 kHz 16-bit mono WAV file, replacing any existing file.

    Args:
        path: The file.
        samples: Signed 16-bit values.

    Returns:
        The number of samples written.
    """
    data = samples if isinstance(samples, array) and samples.typecode == "h" else None
    buffer = array("h", samples) if data is None else array("h", data)
    if sys.byteorder == "big":
        buffer.byteswap()
    with wave.open(os.fspath(path), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(SAMPLE_RATE)
        writer.writeframes(buffer.tobytes())
    return len(buffer)


def wav_duration(path: StrPath) -> float:
    """The duration of a WAV file in seconds, from its header.

    Raises:
        WavFormatError: Not a PCM WAV file.
    """
    try:
        with wave.open(os.fspath(path), "rb") as reader:
            return reader.getnframes() / reader.getframerate()
    except (wave.Error, EOFError) as exc:
        raise WavFormatError(f"{os.fspath(path)}: not a PCM WAV file ({exc})") from None
