"""``<N>#<payload>`` framing (spec §3): byte counts, splits, pipelining, limits, errors."""

from __future__ import annotations

import re

import pytest

from trio_srf.drachtio import (
    MAX_FRAME_TO_SERVER,
    DrachtioProtocolError,
    FrameDecoder,
    encode_frame,
)
from trio_srf.errors import LocalProtocolError, RemoteProtocolError

PING = b"1fc46d83-da68-4e93-8e30-39f752a00cfb|ping"


def drain(dec: FrameDecoder) -> list[bytes]:
    out = []
    while (frame := dec.next_frame()) is not None:
        out.append(frame)
    return out


def test_encode_counts_bytes_not_characters() -> None:
    payload = "id|sip||\r\nMESSAGE sip:x SIP/2.0\r\nSubject: Grüße ☎\r\n\r\n".encode()
    assert len(payload) == len(payload.decode()) + 4  # ü, ß: 2 bytes each; ☎: 3
    assert encode_frame(payload) == b"%d#" % len(payload) + payload
    assert encode_frame(b"a|ping") == b"6#a|ping"


def test_decode_non_ascii_payload_by_byte_length() -> None:
    text = "x|route|caf\u00e9\u2603"
    wire = encode_frame(text.encode()) + encode_frame(PING)
    assert wire.startswith(b"16#")  # 12 ASCII + 2 + 3 bytes, not 14 characters
    dec = FrameDecoder()
    dec.feed(wire)
    assert drain(dec) == [text.encode(), PING]


def test_every_split_point_and_byte_by_byte() -> None:
    frames = [PING, "a|route|\u00fcber".encode(), b"b|ping"]
    wire = b"".join(encode_frame(f) for f in frames)
    for cut in range(len(wire) + 1):
        dec = FrameDecoder()
        if cut:
            dec.feed(wire[:cut])
        got = drain(dec)
        if wire[cut:]:  # feeding b"" would mean end of stream
            dec.feed(wire[cut:])
        assert got + drain(dec) == frames
    dec = FrameDecoder()
    got = []
    for i in range(len(wire)):
        dec.feed(wire[i : i + 1])
        got += drain(dec)
    assert got == frames
    assert dec.buffered == 0


def test_pipelined_frames_in_one_read() -> None:
    wire = b"6#a|ping6#b|ping6#c|ping"
    dec = FrameDecoder()
    dec.feed(wire)
    assert drain(dec) == [b"a|ping", b"b|ping", b"c|ping"]


def test_clean_eof_between_frames() -> None:
    dec = FrameDecoder()
    dec.feed(b"6#a|ping")
    dec.feed(b"")
    assert dec.at_eof
    assert drain(dec) == [b"a|ping"]
    assert dec.next_frame() is None


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        (b"#a|ping", "without a length"),
        (b"6x#a|ping", "non-digit b'x'"),
        (b" 6#a|ping", "non-digit b' '"),
        (b"-6#a|ping", "non-digit b'-'"),
        (b"+6#a|ping", "non-digit b'+'"),
        (b"06#a|ping", "zero-padded"),
        (b"0#", "zero"),
        (b"GET / HTTP/1.1\r\n", "non-digit b'G'"),
        (b"100000#", "longer than 5 digits"),
        (b"123456", "longer than 5 digits"),
        (b"99999999999999999999", "longer than 5 digits"),
        (b"6#a|ping\x16\x03\x01", "non-digit b'\\x16'"),  # a TLS hello on a TCP port
    ],
)
def test_bad_prefix_is_a_clear_error_at_once(wire: bytes, message: str) -> None:
    dec = FrameDecoder(MAX_FRAME_TO_SERVER)
    dec.feed(wire)
    with pytest.raises(DrachtioProtocolError, match=re.escape(message)) as info:
        drain(dec)
    assert isinstance(info.value, RemoteProtocolError)
    # The decoder stays broken, and says so again.
    dec2 = info.value
    with pytest.raises(DrachtioProtocolError) as again:
        dec.next_frame()
    assert again.value is dec2


def test_oversized_frame_rejected_before_its_payload_arrives() -> None:
    dec = FrameDecoder(max_frame_size=100)
    dec.feed(b"101#")
    with pytest.raises(DrachtioProtocolError, match="101 bytes exceeds the limit of 100"):
        dec.next_frame()
    dec = FrameDecoder(max_frame_size=100)
    dec.feed(b"100#" + b"x" * 99)
    assert dec.next_frame() is None
    dec.feed(b"y")
    assert dec.next_frame() == b"x" * 99 + b"y"
    # A 4-digit prefix cannot fit a 100-byte limit: rejected without waiting for '#'.
    dec = FrameDecoder(max_frame_size=100)
    dec.feed(b"1000")
    with pytest.raises(DrachtioProtocolError, match="longer than 3 digits"):
        dec.next_frame()


def test_drachtio_server_limit_is_five_digits() -> None:
    dec = FrameDecoder(MAX_FRAME_TO_SERVER)
    payload = b"a|sip||\r\n" + b"x" * (MAX_FRAME_TO_SERVER - 9)
    dec.feed(encode_frame(payload))
    assert dec.next_frame() == payload
    with pytest.raises(LocalProtocolError, match="exceeds the limit of 99999"):
        encode_frame(payload + b"x", max_frame_size=MAX_FRAME_TO_SERVER)


@pytest.mark.parametrize("cut", [1, 2, 3, 10])
def test_eof_inside_a_frame_is_an_error(cut: int) -> None:
    wire = encode_frame(PING)
    dec = FrameDecoder()
    dec.feed(wire[:cut])
    assert dec.next_frame() is None
    dec.feed(b"")
    with pytest.raises(DrachtioProtocolError, match="stream ended"):
        dec.next_frame()


def test_feeding_after_eof_is_a_local_error() -> None:
    dec = FrameDecoder()
    dec.feed(b"")
    dec.feed(b"")  # repeated EOF is harmless
    with pytest.raises(LocalProtocolError):
        dec.feed(b"6#a|ping")


def test_empty_frame_cannot_be_encoded() -> None:
    with pytest.raises(LocalProtocolError):
        encode_frame(b"")


def test_decoder_limit_must_be_positive() -> None:
    with pytest.raises(ValueError):
        FrameDecoder(0)
