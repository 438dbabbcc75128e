"""A small RTP media endpoint on Trio: play, record, send and collect DTMF.

Rules this module keeps:

* **One UDP socket, one audio stream.** :func:`open_rtp_endpoint` binds the socket and runs a
  receive task in its own nursery; leaving the ``async with`` block cancels it and closes the
  socket. Media parameters come from offer/answer (:mod:`trio_srf.media._offer_answer`):
  :meth:`RtpEndpoint.local_sdp` makes our offer, or our answer to a remote offer, and
  :meth:`RtpEndpoint.set_remote` reads the answer to our offer. Until then the endpoint
  accepts PCMU (0), PCMA (8) and telephone-event (101) and does not send.
* **Sending (RFC 3550 §5.1, RFC 3551 §4.1).** Audio is sent in ptime frames (20 ms, 160
  samples) encoded with the negotiated G.711 law. Each frame ``i`` of a talkspurt is sent at
  the absolute deadline ``start + i * ptime`` (:class:`~trio_srf.media._rtp.Pacer` and
  :func:`trio.sleep_until`), so late wake-ups never add up to drift. Sequence numbers run
  on across talkspurts; the timestamp of a talkspurt's first packet follows the wall clock
  (so the gap since the last packet shows in the timestamps) and carries the marker bit.
  Playback and DTMF sending take turns (a lock). When we must not send (no address, a
  recvonly or inactive stream) playback still takes its time but sends nothing.
* **DTMF out (RFC 4733 §2.5.1).** One event per digit: packets every ptime carrying the
  event's start timestamp and the growing duration, the first with the marker bit, then the
  final packet (E bit) three times. Without a negotiated telephone-event the digits are
  played in-band as ITU-T Q.23 tones.
* **DTMF in.** RFC 4733 packets go through a :class:`~trio_srf.media._dtmf.DtmfDetector`
  (one digit per event, duplicates dropped); SIP INFO bodies arrive through
  :meth:`RtpEndpoint.feed_info`. Both land in one queue that :meth:`collect_digits` reads,
  so digits typed ahead (during a prompt) are kept until collected or flushed.
* **Receiving audio** is decoded and fed to active recordings. A recording places each
  packet by its timestamp: gaps (loss, silence suppression) become silence, up to 10 s;
  late packets are dropped. Malformed packets are counted and ignored.
"""

from __future__ import annotations

import collections
import contextlib
import math
import os
import re
import secrets
import socket as _stdlib_socket
from array import array
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Literal

import attrs
import trio

from trio_srf.errors import RemoteProtocolError
from trio_srf.media import _g711 as g711
from trio_srf.media._dtmf import DtmfDetector, TelephoneEvent, digit_to_event, parse_dtmf_info
from trio_srf.media._offer_answer import (
    MediaCapabilities,
    NegotiatedMedia,
    answer_offer,
    build_offer,
    parse_answer,
)
from trio_srf.media._rtp import Pacer, RtpPacket, RtpReceiveStats, RtpSender
from trio_srf.media._sdp import SessionDescription
from trio_srf.media._tones import dtmf_tone, silence
from trio_srf.media._wav import SAMPLE_RATE, read_wav, write_wav

__all__ = [
    "CollectResult",
    "Recording",
    "RtpEndpoint",
    "RtpStatistics",
    "open_rtp_endpoint",
]

_TS_MOD = 1 << 32
_MAX_GAP = 10 * SAMPLE_RATE  # fill at most 10 s of silence in a recording
_END_REPEATS = 3  # RFC 4733 §2.5.1.4
_DEFAULT_RECEIVE: dict[int, g711.Law] = {0: "PCMU", 8: "PCMA"}

Source = str | os.PathLike[str] | Iterable[int]
"""What :meth:`RtpEndpoint.play` plays: a WAV file path or 8 kHz 16-bit samples."""


@attrs.frozen
class CollectResult:
    """What :meth:`RtpEndpoint.collect_digits` gathered.

    Attributes:
        digits: The digits, without the terminator.
        terminator: The terminator that ended collection, or ``None``.
        reason: ``"max_digits"``, ``"terminator"``, ``"timeout"`` (no first digit) or
            ``"digit_timeout"`` (too long between digits).
        ok: Whether the number of digits is within ``min_digits..max_digits``.
    """

    digits: str
    terminator: str | None
    reason: Literal["max_digits", "terminator", "timeout", "digit_timeout"]
    ok: bool


@attrs.frozen
class RtpStatistics:
    """Counters of an endpoint (see RFC 3550 §6.4 for their meaning).

    Attributes:
        packets_sent: RTP packets sent (audio and events).
        octets_sent: Payload octets sent.
        packets_received: Valid RTP packets received from the current source.
        octets_received: Their payload octets.
        packets_lost: Expected minus received (RFC 3550 Appendix A.3).
        jitter: Interarrival jitter estimate in seconds (Appendix A.8).
        invalid_packets: Datagrams that were not RTP, or of an unknown payload type.
        digits_received: DTMF digits received (RFC 4733 and SIP INFO).
    """

    packets_sent: int
    octets_sent: int
    packets_received: int
    octets_received: int
    packets_lost: int
    jitter: float
    invalid_packets: int
    digits_received: int


@attrs.define
class Recording:
    """Received audio, placed on the sender's timeline.

    Attributes:
        samples: The samples so far (8 kHz, 16-bit).
        path: The WAV file written when the recording stops, or ``None``.
    """

    samples: array[int] = attrs.field(factory=lambda: array("h"))
    path: str | os.PathLike[str] | None = None
    _ssrc: int | None = attrs.field(default=None, init=False)
    _next_ts: int = attrs.field(default=0, init=False)

    def add(self, ssrc: int, timestamp: int, samples: array[int]) -> None:
        """Append one packet's samples, filling a gap before it with silence."""
        if ssrc == self._ssrc:
            gap = (timestamp - self._next_ts) % _TS_MOD
            if gap >= _TS_MOD // 2:
                return  # late or duplicate packet: its place has passed
            if gap:
                self.samples.extend(silence(min(gap, _MAX_GAP) / SAMPLE_RATE))
        self._ssrc = ssrc
        self.samples.extend(samples)
        self._next_ts = (timestamp + len(samples)) % _TS_MOD

    @property
    def duration(self) -> float:
        """Seconds recorded."""
        return len(self.samples) / SAMPLE_RATE


def _load(source: Source) -> array[int]:
    if isinstance(source, str | os.PathLike):
        return read_wav(source)
    return source if isinstance(source, array) and source.typecode == "h" else array("h", source)


class RtpEndpoint:
    """An RTP endpoint bound to one UDP socket; make it with :func:`open_rtp_endpoint`.

    Attributes:
        local_address: ``(host, port)`` the socket is bound to.
        sdp_address: The address we put in our SDP.
        caps: Our media capabilities.
        negotiated: The current offer/answer outcome, or ``None`` before one.
    """

    def __init__(
        self,
        sock: trio.socket.SocketType,
        sdp_address: str,
        caps: MediaCapabilities,
    ) -> None:
        """Wrap a bound UDP socket (use :func:`open_rtp_endpoint` instead)."""
        self._sock = sock
        host, port = sock.getsockname()[:2]
        self.local_address: tuple[str, int] = (host, port)
        self.sdp_address = sdp_address
        self.caps = caps
        self.negotiated: NegotiatedMedia | None = None
        self._session_id = secrets.randbits(31)
        self._version = self._session_id
        self._pending_offer: SessionDescription | None = None
        self._sender = RtpSender()
        self._clock_origin = trio.current_time()
        self._ts_origin = self._sender.timestamp
        self._send_lock = trio.Lock()
        self._rx = RtpReceiveStats()
        self._detector = DtmfDetector()
        self._digits: collections.deque[str] = collections.deque()
        self._digit_arrived = trio.Event()
        self._digits_received = 0
        self._invalid = 0
        self._recordings: list[Recording] = []
        self._played = 0

    # -- offer/answer -----------------------------------------------------------------

    def _origin(self) -> tuple[int, int]:
        self._version += 1
        return (self._session_id, self._version)

    def local_sdp(
        self,
        remote_offer: SessionDescription | bytes | str | None = None,
        *,
        direction: str = "sendrecv",
    ) -> SessionDescription:
        """Our SDP: an offer, or the answer to ``remote_offer`` (which then takes effect).

        Args:
            remote_offer: The peer's offer (e.g. an INVITE body), or ``None`` to make an
                offer; pass the peer's answer to :meth:`set_remote` afterwards.
            direction: The direction we want.

        Returns:
            The description to send.

        Raises:
            RemoteProtocolError: The offer is not SDP or has nothing we accept (488).
        """
        port = self.local_address[1]
        if remote_offer is None:
            offer = build_offer(
                self.sdp_address, port, self.caps, direction=direction, origin=self._origin()
            )
            self._pending_offer = offer
            return offer
        parsed = _as_sdp(remote_offer)
        answer, negotiated = answer_offer(
            parsed, self.sdp_address, port, self.caps, direction=direction, origin=self._origin()
        )
        self._pending_offer = None
        self.negotiated = negotiated
        return answer

    def set_remote(self, answer: SessionDescription | bytes | str) -> NegotiatedMedia:
        """Apply the peer's answer to the offer :meth:`local_sdp` made.

        Returns:
            The negotiated media, also kept in :attr:`negotiated`.

        Raises:
            RuntimeError: No offer of ours is pending.
            RemoteProtocolError: The answer is not SDP or does not fit our offer (488).
        """
        if self._pending_offer is None:
            raise RuntimeError("no offer pending: call local_sdp() first, or answer an offer")
        self.negotiated = parse_answer(self._pending_offer, _as_sdp(answer), self.caps)
        self._pending_offer = None
        return self.negotiated

    # -- sending ----------------------------------------------------------------------

    def _frame_samples(self) -> int:
        ptime = self.negotiated.ptime if self.negotiated else self.caps.ptime
        return SAMPLE_RATE * ptime // 1000

    def _start_talkspurt(self) -> int:
        """Move the media timestamp up to the wall clock (RFC 3550 §5.1) and return it."""
        elapsed = round((trio.current_time() - self._clock_origin) * SAMPLE_RATE)
        now_ts = (self._ts_origin + elapsed) % _TS_MOD
        if 0 < (now_ts - self._sender.timestamp) % _TS_MOD < _TS_MOD // 2:
            self._sender.timestamp = now_ts
        return self._sender.timestamp

    async def _send(self, packet_type: int, payload: bytes, marker: bool, ts: int | None) -> None:
        neg = self.negotiated
        if neg is None or not neg.can_send or neg.remote is None:
            return  # muted: keep time, send (and count) nothing
        packet = self._sender.packet(packet_type, payload, marker=marker, timestamp=ts)
        with contextlib.suppress(OSError):  # e.g. ICMP unreachable reported on a later send
            await self._sock.sendto(packet.encode(), neg.remote)

    async def play(self, source: Source, *, barge_in: bool = False) -> int:
        """Play a WAV file or samples to the peer, paced in real time.

        Args:
            source: A path to an 8 kHz 16-bit mono WAV file, or 16-bit samples.
            barge_in: Stop as soon as a digit is waiting in the digit queue.

        Returns:
            The number of samples sent (fewer than the source when barged in).

        Raises:
            WavFormatError: The file is not 8 kHz 16-bit mono PCM.
        """
        samples = _load(source)
        if not barge_in:
            return await self._play(samples)
        if self._digits:
            return 0
        self._played = 0
        async with trio.open_nursery() as nursery:

            async def watch() -> None:
                await self._wait_digit()
                nursery.cancel_scope.cancel()

            nursery.start_soon(watch)
            await self._play(samples)
            nursery.cancel_scope.cancel()
        return self._played

    async def _play(self, samples: array[int]) -> int:
        size = self._frame_samples()
        frames = math.ceil(len(samples) / size)
        self._played = 0
        async with self._send_lock:
            pacer = Pacer(trio.current_time(), size / SAMPLE_RATE)
            self._start_talkspurt()
            for i in range(frames):
                await trio.sleep_until(pacer.deadline(i))
                frame = samples[i * size : (i + 1) * size]
                if len(frame) < size:
                    frame.extend(bytes(2 * (size - len(frame))))  # pad the last frame
                await self._send_frame(frame, marker=i == 0)
                self._played = min(len(samples), (i + 1) * size)
            await trio.sleep_until(pacer.deadline(frames))  # let the last frame play out
        return self._played

    async def _send_frame(self, frame: array[int], marker: bool) -> None:
        neg = self.negotiated
        law: g711.Law = neg.encoding if neg else "PCMU"
        pt = neg.payload_type if neg else 0
        await self._send(pt, g711.encode(law, frame), marker, None)
        self._sender.advance(len(frame))

    async def send_dtmf(
        self, digits: str, duration: float = 0.1, *, gap: float = 0.05, volume: int = 10
    ) -> None:
        """Send digits as RFC 4733 telephone-events (in-band tones if none was negotiated).

        Args:
            digits: ``0-9``, ``*``, ``#``, ``A-D``.
            duration: Seconds each key is held.
            gap: Seconds of pause after each digit.
            volume: Event power level as -dBm0 (RFC 4733 §2.3.4).

        Raises:
            LocalProtocolError: A character is not a DTMF digit.
        """
        codes = [digit_to_event(d) for d in digits]  # validate all before sending any
        neg = self.negotiated
        for digit, code in zip(digits, codes, strict=True):
            if neg is not None and neg.telephone_event_pt is None:
                await self._play(dtmf_tone(digit, duration))
            else:
                pt = neg.telephone_event_pt if neg and neg.telephone_event_pt else 101
                await self._send_event(pt, code, duration, volume)
            await trio.sleep(gap)

    async def _send_event(self, pt: int, code: int, duration: float, volume: int) -> None:
        size = self._frame_samples()
        total = min(max(round(duration * SAMPLE_RATE), 1), 0xFFFF)
        updates = math.ceil(total / size)
        async with self._send_lock:
            ts = self._start_talkspurt()
            pacer = Pacer(trio.current_time(), size / SAMPLE_RATE)
            for i in range(updates + _END_REPEATS):
                await trio.sleep_until(pacer.deadline(i))
                end = i >= updates
                event = TelephoneEvent(
                    code,
                    end=end,
                    volume=volume,
                    duration=total if end else min((i + 1) * size, total),
                )
                await self._send(pt, event.encode(), i == 0, ts)
            self._sender.advance(total)

    # -- receiving --------------------------------------------------------------------

    async def _receive_loop(self) -> None:
        while True:
            try:
                data, _ = await self._sock.recvfrom(2048)
            except OSError:
                if self._sock.fileno() == -1:
                    return  # closed under us
                continue  # e.g. ICMP port unreachable from an earlier send
            self._handle_datagram(data)

    def _handle_datagram(self, data: bytes) -> None:
        try:
            packet = RtpPacket.decode(data)
        except RemoteProtocolError:
            self._invalid += 1
            return
        neg = self.negotiated
        events = neg.receive_telephone_event_pts if neg else frozenset({101})
        codecs = neg.receive_codecs if neg else _DEFAULT_RECEIVE
        if packet.payload_type in events:
            self._rx.update(packet, trio.current_time())
            try:
                digit = self._detector.feed(packet)
            except RemoteProtocolError:
                self._invalid += 1
                return
            if digit is not None:
                self._push_digit(digit.digit)
        elif packet.payload_type in codecs:
            self._rx.update(packet, trio.current_time())
            if self._recordings:
                samples = g711.decode(codecs[packet.payload_type], packet.payload)
                for recording in self._recordings:
                    recording.add(packet.ssrc, packet.timestamp, samples)
        else:
            self._invalid += 1

    def _push_digit(self, digit: str) -> None:
        self._digits.append(digit)
        self._digits_received += 1
        self._digit_arrived.set()
        self._digit_arrived = trio.Event()

    def feed_info(self, content_type: str, body: bytes | str) -> str:
        """Take a digit from a SIP INFO request (the SIP layer calls this).

        Args:
            content_type: The INFO's Content-Type (``application/dtmf-relay`` or
                ``application/dtmf``).
            body: Its body.

        Returns:
            The digit, now queued for :meth:`collect_digits`.

        Raises:
            RemoteProtocolError: Unsupported type (``status_hint`` 415) or malformed body
                (400); answer the INFO with that status.
        """
        info = parse_dtmf_info(content_type, body)
        self._push_digit(info.digit)
        return info.digit

    def flush_digits(self) -> str:
        """Drop and return the digits waiting in the queue."""
        pending = "".join(self._digits)
        self._digits.clear()
        return pending

    async def _wait_digit(self) -> None:
        while not self._digits:
            await self._digit_arrived.wait()

    async def collect_digits(
        self,
        min_digits: int = 1,
        max_digits: int = 20,
        terminators: str = "#",
        timeout: float = 5.0,  # noqa: ASYNC109  # first-digit wait, not a deadline
        digit_timeout: float = 3.0,
    ) -> CollectResult:
        """Collect digits from the queue (RFC 4733 events and SIP INFO alike).

        Collection ends at ``max_digits`` digits, at a terminator (not included), after
        ``timeout`` seconds without a first digit, or ``digit_timeout`` seconds between
        digits. Digits typed before the call count.

        Args:
            min_digits: Fewest digits for :attr:`CollectResult.ok`.
            max_digits: Most digits; reaching it ends collection.
            terminators: Digits that end collection (``""`` for none).
            timeout: Seconds to wait for the first digit.
            digit_timeout: Seconds to wait for each later digit.

        Returns:
            The digits and why collection ended.
        """
        digits = ""
        while True:
            with trio.move_on_after(digit_timeout if digits else timeout):
                await self._wait_digit()
            if not self._digits:
                reason: Literal["timeout", "digit_timeout"] = (
                    "digit_timeout" if digits else "timeout"
                )
                return CollectResult(digits, None, reason, min_digits <= len(digits) <= max_digits)
            digit = self._digits.popleft()
            if digit in terminators:
                ok = min_digits <= len(digits) <= max_digits
                return CollectResult(digits, digit, "terminator", ok)
            digits += digit
            if len(digits) >= max_digits:
                return CollectResult(digits, None, "max_digits", len(digits) >= min_digits)

    async def play_collect(
        self,
        prompt: Source,
        *,
        invalid_prompt: Source | None = None,
        tries: int = 3,
        min_digits: int = 1,
        max_digits: int = 1,
        terminators: str = "#",
        timeout: float = 5.0,  # noqa: ASYNC109  # first-digit wait, not a deadline
        digit_timeout: float = 3.0,
        regex: str | re.Pattern[str] | None = None,
    ) -> str | None:
        """Play a prompt and collect digits, with retries (FreeSWITCH's play_and_get_digits).

        Each try plays ``prompt`` (a digit stops it: barge-in) and then collects. Input that
        is too short, too long or does not fully match ``regex`` plays ``invalid_prompt``
        (also interruptible) and the next try starts; a try without any input simply
        starts the next. Digits typed during the invalid prompt count for the next try.

        Args:
            prompt: The prompt (WAV path or samples).
            invalid_prompt: Played after invalid input.
            tries: How many times to prompt.
            min_digits: Fewest digits accepted.
            max_digits: Most digits accepted.
            terminators: Digits that end input.
            timeout: Seconds to wait for the first digit after the prompt.
            digit_timeout: Seconds to wait between digits.
            regex: A pattern the digits must match in full.

        Returns:
            The valid digits, or ``None`` when every try failed.
        """
        pattern = re.compile(regex) if isinstance(regex, str) else regex
        prompt_samples = _load(prompt)
        invalid_samples = None if invalid_prompt is None else _load(invalid_prompt)
        for _ in range(tries):
            await self.play(prompt_samples, barge_in=True)
            result = await self.collect_digits(
                min_digits, max_digits, terminators, timeout, digit_timeout
            )
            if result.ok and (pattern is None or pattern.fullmatch(result.digits)):
                return result.digits
            if result.digits or result.terminator:
                self.flush_digits()
                if invalid_samples is not None:
                    await self.play(invalid_samples, barge_in=True)
        return None

    # -- recording and statistics -----------------------------------------------------

    @contextlib.contextmanager
    def recording(self, path: str | os.PathLike[str] | None = None) -> Iterator[Recording]:
        """Record received audio while the ``with`` block runs; write ``path`` at the end.

        Args:
            path: A WAV file to write when the block exits (also on an exception).

        Yields:
            The :class:`Recording`, whose samples grow as packets arrive.
        """
        rec = Recording(path=path)
        self._recordings.append(rec)
        try:
            yield rec
        finally:
            self._recordings.remove(rec)
            if path is not None:
                write_wav(path, rec.samples)

    async def record(self, path: str | os.PathLike[str], duration: float) -> Recording:
        """Record received audio for ``duration`` seconds into a WAV file.

        Cancelling the call stops the recording early; the file is still written.
        """
        with self.recording(path) as rec:
            await trio.sleep(duration)
        return rec

    def statistics(self) -> RtpStatistics:
        """The endpoint's counters now."""
        rx = self._rx
        return RtpStatistics(
            packets_sent=self._sender.packets_sent,
            octets_sent=self._sender.octets_sent,
            packets_received=rx.packets_received,
            octets_received=rx.octets_received,
            packets_lost=rx.lost,
            jitter=rx.jitter / rx.clock_rate,
            invalid_packets=self._invalid,
            digits_received=self._digits_received,
        )


def _as_sdp(value: SessionDescription | bytes | str) -> SessionDescription:
    return value if isinstance(value, SessionDescription) else SessionDescription.parse(value)


@contextlib.asynccontextmanager
async def open_rtp_endpoint(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    sdp_address: str | None = None,
    caps: MediaCapabilities | None = None,
) -> AsyncIterator[RtpEndpoint]:
    """Open an RTP endpoint on a UDP socket for the duration of an ``async with`` block.

    Args:
        host: The address to bind.
        port: The port to bind; 0 picks a free one (see ``endpoint.local_address``).
        sdp_address: The address to announce in SDP; defaults to ``host`` (pass a
            reachable address when binding a wildcard).
        caps: Our media capabilities.

    Yields:
        The endpoint, with its receive task running.
    """
    family = _stdlib_socket.AF_INET6 if ":" in host else _stdlib_socket.AF_INET
    sock = trio.socket.socket(family, _stdlib_socket.SOCK_DGRAM)
    with sock:
        await sock.bind((host, port))
        endpoint = RtpEndpoint(sock, sdp_address or host, caps or MediaCapabilities())
        async with trio.open_nursery() as nursery:
            nursery.start_soon(endpoint._receive_loop)
            try:
                yield endpoint
            finally:
                nursery.cancel_scope.cancel()
