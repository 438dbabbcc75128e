"""RTP packets (RFC 3550 §5.1), sender state, receiver statistics and the pacer."""

from __future__ import annotations

import pytest

from trio_srf.errors import LocalProtocolError, RemoteProtocolError
from trio_srf.media._rtp import Pacer, RtpPacket, RtpReceiveStats, RtpSender


def test_encode_exact_bytes() -> None:
    pkt = RtpPacket(
        payload_type=0, sequence=0x1234, timestamp=0xDEADBEEF, ssrc=0x01020304, payload=b"\xff" * 3
    )
    assert pkt.encode() == bytes.fromhex("80001234deadbeef01020304ffffff")


def test_encode_marker_and_csrc() -> None:
    pkt = RtpPacket(
        payload_type=8,
        sequence=65535,
        timestamp=160,
        ssrc=1,
        payload=b"\xd5",
        marker=True,
        csrc=(7, 8),
    )
    assert pkt.encode() == bytes.fromhex("8288ffff000000a0000000010000000700000008d5")
    assert RtpPacket.decode(pkt.encode()) == pkt


def test_decode_rfc4733_packet_from_sipp_pcap() -> None:
    # First packet of /usr/share/sip-tester/dtmf_2833_1.pcap: M set, PT 101.
    pkt = RtpPacket.decode(bytes.fromhex("80e51f30000033e00e05384e010a0000"))
    assert (pkt.marker, pkt.payload_type, pkt.sequence, pkt.timestamp, pkt.ssrc) == (
        True,
        101,
        0x1F30,
        0x33E0,
        0x0E05384E,
    )
    assert pkt.payload == bytes.fromhex("010a0000")


def test_decode_skips_extension_and_strips_padding() -> None:
    data = (
        bytes.fromhex("b00000010000000200000003")  # V=2 P=1 X=1, CC=0
        + bytes.fromhex("bede000111223344")  # one-word extension
        + b"\x7f\x7f"  # payload
        + b"\x00\x00\x03"  # three octets of padding, count in the last one
    )
    pkt = RtpPacket.decode(data)
    assert pkt.extension == (0xBEDE, bytes.fromhex("11223344"))
    assert pkt.payload == b"\x7f\x7f"
    assert (pkt.sequence, pkt.timestamp, pkt.ssrc) == (1, 2, 3)
    # Re-encoding writes the extension but no padding.
    assert pkt.encode() == b"\x90" + data[1:22]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        bytes.fromhex("8000000100000002000000"),  # 11 octets
        bytes.fromhex("400000010000000200000003"),  # version 1
        bytes.fromhex("82000001000000020000000300000005"),  # CC=2 but one CSRC
        bytes.fromhex("900000010000000200000003bede00"),  # truncated extension header
        bytes.fromhex("900000010000000200000003bede000200000000"),  # extension too long
        bytes.fromhex("a0000001000000020000000300"),  # padding count 0
        bytes.fromhex("a000000100000002000000030009"),  # padding longer than the packet
    ],
)
def test_decode_rejects_malformed(data: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        RtpPacket.decode(data)


def test_packet_validation() -> None:
    with pytest.raises(LocalProtocolError):
        RtpPacket(payload_type=128, sequence=0, timestamp=0, ssrc=0)
    with pytest.raises(LocalProtocolError):
        RtpPacket(payload_type=0, sequence=65536, timestamp=0, ssrc=0)
    with pytest.raises(LocalProtocolError):
        RtpPacket(payload_type=0, sequence=0, timestamp=0, ssrc=0, csrc=tuple(range(16)))


def test_sender_wraps_sequence_and_timestamp() -> None:
    sender = RtpSender(ssrc=42, sequence=65535, timestamp=(1 << 32) - 80)
    first = sender.packet(0, b"a", marker=True)
    sender.advance(160)
    second = sender.packet(0, b"b")
    event = sender.packet(101, b"c", timestamp=5)
    assert (first.sequence, first.timestamp, first.marker) == (65535, (1 << 32) - 80, True)
    assert (second.sequence, second.timestamp, second.marker) == (0, 80, False)
    assert (event.sequence, event.timestamp) == (1, 5)
    assert (sender.packets_sent, sender.octets_sent) == (3, 3)


def test_sender_random_start_differs() -> None:
    a, b = RtpSender(), RtpSender()
    assert (a.ssrc, a.sequence, a.timestamp) != (b.ssrc, b.sequence, b.timestamp)


def _pkt(seq: int, ts: int, ssrc: int = 9) -> RtpPacket:
    return RtpPacket(payload_type=0, sequence=seq, timestamp=ts, ssrc=ssrc, payload=bytes(160))


def test_receive_stats_loss_across_wraparound() -> None:
    stats = RtpReceiveStats()
    seqs = [65533, 65534, 0, 1, 3, 4]  # 65535 and 2 are lost
    for i, seq in enumerate(seqs):
        stats.update(_pkt(seq, 160 * i), arrival=0.02 * i)
    assert stats.expected == 8
    assert stats.packets_received == 6
    assert stats.lost == 2
    assert stats.octets_received == 960


def test_receive_stats_jitter() -> None:
    stats = RtpReceiveStats()
    stats.update(_pkt(1, 0), arrival=0.0)
    stats.update(_pkt(2, 160), arrival=0.02)  # on time: D = 0
    assert stats.jitter == 0.0
    stats.update(_pkt(3, 320), arrival=0.05)  # 10 ms late: D = 80 timestamp units
    assert stats.jitter == pytest.approx(80 / 16)


def test_receive_stats_new_ssrc_restarts() -> None:
    stats = RtpReceiveStats()
    stats.update(_pkt(10, 0), arrival=0.0)
    stats.update(_pkt(500, 0, ssrc=10), arrival=0.1)
    assert (stats.ssrc, stats.expected, stats.packets_received) == (10, 1, 1)


def test_pacer_deadlines_are_absolute() -> None:
    pacer = Pacer(start=100.0, interval=0.02)
    assert [pacer.deadline(i) for i in range(3)] == [100.0, 100.02, 100.04]
    # No accumulation: packet 50_000 is due exactly 1000 s later.
    assert pacer.deadline(50_000) == pytest.approx(1100.0, abs=1e-9)
    assert pacer.index_at(99.0) == 0
    assert pacer.index_at(100.0) == 1
    assert pacer.index_at(100.05) == 3
