"""Parsing SIP messages: one datagram (:func:`parse`) or a byte stream (:class:`StreamFramer`).

Rules this module keeps:

* RFC 3261 §7: start line, header fields (with §7.3.1 line folding and the
  §7.3.3 compact forms), an empty line, then the body. CRLFs before the start
  line are ignored (§7.5). Bare LF line endings are accepted when a message
  uses them consistently; a mix is rejected.
* §18.3 framing. In a datagram the body runs to the end of the packet; a
  Content-Length larger than what arrived is an error and a smaller one
  truncates the body. On a stream, Content-Length is mandatory and is the only
  framing there is.
* RFC 5626 §4.4.1 keep-alives on streams: a double CRLF between messages is a
  ping (answer it with one CRLF), a single CRLF is a pong.
* Limits are configurable (:class:`ParserLimits`): total size (513 beyond),
  header count and line length (400 beyond). A stream peer can therefore never
  make the framer buffer more than ``max_message_size`` bytes.
* Every mandatory header is validated up front (Via, From, To, Call-ID, CSeq
  and, for requests, the Request-URI), so code above never meets a message it
  cannot route or answer. Other headers are parsed lazily on first use.
* Malformed input raises :class:`~trio_srf.errors.RemoteProtocolError` and
  nothing else; it carries the status to answer (400, 416, 505, 513) and
  whatever Via/From/To/Call-ID/CSeq survived, so a 4xx can still be routed.
"""

from __future__ import annotations

import re

import attrs

from ..errors import LocalProtocolError, RemoteProtocolError
from ._headers import Headers, header_key
from ._message import Request, Response
from ._parsed import NameAddr, parse_cseq, parse_name_addr, parse_via_list
from ._uri import _SIP_FAST_RE, URI, AbsoluteURI, is_valid_host

__all__ = ["DEFAULT_LIMITS", "KeepAlive", "ParserLimits", "StreamFramer", "parse"]


@attrs.frozen
class ParserLimits:
    """Caps applied to every parsed message.

    Attributes:
        max_message_size: Largest accepted message (start line + headers +
            body), in bytes. Larger ones get 513 Message Too Large.
        max_headers: Most header lines per message (after unfolding).
        max_line_length: Longest header line (after unfolding), in characters.
    """

    max_message_size: int = 65535
    max_headers: int = 256
    max_line_length: int = 8192


DEFAULT_LIMITS = ParserLimits()


@attrs.frozen
class KeepAlive:
    """An RFC 5626 keep-alive seen on a stream.

    Attributes:
        ping: True for a double-CRLF ping (answer with ``b"\\r\\n"``), False for
            a single-CRLF pong.
    """

    ping: bool


_METHOD_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+\Z")
# Methods that are valid tokens without asking _METHOD_RE (RFC 3261 and extensions).
_KNOWN_METHODS = frozenset(
    [
        "INVITE",
        "ACK",
        "BYE",
        "CANCEL",
        "OPTIONS",
        "REGISTER",
        "PRACK",
        "SUBSCRIBE",
        "NOTIFY",
        "PUBLISH",
        "INFO",
        "REFER",
        "MESSAGE",
        "UPDATE",
    ]
)
# ASCII digits only: \d would also take other scripts' digits, which int() accepts.
_STATUS_RE = re.compile(
    r"(SIP/[0-9]+\.[0-9]+) ([1-6][0-9][0-9]) ([^\x00-\x08\x0a-\x1f\x7f]*)\Z", re.I
)
_VERSION_RE = re.compile(r"SIP/([0-9]+)\.([0-9]+)\Z", re.I)
_HEADER_NAME_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+\Z")
_CTL_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# RFC 3261 §25.1: inside a quoted-string a quoted-pair may carry any of
# %x00-09 / %x0B-0C / %x0E-7F (RFC 4475 §3.1.1.2 "intmeth" uses \<NUL>);
# a non-escaped control is never allowed. See _controls_escaped.
_QUOTED_STRING_RE = re.compile(r'"(?:[^"\\\x00-\x08\x0a-\x1f\x7f]|\\[^\r\n])*"')
_DIGITS_RE = re.compile(r"[0-9]{1,10}\Z")
_MAX_FORWARDS_FAST_RE = re.compile(r"[0-9]{1,3}\Z")
# Every byte but the controls (RFC 3261 §25.1 allows none in the start line or
# header section) and CR/LF; HTAB is allowed. See _is_clean.
_NOT_CTL = bytes(range(0x20, 0x7F)) + bytes(range(0x80, 0x100)) + b"\t"

# Header names already seen to be valid tokens, mapped to their lookup key
# (bounded, so a peer sending random names cannot grow it without limit).
_VALID_NAME_KEYS: dict[str, str] = {}
_MAX_KNOWN_NAMES = 1024

_SALVAGE_KEYS = ("via", "call-id", "cseq", "from", "to")

# From and To values seen recently, mapped to their (immutable) parsed views.
# Every message of a call repeats them verbatim (INVITE, ACK, BYE and the
# responses), so a call's later messages skip parsing them. Only values that
# parsed are kept; the table is bounded (emptied when full), so hostile input
# cannot grow it, and a stream of all-new values only pays a lookup and an
# insert per header.
_NAME_ADDRS: dict[str, NameAddr] = {}
_NAME_ADDRS_MAX = 256


def _salvage(lines: list[str], err: LocalProtocolError) -> RemoteProtocolError:
    """Re-raise ``err`` as remote, attaching whatever routing headers survived.

    This is a lenient pass over the raw lines: it must never raise.
    """
    remote = err._reraise_as_remote_protocol_error()
    if not lines:
        return remote
    start = lines[0]
    if remote.is_request is None:
        if start[:4].upper() == "SIP/":
            remote.is_request = False
        elif " " in start:
            remote.is_request = True
    if remote.is_request and remote.method is None:
        parts = start.split(" ")
        if len(parts) == 3:
            remote.method, remote.uri = parts[0], parts[1]
    found: dict[str, list[str]] = {}
    for line in lines[1:]:
        if not line or line[0] in " \t":
            continue
        name, sep, value = line.partition(":")
        if not sep:
            continue
        key = header_key(name.strip())
        if key in _SALVAGE_KEYS:
            found.setdefault(key, []).append(value.strip())
    if not remote.via:
        remote.via = found.get("via", [])
    if remote.call_id is None and "call-id" in found:
        remote.call_id = found["call-id"][0]
    if remote.cseq is None and "cseq" in found:
        remote.cseq = found["cseq"][0]
    if remote.from_ is None and "from" in found:
        remote.from_ = found["from"][0]
    if remote.to is None and "to" in found:
        remote.to = found["to"][0]
    return remote


def _split_lines(head: str) -> list[str]:
    lines = head.split("\r\n")
    if len(lines) == 1 and "\n" in head and "\r" not in head:
        lines = head.split("\n")
    return lines


def _is_clean(head: bytes, lines: list[str]) -> bool:
    """Whether ``head`` holds no control character but its line separators and tabs.

    ``lines`` is ``head`` decoded and split. One C-speed pass over the bytes
    replaces a regex per header value (UTF-8 maps bytes below 0x80 to the same
    characters and never produces them from other bytes). When this says
    False, :func:`_parse_head` runs the precise checks to name the culprit.
    (A bytes regex search for the controls costs about 2.5 times as much.)
    """
    ctl = head.translate(None, _NOT_CTL)
    seps = len(lines) - 1
    # Every CR and LF must be part of a separator (CRLF, or bare LF in LF mode).
    return ctl == b"\r\n" * seps or ctl == b"\n" * seps


def _controls_escaped(value: str) -> bool:
    """Whether every control character in ``value`` is a quoted-pair in a quoted-string."""
    return _CTL_RE.search(_QUOTED_STRING_RE.sub("", value)) is None


def _parse_start(start: str, clean: bool) -> tuple[tuple[int, str] | None, str, str, str]:
    """Parse the start line: ((status, reason) or None, method, uri, version as written)."""
    if start[:4].upper() == "SIP/":
        m = _STATUS_RE.match(start)
        if m is None:
            raise LocalProtocolError(f"malformed status line {start[:80]!r}", is_request=False)
        version = m.group(1)
        vm = _VERSION_RE.match(version)
        if vm is None or (vm.group(1), vm.group(2)) != ("2", "0"):
            raise LocalProtocolError(f"unsupported version {version!r}", is_request=False)
        return (int(m.group(2)), m.group(3)), "", "", version
    parts = start.split(" ")
    if len(parts) != 3:
        raise LocalProtocolError(f"malformed request line {start[:80]!r}", is_request=True)
    method, uri, version = parts
    if (method not in _KNOWN_METHODS and not _METHOD_RE.match(method)) or not uri:
        raise LocalProtocolError(f"malformed request line {start[:80]!r}", is_request=True)
    if version != "SIP/2.0":
        vm = _VERSION_RE.match(version)
        if vm is None:
            raise LocalProtocolError(
                f"malformed SIP version {version[:20]!r}",
                is_request=True,
                method=method,
                uri=uri,
            )
        if (vm.group(1), vm.group(2)) != ("2", "0"):
            raise LocalProtocolError(
                f"unsupported SIP version {version!r}",
                status_hint=505,
                is_request=True,
                method=method,
                uri=uri,
            )
    if not clean and _CTL_RE.search(uri):
        raise LocalProtocolError("control character in Request-URI", is_request=True)
    return None, method, uri, version


_Entries = list[tuple[str, str, str]]


def _fields(lines: list[str], limits: ParserLimits, clean: bool) -> tuple[_Entries, int | None]:
    """The header fields as (key, name, value) entries, and the Content-Length."""
    entries: _Entries = []
    content_length: int | None = None
    # Content-Length values, checked after the loop because they may be folded too.
    cl_values: list[str] = []
    last_cl = False
    max_line = limits.max_line_length
    known = _VALID_NAME_KEYS
    for line in lines[1:]:
        if not line or line[0] == " " or line[0] == "\t":
            if not line:
                raise LocalProtocolError("empty line inside the header section")
            # §7.3.1: a continuation line belongs to the previous header value
            # (whichever it is); a blank one adds nothing. Strip only SP/HTAB so
            # a control character at the end is still seen and rejected.
            more = line.strip(" \t")
            if last_cl:
                prev = cl_values[-1]
                cl_values[-1] = f"{prev} {more}" if prev and more else prev + more
                continue
            if not entries:
                raise LocalProtocolError("continuation line before the first header")
            if more:
                k, n, v = entries[-1]
                v = f"{v} {more}" if v else more
                if len(v) > max_line:
                    raise LocalProtocolError(f"header {n} longer than {max_line} characters")
                entries[-1] = (k, n, v)
            continue
        if len(line) > max_line:
            raise LocalProtocolError(f"header line longer than {max_line} characters")
        colon = line.find(":")
        if colon < 0:
            raise LocalProtocolError(f"header line without a colon: {line[:40]!r}")
        name = line[:colon]
        # Slicing past the usual single space after the colon leaves strip()
        # nothing to do in the common case, and then it copies nothing.
        colon += 1
        if colon < len(line) and line[colon] == " ":
            colon += 1
        value = line[colon:]
        key = known.get(name)
        if key is None:
            name = name.rstrip(" \t")
            key = known.get(name)
            if key is None:
                if not _HEADER_NAME_RE.match(name):
                    raise LocalProtocolError(f"invalid header name {name[:40]!r}")
                key = header_key(name)
                if len(known) < _MAX_KNOWN_NAMES:
                    known[name] = key
        if key == "content-length":
            last_cl = True
            cl_values.append(value.strip(" \t"))
            continue
        last_cl = False
        entries.append((key, name, value.strip(" \t")))
    for value in cl_values:
        if not _DIGITS_RE.match(value):
            raise LocalProtocolError(f"invalid Content-Length {value[:20]!r}")
        length = int(value)
        if content_length is not None and content_length != length:
            raise LocalProtocolError("conflicting Content-Length headers")
        content_length = length
    if len(entries) > limits.max_headers:
        raise LocalProtocolError(f"more than {limits.max_headers} header lines")
    if not clean:
        for _, n, v in entries:
            if _CTL_RE.search(v) and not _controls_escaped(v):
                raise LocalProtocolError(f"control character in header {n}")
    return entries, content_length


def _parse_head(
    lines: list[str], limits: ParserLimits, clean: bool = False
) -> tuple[Request | Response, int | None]:
    """Build a message (empty body) from header lines; return it and Content-Length.

    ``clean`` says the caller has checked (see :func:`_is_clean`) that the
    lines hold no control characters, which spares a regex per header value.
    """
    response, method, uri, version = _parse_start(lines[0], clean)
    entries, content_length = _fields(lines, limits, clean)
    headers = Headers._trusted(entries)
    msg: Request | Response
    if response is not None:
        msg = Response(response[0], response[1], headers, b"", version.upper())
    else:
        msg = Request(method, uri, headers, b"", version.upper())
    return msg, content_length


def _validate(msg: Request | Response) -> None:
    """Check the headers every transaction needs, caching their typed views.

    The views are built by the strict fast paths of :mod:`._parsed` when the
    values have the common shapes, else by the careful parsers, which raise.
    """
    is_request = isinstance(msg, Request)
    headers = msg.headers
    items = headers._items
    # One pass: how many of each mandatory header, and the first value of each.
    n_via = n_from = n_to = n_call_id = n_cseq = 0
    via_value = from_value = to_value = call_id = cseq_value = ""
    max_forwards: str | None = None
    for key, _, value in items:
        if key == "via":
            if not n_via:
                via_value = value
            n_via += 1
        elif key == "from":
            from_value = value
            n_from += 1
        elif key == "to":
            to_value = value
            n_to += 1
        elif key == "call-id":
            call_id = value
            n_call_id += 1
        elif key == "cseq":
            cseq_value = value
            n_cseq += 1
        elif key == "max-forwards" and max_forwards is None:
            max_forwards = value
    for n, label in ((n_via, "Via"), (n_from, "From"), (n_to, "To"), (n_call_id, "Call-ID")):
        if not n:
            raise LocalProtocolError(f"missing {label} header", is_request=is_request)
    if n_from > 1 or n_to > 1:
        raise LocalProtocolError("more than one From or To header", is_request=is_request)
    if n_call_id > 1 or n_cseq > 1:
        raise LocalProtocolError("more than one Call-ID or CSeq header", is_request=is_request)
    if not call_id or " " in call_id or "\t" in call_id:
        raise LocalProtocolError("invalid Call-ID", is_request=is_request)
    if not n_cseq:
        raise LocalProtocolError("missing CSeq header", is_request=is_request)
    # The same values SipMessage.via/from_/to/cseq would compute, cached alike.
    if n_via == 1:
        vias = parse_via_list(via_value)
    else:
        vias = [v for k, _, value in items if k == "via" for v in parse_via_list(value)]
    if not vias:
        raise LocalProtocolError("empty Via header", is_request=is_request)
    cache = headers._cache
    cache["via"] = vias
    cache["from"] = _name_addr(from_value)
    cache["to"] = _name_addr(to_value)
    cseq = cache["cseq"] = parse_cseq(cseq_value)
    if isinstance(msg, Request):
        if cseq.method != msg.method:
            raise LocalProtocolError(
                f"CSeq method {cseq.method} does not match request method {msg.method}",
                is_request=True,
            )
        # A plain SIP Request-URI is only checked here and built on first use.
        m = _SIP_FAST_RE.match(msg.uri)
        if m is not None and is_valid_host(m.group(3)):
            ruri: URI | None = None
        else:
            ruri = msg.request_uri  # raises on a malformed URI
        if isinstance(ruri, AbsoluteURI):
            raise LocalProtocolError(
                f"unsupported URI scheme {ruri.scheme!r}", status_hint=416, is_request=True
            )
        if max_forwards is not None and not (
            _MAX_FORWARDS_FAST_RE.match(max_forwards) and int(max_forwards) <= 255
        ):
            msg.max_forwards  # noqa: B018  (raises on a malformed value)


def _name_addr(value: str) -> NameAddr:
    """:func:`parse_name_addr` through the recent-values table (see ``_NAME_ADDRS``)."""
    known = _NAME_ADDRS.get(value)
    if known is not None:
        return known
    parsed = parse_name_addr(value)  # raises on an invalid value, which is not kept
    if len(_NAME_ADDRS) >= _NAME_ADDRS_MAX:
        # Start afresh rather than evict one by one: deleting a dict's oldest
        # keys makes finding the next oldest slower each time.
        _NAME_ADDRS.clear()
    _NAME_ADDRS[value] = parsed
    return parsed


def _finish_error(err: LocalProtocolError, lines: list[str]) -> RemoteProtocolError:
    return _salvage(lines, err)


def _find_head_end(data: bytes | bytearray, start: int = 0) -> tuple[int, int]:
    """Return (end of headers, start of body), or (-1, -1) if not complete yet."""
    idx = data.find(b"\r\n\r\n", start)
    lf = data.find(b"\n\n", start)
    if lf != -1 and (idx == -1 or lf < idx) and (lf == 0 or data[lf - 1] != 13):
        return lf, lf + 2
    if idx == -1:
        return -1, -1
    return idx, idx + 4


def parse(data: bytes, *, limits: ParserLimits = DEFAULT_LIMITS) -> Request | Response:
    """Parse one SIP message received as a datagram (RFC 3261 §18.3 rules).

    Args:
        data: The datagram.
        limits: Size, header-count and line-length caps.

    Returns:
        The :class:`Request` or :class:`Response`.

    Raises:
        RemoteProtocolError: the datagram is not a valid SIP message;
            ``status_hint`` says how to answer it and ``can_answer`` whether
            enough survived to do so.
    """
    data = bytes(data)
    lines: list[str] = []
    try:
        pos = 0
        n = len(data)
        if n and (data[0] == 13 or data[0] == 10):  # CRLFs before the start line (§7.5)
            while data.startswith(b"\r\n", pos):
                pos += 2
            while data.startswith(b"\n", pos):
                pos += 1
        if n - pos > limits.max_message_size:
            # Checked before looking for the end of the headers, so that an
            # oversized datagram is a 513 whether or not it has one.
            window = data[pos : pos + 8192]
            cut = _find_head_end(window)[0]
            lines = _split_lines(
                window[: len(window) if cut == -1 else cut].decode("utf-8", "surrogateescape")
            )
            raise LocalProtocolError(
                f"message of {n - pos} bytes exceeds {limits.max_message_size}", status_hint=513
            )
        # The common case first: a CRLF message whose header section holds no
        # stray control or bare LF. Then no bare "\n\n" can come before the
        # first CRLFCRLF, which is where _find_head_end would end it too.
        end = data.find(b"\r\n\r\n", pos)
        clean = False
        if end != -1:
            # No rstrip here: a CR or LF left at the end makes the head unclean,
            # and the careful path below, which strips, takes it.
            head = data[pos:end]
            lines = _split_lines(head.decode("utf-8", "surrogateescape"))
            clean = _is_clean(head, lines)
            body_start = end + 4
        if not clean:
            end, body_start = _find_head_end(data, pos)
            if end == -1:
                if data.endswith(b"\r\n") or data.endswith(b"\n"):
                    end, body_start = n, n
                else:
                    lines = _split_lines(data[pos : pos + 8192].decode("utf-8", "surrogateescape"))
                    raise LocalProtocolError("no empty line after the header section")
            head = data[pos:end].rstrip(b"\r\n")
            lines = _split_lines(head.decode("utf-8", "surrogateescape"))
            clean = _is_clean(head, lines)
        msg, content_length = _parse_head(lines, limits, clean)
        body = data[body_start:]
        if content_length is not None:
            if content_length > len(body):
                raise LocalProtocolError(
                    f"Content-Length {content_length} exceeds the {len(body)} body bytes received"
                )
            body = body[:content_length]
        msg.body = body
        _validate(msg)
        return msg
    except LocalProtocolError as err:
        raise _finish_error(err, lines) from None


class StreamFramer:
    """Split a TCP/TLS/WebSocket-text byte stream into SIP messages (§18.3).

    Feed bytes as they arrive, then pull events until ``None``::

        framer = StreamFramer()
        framer.feed(chunk)
        while (event := framer.next_event()) is not None:
            ...  # Request, Response or KeepAlive

    After a :class:`RemoteProtocolError` the stream cannot be resynchronised
    (framing is lost); the framer stays broken and the caller should close the
    connection, answering the error first when ``err.can_answer``.
    """

    def __init__(self, limits: ParserLimits = DEFAULT_LIMITS) -> None:
        self._buf = bytearray()
        self._limits = limits
        self._scan_from = 0
        self._error: RemoteProtocolError | None = None
        # A parsed header section waiting for its body: (message, body start, total size).
        self._pending: tuple[Request | Response, int, int] | None = None

    @property
    def buffered(self) -> int:
        """How many bytes are waiting for the rest of a message."""
        return len(self._buf)

    def feed(self, data: bytes) -> None:
        """Append received bytes."""
        if self._error is not None:
            raise self._error
        self._buf += data

    def next_event(self) -> Request | Response | KeepAlive | None:
        """Return the next complete message or keep-alive, or None if more bytes are needed.

        Raises:
            RemoteProtocolError: the stream holds something that is not SIP, or
                a message over the size limit.
        """
        if self._error is not None:
            raise self._error
        buf = self._buf
        if self._pending is not None:
            msg, body_start, total = self._pending
            if len(buf) < total:
                return None
            return self._complete(msg, body_start, total)
        if buf[:1] == b"\r" or buf[:1] == b"\n":
            if buf[:4] == b"\r\n\r\n":
                del buf[:4]
                self._scan_from = 0
                return KeepAlive(ping=True)
            if len(buf) < 4 and b"\r\n\r\n".startswith(bytes(buf)):
                return None  # could still become a ping
            if buf[:2] == b"\r\n":
                del buf[:2]
                self._scan_from = 0
                return KeepAlive(ping=False)
            if buf[:1] == b"\n":
                del buf[:1]
                self._scan_from = 0
                return self.next_event()
        if not buf:
            return None
        limits = self._limits
        end, body_start = _find_head_end(buf, self._scan_from)
        lines: list[str] = []
        try:
            if end == -1:
                self._scan_from = max(0, len(buf) - 3)
                if len(buf) > limits.max_message_size:
                    lines = _split_lines(bytes(buf[:8192]).decode("utf-8", "surrogateescape"))
                    raise LocalProtocolError(
                        f"header section exceeds {limits.max_message_size} bytes", status_hint=513
                    )
                return None
            head = bytes(buf[:end])
            lines = _split_lines(head.decode("utf-8", "surrogateescape"))
            msg, content_length = _parse_head(lines, limits, _is_clean(head, lines))
            if content_length is None:
                raise LocalProtocolError("Content-Length is mandatory on stream transports")
            total = body_start + content_length
            if total > limits.max_message_size:
                raise LocalProtocolError(
                    f"message of {total} bytes exceeds {limits.max_message_size}", status_hint=513
                )
            if len(buf) < total:
                self._pending = (msg, body_start, total)
                return None
        except LocalProtocolError as err:
            self._error = _finish_error(err, lines)
            raise self._error from None
        return self._complete(msg, body_start, total)

    def _complete(self, msg: Request | Response, body_start: int, total: int) -> Request | Response:
        buf = self._buf
        msg.body = bytes(buf[body_start:total])
        del buf[:total]
        self._scan_from = 0
        self._pending = None
        try:
            _validate(msg)
        except LocalProtocolError as err:
            lines = [msg._start_line().rstrip("\r\n")]
            lines += [f"{n}: {v}" for n, v in msg.headers.items()]
            self._error = _finish_error(err, lines)
            raise self._error from None
        return msg

    def events(self) -> list[Request | Response | KeepAlive]:
        """Return every complete event currently buffered (see :meth:`next_event`)."""
        out: list[Request | Response | KeepAlive] = []
        while (event := self.next_event()) is not None:
            out.append(event)
        return out
