"""G.711 mu-law and A-law: code points from the ITU-T tables, error bounds, round trips."""

from __future__ import annotations

import itertools
from array import array

import pytest

from trio_srf.media import _g711 as g711


def test_ulaw_known_code_points() -> None:
    # G.711 Table 2a extremes and the smallest steps: 0x80/0x00 are +/-32124 in 16-bit
    # units, 0xFF and 0x7F both decode to zero, the last negative codes step by 8.
    decoded = g711.ulaw_decode(bytes([0x00, 0x7F, 0x80, 0xFF, 0x70, 0x7E, 0x0F, 0xEF]))
    assert list(decoded) == [-32124, 0, 32124, 0, -120, -8, -16764, 132]
    assert g711.ulaw_encode([0, -1, 32767, -32768, 32124, -32124, 8, -8]) == bytes(
        [0xFF, 0x7F, 0x80, 0x00, 0x80, 0x00, 0xFE, 0x7E]
    )


def test_alaw_known_code_points() -> None:
    # G.711 Table 1a: 0xD5/0x55 are the smallest positive/negative values (+/-8),
    # 0xAA/0x2A the largest (+/-32256); 0x00 decodes to -5504 (even bits inverted).
    decoded = g711.alaw_decode(bytes([0xD5, 0x55, 0xAA, 0x2A, 0x00, 0x80]))
    assert list(decoded) == [8, -8, 32256, -32256, -5504, 5504]
    assert g711.alaw_encode([0, -1, 32767, -32768, 8, -8, 5504]) == bytes(
        [0xD5, 0x55, 0xAA, 0x2A, 0xD5, 0x55, 0x80]
    )


@pytest.mark.parametrize("law", ["PCMU", "PCMA"])
def test_decode_then_encode_is_identity_on_levels(law: g711.Law) -> None:
    levels = g711.decode(law, bytes(range(256)))
    again = g711.decode(law, g711.encode(law, levels))
    assert list(again) == list(levels)
    # Every code but mu-law's negative zero (0x7F, which encodes back as 0xFF) is a fixed point.
    codes = g711.encode(law, levels)
    mismatches = [c for c in range(256) if codes[c] != c]
    assert mismatches == ([0x7F] if law == "PCMU" else [])


def _step(law: g711.Law, code: int) -> int:
    if law == "PCMU":
        exponent = ((~code & 0xFF) >> 4) & 7
        return 8 << exponent
    exponent = ((code ^ 0x55) >> 4) & 7
    return 16 << max(exponent - 1, 0)


@pytest.mark.parametrize(("law", "clip"), [("PCMU", 32635), ("PCMA", 32767)])
def test_round_trip_error_is_within_half_a_step(law: g711.Law, clip: int) -> None:
    samples = array("h", range(-32768, 32768))
    codes = g711.encode(law, samples)
    decoded = g711.decode(law, codes)
    worst = 0
    for s, c, d in zip(samples, codes, decoded, strict=True):
        if -clip <= s <= clip:
            excess = abs(s - d) - _step(law, c) // 2
            worst = max(worst, excess)
    # Half a step, plus the bits the 14-/13-bit shift drops (at most 4 in 16-bit units).
    assert worst <= 4
    # Monotonic: a larger sample never decodes smaller.
    assert all(a <= b for a, b in itertools.pairwise(decoded))


def test_clipping_beyond_the_mu_law_range() -> None:
    assert list(g711.ulaw_decode(g711.ulaw_encode([32700, -32700]))) == [32124, -32124]


def test_unknown_law() -> None:
    with pytest.raises(ValueError, match=r"G\.711"):
        g711.encode("G729", [0])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"G\.711"):
        g711.decode("G729", b"\x00")  # type: ignore[arg-type]
