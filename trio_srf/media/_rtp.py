"""RTP packets, sender state, receiver statistics and the packet pacing schedule (sans-IO).

Rules this module keeps:

* **RFC 3550 §5.1 header.** :meth:`RtpPacket.decode` reads version 2 only, the CSRC list,
  skips a header extension (§5.3.1, its profile and data are kept but not interpreted) and
  strips padding (§5.1, the last octet counts the padding octets). Any malformed packet
  raises :class:`~trio_srf.errors.RemoteProtocolError`, nothing else. :meth:`RtpPacket.encode`
  writes the same layout, without padding.
* **Sender state (§5.1, §8).** :class:`RtpSender` picks a random SSRC, a random initial
  sequence number and a random initial timestamp (RFC 3550 §5.1 asks for random starts),
  increments the sequence number by one per packet (mod 2**16) and the timestamp by the
  number of samples (mod 2**32).
* **Receiver statistics (Appendix A.1, A.3, A.8).** :class:`RtpReceiveStats` extends
  sequence numbers over wrap-around, counts expected and lost packets, and keeps the
  interarrival jitter estimate ``J += (|D| - J) / 16`` in timestamp units. It resynchronises
  on a new SSRC.
* **Pacing (no drift).** :class:`Pacer` gives packet ``n`` the absolute deadline
  ``start + n * ptime``; a late wake-up never shifts later deadlines, so the mean rate
  stays exactly one packet per ptime. It is pure arithmetic, testable without a clock.
"""

from __future__ import annotations

import secrets
import struct
from typing import Final

import attrs

from trio_srf.errors import LocalProtocolError

__all__ = [
    "Pacer",
    "RtpPacket",
    "RtpReceiveStats",
    "RtpSender",
]

_HEADER: Final = struct.Struct("!BBHII")  # V/P/X/CC, M/PT, seq, timestamp, SSRC (§5.1)
_SEQ_MOD: Final = 1 << 16
_TS_MOD: Final = 1 << 32
_MAX_DROPOUT: Final = 3000  # Appendix A.1
_MAX_MISORDER: Final = 100  # Appendix A.1


def _error(msg: str) -> LocalProtocolError:
    return LocalProtocolError(msg, status_hint=400)


def _check_csrc(value: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(value)


@attrs.frozen
class RtpPacket:
    """One RTP packet (RFC 3550 §5.1).

    Attributes:
        payload_type: 7-bit payload type (RFC 3551 §6: 0 PCMU, 8 PCMA; 96-127 dynamic).
        sequence: 16-bit sequence number.
        timestamp: 32-bit sampling instant of the first octet of the payload.
        ssrc: 32-bit synchronization source.
        payload: The payload bytes (padding removed).
        marker: The M bit; for audio, the first packet of a talkspurt (RFC 3551 §4.1).
        csrc: Contributing sources, at most 15.
        extension: ``(profile, data)`` of a header extension (§5.3.1), or ``None``.
    """

    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes = b""
    marker: bool = False
    csrc: tuple[int, ...] = attrs.field(default=(), converter=_check_csrc)
    extension: tuple[int, bytes] | None = None

    def __attrs_post_init__(self) -> None:
        if not 0 <= self.payload_type <= 127:
            raise _error(f"payload type out of range: {self.payload_type}")
        if not 0 <= self.sequence < _SEQ_MOD:
            raise _error(f"sequence number out of range: {self.sequence}")
        if not 0 <= self.timestamp < _TS_MOD or not 0 <= self.ssrc < _TS_MOD:
            raise _error("timestamp and SSRC are 32-bit unsigned")
        if len(self.csrc) > 15 or any(not 0 <= c < _TS_MOD for c in self.csrc):
            raise _error("at most 15 CSRCs, each 32-bit unsigned")
        if self.extension is not None and (
            not 0 <= self.extension[0] < _SEQ_MOD or len(self.extension[1]) % 4
        ):
            raise _error("extension profile is 16-bit and its data a multiple of 4 octets")

    def encode(self) -> bytes:
        """The packet as bytes (version 2, no padding).

        Returns:
            Header, CSRC list, extension if any, then the payload.
        """
        first = 0x80 | len(self.csrc) | (0x10 if self.extension is not None else 0)
        second = (0x80 if self.marker else 0) | self.payload_type
        parts = [_HEADER.pack(first, second, self.sequence, self.timestamp, self.ssrc)]
        parts.extend(struct.pack("!I", c) for c in self.csrc)
        if self.extension is not None:
            profile, data = self.extension
            parts.append(struct.pack("!HH", profile, len(data) // 4) + data)
        parts.append(self.payload)
        return b"".join(parts)

    @classmethod
    def decode(cls, data: bytes) -> RtpPacket:
        """Parse one RTP packet.

        Args:
            data: A UDP payload.

        Returns:
            The packet.

        Raises:
            RemoteProtocolError: Not an RTP version 2 packet, or truncated.
        """
        try:
            return cls._decode(bytes(data))
        except LocalProtocolError as exc:
            raise exc._reraise_as_remote_protocol_error() from None

    @classmethod
    def _decode(cls, data: bytes) -> RtpPacket:
        if len(data) < _HEADER.size:
            raise _error(f"RTP packet too short: {len(data)} octets")
        first, second, sequence, timestamp, ssrc = _HEADER.unpack_from(data)
        if first >> 6 != 2:
            raise _error(f"RTP version {first >> 6} is not 2")
        end = len(data)
        if first & 0x20:  # P bit: the last octet counts the padding, itself included
            pad = data[-1]
            if pad == 0 or pad > end - _HEADER.size:
                raise _error(f"bad RTP padding count {pad}")
            end -= pad
        offset = _HEADER.size
        count = first & 0x0F
        if offset + 4 * count > end:
            raise _error("RTP CSRC list runs past the packet")
        csrc = struct.unpack_from(f"!{count}I", data, offset)
        offset += 4 * count
        extension = None
        if first & 0x10:  # X bit: one extension header follows the CSRCs (§5.3.1)
            if offset + 4 > end:
                raise _error("RTP header extension runs past the packet")
            profile, words = struct.unpack_from("!HH", data, offset)
            offset += 4
            if offset + 4 * words > end:
                raise _error("RTP header extension runs past the packet")
            extension = (profile, data[offset : offset + 4 * words])
            offset += 4 * words
        return cls(
            payload_type=second & 0x7F,
            sequence=sequence,
            timestamp=timestamp,
            ssrc=ssrc,
            payload=data[offset:end],
            marker=bool(second & 0x80),
            csrc=csrc,
            extension=extension,
        )


@attrs.define
class RtpSender:
    """Sequence number, timestamp and SSRC for one outgoing stream.

    Attributes:
        ssrc: Our synchronization source (random by default).
        sequence: The sequence number the next packet gets.
        timestamp: The timestamp the next media frame gets.
        packets_sent: Packets made so far.
        octets_sent: Payload octets made so far (RFC 3550 §6.4.1 counts payload only).
    """

    ssrc: int = attrs.field(factory=lambda: secrets.randbits(32))
    sequence: int = attrs.field(factory=lambda: secrets.randbits(16))
    timestamp: int = attrs.field(factory=lambda: secrets.randbits(32))
    packets_sent: int = 0
    octets_sent: int = 0

    def packet(
        self,
        payload_type: int,
        payload: bytes,
        *,
        marker: bool = False,
        timestamp: int | None = None,
    ) -> RtpPacket:
        """Make the next packet and advance the sequence number.

        Args:
            payload_type: The RTP payload type.
            payload: The payload.
            marker: The M bit.
            timestamp: Use this timestamp instead of :attr:`timestamp` (for RFC 4733
                events, whose packets all carry the event's start time).

        Returns:
            The packet; the caller advances the timestamp with :meth:`advance`.
        """
        pkt = RtpPacket(
            payload_type=payload_type,
            sequence=self.sequence,
            timestamp=self.timestamp if timestamp is None else timestamp % _TS_MOD,
            ssrc=self.ssrc,
            payload=payload,
            marker=marker,
        )
        self.sequence = (self.sequence + 1) % _SEQ_MOD
        self.packets_sent += 1
        self.octets_sent += len(payload)
        return pkt

    def advance(self, samples: int) -> None:
        """Move the media timestamp on by ``samples`` sampling periods (mod 2**32)."""
        self.timestamp = (self.timestamp + samples) % _TS_MOD


@attrs.define
class RtpReceiveStats:
    """Reception statistics for one source (RFC 3550 Appendix A.1, A.3, A.8).

    Feed every valid packet to :meth:`update` with its arrival time in seconds.

    Attributes:
        clock_rate: The RTP clock rate in Hz, for jitter in timestamp units.
        ssrc: The source being tracked, ``None`` before the first packet.
        packets_received: Packets counted (duplicates included, as in A.3).
        octets_received: Payload octets counted.
        jitter: Interarrival jitter in timestamp units (A.8).
    """

    clock_rate: int = 8000
    ssrc: int | None = None
    packets_received: int = 0
    octets_received: int = 0
    jitter: float = 0.0
    _base_seq: int = attrs.field(default=0, init=False)
    _max_seq: int = attrs.field(default=0, init=False)
    _cycles: int = attrs.field(default=0, init=False)
    _bad_seq: int | None = attrs.field(default=None, init=False)
    _transit: float | None = attrs.field(default=None, init=False)

    def update(self, packet: RtpPacket, arrival: float) -> None:
        """Account for one received packet.

        Args:
            packet: The packet.
            arrival: Its arrival time in seconds, on any monotonic clock.
        """
        seq = packet.sequence
        if packet.ssrc != self.ssrc:
            self._restart(packet.ssrc, seq)
        else:
            delta = (seq - self._max_seq) % _SEQ_MOD
            if delta < _MAX_DROPOUT:  # in order, possibly with a gap
                if seq < self._max_seq:
                    self._cycles += _SEQ_MOD
                self._max_seq = seq
            elif delta <= _SEQ_MOD - _MAX_MISORDER:  # a big jump: resync on two in a row
                if self._bad_seq is not None and seq == self._bad_seq:
                    self._restart(packet.ssrc, seq)
                else:
                    self._bad_seq = (seq + 1) % _SEQ_MOD
                    return
            # else: a duplicate or a reordered packet; counted below, max_seq unchanged
        self.packets_received += 1
        self.octets_received += len(packet.payload)
        transit = arrival * self.clock_rate - packet.timestamp
        if self._transit is not None:
            d = abs(transit - self._transit)
            if d < _TS_MOD / 2:  # ignore timestamp wrap-around and SSRC jumps
                self.jitter += (d - self.jitter) / 16
        self._transit = transit

    def _restart(self, ssrc: int, seq: int) -> None:
        self.ssrc = ssrc
        self._base_seq = seq
        self._max_seq = seq
        self._cycles = 0
        self._bad_seq = None
        self._transit = None
        self.packets_received = 0
        self.octets_received = 0
        self.jitter = 0.0

    @property
    def expected(self) -> int:
        """Packets expected from the first to the highest sequence number seen (A.3)."""
        if self.ssrc is None:
            return 0
        return self._cycles + self._max_seq - self._base_seq + 1

    @property
    def lost(self) -> int:
        """Cumulative packets lost (A.3); negative when duplicates outnumber losses."""
        return self.expected - self.packets_received if self.ssrc is not None else 0


@attrs.frozen
class Pacer:
    """Absolute send deadlines for a paced packet stream.

    Attributes:
        start: The deadline of packet 0, in seconds on the caller's clock.
        interval: Seconds between packets (0.02 for 20 ms ptime).
    """

    start: float
    interval: float = 0.02

    def deadline(self, index: int) -> float:
        """When packet ``index`` is due: ``start + index * interval``, never accumulated."""
        return self.start + index * self.interval

    def index_at(self, now: float) -> int:
        """How many packets are due by ``now`` (the next index to send if caught up)."""
        if now < self.start:
            return 0
        return int((now - self.start) / self.interval) + 1
