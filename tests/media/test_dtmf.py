"""RFC 4733 telephone-events, the DTMF detector (SIPp pcaps), and SIP INFO DTMF bodies."""

from __future__ import annotations

import pathlib
import struct

import pytest

from trio_srf.errors import LocalProtocolError, RemoteProtocolError
from trio_srf.media._dtmf import (
    DtmfDetector,
    DtmfDigit,
    DtmfInfo,
    TelephoneEvent,
    build_dtmf_info,
    build_dtmf_relay,
    digit_to_event,
    event_to_digit,
    parse_dtmf_info,
)
from trio_srf.media._rtp import RtpPacket

SIPP_PCAPS = pathlib.Path("/usr/share/sip-tester")


def read_pcap_udp_payloads(path: pathlib.Path) -> list[bytes]:
    """UDP payloads of a classic libpcap file with Ethernet/IPv4 frames (a tiny reader)."""
    data = path.read_bytes()
    magic = data[:4]
    if magic == b"\xd4\xc3\xb2\xa1":
        endian = "<"
    elif magic == b"\xa1\xb2\xc3\xd4":
        endian = ">"
    else:
        raise ValueError(f"not a libpcap file: {magic.hex()}")
    (linktype,) = struct.unpack_from(endian + "I", data, 20)
    assert linktype == 1, "Ethernet frames expected"
    payloads = []
    offset = 24  # global header
    while offset + 16 <= len(data):
        _sec, _usec, incl_len, _orig_len = struct.unpack_from(endian + "IIII", data, offset)
        frame = data[offset + 16 : offset + 16 + incl_len]
        offset += 16 + incl_len
        if struct.unpack_from("!H", frame, 12)[0] != 0x0800:  # IPv4 ethertype
            continue
        ip = frame[14:]
        ihl = (ip[0] & 0x0F) * 4
        if ip[9] != 17:  # UDP
            continue
        udp = ip[ihl:]
        (udp_len,) = struct.unpack_from("!H", udp, 4)
        payloads.append(udp[8:udp_len])
    return payloads


def pcap_packets(name: str) -> list[RtpPacket]:
    path = SIPP_PCAPS / name
    if not path.exists():
        pytest.skip(f"{path} missing (Debian's sip-tester package ships it)")
    return [RtpPacket.decode(p) for p in read_pcap_udp_payloads(path)]


def test_sipp_pcap_digit_1() -> None:
    packets = pcap_packets("dtmf_2833_1.pcap")
    assert len(packets) == 10
    assert {p.payload_type for p in packets} == {101}
    events = [TelephoneEvent.decode(p.payload) for p in packets]
    assert [e.duration for e in events] == [0, 320, 640, 960, 1280, 1600, 1920, 2240, 2240, 2240]
    assert [e.end for e in events] == [False] * 7 + [True] * 3
    assert {(e.event, e.volume) for e in events} == {(1, 10)}
    detector = DtmfDetector()
    digits = [d for p in packets if (d := detector.feed(p)) is not None]
    assert digits == [DtmfDigit("1", 0x33E0, 0x0E05384E)]
    assert detector.duplicates == 9


@pytest.mark.parametrize(
    ("name", "digit"),
    [(f"dtmf_2833_{d}.pcap", d) for d in "0123456789"]
    + [("dtmf_2833_pound.pcap", "#"), ("dtmf_2833_star.pcap", "*")],
)
def test_sipp_pcaps_each_give_one_digit(name: str, digit: str) -> None:
    detector = DtmfDetector()
    digits = [d.digit for p in pcap_packets(name) if (d := detector.feed(p)) is not None]
    assert digits == [digit]


def _packet(
    ts: int, event: int, *, end: bool = False, duration: int = 160, seq: int = 0
) -> RtpPacket:
    payload = TelephoneEvent(event, end=end, duration=duration).encode()
    return RtpPacket(payload_type=101, sequence=seq, timestamp=ts, ssrc=77, payload=payload)


def test_event_encode_decode_exact() -> None:
    event = TelephoneEvent(11, end=True, volume=10, duration=800)
    assert event.encode() == bytes.fromhex("0b8a0320")
    assert TelephoneEvent.decode(bytes.fromhex("0b8a0320")) == event
    assert event.digit == "#"
    assert TelephoneEvent.decode(bytes.fromhex("10000000")).digit is None  # flash
    with pytest.raises(RemoteProtocolError):
        TelephoneEvent.decode(b"\x01\x0a\x00")
    with pytest.raises(LocalProtocolError):
        TelephoneEvent(1, duration=70000)


def test_same_digit_twice_is_two_presses() -> None:
    detector = DtmfDetector()
    fed = [
        _packet(1000, 5, seq=1),
        _packet(1000, 5, end=True, duration=800, seq=2),
        _packet(1000, 5, end=True, duration=800, seq=3),
        _packet(2600, 5, seq=4),
        _packet(2600, 5, end=True, duration=800, seq=5),
    ]
    digits = [d.digit for p in fed if (d := detector.feed(p)) is not None]
    assert digits == ["5", "5"]


def test_lost_start_and_lost_end_packets() -> None:
    detector = DtmfDetector()
    # Only retransmitted end packets of the first event arrive; the second event has no end.
    fed = [_packet(1000, 2, end=True, duration=800), _packet(3000, 3), _packet(5000, 4)]
    digits = [d.digit for p in fed if (d := detector.feed(p)) is not None]
    assert digits == ["2", "3", "4"]


def test_late_reordered_packet_of_an_old_event_is_ignored() -> None:
    detector = DtmfDetector()
    assert detector.feed(_packet(1000, 1)) is not None
    assert detector.feed(_packet(3000, 2)) is not None
    assert detector.feed(_packet(1000, 1, end=True)) is None  # seen before
    assert detector.feed(_packet(900, 1)) is None  # older than the current event
    assert detector.duplicates == 2


def test_long_event_segments_are_one_digit() -> None:
    # RFC 4733 §2.5.1.3: a segment ends at duration 0xFFFF without the E bit; the next
    # segment starts at timestamp + duration. Then the key is released (E bit).
    detector = DtmfDetector()
    fed = [
        _packet(1000, 9, duration=0xFFFF),
        _packet(1000 + 0xFFFF, 9, duration=1000),
        _packet(1000 + 0xFFFF, 9, end=True, duration=1600),
        _packet(1000 + 0xFFFF + 1600, 9, duration=160),  # after the end: a new press
    ]
    digits = [d.digit for p in fed if (d := detector.feed(p)) is not None]
    assert digits == ["9", "9"]


def test_new_ssrc_resets() -> None:
    detector = DtmfDetector()
    assert detector.feed(_packet(1000, 1)) is not None
    other = RtpPacket(
        payload_type=101, sequence=0, timestamp=1000, ssrc=78, payload=TelephoneEvent(1).encode()
    )
    assert detector.feed(other) == DtmfDigit("1", 1000, 78)


def test_timestamp_wraparound_is_newer() -> None:
    detector = DtmfDetector()
    assert detector.feed(_packet((1 << 32) - 100, 1)) is not None
    assert detector.feed(_packet(500, 2)) is not None


def test_digit_event_mapping() -> None:
    assert [digit_to_event(d) for d in "09*#Ad"] == [0, 9, 10, 11, 12, 15]
    assert event_to_digit(11) == "#"
    assert event_to_digit(16) is None
    with pytest.raises(LocalProtocolError):
        digit_to_event("E")
    with pytest.raises(LocalProtocolError):
        digit_to_event("12")


@pytest.mark.parametrize(
    ("content_type", "body", "expected"),
    [
        ("application/dtmf-relay", b"Signal=5\r\nDuration=160\r\n", DtmfInfo("5", 160)),
        ("application/dtmf-relay", b"Signal=5\r\nDuration=160", DtmfInfo("5", 160)),
        ("Application/DTMF-Relay; charset=x", "signal = #\nduration= 250\n", DtmfInfo("#", 250)),
        ("application/dtmf-relay", b"Signal=*\r\n", DtmfInfo("*", None)),
        ("application/dtmf-relay", b"Signal=11\r\nDuration=100\r\n", DtmfInfo("#", 100)),
        ("application/dtmf-relay", b"Signal=a\r\n", DtmfInfo("A", None)),
        ("application/dtmf", b"7", DtmfInfo("7")),
        ("application/dtmf", b"*\r\n", DtmfInfo("*")),
    ],
)
def test_parse_info_bodies(content_type: str, body: bytes | str, expected: DtmfInfo) -> None:
    assert parse_dtmf_info(content_type, body) == expected


@pytest.mark.parametrize(
    ("content_type", "body", "status"),
    [
        ("application/sdp", b"Signal=5", 415),
        ("application/dtmf-relay", b"Duration=160\r\n", 400),
        ("application/dtmf-relay", b"Signal=55\r\n", 400),
        ("application/dtmf-relay", b"Signal=5\r\nDuration=abc\r\n", 400),
        ("application/dtmf-relay", b"garbage line\r\n", 400),
        ("application/dtmf-relay", b"", 400),
        ("application/dtmf", b"", 400),
        ("application/dtmf", b"\xff\xfe", 400),
    ],
)
def test_parse_info_rejects(content_type: str, body: bytes, status: int) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        parse_dtmf_info(content_type, body)
    assert info.value.status_hint == status


def test_build_info_bodies() -> None:
    assert build_dtmf_relay("5") == b"Signal=5\r\nDuration=160\r\n"
    assert build_dtmf_relay("#", 250) == b"Signal=#\r\nDuration=250\r\n"
    assert build_dtmf_info("b") == b"B"
    assert parse_dtmf_info("application/dtmf-relay", build_dtmf_relay("0", 90)) == DtmfInfo("0", 90)
    with pytest.raises(LocalProtocolError):
        build_dtmf_relay("x")
