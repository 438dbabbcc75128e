"""G.711 mu-law and A-law companding in pure Python, driven by precomputed tables.

Rules this module keeps:

* **Samples are signed 16-bit linear PCM** (``-32768..32767``), carried as
  ``array.array("h")``; encoded audio is one byte per sample (ITU-T G.711, RFC 3551 §4.5.14).
* **No audioop.** The stdlib ``audioop`` module is deprecated (PEP 594) and gone in Python 3.13,
  so the companders are computed here, once, at import time:

  - mu-law works on the 14-bit value ``sample >> 2`` (G.711 Table 2a): the magnitude is
    clipped to 8158, biased by 33, and split into a 3-bit segment (exponent) and a 4-bit step
    (mantissa); the code is the bitwise complement of ``sign | segment | step``, with sign
    bit 1 for positive samples after complementing (so silence is ``0xFF``).
  - A-law works on the 13-bit value ``sample >> 3`` (G.711 Table 1a): segment 0 and 1 share
    a step of 16 (in 16-bit units), each further segment doubles it; the code has its even
    bits inverted (XOR ``0x55``), with sign bit 1 for positive samples (silence is ``0xD5``).
  - Negative samples use the one's complement magnitude (``~v``), so ``-1`` encodes like
    ``0`` and ``-32768`` does not overflow.

* **Decoding yields the midpoint** of each quantization interval, so for samples inside the
  clip range the round-trip error is at most half a step plus the bits dropped by the
  shift (see the tests for the bounds).

Encoding and decoding are table lookups: a 16384-entry table for mu-law, 8192 for A-law,
256 entries each way for decoding.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from typing import Final, Literal

__all__ = [
    "Law",
    "alaw_decode",
    "alaw_encode",
    "decode",
    "encode",
    "ulaw_decode",
    "ulaw_encode",
]

Law = Literal["PCMU", "PCMA"]
"""The two G.711 laws by their RTP encoding names (RFC 3551 §6): mu-law and A-law."""

_ULAW_CLIP: Final = 8158  # largest 14-bit magnitude mu-law can represent (G.711 Table 2a)
_ULAW_BIAS: Final = 33  # 14-bit bias that makes segment boundaries powers of two


def _ulaw_code(v: int) -> int:
    """mu-law code of a 14-bit signed value ``v`` (-8192..8191)."""
    if v >= 0:
        sign, mag = 0x00, v
    else:
        sign, mag = 0x80, ~v  # one's complement: -1 -> 0, -8192 -> 8191
    x = min(mag, _ULAW_CLIP) + _ULAW_BIAS  # 33..8191: bit 5 up to bit 12 is the top bit
    exponent = x.bit_length() - 6
    mantissa = (x >> (exponent + 1)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def _ulaw_linear(code: int) -> int:
    """16-bit linear value of a mu-law code: the midpoint of its interval."""
    x = ~code & 0xFF
    exponent = (x >> 4) & 0x07
    mantissa = x & 0x0F
    magnitude = (((mantissa << 3) + 4 * _ULAW_BIAS) << exponent) - 4 * _ULAW_BIAS
    return -magnitude if x & 0x80 else magnitude


def _alaw_code(v: int) -> int:
    """A-law code of a 13-bit signed value ``v`` (-4096..4095)."""
    if v >= 0:
        sign, mag = 0x80, v  # A-law marks *positive* samples with the sign bit
    else:
        sign, mag = 0x00, ~v
    if mag < 32:  # segment 0: the same step as segment 1 (16 in 16-bit units)
        exponent, mantissa = 0, mag >> 1
    else:
        exponent = mag.bit_length() - 5  # 32..63 -> 1, ..., 2048..4095 -> 7
        mantissa = (mag >> exponent) & 0x0F
    return (sign | (exponent << 4) | mantissa) ^ 0x55


def _alaw_linear(code: int) -> int:
    """16-bit linear value of an A-law code: the midpoint of its interval."""
    x = code ^ 0x55
    exponent = (x >> 4) & 0x07
    mantissa = x & 0x0F
    # Segment 0 has no implied leading 1; segments 1-7 add 0x100 and double per segment.
    base = (mantissa << 4) + 8
    magnitude = base if exponent == 0 else (base + 0x100) << (exponent - 1)
    return magnitude if x & 0x80 else -magnitude


# Encode tables are indexed by the top 14 (mu-law) or 13 (A-law) bits of the sample, taken
# as an unsigned index: ``(sample >> 2) & 0x3FFF``. Index i stands for the signed value
# i - 2**14 when i >= 2**13 (two's complement).
_ULAW_ENCODE: Final = bytes(_ulaw_code(i - 0x4000 if i & 0x2000 else i) for i in range(0x4000))
_ALAW_ENCODE: Final = bytes(_alaw_code(i - 0x2000 if i & 0x1000 else i) for i in range(0x2000))
_ULAW_DECODE: Final = array("h", [_ulaw_linear(c) for c in range(256)])
_ALAW_DECODE: Final = array("h", [_alaw_linear(c) for c in range(256)])


def ulaw_encode(samples: Iterable[int]) -> bytes:
    """Encode 16-bit linear samples as mu-law (PCMU, payload type 0).

    Args:
        samples: Signed 16-bit values; values outside the range are clamped by the shift
            (only bits 2..15 are used).

    Returns:
        One byte per sample.
    """
    table = _ULAW_ENCODE
    return bytes([table[(s >> 2) & 0x3FFF] for s in samples])


def alaw_encode(samples: Iterable[int]) -> bytes:
    """Encode 16-bit linear samples as A-law (PCMA, payload type 8).

    Args:
        samples: Signed 16-bit values (only bits 3..15 are used).

    Returns:
        One byte per sample.
    """
    table = _ALAW_ENCODE
    return bytes([table[(s >> 3) & 0x1FFF] for s in samples])


def ulaw_decode(data: bytes) -> array[int]:
    """Decode mu-law bytes to 16-bit linear samples.

    Args:
        data: PCMU payload, one byte per sample.

    Returns:
        An ``array("h")`` with one sample per byte.
    """
    table = _ULAW_DECODE
    return array("h", [table[b] for b in data])


def alaw_decode(data: bytes) -> array[int]:
    """Decode A-law bytes to 16-bit linear samples.

    Args:
        data: PCMA payload, one byte per sample.

    Returns:
        An ``array("h")`` with one sample per byte.
    """
    table = _ALAW_DECODE
    return array("h", [table[b] for b in data])


def encode(law: Law, samples: Iterable[int]) -> bytes:
    """Encode with the law named by its RTP encoding name.

    Args:
        law: ``"PCMU"`` or ``"PCMA"``.
        samples: Signed 16-bit linear samples.

    Returns:
        The G.711 payload.

    Raises:
        ValueError: ``law`` is neither.
    """
    if law == "PCMU":
        return ulaw_encode(samples)
    if law == "PCMA":
        return alaw_encode(samples)
    raise ValueError(f"not a G.711 encoding: {law!r}")


def decode(law: Law, data: bytes) -> array[int]:
    """Decode with the law named by its RTP encoding name.

    Args:
        law: ``"PCMU"`` or ``"PCMA"``.
        data: The G.711 payload.

    Returns:
        16-bit linear samples.

    Raises:
        ValueError: ``law`` is neither.
    """
    if law == "PCMU":
        return ulaw_decode(data)
    if law == "PCMA":
        return alaw_decode(data)
    raise ValueError(f"not a G.711 encoding: {law!r}")
