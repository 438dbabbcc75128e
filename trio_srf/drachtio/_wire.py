"""drachtio wire framing: ``<N>#<payload>`` frames and ``|``-separated leaders.

Rules kept (drachtio wire protocol §3, §4; checked against the captures):

* A frame is ``<N>#<payload>``. ``N`` is the number of **bytes** of the UTF-8
  encoded payload (not characters), written in ASCII decimal with no sign,
  padding or whitespace. Nothing separates one frame from the next.
* The decoder is incremental: input may arrive in any split (even inside the
  length digits) and several frames may arrive in one read.
* A length prefix that is empty, has a leading zero, holds a non-digit, or
  has more digits than the configured maximum frame size can need is a
  protocol error as soon as it is seen; so is a length of zero or one above
  the maximum. The decoder never waits for bytes that cannot make a valid
  frame, so hostile input can neither hang it nor make it buffer more than
  ``max_frame_size`` plus the prefix.
* The end of the stream in the middle of a frame is a protocol error.
* A payload is ``<leader>[CRLF<SIP message>]``: the leader runs up to the
  first CRLF and is split on ``|`` with no escaping, so a token may contain
  none of ``|``, CR or LF. Empty tokens are kept (positions matter).
* Payload bytes are decoded as UTF-8 with ``surrogateescape``, so a body that
  is not valid UTF-8 still survives a decode/encode round trip byte for byte.

Errors from peer bytes are :class:`DrachtioProtocolError`, a
:class:`~trio_srf.errors.RemoteProtocolError`; errors in what we are asked to
send are :class:`~trio_srf.errors.LocalProtocolError`.
"""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, datetime

from ..errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "CRLF",
    "MAX_FRAME_TO_APP",
    "MAX_FRAME_TO_SERVER",
    "DrachtioProtocolError",
    "FrameDecoder",
    "Role",
    "encode_frame",
    "join_leader",
    "new_message_id",
    "split_payload",
    "wire_time",
]

CRLF = "\r\n"

#: Largest payload drachtio-server accepts from an app: its length parser
#: reads at most five digits (§3, ``BaseClient::readMessageLength``).
MAX_FRAME_TO_SERVER = 99_999

#: Our default cap on frames sent to an app. drachtio-srf sets none; a SIP
#: message plus its leader fits easily in 1 MiB.
MAX_FRAME_TO_APP = 1_048_576

_DIGITS = frozenset(b"0123456789")
_FORBIDDEN_IN_TOKEN = ("|", "\r", "\n")


class Role(enum.Enum):
    """Which end of a drachtio connection a message comes from or a state object plays."""

    #: The application (drachtio-srf, or trio_srf's client).
    APP = "app"
    #: The SIP server (drachtio-server, or trio_srf's server).
    SERVER = "server"

    @property
    def peer(self) -> Role:
        """The other end."""
        return Role.SERVER if self is Role.APP else Role.APP


class DrachtioProtocolError(RemoteProtocolError):
    """The peer sent bytes that break the drachtio wire protocol.

    Attributes:
        msg_id: The message id of the offending message, when its leader got
            that far (a server can then answer it before closing).
        reply_reason: The text drachtio-server answers such a message with in
            a ``NO`` reply (§13), e.g. ``"Invalid message format"`` or
            ``"Unknown message type"``.
    """

    def __init__(
        self,
        msg: str,
        *,
        msg_id: str | None = None,
        reply_reason: str = "Invalid message format",
    ) -> None:
        super().__init__(msg, status_hint=400)
        self.msg_id = msg_id
        self.reply_reason = reply_reason


def new_message_id() -> str:
    """Return a fresh message id: a lower-case hyphenated UUID v4, as both real ends use (§4)."""
    return str(uuid.uuid4())


def wire_time(when: datetime | None = None) -> str:
    """Format a time of day the way the ``time`` meta token carries it (§6.5).

    Args:
        when: The instant; naive values are taken as UTC. Defaults to now.

    Returns:
        ``HH:MM:SS.uuuuuu`` in UTC, six fractional digits.
    """
    if when is None:
        when = datetime.now(UTC)
    elif when.tzinfo is not None:
        when = when.astimezone(UTC)
    return when.strftime("%H:%M:%S.%f")


def encode_frame(payload: bytes, *, max_frame_size: int | None = None) -> bytes:
    """Prefix ``payload`` with its byte length and ``#`` (§3).

    Args:
        payload: The encoded payload (UTF-8 bytes).
        max_frame_size: If given, refuse payloads longer than this.

    Returns:
        ``b"<len>#" + payload``.

    Raises:
        LocalProtocolError: the payload is empty or over ``max_frame_size``.
    """
    n = len(payload)
    if n == 0:
        raise LocalProtocolError("a drachtio frame cannot be empty")
    if max_frame_size is not None and n > max_frame_size:
        raise LocalProtocolError(
            f"frame payload of {n} bytes exceeds the limit of {max_frame_size}", status_hint=513
        )
    return b"%d#%s" % (n, payload)


def join_leader(tokens: list[str] | tuple[str, ...], sip: str | None = None) -> bytes:
    """Build a payload from leader tokens and an optional SIP part (§4).

    Args:
        tokens: The leader tokens, message id and type first.
        sip: The SIP message text, carried after the first CRLF; ``None`` for
            a payload without one.

    Returns:
        The payload as UTF-8 bytes (``surrogateescape`` for undecodable text
        that came from the wire).

    Raises:
        LocalProtocolError: a token holds ``|``, CR or LF, which the
            protocol cannot carry (it has no escaping).
    """
    for token in tokens:
        for bad in _FORBIDDEN_IN_TOKEN:
            if bad in token:
                raise LocalProtocolError(
                    f"leader token {token[:40]!r} contains {bad!r}, which cannot be sent"
                )
    text = "|".join(tokens)
    if sip is not None:
        text = text + CRLF + sip
    return text.encode("utf-8", "surrogateescape")


def split_payload(payload: bytes) -> tuple[list[str], str | None]:
    """Split a payload into its leader tokens and its SIP part (§4).

    Args:
        payload: One frame's payload bytes.

    Returns:
        ``(tokens, sip)`` where ``sip`` is the text after the first CRLF, or
        ``None`` when the payload has no CRLF.

    Raises:
        DrachtioProtocolError: the leader holds a bare CR or LF, or fewer than
            two tokens (no message type).
    """
    text = payload.decode("utf-8", "surrogateescape")
    leader, sep, rest = text.partition(CRLF)
    tokens = leader.split("|")
    msg_id = tokens[0] if tokens[0] else None
    if "\r" in leader or "\n" in leader:
        raise DrachtioProtocolError(
            "bare CR or LF in a message leader",
            msg_id=msg_id,
            reply_reason="Invalid message format",
        )
    if len(tokens) < 2 or not tokens[0] or not tokens[1]:
        raise DrachtioProtocolError(
            f"message leader {leader[:60]!r} lacks a message id or type",
            msg_id=msg_id,
            reply_reason="Invalid message format",
        )
    return tokens, (rest if sep else None)


class FrameDecoder:
    """Incremental ``<N>#<payload>`` decoder (§3).

    Feed bytes with :meth:`feed` (``b""`` marks the end of the stream) and
    pull payloads with :meth:`next_frame` until it returns ``None``. After an
    error the decoder stays broken: framing cannot be recovered.

    Args:
        max_frame_size: Largest payload accepted, in bytes.
    """

    def __init__(self, max_frame_size: int = MAX_FRAME_TO_SERVER) -> None:
        if max_frame_size < 1:
            raise ValueError("max_frame_size must be positive")
        self.max_frame_size = max_frame_size
        self._max_digits = len(str(max_frame_size))
        self._buf = bytearray()
        self._need: int | None = None  # payload length once the prefix is read
        self._eof = False
        self._error: DrachtioProtocolError | None = None

    @property
    def buffered(self) -> int:
        """How many received bytes are not yet part of a returned frame."""
        return len(self._buf)

    @property
    def at_eof(self) -> bool:
        """Whether the end of the stream has been fed."""
        return self._eof

    def feed(self, data: bytes) -> None:
        """Append received bytes; an empty ``data`` marks the end of the stream.

        Raises:
            LocalProtocolError: bytes were fed after the end of the stream.
        """
        if self._eof:
            if data:
                raise LocalProtocolError("data fed after the end of the stream")
            return
        if data:
            self._buf += data
        else:
            self._eof = True

    def _fail(self, msg: str) -> DrachtioProtocolError:
        self._error = DrachtioProtocolError(msg, reply_reason="Invalid message format")
        return self._error

    def next_frame(self) -> bytes | None:
        """Return the next complete payload, or ``None`` if more bytes are needed.

        Raises:
            DrachtioProtocolError: a malformed or oversized length prefix, or
                the stream ended inside a frame.
        """
        if self._error is not None:
            raise self._error
        buf = self._buf
        if self._need is None:
            hash_at = buf.find(b"#", 0, self._max_digits + 1)
            prefix = buf[: self._max_digits + 1] if hash_at == -1 else buf[:hash_at]
            for byte in prefix:
                if byte not in _DIGITS:
                    raise self._fail(f"non-digit {bytes([byte])!r} in a frame length prefix")
            if prefix[:1] == b"0":
                raise self._fail("frame length prefix is zero or zero-padded")
            if hash_at == -1:
                if len(buf) > self._max_digits:
                    raise self._fail(
                        f"frame length prefix longer than {self._max_digits} digits "
                        f"(limit {self.max_frame_size} bytes)"
                    )
                if self._eof and buf:
                    raise self._fail("stream ended inside a frame length prefix")
                return None
            if hash_at == 0:
                raise self._fail("frame without a length before '#'")
            n = int(prefix)
            if n > self.max_frame_size:
                raise self._fail(f"frame of {n} bytes exceeds the limit of {self.max_frame_size}")
            del buf[: hash_at + 1]
            self._need = n
        need = self._need
        if len(buf) < need:
            if self._eof:
                raise self._fail(f"stream ended after {len(buf)} of {need} payload bytes")
            return None
        payload = bytes(buf[:need])
        del buf[:need]
        self._need = None
        return payload
