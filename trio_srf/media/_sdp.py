"""A small, lossless SDP model (RFC 8866, formerly RFC 4566) for offer/answer (RFC 3264).

Rules this module keeps:

* **Lossless.** A description is kept as ordered ``(type, value)`` lines: the session-level
  lines (``v=`` up to the first ``m=``) and one :class:`MediaDescription` per ``m=`` section.
  Every typed accessor (``origin``, ``connection``, ``rtpmap``, direction, ...) is computed
  from those lines, so unknown line types and attributes survive untouched, and for any SDP
  whose lines all end the same way ``SessionDescription.parse(x).serialize() == x``
  byte-for-byte. The line ending (CRLF or bare LF, RFC 8866 §5 asks parsers to accept both)
  and whether the last line was terminated are remembered; a description built from scratch
  uses CRLF. A body that mixes CRLF and LF is accepted and written back with the ending of its
  first line. Blank lines are not SDP but occur in the wild; they are kept as ``("", "")``.
* **Immutable.** Both classes are frozen; every edit (:meth:`SessionDescription.with_direction`,
  :meth:`~SessionDescription.hold`, :meth:`~SessionDescription.bump_version`, ...) returns a
  *new* object and rewrites only the lines it must, in place where possible.
* **Strict where it matters, lenient elsewhere.** ``v=`` must come first; ``o=`` (exactly one)
  and ``s=`` are required at session level; ``v=``, ``o=``, ``c=`` and ``m=`` must have their
  RFC 8866 §5 shape and ports must be integers. Malformed attributes (a bad ``a=rtpmap``, say)
  are kept but skipped by the accessors. ``t=`` is not required: it plays no part in offer/answer.
* **One exception.** :meth:`SessionDescription.parse` raises only
  :class:`~trio_srf.errors.RemoteProtocolError` with ``status_hint=488`` (Not Acceptable
  Here, RFC 3261 §21.4.26). Building an invalid description locally raises
  :class:`~trio_srf.errors.LocalProtocolError`, as elsewhere in trio_srf (h11's pattern).

Bytes are decoded as UTF-8 (RFC 8866 §5's default charset) with ``surrogateescape``, so even
non-UTF-8 text in ``s=`` or ``i=`` round-trips.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from typing import Final, Literal

import attrs

from trio_srf.errors import LocalProtocolError

__all__ = [
    "DIRECTIONS",
    "Connection",
    "Direction",
    "Line",
    "MediaDescription",
    "Origin",
    "RtpMap",
    "SessionDescription",
]

Line = tuple[str, str]
"""One SDP line as ``(type, value)``: ``("a", "rtpmap:0 PCMU/8000")``; ``("", "")`` is blank."""

Direction = Literal["sendrecv", "sendonly", "recvonly", "inactive"]
"""A media direction attribute (RFC 8866 §6.7)."""

DIRECTIONS: Final = frozenset({"sendrecv", "sendonly", "recvonly", "inactive"})
"""The four direction attribute names (RFC 8866 §6.7.1-§6.7.4)."""

# RFC 3264 §8.4 and RFC 6337 §5.3: to hold, stop sending but keep receiving what we received.
_HOLD: Final[dict[str, Direction]] = {
    "sendrecv": "sendonly",
    "recvonly": "inactive",
    "sendonly": "sendonly",
    "inactive": "inactive",
}
# The inverse of _HOLD on its image: it restores a stream held from sendrecv or recvonly.
_UNHOLD: Final[dict[str, Direction]] = {
    "sendonly": "sendrecv",
    "inactive": "recvonly",
    "sendrecv": "sendrecv",
    "recvonly": "recvonly",
}

# Static RTP/AVP payload types (RFC 3551 §6) plus drachtio's usual telephone-event choice.
_KNOWN_CODECS: Final[dict[int, str]] = {
    0: "PCMU/8000",
    3: "GSM/8000",
    4: "G723/8000",
    8: "PCMA/8000",
    9: "G722/8000",
    18: "G729/8000",
    101: "telephone-event/8000",
}

_SDP_ERROR_STATUS: Final = 488  # Not Acceptable Here (RFC 3261 §21.4.26)
_TOKEN_RE: Final = re.compile(r"[^ \t]+")
_DIGITS_RE: Final = re.compile(r"[0-9]{1,40}")  # bounded: int() refuses huge strings
_LINE_RE: Final = re.compile(r"([A-Za-z])=(.*)", re.DOTALL)
_ILLEGAL_RE: Final = re.compile(r"[\r\n\x00]")


def _error(msg: str) -> LocalProtocolError:
    return LocalProtocolError(msg, status_hint=_SDP_ERROR_STATUS)


def _tokens(value: str) -> list[str]:
    # RFC 8866 §9 separates fields with a single SP; tolerate runs of SP and HTAB.
    return _TOKEN_RE.findall(value)


def _int(text: str) -> int | None:
    """ASCII digits only (``int()`` would also take "²", "1_0" and " 1")."""
    return int(text) if _DIGITS_RE.fullmatch(text) else None


def _attribute(value: str) -> tuple[str, str | None]:
    # RFC 8866 §5.13: a=<attribute-name> or a=<attribute-name>:<attribute-value>
    name, sep, rest = value.partition(":")
    return (name, rest if sep else None)


def _to_lines(lines: Iterable[Sequence[str]]) -> tuple[Line, ...]:
    out: list[Line] = []
    for line in lines:
        if len(line) != 2:
            raise _error(f"SDP line must be a (type, value) pair: {line!r}")
        out.append((str(line[0]), str(line[1])))
    return tuple(out)


def _to_media(media: Iterable[MediaDescription]) -> tuple[MediaDescription, ...]:
    return tuple(media)


def _check_line(line: Line) -> None:
    kind, value = line
    if kind == "":
        if value:
            raise _error(f"SDP line has a value but no type: {value!r}")
        return
    if len(kind) != 1 or not ("a" <= kind.lower() <= "z"):
        # RFC 8866 §5: <type> is exactly one case-significant alphabetic character.
        raise _error(f"bad SDP line type {kind!r}")
    if _ILLEGAL_RE.search(value):
        raise _error(f"SDP {kind}= line contains CR, LF or NUL")


def _direction_of(lines: Sequence[Line]) -> Direction | None:
    for kind, value in lines:
        if kind == "a" and value in DIRECTIONS:
            return value  # type: ignore[return-value]  # checked by the membership test
    return None


def _replace_directions(lines: Sequence[Line], direction: str) -> tuple[Line, ...]:
    return tuple(
        ("a", direction) if kind == "a" and value in DIRECTIONS else (kind, value)
        for kind, value in lines
    )


def _replace_token(value: str, index: int, new: str) -> str:
    # Rewrite one whitespace-separated field and keep the original spacing around it.
    match = list(_TOKEN_RE.finditer(value))[index]
    return value[: match.start()] + new + value[match.end() :]


def _check_direction(direction: str) -> None:
    if direction not in DIRECTIONS:
        raise _error(f"unknown media direction {direction!r}")


@attrs.frozen
class Origin:
    """The ``o=`` line (RFC 8866 §5.2).

    Attributes:
        username: The user's login, ``-`` when there is none.
        sess_id: The session id, kept as text (digits by the grammar).
        sess_version: The version, incremented on every change (RFC 3264 §8).
        nettype: ``IN``.
        addrtype: ``IP4`` or ``IP6``.
        address: The originating host.
    """

    username: str
    sess_id: str
    sess_version: int
    nettype: str
    addrtype: str
    address: str

    @classmethod
    def _from_value(cls, value: str) -> Origin:
        fields = _tokens(value)
        if len(fields) != 6:
            raise _error(f"o= needs 6 fields, got {len(fields)}: {value!r}")
        version = _int(fields[2])
        if version is None:
            raise _error(f"o= sess-version is not a number: {fields[2]!r}")
        return cls(fields[0], fields[1], version, fields[3], fields[4], fields[5])


@attrs.frozen
class Connection:
    """A ``c=`` line (RFC 8866 §5.7).

    Attributes:
        nettype: ``IN``.
        addrtype: ``IP4`` or ``IP6``.
        address: The connection-address field as written, including any multicast
            ``/ttl/count`` suffix.
    """

    nettype: str
    addrtype: str
    address: str

    @property
    def host(self) -> str:
        """The address without a multicast ``/ttl`` or ``/count`` suffix."""
        return self.address.partition("/")[0]

    @classmethod
    def _from_value(cls, value: str) -> Connection:
        fields = _tokens(value)
        if len(fields) != 3:
            raise _error(f"c= needs 3 fields, got {len(fields)}: {value!r}")
        return cls(fields[0], fields[1], fields[2])


@attrs.frozen
class RtpMap:
    """One ``a=rtpmap`` attribute (RFC 8866 §6.6).

    Attributes:
        encoding: The encoding name, e.g. ``PCMU`` or ``telephone-event``.
        clock_rate: The RTP clock rate in Hz.
        channels: The encoding parameters (audio channels) as an int, or ``None`` when
            absent (which for audio means one channel).
    """

    encoding: str
    clock_rate: int
    channels: int | None = None


def _first_connection(lines: Sequence[Line]) -> Connection | None:
    for kind, value in lines:
        if kind == "c":
            return Connection._from_value(value)
    return None


def _attributes(lines: Sequence[Line]) -> list[tuple[str, str | None]]:
    return [_attribute(value) for kind, value in lines if kind == "a"]


@attrs.frozen
class MediaDescription:
    """One media section: an ``m=`` line and every line up to the next ``m=``.

    Obtain these from :attr:`SessionDescription.media`; the objects found there also know
    their session-level lines, so :attr:`direction` and :attr:`connection_address` fall back
    to session-level values as RFC 8866 §5.7 and §6.7 require.

    Attributes:
        lines: The section's ``(type, value)`` lines, the ``m=`` line first.
        context: The enclosing session-level lines (set by :class:`SessionDescription`; not
            part of equality).
    """

    lines: tuple[Line, ...] = attrs.field(converter=_to_lines)
    context: tuple[Line, ...] = attrs.field(default=(), converter=_to_lines, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if not self.lines or self.lines[0][0] != "m":
            raise _error("a media section must start with an m= line")
        for line in self.lines:
            _check_line(line)
        for kind, _ in self.lines[1:]:
            if kind in ("v", "o", "s", "m"):
                raise _error(f"{kind}= line not allowed in a media section")
        self._m_fields()  # validates the m= line
        for kind, value in self.lines:
            if kind == "c":
                Connection._from_value(value)

    def _m_fields(self) -> tuple[str, int, int | None, str, list[str]]:
        # RFC 8866 §5.14: m=<media> <port>[/<number of ports>] <proto> <fmt> ...
        value = self.lines[0][1]
        fields = _tokens(value)
        if len(fields) < 3:
            raise _error(f"m= needs at least 3 fields: {value!r}")
        port_text, slash, count_text = fields[1].partition("/")
        port = _int(port_text)
        if port is None or port > 65535:
            raise _error(f"m= port is not a port number: {fields[1]!r}")
        count = None
        if slash:
            count = _int(count_text)
            if count is None or count == 0:
                raise _error(f"m= number of ports is invalid: {fields[1]!r}")
        return fields[0], port, count, fields[2], fields[3:]

    @property
    def kind(self) -> str:
        """The media type: ``audio``, ``video``, ``application``, ..."""
        return self._m_fields()[0]

    @property
    def port(self) -> int:
        """The transport port; 0 means the stream is disabled or rejected (RFC 3264 §6)."""
        return self._m_fields()[1]

    @property
    def port_count(self) -> int | None:
        """The ``/<number of ports>`` suffix of the port, or ``None`` when absent."""
        return self._m_fields()[2]

    @property
    def proto(self) -> str:
        """The transport protocol, e.g. ``RTP/AVP`` or ``UDP/TLS/RTP/SAVPF``."""
        return self._m_fields()[3]

    @property
    def formats(self) -> list[str]:
        """The media formats (RTP payload types as text), in preference order."""
        return self._m_fields()[4]

    @property
    def attributes(self) -> list[tuple[str, str | None]]:
        """Media-level ``a=`` lines as ``(name, value)``; ``value`` is ``None`` for flags."""
        return _attributes(self.lines)

    def attribute(self, name: str) -> str | None:
        """The value of the first media-level attribute ``name``.

        Args:
            name: The attribute name, e.g. ``"ptime"``.

        Returns:
            Its value; ``""`` for a flag attribute; ``None`` if absent.
        """
        for attr, value in self.attributes:
            if attr == name:
                return "" if value is None else value
        return None

    @property
    def rtpmap(self) -> dict[int, RtpMap]:
        """``a=rtpmap`` by payload type; malformed entries are skipped."""
        out: dict[int, RtpMap] = {}
        for name, value in self.attributes:
            if name != "rtpmap" or value is None:
                continue
            pt_text, _, spec = value.partition(" ")
            parts = spec.strip().split("/")
            pt = _int(pt_text)
            rate = _int(parts[1]) if len(parts) >= 2 else None
            if pt is None or rate is None or not parts[0] or len(parts) > 3:
                continue
            channels = _int(parts[2]) if len(parts) == 3 else None
            if len(parts) == 3 and channels is None:
                continue
            out.setdefault(pt, RtpMap(parts[0], rate, channels))
        return out

    @property
    def fmtp(self) -> dict[int, str]:
        """``a=fmtp`` parameter strings by payload type; non-numeric formats are skipped."""
        out: dict[int, str] = {}
        for name, value in self.attributes:
            if name == "fmtp" and value is not None:
                pt_text, _, params = value.partition(" ")
                pt = _int(pt_text)
                if pt is not None:
                    out.setdefault(pt, params)
        return out

    @property
    def ptime(self) -> int | None:
        """``a=ptime`` in milliseconds (RFC 8866 §6.4), or ``None`` if absent or malformed."""
        value = self.attribute("ptime")
        return None if value is None else _int(value.strip())

    @property
    def media_direction(self) -> Direction | None:
        """The media-level direction attribute only, or ``None``."""
        return _direction_of(self.lines)

    @property
    def direction(self) -> Direction:
        """The effective direction: media level, else session level, else ``sendrecv``.

        RFC 8866 §6.7: a media-level direction attribute overrides a session-level one, and
        ``sendrecv`` is the default when neither is present.
        """
        return self.media_direction or _direction_of(self.context) or "sendrecv"

    @property
    def connection(self) -> Connection | None:
        """The media-level ``c=`` line, or ``None`` (then the session-level one applies)."""
        return _first_connection(self.lines)

    @property
    def connection_address(self) -> str | None:
        """The address to send media to: media-level ``c=``, else session-level ``c=``.

        Any multicast ``/ttl`` suffix is removed. ``None`` if neither level has a ``c=``.
        """
        conn = self.connection or _first_connection(self.context)
        return None if conn is None else conn.host

    def with_direction(self, direction: str) -> MediaDescription:
        """Return a copy whose media-level direction is ``direction``.

        Existing direction attributes are rewritten in place; if there is none, ``a=<dir>``
        is appended to the section.

        Args:
            direction: One of :data:`DIRECTIONS`.

        Raises:
            LocalProtocolError: ``direction`` is not a direction.
        """
        _check_direction(direction)
        if self.media_direction is not None:
            lines = _replace_directions(self.lines, direction)
        else:
            lines = (*self.lines, ("a", direction))
        return attrs.evolve(self, lines=lines)

    def with_port(self, port: int) -> MediaDescription:
        """Return a copy with another port; ``with_port(0)`` rejects the stream (RFC 3264 §6).

        Args:
            port: 0 to 65535. A ``/<number of ports>`` suffix is kept.

        Raises:
            LocalProtocolError: ``port`` is out of range.
        """
        if not 0 <= port <= 65535:
            raise _error(f"port out of range: {port}")
        old = _tokens(self.lines[0][1])[1]
        _, slash, count = old.partition("/")
        value = _replace_token(self.lines[0][1], 1, f"{port}{slash}{count}")
        return attrs.evolve(self, lines=(("m", value), *self.lines[1:]))


@attrs.frozen
class SessionDescription:
    """A whole SDP body: session-level lines, media sections and line-ending style.

    Attributes:
        lines: Session-level ``(type, value)`` lines, ``v=`` first.
        media: The media sections in order (a tuple; index it like a list).
        eol: The line ending, ``"\\r\\n"`` or ``"\\n"``.
        final_eol: Whether the last line is terminated.
    """

    lines: tuple[Line, ...] = attrs.field(converter=_to_lines)
    media: tuple[MediaDescription, ...] = attrs.field(default=(), converter=_to_media)
    eol: str = "\r\n"
    final_eol: bool = True

    def __attrs_post_init__(self) -> None:
        if self.eol not in ("\r\n", "\n"):
            raise _error(f"line ending must be CRLF or LF, not {self.eol!r}")
        if not self.lines or self.lines[0][0] != "v":
            raise _error("SDP must start with a v= line")
        if _int(self.lines[0][1]) is None:
            raise _error(f"bad v= line: {self.lines[0][1]!r}")
        for line in self.lines:
            _check_line(line)
        counts = {kind: 0 for kind in "vosm"}
        for kind, value in self.lines:
            if kind in counts:
                counts[kind] += 1
            if kind == "c":
                Connection._from_value(value)
        if counts["v"] != 1 or counts["o"] != 1 or counts["s"] == 0 or counts["m"]:
            raise _error("SDP needs one v=, one o= and an s= before the first m=")
        self.origin  # noqa: B018  # validates the o= line
        last = self.media[-1].lines[-1] if self.media else self.lines[-1]
        if not self.final_eol and last == ("", ""):
            raise _error("an unterminated last line cannot be blank")
        # Give each media section its session context (for direction and c= fallback).
        bound = tuple(
            m if m.context == self.lines else attrs.evolve(m, context=self.lines)
            for m in self.media
        )
        object.__setattr__(self, "media", bound)

    # -- parsing and serializing -------------------------------------------------------

    @classmethod
    def parse(cls, data: bytes | str) -> SessionDescription:
        """Parse an SDP body, keeping every byte.

        Args:
            data: The body as bytes (decoded as UTF-8) or text.

        Returns:
            The description; ``serialize()`` gives ``data`` back unchanged.

        Raises:
            RemoteProtocolError: The body is not SDP (``status_hint`` is 488).
        """
        try:
            return cls._parse(data)
        except LocalProtocolError as exc:
            raise exc._reraise_as_remote_protocol_error() from None

    @classmethod
    def _parse(cls, data: bytes | str) -> SessionDescription:
        if isinstance(data, bytes | bytearray | memoryview):
            text = bytes(data).decode("utf-8", "surrogateescape")
        else:
            text = str(data)
            try:
                text.encode("utf-8", "surrogateescape")
            except UnicodeEncodeError:
                raise _error("SDP text is not encodable as UTF-8") from None
        if not text:
            raise _error("empty SDP body")
        # Split on LF only: str.splitlines() would also split on VT, FF, NEL, U+2028, ...
        pieces = text.split("\n")
        final_eol = pieces[-1] == ""
        if final_eol:
            pieces.pop()
        eol: str | None = None
        session: list[Line] = []
        sections: list[list[Line]] = []
        for number, piece in enumerate(pieces):
            terminated = final_eol or number < len(pieces) - 1
            if terminated and piece.endswith("\r"):
                piece = piece[:-1]
                eol = eol or "\r\n"
            elif terminated:
                eol = eol or "\n"
            if piece == "":
                line: Line = ("", "")
            else:
                match = _LINE_RE.fullmatch(piece)
                if match is None:
                    raise _error(f"line {number + 1} is not <type>=<value>: {piece[:40]!r}")
                line = (match[1], match[2])
            if line[0] == "m":
                sections.append([line])
            elif sections:
                sections[-1].append(line)
            else:
                session.append(line)
        return cls(
            lines=session,
            media=[MediaDescription(lines=section) for section in sections],
            eol=eol or "\r\n",
            final_eol=final_eol,
        )

    def __str__(self) -> str:
        """The SDP text, with the remembered line endings."""
        all_lines = [*self.lines]
        for m in self.media:
            all_lines.extend(m.lines)
        text = "".join((f"{kind}={value}" if kind else "") + self.eol for kind, value in all_lines)
        return text if self.final_eol else text[: -len(self.eol)]

    def serialize(self) -> bytes:
        """The SDP body as bytes (UTF-8), byte-identical to what was parsed."""
        return str(self).encode("utf-8", "surrogateescape")

    def __bytes__(self) -> bytes:
        """Same as :meth:`serialize`."""
        return self.serialize()

    # -- typed accessors ---------------------------------------------------------------

    @property
    def origin(self) -> Origin:
        """The ``o=`` line (RFC 8866 §5.2)."""
        for kind, value in self.lines:
            if kind == "o":
                return Origin._from_value(value)
        raise _error("SDP has no o= line")  # unreachable: validated on construction

    @property
    def session_name(self) -> str:
        """The first ``s=`` value (``-`` by convention when there is no name)."""
        return next(value for kind, value in self.lines if kind == "s")

    @property
    def connection(self) -> Connection | None:
        """The session-level ``c=`` line, or ``None``."""
        return _first_connection(self.lines)

    @property
    def attributes(self) -> list[tuple[str, str | None]]:
        """Session-level ``a=`` lines as ``(name, value)``; ``value`` is ``None`` for flags."""
        return _attributes(self.lines)

    @property
    def session_direction(self) -> Direction | None:
        """The session-level direction attribute, or ``None`` (media-level ones override it)."""
        return _direction_of(self.lines)

    @property
    def directions(self) -> list[Direction]:
        """The effective direction of each media section, in order."""
        return [m.direction for m in self.media]

    @property
    def is_held(self) -> bool:
        """Whether this description puts the call on hold.

        True when every enabled stream (port != 0) is ``sendonly`` or ``inactive``
        (RFC 3264 §8.4, RFC 6337 §5) or uses the legacy RFC 2543 hold address
        ``c=... 0.0.0.0``. False when there is no enabled stream.
        """
        active = [m for m in self.media if m.port != 0]
        return bool(active) and all(
            m.direction in ("sendonly", "inactive") or m.connection_address == "0.0.0.0"
            for m in active
        )

    # -- edits (each returns a new SessionDescription) ---------------------------------

    def bump_version(self) -> SessionDescription:
        """Return a copy with ``o=`` sess-version incremented (RFC 3264 §8).

        Only that field of the ``o=`` line changes; its spacing is kept.
        """
        new_version = str(self.origin.sess_version + 1)
        lines = tuple(
            (kind, _replace_token(value, 2, new_version)) if kind == "o" else (kind, value)
            for kind, value in self.lines
        )
        return attrs.evolve(self, lines=lines)

    def with_media(self, index: int, media: MediaDescription) -> SessionDescription:
        """Return a copy with media section ``index`` replaced by ``media``.

        Args:
            index: Position in :attr:`media`.
            media: The new section (e.g. ``sdp.media[1].with_port(0)``).
        """
        sections = list(self.media)
        sections[index] = media
        return attrs.evolve(self, media=sections)

    def with_direction(self, direction: str, index: int | None = None) -> SessionDescription:
        """Return a copy whose effective direction is ``direction``.

        With ``index``, only that media section changes. Without it, every enabled stream
        (port != 0) changes. A session-level direction attribute is rewritten when every
        stream that inherits it gets the same new value; otherwise media-level attributes
        are rewritten in place, or appended to sections that lack one and need a change.
        The o= version is not changed: call :meth:`bump_version` when sending a new offer.

        Args:
            direction: One of :data:`DIRECTIONS`.
            index: A media section index, or ``None`` for the whole session.

        Raises:
            LocalProtocolError: ``direction`` is not a direction.
            IndexError: There is no media section ``index``.
        """
        _check_direction(direction)
        targets: list[str | None]
        if index is None:
            targets = [direction if m.port != 0 else None for m in self.media]
        elif 0 <= index < len(self.media):
            targets = [direction if i == index else None for i in range(len(self.media))]
        else:
            raise IndexError(f"no media section {index}")
        return self._set_directions(targets)

    def hold(self) -> SessionDescription:
        """Return a hold offer: RFC 3264 §8.4 / RFC 6337 §5.3, o= version + 1.

        Each enabled stream goes sendrecv -> sendonly and recvonly -> inactive; sendonly
        and inactive streams stay as they are. Disabled streams (port 0) are untouched.
        """
        targets = [_HOLD[m.direction] if m.port != 0 else None for m in self.media]
        return self._set_directions(targets).bump_version()

    def unhold(self, direction: str | None = None) -> SessionDescription:
        """Return a resume offer, o= version + 1.

        By default this is the inverse of :meth:`hold`: sendonly -> sendrecv and
        inactive -> recvonly (others unchanged), so ``sdp.hold().unhold()`` restores the
        directions of a stream that was sendrecv or recvonly. Lines :meth:`hold` rewrote
        are rewritten back in place; if :meth:`hold` had to *append* ``a=sendonly`` (no
        direction attribute existed), the resumed offer keeps an explicit ``a=sendrecv``
        there. A legacy ``c=0.0.0.0`` is not touched.

        Args:
            direction: If given, set every enabled stream to this direction instead.

        Raises:
            LocalProtocolError: ``direction`` is not a direction.
        """
        if direction is not None:
            _check_direction(direction)
        targets = [(direction or _UNHOLD[m.direction]) if m.port != 0 else None for m in self.media]
        return self._set_directions(targets).bump_version()

    def _set_directions(self, targets: Sequence[str | None]) -> SessionDescription:
        """Make media ``i`` have effective direction ``targets[i]`` (``None``: leave it)."""
        session_lines = self.lines
        session_dir: str | None = _direction_of(self.lines)
        inheriting = [
            targets[i]
            for i, m in enumerate(self.media)
            if m.media_direction is None and m.port != 0
        ]
        if session_dir is not None and len(set(inheriting)) == 1 and inheriting[0] is not None:
            # Every enabled stream that inherits agrees: rewrite the session-level line.
            session_dir = inheriting[0]
            session_lines = _replace_directions(self.lines, session_dir)
        sections: list[MediaDescription] = []
        for m, target in zip(self.media, targets, strict=True):
            if target is not None and (
                m.media_direction is not None or (session_dir or "sendrecv") != target
            ):
                m = m.with_direction(target)
            sections.append(m)
        return attrs.evolve(self, lines=session_lines, media=sections)

    # -- building ----------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        address: str,
        port: int,
        payload_types: Sequence[int] = (0, 8, 101),
        *,
        codecs: Mapping[int, str] | None = None,
        session_id: int | None = None,
        session_version: int | None = None,
        username: str = "-",
        session_name: str = "-",
        direction: str = "sendrecv",
        ptime: int | None = 20,
    ) -> SessionDescription:
        """Build a plain audio offer (RTP/AVP, one m=audio line, CRLF endings).

        Args:
            address: Our media address, for o= and c= (IP6 if it contains ``:``).
            port: Our RTP port.
            payload_types: Payload types in preference order. 0, 3, 4, 8, 9, 18 and 101
                (telephone-event, with ``a=fmtp:101 0-16``) are known; others need ``codecs``.
            codecs: Extra ``pt -> "encoding/rate[/channels]"`` rtpmap values, e.g.
                ``{96: "opus/48000/2"}``; these override the known table.
            session_id: The o= sess-id; random (31 bits) when ``None``.
            session_version: The o= sess-version; defaults to the session id.
            username: The o= username.
            session_name: The s= value.
            direction: The media-level direction attribute.
            ptime: ``a=ptime`` in ms, or ``None`` to omit it.

        Returns:
            The description.

        Raises:
            LocalProtocolError: Unknown payload type, bad port or bad direction.
        """
        _check_direction(direction)
        if not 0 <= port <= 65535:
            raise _error(f"port out of range: {port}")
        table = {**_KNOWN_CODECS, **(codecs or {})}
        media: list[Line] = [
            ("m", f"audio {port} RTP/AVP {' '.join(str(pt) for pt in payload_types)}")
        ]
        for pt in payload_types:
            if pt not in table:
                raise _error(f"no rtpmap known for payload type {pt}; pass codecs=")
            media.append(("a", f"rtpmap:{pt} {table[pt]}"))
            if table[pt].startswith("telephone-event/"):
                media.append(("a", f"fmtp:{pt} 0-16"))  # DTMF events 0-16 (RFC 4733 §3.2)
        if ptime is not None:
            media.append(("a", f"ptime:{ptime}"))
        media.append(("a", direction))
        sess_id = secrets.randbits(31) if session_id is None else session_id
        version = sess_id if session_version is None else session_version
        addrtype = "IP6" if ":" in address else "IP4"
        session: list[Line] = [
            ("v", "0"),
            ("o", f"{username} {sess_id} {version} IN {addrtype} {address}"),
            ("s", session_name),
            ("c", f"IN {addrtype} {address}"),
            ("t", "0 0"),
        ]
        return cls(lines=session, media=[MediaDescription(lines=media)])
