"""Two RtpEndpoints over 127.0.0.1: playback, recording, DTMF both ways, play_collect."""

from __future__ import annotations

import itertools
import math
import pathlib
import socket
from array import array
from collections.abc import AsyncIterator

import pytest
import trio

from trio_srf.errors import RemoteProtocolError
from trio_srf.media._dtmf import DtmfDetector, TelephoneEvent, build_dtmf_relay
from trio_srf.media._endpoint import RtpEndpoint, open_rtp_endpoint
from trio_srf.media._offer_answer import MediaCapabilities
from trio_srf.media._rtp import RtpPacket
from trio_srf.media._tones import silence, sine
from trio_srf.media._wav import read_wav


async def connected_pair(a: RtpEndpoint, b: RtpEndpoint, *, direction: str = "sendrecv") -> None:
    offer = a.local_sdp()
    answer = b.local_sdp(offer, direction=direction)
    a.set_remote(answer)


def correlation(samples: array[int], frequency: float) -> float:
    w = 2 * math.pi * frequency / 8000
    re = sum(s * math.cos(w * i) for i, s in enumerate(samples))
    im = sum(s * math.sin(w * i) for i, s in enumerate(samples))
    energy = math.sqrt(sum(s * s for s in samples) * len(samples) / 2)
    return math.hypot(re, im) / energy if energy else 0.0


@pytest.fixture
async def pair() -> AsyncIterator[tuple[RtpEndpoint, RtpEndpoint]]:
    async with open_rtp_endpoint() as a, open_rtp_endpoint() as b:
        await connected_pair(a, b)
        yield a, b


async def test_negotiation_and_sdp(pair: tuple[RtpEndpoint, RtpEndpoint]) -> None:
    a, b = pair
    assert a.negotiated is not None and b.negotiated is not None
    assert a.negotiated.remote == b.local_address
    assert b.negotiated.remote == a.local_address
    assert (a.negotiated.encoding, a.negotiated.telephone_event_pt) == ("PCMU", 101)
    answer = b.local_sdp(a.local_sdp())
    a.set_remote(answer)
    with pytest.raises(RuntimeError, match="no offer pending"):
        a.set_remote(answer)


async def test_play_tone_and_record(
    pair: tuple[RtpEndpoint, RtpEndpoint], tmp_path: pathlib.Path
) -> None:
    a, b = pair
    tone = sine(440, 0.3)  # 2400 samples = 15 packets
    path = tmp_path / "rec.wav"
    with b.recording(path) as rec:
        start = trio.current_time()
        assert await a.play(tone) == 2400
        elapsed = trio.current_time() - start
        await trio.sleep(0.05)
    # Paced in real time: 15 frames of 20 ms; the call returns after the last one plays out.
    assert 0.29 <= elapsed < 0.6
    recorded = read_wav(path)
    assert len(recorded) == 2400
    assert recorded == rec.samples
    assert correlation(recorded, 440) > 0.95
    # G.711 round trip keeps the waveform: compare sample by sample.
    assert max(abs(x - y) for x, y in zip(recorded, tone, strict=True)) < 300
    stats_a, stats_b = a.statistics(), b.statistics()
    assert (stats_a.packets_sent, stats_a.octets_sent) == (15, 2400)
    assert (stats_b.packets_received, stats_b.octets_received, stats_b.packets_lost) == (
        15,
        2400,
        0,
    )
    assert stats_b.jitter < 0.02


async def test_rtp_headers_on_the_wire() -> None:
    # A raw UDP socket plays the peer, so we see exactly what the endpoint sends.
    raw = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with raw:
        await raw.bind(("127.0.0.1", 0))
        port = raw.getsockname()[1]
        async with open_rtp_endpoint() as ep:
            ep.local_sdp()
            ep.set_remote(
                "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                f"m=audio {port} RTP/AVP 8 101\r\na=rtpmap:101 telephone-event/8000\r\n"
            )
            await ep.play(silence(0.06))
            await trio.sleep(0.1)
            await ep.play(silence(0.04))
            await ep.send_dtmf("7", duration=0.05, gap=0)
            packets = []
            with trio.move_on_after(0.5):
                while True:
                    data, _ = await raw.recvfrom(2048)
                    packets.append(RtpPacket.decode(data))
    audio, events = packets[:5], packets[5:]
    assert [p.payload_type for p in audio] == [8] * 5
    assert all(p.payload == b"\xd5" * 160 for p in audio)
    assert [p.marker for p in audio] == [True, False, False, True, False]
    seqs = [p.sequence for p in packets]
    assert all((y - x) % 65536 == 1 for x, y in itertools.pairwise(seqs))
    assert len({p.ssrc for p in packets}) == 1
    ts = [p.timestamp for p in audio]
    assert [(t - ts[0]) % 2**32 for t in ts[:3]] == [0, 160, 320]
    # The second talkspurt's timestamp follows the clock: at least 100 ms (800) later.
    assert (ts[3] - ts[2]) % 2**32 >= 160 + 800
    assert (ts[4] - ts[3]) % 2**32 == 160
    # RFC 4733: 50 ms = 400 units -> 3 updates, then the end packet three times.
    decoded = [TelephoneEvent.decode(p.payload) for p in events]
    assert [(e.event, e.end, e.duration) for e in decoded] == [
        (7, False, 160),
        (7, False, 320),
        (7, False, 400),
        (7, True, 400),
        (7, True, 400),
        (7, True, 400),
    ]
    assert [p.marker for p in events] == [True] + [False] * 5
    assert {p.timestamp for p in events} == {events[0].timestamp}
    assert {p.payload_type for p in events} == {101}
    assert (events[0].timestamp - ts[4]) % 2**32 >= 160
    detector = DtmfDetector()
    assert [d.digit for p in events if (d := detector.feed(p))] == ["7"]


async def test_dtmf_collect_with_terminator(pair: tuple[RtpEndpoint, RtpEndpoint]) -> None:
    a, b = pair
    async with trio.open_nursery() as nursery:
        nursery.start_soon(a.send_dtmf, "123#9", 0.04)
        result = await b.collect_digits(min_digits=1, max_digits=10, timeout=2, digit_timeout=1)
    assert (result.digits, result.terminator, result.reason, result.ok) == (
        "123",
        "#",
        "terminator",
        True,
    )
    assert b.flush_digits() == "9"  # typed after the terminator: still queued
    assert b.statistics().digits_received == 5


async def test_collect_digit_timeout_and_max(pair: tuple[RtpEndpoint, RtpEndpoint]) -> None:
    a, b = pair
    await a.send_dtmf("45", 0.04, gap=0.01)
    result = await b.collect_digits(min_digits=3, max_digits=5, timeout=1, digit_timeout=0.2)
    assert (result.digits, result.reason, result.ok) == ("45", "digit_timeout", False)
    result = await b.collect_digits(timeout=0.05)
    assert (result.digits, result.reason) == ("", "timeout")
    b.feed_info("application/dtmf-relay", build_dtmf_relay("8"))
    b.feed_info("application/dtmf", b"9")
    b.feed_info("application/dtmf", b"0")
    result = await b.collect_digits(min_digits=2, max_digits=2, timeout=0.1)
    assert (result.digits, result.reason, result.ok) == ("89", "max_digits", True)
    assert b.flush_digits() == "0"
    with pytest.raises(RemoteProtocolError):
        b.feed_info("text/plain", b"1")


async def test_play_collect_invalid_then_valid(pair: tuple[RtpEndpoint, RtpEndpoint]) -> None:
    a, b = pair
    prompt = sine(500, 1.0)
    invalid = sine(1500, 0.2)

    async def caller() -> None:
        await trio.sleep(0.1)
        await a.send_dtmf("12#", 0.04, gap=0.01)  # too short: 2 digits
        await trio.sleep(0.6)  # hear the invalid prompt, then the prompt again
        await a.send_dtmf("345", 0.04, gap=0.01)

    with a.recording() as heard:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(caller)
            start = trio.current_time()
            digits = await b.play_collect(
                prompt,
                invalid_prompt=invalid,
                tries=3,
                min_digits=3,
                max_digits=3,
                timeout=2,
                digit_timeout=1,
            )
            elapsed = trio.current_time() - start
    assert digits == "345"
    # Barge-in: neither 1 s prompt played out in full.
    assert elapsed < 1.6
    samples = heard.samples
    assert correlation(samples[:800], 500) > 0.9
    windows = [samples[i : i + 800] for i in range(0, len(samples) - 800, 400)]
    assert max(correlation(w, 1500) for w in windows) > 0.9


async def test_play_collect_regex_and_exhausted_tries(
    pair: tuple[RtpEndpoint, RtpEndpoint],
) -> None:
    a, b = pair
    await a.send_dtmf("99", 0.04, gap=0.01)
    await trio.sleep(0.05)
    # "99" is queued before the prompt: the prompt is skipped (barge-in), the regex fails.
    digits = await b.play_collect(
        sine(500, 0.1),
        tries=2,
        max_digits=2,
        timeout=0.1,
        digit_timeout=0.1,
        regex=r"1\d",
    )
    assert digits is None


async def test_recvonly_answer_means_silence(tmp_path: pathlib.Path) -> None:
    async with open_rtp_endpoint() as a, open_rtp_endpoint() as b:
        await connected_pair(a, b, direction="recvonly")  # b only receives
        with a.recording() as rec:
            await b.play(sine(300, 0.1))
            await a.play(sine(300, 0.1))
            await trio.sleep(0.05)
        assert len(rec.samples) == 0
        assert b.statistics().packets_sent == 0  # muted: nothing sent
        assert b.statistics().packets_received == 5


async def test_garbage_datagrams_are_counted(pair: tuple[RtpEndpoint, RtpEndpoint]) -> None:
    a, b = pair
    raw = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with raw:
        await raw.sendto(b"\x00junk", b.local_address)
        bad_pt = RtpPacket(payload_type=33, sequence=1, timestamp=1, ssrc=1, payload=b"x")
        await raw.sendto(bad_pt.encode(), b.local_address)
        short_event = RtpPacket(payload_type=101, sequence=2, timestamp=1, ssrc=1, payload=b"x")
        await raw.sendto(short_event.encode(), b.local_address)
        await trio.sleep(0.05)
    assert b.statistics().invalid_packets == 3
    await a.send_dtmf("5", 0.02)
    result = await b.collect_digits(max_digits=1, timeout=1)
    assert result.digits == "5"


async def test_inband_dtmf_without_telephone_event() -> None:
    caps = MediaCapabilities(telephone_event=False)
    async with open_rtp_endpoint(caps=caps) as a, open_rtp_endpoint() as b:
        await connected_pair(a, b)
        assert a.negotiated is not None and a.negotiated.telephone_event_pt is None
        with b.recording() as rec:
            await a.send_dtmf("1", 0.1, gap=0)
            await trio.sleep(0.05)
        assert len(rec.samples) == 800
        assert correlation(rec.samples, 697) > 0.6
        assert correlation(rec.samples, 1209) > 0.6
