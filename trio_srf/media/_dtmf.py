"""DTMF as RFC 4733 telephone-events and as SIP INFO bodies (sans-IO).

Rules this module keeps:

* **Event payload (RFC 4733 §2.3).** Four octets: event code, the E (end) bit, a reserved
  bit, a 6-bit volume (0 to -63 dBm0, stored as its magnitude) and a 16-bit duration in
  timestamp units. Codes 0-9 are the digits, 10 ``*``, 11 ``#``, 12-15 ``A``-``D`` and 16
  flash (§3.2). Extra octets after the first event are ignored (redundant events are
  carried with RFC 2198, which we do not offer).
* **One event, one digit.** All packets of an event carry the event's start timestamp
  (§2.5.1.2), and the final packet is sent three times (§2.5.1.4). :class:`DtmfDetector`
  therefore reports a digit on the *first* packet it sees with a new timestamp (so a lost
  start packet or lost end packets cost nothing) and ignores every later packet with a
  timestamp it has seen: updates, end packets and their retransmissions. A packet with a
  timestamp older than the current event is a late, reordered packet and is ignored.
* **Long events (§2.5.1.3).** An event longer than the 16-bit duration field is split into
  segments with new timestamps. A packet for the *same* event code whose timestamp equals
  the previous, not yet ended, segment's timestamp plus its duration continues that event
  and is not a new digit; once an end packet was seen, the same code again is a new press.
* **SIP INFO.** ``application/dtmf-relay`` bodies are ``Signal=<digit>`` and an optional
  ``Duration=<ms>`` on CRLF-separated lines (keys case-insensitive, spaces tolerated);
  ``application/dtmf`` bodies are the digit alone. ``Signal=10`` and ``11`` are read as
  ``*`` and ``#`` as some gateways send event codes. Malformed bodies raise
  :class:`~trio_srf.errors.RemoteProtocolError` (400; 415 for another content type).
"""

from __future__ import annotations

import collections
import re
import struct
from typing import Final

import attrs

from trio_srf.errors import LocalProtocolError
from trio_srf.media._rtp import RtpPacket

__all__ = [
    "DTMF_EVENTS",
    "DtmfDetector",
    "DtmfDigit",
    "DtmfInfo",
    "TelephoneEvent",
    "build_dtmf_info",
    "build_dtmf_relay",
    "digit_to_event",
    "event_to_digit",
    "parse_dtmf_info",
]

DTMF_EVENTS: Final = "0123456789*#ABCD"
"""Event codes 0-15 as characters: ``DTMF_EVENTS[code]`` is the digit (RFC 4733 §3.2)."""

_EVENT: Final = struct.Struct("!BBH")
_TS_MOD: Final = 1 << 32
_RECENT: Final = 16  # how many past event timestamps to remember for duplicate suppression
_DTMF_RELAY: Final = "application/dtmf-relay"
_DTMF: Final = "application/dtmf"
_KEY_VALUE_RE: Final = re.compile(r"\s*([A-Za-z-]+)\s*=\s*(\S*)\s*")


def _error(msg: str, status: int = 400) -> LocalProtocolError:
    return LocalProtocolError(msg, status_hint=status)


def digit_to_event(digit: str) -> int:
    """The RFC 4733 event code of a DTMF digit.

    Args:
        digit: One of ``0-9``, ``*``, ``#``, ``A-D`` (lower case accepted).

    Raises:
        LocalProtocolError: Not a DTMF digit.
    """
    code = DTMF_EVENTS.find(digit.upper()) if len(digit) == 1 else -1
    if code < 0:
        raise _error(f"not a DTMF digit: {digit!r}")
    return code


def event_to_digit(event: int) -> str | None:
    """The digit of an event code, or ``None`` for non-DTMF events (flash, tones)."""
    return DTMF_EVENTS[event] if 0 <= event < len(DTMF_EVENTS) else None


@attrs.frozen
class TelephoneEvent:
    """One RFC 4733 telephone-event payload (§2.3).

    Attributes:
        event: The event code (0-255).
        end: The E bit: this is (a retransmission of) the final packet.
        volume: Power level as a positive number of -dBm0 (0-63); 10 is common.
        duration: Duration so far in timestamp units (0-65535).
    """

    event: int
    end: bool = False
    volume: int = 10
    duration: int = 0

    def __attrs_post_init__(self) -> None:
        if not 0 <= self.event <= 255 or not 0 <= self.volume <= 63:
            raise _error("event code is 8-bit and volume 6-bit")
        if not 0 <= self.duration <= 0xFFFF:
            raise _error(f"duration {self.duration} does not fit 16 bits")

    @property
    def digit(self) -> str | None:
        """The DTMF digit, or ``None`` when the event is not one."""
        return event_to_digit(self.event)

    def encode(self) -> bytes:
        """The four-octet payload."""
        return _EVENT.pack(self.event, (0x80 if self.end else 0) | self.volume, self.duration)

    @classmethod
    def decode(cls, payload: bytes) -> TelephoneEvent:
        """Parse the first event of a payload.

        Raises:
            RemoteProtocolError: Fewer than four octets.
        """
        if len(payload) < _EVENT.size:
            exc = _error(f"telephone-event payload too short: {len(payload)} octets")
            raise exc._reraise_as_remote_protocol_error()
        event, flags, duration = _EVENT.unpack_from(payload)
        return cls(event=event, end=bool(flags & 0x80), volume=flags & 0x3F, duration=duration)


@attrs.frozen
class DtmfDigit:
    """A digit reported by :class:`DtmfDetector`.

    Attributes:
        digit: The digit character.
        timestamp: The RTP timestamp of the event (its start).
        ssrc: The sending source.
    """

    digit: str
    timestamp: int
    ssrc: int


@attrs.define
class _Event:
    timestamp: int
    code: int
    duration: int
    ended: bool


@attrs.define
class DtmfDetector:
    """Turns RFC 4733 packets into digits, one per key press.

    Feed every packet of the negotiated telephone-event payload type to :meth:`feed`.

    Attributes:
        events_seen: Distinct events seen (DTMF or not).
        duplicates: Packets that belonged to an event already reported.
    """

    events_seen: int = 0
    duplicates: int = 0
    _ssrc: int | None = attrs.field(default=None, init=False)
    _current: _Event | None = attrs.field(default=None, init=False)
    _recent: collections.deque[int] = attrs.field(
        factory=lambda: collections.deque(maxlen=_RECENT), init=False
    )

    def reset(self) -> None:
        """Forget the stream (a new SSRC or a new negotiation)."""
        self._ssrc = None
        self._current = None
        self._recent.clear()

    def feed(self, packet: RtpPacket) -> DtmfDigit | None:
        """Account for one telephone-event packet.

        Args:
            packet: An RTP packet whose payload type is telephone-event.

        Returns:
            The digit when this packet starts a new DTMF event, else ``None``.

        Raises:
            RemoteProtocolError: The payload is not a telephone-event.
        """
        event = TelephoneEvent.decode(packet.payload)
        if packet.ssrc != self._ssrc:
            self.reset()
            self._ssrc = packet.ssrc
        ts = packet.timestamp
        current = self._current
        if ts in self._recent:
            # An update, an end packet or a retransmission of an event already reported.
            self.duplicates += 1
            if current is not None and current.timestamp == ts:
                current.duration = max(current.duration, event.duration)
                current.ended = current.ended or event.end
            return None
        if current is not None:
            if 0 < (current.timestamp - ts) % _TS_MOD < _TS_MOD // 2:
                self.duplicates += 1  # older than the current event: late and reordered
                return None
            self._recent.append(ts)
            if (
                not current.ended
                and current.code == event.event
                and (current.timestamp + current.duration) % _TS_MOD == ts
            ):
                # §2.5.1.3: the next segment of a long event, not a new key press.
                self._current = _Event(ts, event.event, event.duration, event.end)
                self.duplicates += 1
                return None
        else:
            self._recent.append(ts)
        self._current = _Event(ts, event.event, event.duration, event.end)
        self.events_seen += 1
        digit = event.digit
        return None if digit is None else DtmfDigit(digit, ts, packet.ssrc)


@attrs.frozen
class DtmfInfo:
    """A digit carried in a SIP INFO body.

    Attributes:
        digit: The digit character (upper case for ``A``-``D``).
        duration_ms: The ``Duration`` in milliseconds, or ``None`` when not given.
    """

    digit: str
    duration_ms: int | None = None


def _signal(value: str) -> str:
    text = value.strip()
    if text.isascii() and text.isdigit() and len(text) == 2 and int(text) < len(DTMF_EVENTS):
        return DTMF_EVENTS[int(text)]  # an event code such as 10 (*) or 11 (#)
    if len(text) == 1 and text.upper() in DTMF_EVENTS:
        return text.upper()
    raise _error(f"not a DTMF signal: {value[:20]!r}")


def _media_type(content_type: str) -> str:
    return content_type.partition(";")[0].strip().lower()


def parse_dtmf_info(content_type: str, body: bytes | str) -> DtmfInfo:
    """Parse the body of a SIP INFO carrying DTMF.

    Args:
        content_type: The Content-Type header value (parameters are ignored).
        body: The message body.

    Returns:
        The digit and its duration.

    Raises:
        RemoteProtocolError: Another content type (415) or a malformed body (400).
    """
    try:
        return _parse_dtmf_info(content_type, body)
    except LocalProtocolError as exc:
        raise exc._reraise_as_remote_protocol_error() from None


def _parse_dtmf_info(content_type: str, body: bytes | str) -> DtmfInfo:
    text = body.decode("utf-8", "replace") if isinstance(body, bytes | bytearray) else body
    kind = _media_type(content_type)
    if kind == _DTMF:
        return DtmfInfo(_signal(text))
    if kind != _DTMF_RELAY:
        raise _error(f"not a DTMF content type: {content_type[:60]!r}", status=415)
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        match = _KEY_VALUE_RE.fullmatch(line)
        if match is None:
            raise _error(f"malformed dtmf-relay line: {line[:40]!r}")
        fields.setdefault(match[1].lower(), match[2])
    if "signal" not in fields:
        raise _error("dtmf-relay body has no Signal")
    duration: int | None = None
    if "duration" in fields:
        raw = fields["duration"]
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 9):
            raise _error(f"dtmf-relay Duration is not a number: {raw[:20]!r}")
        duration = int(raw)
    return DtmfInfo(_signal(fields["signal"]), duration)


def build_dtmf_relay(digit: str, duration_ms: int = 160) -> bytes:
    """An ``application/dtmf-relay`` body: ``Signal=<digit>\\r\\nDuration=<ms>\\r\\n``.

    Raises:
        LocalProtocolError: Not a DTMF digit, or a negative duration.
    """
    code = digit_to_event(digit)
    if duration_ms < 0:
        raise _error(f"negative duration: {duration_ms}")
    return f"Signal={DTMF_EVENTS[code]}\r\nDuration={duration_ms}\r\n".encode("ascii")


def build_dtmf_info(digit: str) -> bytes:
    """An ``application/dtmf`` body: the digit alone.

    Raises:
        LocalProtocolError: Not a DTMF digit.
    """
    return DTMF_EVENTS[digit_to_event(digit)].encode("ascii")
