"""SIP requests and responses: start line, headers, body; serialization.

Rules this module keeps:

* A message is its start line, an ordered :class:`Headers` multi-map and a
  ``bytes`` body. Equality compares exactly those (header names compare
  case-insensitively, compact forms equal long forms).
* ``Content-Length`` is always computed from the body on serialization
  (RFC 3261 §20.14), so a message can never announce the wrong length.
* Typed views (``via``, ``from_``, ``cseq``...) are parsed lazily on first
  access and cached in the headers; mutating the headers drops the cache.
  Messages that came through :func:`trio_srf.sip.parse` have had their
  mandatory headers validated already, so those views cannot fail.
* A start line can never carry CR, LF or NUL (that would inject header
  lines): the constructors and serialization raise LocalProtocolError.
* Building a response to a request follows §8.2.6.2: Via, From, To, Call-ID
  and CSeq are copied, a To tag is added when asked for, and Record-Route is
  copied into 1xx/2xx answers to dialog-creating requests (§12.1.1).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from ..errors import LocalProtocolError
from ._headers import Headers
from ._parsed import (
    Contact,
    ContentType,
    CSeq,
    NameAddr,
    Via,
    parse_contact_list,
    parse_content_type,
    parse_cseq,
    parse_int_header,
    parse_name_addr,
    parse_name_addr_list,
    parse_token_list,
    parse_via_list,
)
from ._uri import AbsoluteURI, SipURI, TelURI, parse_uri

__all__ = ["REASON_PHRASES", "Request", "Response", "SipMessage", "reason_phrase"]

#: Default reason phrases (RFC 3261 §21 and later RFCs).
REASON_PHRASES: dict[int, str] = {
    100: "Trying",
    180: "Ringing",
    181: "Call Is Being Forwarded",
    182: "Queued",
    183: "Session Progress",
    199: "Early Dialog Terminated",
    200: "OK",
    202: "Accepted",
    204: "No Notification",
    300: "Multiple Choices",
    301: "Moved Permanently",
    302: "Moved Temporarily",
    305: "Use Proxy",
    380: "Alternative Service",
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    410: "Gone",
    412: "Conditional Request Failed",
    413: "Request Entity Too Large",
    414: "Request-URI Too Long",
    415: "Unsupported Media Type",
    416: "Unsupported URI Scheme",
    420: "Bad Extension",
    421: "Extension Required",
    422: "Session Interval Too Small",
    423: "Interval Too Brief",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    482: "Loop Detected",
    483: "Too Many Hops",
    484: "Address Incomplete",
    485: "Ambiguous",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    489: "Bad Event",
    491: "Request Pending",
    493: "Undecipherable",
    500: "Server Internal Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Server Time-out",
    505: "Version Not Supported",
    513: "Message Too Large",
    580: "Precondition Failure",
    600: "Busy Everywhere",
    603: "Decline",
    604: "Does Not Exist Anywhere",
    606: "Not Acceptable",
}

# Characters a start line may never hold: they would end it and inject lines.
_BAD_START_RE = re.compile(r"[\x00\r\n]")


def _check_start(*parts: str) -> None:
    joined = "".join(parts)
    # Three C-speed scans, cheaper than one regex search, for the common case.
    if "\r" not in joined and "\n" not in joined and "\x00" not in joined:
        return
    for part in parts:
        if _BAD_START_RE.search(part):
            raise LocalProtocolError(f"start line part {part[:40]!r} contains CR, LF or NUL")


# Requests whose 1xx/2xx answers establish a dialog (RFC 3261 §12.1, RFC 6665).
_DIALOG_CREATING = frozenset({"INVITE", "SUBSCRIBE", "REFER", "NOTIFY"})


def reason_phrase(status: int) -> str:
    """Return the default reason phrase for ``status`` (generic by class if unknown)."""
    phrase = REASON_PHRASES.get(status)
    if phrase is not None:
        return phrase
    return {1: "Trying", 2: "OK", 3: "Redirect", 4: "Client Error", 5: "Server Error"}.get(
        status // 100, "Global Failure"
    )


def _vias(values: list[str]) -> list[Via]:
    return [v for line in values for v in parse_via_list(line)]


def _first_name_addr(values: list[str]) -> NameAddr | None:
    return parse_name_addr(values[0]) if values else None


def _cseq(values: list[str]) -> CSeq | None:
    return parse_cseq(values[0]) if values else None


def _name_addr_list(values: list[str]) -> list[NameAddr]:
    return [na for line in values for na in parse_name_addr_list(line)]


def _contacts(values: list[str]) -> list[Contact]:
    return [c for line in values for c in parse_contact_list(line)]


def _tokens(values: list[str]) -> list[str]:
    return [t for line in values for t in parse_token_list(line)]


class SipMessage:
    """What requests and responses share: headers, body and typed header views."""

    __slots__ = ("body", "headers", "version")

    headers: Headers
    body: bytes
    version: str

    # -- raw access ------------------------------------------------------------

    def get(self, name: str, default: str | None = None) -> str | None:
        """Return the first raw value of header ``name`` (``Content-Length`` is derived)."""
        if name.lower() in ("content-length", "l"):
            return str(len(self.body))
        return self.headers.get(name, default)

    def has(self, name: str) -> bool:
        """Return whether header ``name`` is present."""
        if name.lower() in ("content-length", "l"):
            return True
        return self.headers.has(name)

    @property
    def content_length(self) -> int:
        """Length of the body in bytes (what ``Content-Length`` will say)."""
        return len(self.body)

    # -- typed views -------------------------------------------------------------

    @property
    def call_id(self) -> str:
        """The Call-ID (raises LocalProtocolError if absent)."""
        value = self.headers.get("call-id")
        if value is None:
            raise LocalProtocolError("missing Call-ID")
        return value

    @property
    def via(self) -> list[Via]:
        """Every Via, topmost first (comma-joined lines are split)."""
        return self.headers.parsed("via", _vias)

    @property
    def top_via(self) -> Via:
        """The topmost Via (raises LocalProtocolError if there is none)."""
        vias = self.via
        if not vias:
            raise LocalProtocolError("missing Via")
        return vias[0]

    @property
    def from_(self) -> NameAddr:
        """The From header as a name-addr (raises LocalProtocolError if absent)."""
        value = self.headers.parsed("from", _first_name_addr)
        if value is None:
            raise LocalProtocolError("missing From")
        return value

    @property
    def to(self) -> NameAddr:
        """The To header as a name-addr (raises LocalProtocolError if absent)."""
        value = self.headers.parsed("to", _first_name_addr)
        if value is None:
            raise LocalProtocolError("missing To")
        return value

    @property
    def cseq(self) -> CSeq:
        """The CSeq (``.seq`` and ``.method``; raises LocalProtocolError if absent)."""
        value = self.headers.parsed("cseq", _cseq)
        if value is None:
            raise LocalProtocolError("missing CSeq")
        return value

    @property
    def contact(self) -> list[Contact]:
        """Every Contact (empty list if none; ``*`` gives one star contact)."""
        return self.headers.parsed("contact", _contacts)

    @property
    def route(self) -> list[NameAddr]:
        """The Route set, in order."""
        return self.headers.parsed("route", _name_addr_list)

    @property
    def record_route(self) -> list[NameAddr]:
        """The Record-Route list, in order."""
        return self.headers.parsed("record-route", _name_addr_list)

    @property
    def max_forwards(self) -> int | None:
        """Max-Forwards as an int, or None when absent."""
        values = self.headers.get_all("max-forwards")
        return parse_int_header(values[0], "Max-Forwards", maximum=255) if values else None

    @property
    def expires(self) -> int | None:
        """Expires (delta-seconds) as an int, or None when absent."""
        values = self.headers.get_all("expires")
        return parse_int_header(values[0], "Expires") if values else None

    @property
    def content_type(self) -> ContentType | None:
        """Content-Type, or None when absent."""
        values = self.headers.get_all("content-type")
        return parse_content_type(values[0]) if values else None

    @property
    def allow(self) -> list[str]:
        """Allow methods (upper-case tokens as written)."""
        return self.headers.parsed("allow", _tokens)

    @property
    def supported(self) -> list[str]:
        """Supported option tags."""
        return self.headers.parsed("supported", _tokens)

    @property
    def require(self) -> list[str]:
        """Require option tags."""
        return self.headers.parsed("require", _tokens)

    def get_parsed(self, name: str) -> Any:
        """Return the typed view of any header this module knows, else the raw values.

        Known: Via, From, To, CSeq, Contact, Route, Record-Route, Max-Forwards,
        Expires, Content-Type, Allow, Supported, Require, Call-ID.
        """
        key = name.lower()
        attr = _PARSED_ATTRS.get(key)
        if attr is not None:
            return getattr(self, attr)
        return self.headers.get_all(name)

    # -- serialization ---------------------------------------------------------

    def _start_line(self) -> str:
        raise NotImplementedError

    def serialize(self) -> bytes:
        """Return the wire form, with a Content-Length computed from the body."""
        body = self.body
        head = (
            f"{self._start_line()}{self.headers._serialized()}Content-Length: {len(body)}\r\n\r\n"
        ).encode("utf-8", "surrogateescape")
        return head + body if body else head

    def __bytes__(self) -> bytes:
        # A method of its own, not an alias of serialize(): mypyc does not compile aliases.
        return self.serialize()


_PARSED_ATTRS = {
    "via": "via",
    "v": "via",
    "from": "from_",
    "f": "from_",
    "to": "to",
    "t": "to",
    "cseq": "cseq",
    "contact": "contact",
    "m": "contact",
    "route": "route",
    "record-route": "record_route",
    "max-forwards": "max_forwards",
    "expires": "expires",
    "content-type": "content_type",
    "c": "content_type",
    "allow": "allow",
    "supported": "supported",
    "k": "supported",
    "require": "require",
    "call-id": "call_id",
    "i": "call_id",
}


def _as_headers(headers: Headers | Iterable[tuple[str, str]] | None) -> Headers:
    if headers is None:
        return Headers()
    if isinstance(headers, Headers):
        return headers
    return Headers(headers)


class Request(SipMessage):
    """A SIP request.

    Args:
        method: The method token, e.g. ``"INVITE"`` (case-sensitive, §7.1).
        uri: The Request-URI as text.
        headers: A :class:`Headers` or an iterable of ``(name, value)``.
        body: The body bytes.
        version: The SIP version, ``"SIP/2.0"``.
    """

    __slots__ = ("_ruri", "_ruri_src", "method", "uri")

    def __init__(
        self,
        method: str,
        uri: str,
        headers: Headers | Iterable[tuple[str, str]] | None = None,
        body: bytes = b"",
        version: str = "SIP/2.0",
    ) -> None:
        _check_start(method, uri, version)
        self.method = method
        self.uri = uri
        self.headers = _as_headers(headers)
        self.body = body
        self.version = version
        self._ruri: SipURI | TelURI | AbsoluteURI | None = None
        self._ruri_src: str | None = None

    @property
    def request_uri(self) -> SipURI | TelURI | AbsoluteURI:
        """The Request-URI parsed (cached until ``uri`` is reassigned)."""
        if self._ruri is None or self._ruri_src is not self.uri:
            self._ruri = parse_uri(self.uri)
            self._ruri_src = self.uri
        return self._ruri

    def _start_line(self) -> str:
        line = f"{self.method} {self.uri} {self.version}"
        if _BAD_START_RE.search(line):
            _check_start(self.method, self.uri, self.version)
        return line + "\r\n"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Request):
            return NotImplemented
        return (
            self.method == other.method
            and self.uri == other.uri
            and self.version == other.version
            and self.body == other.body
            and self.headers == other.headers
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"<Request {self.method} {self.uri} headers={len(self.headers)} body={len(self.body)}>"
        )

    def copy(self) -> Request:
        """Return a copy with independent headers (a proxy forwards a copy, §16.6)."""
        return Request(self.method, self.uri, self.headers.copy(), self.body, self.version)

    def make_response(
        self,
        status: int,
        reason: str | None = None,
        *,
        to_tag: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
    ) -> Response:
        """Build a response to this request (RFC 3261 §8.2.6.2).

        Args:
            status: The status code (100-699).
            reason: The reason phrase; the default one for ``status`` if None.
            to_tag: A tag to add to the To header when it has none (needed on
                every response but 100, §8.2.6.2).
            headers: Extra headers to append.
            body: The response body.
        """
        if not 100 <= status <= 699:
            raise LocalProtocolError(f"status code {status} out of range")
        src = self.headers
        out = Headers()
        entries = out._items
        to_changed = False
        for entry in src._items:
            key = entry[0]
            if key in ("via", "from", "call-id", "cseq"):
                entries.append(entry)
            elif key == "to":
                if to_tag is not None and self.to.tag is None and status != 100:
                    value = f"{entry[2]};tag={to_tag}"
                    entries.append((key, entry[1], value))
                    to_changed = True
                else:
                    entries.append(entry)
            elif (
                key == "record-route"
                and status < 300
                and status != 100
                and self.method in _DIALOG_CREATING
            ):
                entries.append(entry)
        if status == 100:
            # RFC 3261 §8.2.6.1: copy Timestamp into 100 Trying.
            ts = src.get("timestamp")
            if ts is not None:
                entries.append(("timestamp", "Timestamp", ts))
        # Via, From, CSeq (and To when no tag was added) are the request's lines
        # unchanged, so their typed views are the request's too: the response
        # starts with them cached instead of parsing them again. (The Via list is
        # copied: it is the one mutable view.) Extra headers added below drop
        # the view of their own header only.
        cache = out._cache
        for key, view in src._cache.items():
            if key in ("from", "cseq") or (key == "to" and not to_changed):
                cache[key] = view
            elif key == "via" and isinstance(view, list):
                cache[key] = list(view)
        for name, value in headers:
            out.add(name, value)
        return Response(status, reason if reason is not None else reason_phrase(status), out, body)


class Response(SipMessage):
    """A SIP response.

    Args:
        status: The status code (100-699).
        reason: The reason phrase (may be empty).
        headers: A :class:`Headers` or an iterable of ``(name, value)``.
        body: The body bytes.
        version: The SIP version, ``"SIP/2.0"``.
    """

    __slots__ = ("reason", "status")

    def __init__(
        self,
        status: int,
        reason: str | None = None,
        headers: Headers | Iterable[tuple[str, str]] | None = None,
        body: bytes = b"",
        version: str = "SIP/2.0",
    ) -> None:
        self.status = status
        self.reason = reason if reason is not None else reason_phrase(status)
        _check_start(self.reason, version)
        self.headers = _as_headers(headers)
        self.body = body
        self.version = version

    @property
    def is_provisional(self) -> bool:
        """1xx."""
        return self.status < 200

    @property
    def is_success(self) -> bool:
        """2xx."""
        return 200 <= self.status < 300

    @property
    def is_final(self) -> bool:
        """Any status >= 200."""
        return self.status >= 200

    def _start_line(self) -> str:
        line = f"{self.version} {self.status} {self.reason}"
        if _BAD_START_RE.search(line):
            _check_start(self.reason, self.version, str(self.status))
        return line + "\r\n"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Response):
            return NotImplemented
        return (
            self.status == other.status
            and self.reason == other.reason
            and self.version == other.version
            and self.body == other.body
            and self.headers == other.headers
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.reason} headers={len(self.headers)}>"

    def copy(self) -> Response:
        """Return a copy with independent headers."""
        return Response(self.status, self.reason, self.headers.copy(), self.body, self.version)
