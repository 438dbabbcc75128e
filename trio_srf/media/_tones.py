"""Tone generation and the built-in prompts, as 8 kHz 16-bit samples (sans-IO).

Rules this module keeps:

* **Samples, not files.** Every function returns an ``array("h")`` at 8000 Hz that
  :meth:`~trio_srf.media.RtpEndpoint.play` accepts directly, so the project ships no audio:
  the prompts below are synthesized at call time (no download, nothing to install).
* **Levels** are given as a fraction of full scale (``amplitude=0.25`` is about -12 dBFS per
  component); dual tones split the amplitude between the two components so the sum never
  clips. Sample values are rounded, then clamped to ``-32768..32767``.
* **Clicks.** ``ramp`` seconds of linear fade in and out shape a tone's edges; the prompts
  use 5 ms.
* **Durations** are rounded to whole samples.

The built-in prompts stand in for FreeSWITCH's stock IVR recordings in the two-stage dialer:
:func:`enter_number_prompt` (a rising three-note chime: "please enter the number"),
:func:`invalid_prompt` (a low double buzz: "invalid entry") and
:func:`cannot_complete_prompt` (the Special Information Tone of ITU-T E.180 / Bellcore, three
rising notes heard before "your call cannot be completed as dialed").
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable
from typing import Final

from trio_srf.media._dtmf import digit_to_event
from trio_srf.media._wav import SAMPLE_RATE

__all__ = [
    "DTMF_FREQUENCIES",
    "beep",
    "cannot_complete_prompt",
    "concat",
    "dtmf_tone",
    "dual_tone",
    "enter_number_prompt",
    "invalid_prompt",
    "silence",
    "sine",
]

# ITU-T Q.23 keypad frequencies: (low group, high group) by event code 0-15.
_LOW: Final = (941, 697, 697, 697, 770, 770, 770, 852, 852, 852, 941, 941, 697, 770, 852, 941)
_HIGH: Final = (1336, 1209, 1336, 1477, 1209, 1336, 1477, 1209, 1336, 1477, 1209, 1477) + (
    1633,
) * 4
DTMF_FREQUENCIES: Final = dict(zip("0123456789*#ABCD", zip(_LOW, _HIGH, strict=True), strict=True))
"""The (low, high) frequency pair in Hz of each DTMF digit (ITU-T Q.23)."""


def _count(duration: float) -> int:
    if duration < 0:
        raise ValueError(f"negative duration: {duration}")
    return round(duration * SAMPLE_RATE)


def _render(components: list[tuple[float, float]], duration: float, ramp: float) -> array[int]:
    n = _count(duration)
    edge = min(_count(ramp), n // 2)
    out = array("h", bytes(2 * n))
    steps = [(2 * math.pi * freq / SAMPLE_RATE, amp * 32767) for freq, amp in components]
    for i in range(n):
        value = 0.0
        for step, scale in steps:
            value += scale * math.sin(step * i)
        if edge and (i < edge or i >= n - edge):
            value *= min(i, n - 1 - i) / edge
        out[i] = max(-32768, min(32767, round(value)))
    return out


def sine(
    frequency: float, duration: float, amplitude: float = 0.25, ramp: float = 0.0
) -> array[int]:
    """A pure tone.

    Args:
        frequency: Hz (below 4000 to be representable at 8 kHz).
        duration: Seconds.
        amplitude: Peak as a fraction of full scale (0-1).
        ramp: Seconds of fade in and fade out.

    Returns:
        ``round(duration * 8000)`` samples.
    """
    return _render([(frequency, amplitude)], duration, ramp)


def dual_tone(
    low: float, high: float, duration: float, amplitude: float = 0.25, ramp: float = 0.0
) -> array[int]:
    """Two tones summed, each at half of ``amplitude`` (a DTMF key, a ring-back tone).

    Args:
        low: First frequency in Hz.
        high: Second frequency in Hz.
        duration: Seconds.
        amplitude: Peak of the sum as a fraction of full scale.
        ramp: Seconds of fade in and fade out.
    """
    return _render([(low, amplitude / 2), (high, amplitude / 2)], duration, ramp)


def silence(duration: float) -> array[int]:
    """``round(duration * 8000)`` zero samples."""
    return array("h", bytes(2 * _count(duration)))


def concat(*parts: Iterable[int]) -> array[int]:
    """Join sample sequences end to end."""
    out = array("h")
    for part in parts:
        out.extend(part)
    return out


def dtmf_tone(digit: str, duration: float = 0.1, amplitude: float = 0.25) -> array[int]:
    """The in-band tone of a DTMF key (ITU-T Q.23 frequencies).

    Raises:
        LocalProtocolError: Not a DTMF digit.
    """
    code = digit_to_event(digit)
    low, high = _LOW[code], _HIGH[code]
    return dual_tone(low, high, duration, amplitude, ramp=0.005)


def beep(frequency: float = 1000.0, duration: float = 0.2) -> array[int]:
    """A short beep with soft edges."""
    return sine(frequency, duration, 0.25, ramp=0.005)


def enter_number_prompt() -> array[int]:
    """The "please enter the number" prompt: a rising chime (C5, E5, G5), about 0.6 s."""
    notes = [sine(f, 0.15, 0.25, ramp=0.005) for f in (523.25, 659.25, 783.99)]
    return concat(notes[0], silence(0.03), notes[1], silence(0.03), notes[2], silence(0.1))


def invalid_prompt() -> array[int]:
    """The "invalid entry" prompt: two low buzzes (a 350 Hz + 440 Hz pair), about 0.5 s."""
    buzz = dual_tone(350, 440, 0.18, 0.3, ramp=0.005)
    return concat(buzz, silence(0.06), buzz, silence(0.1))


def cannot_complete_prompt() -> array[int]:
    """The Special Information Tone: 913.8, 1370.6 and 1776.7 Hz, 330 ms each, about 1 s."""
    notes = [sine(f, 0.33, 0.25, ramp=0.005) for f in (913.8, 1370.6, 1776.7)]
    return concat(*notes, silence(0.05))
