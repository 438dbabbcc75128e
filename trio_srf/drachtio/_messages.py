"""Typed drachtio messages: the base, the meta tokens, and every non-reply type (§5, §6).

Rules kept:

* Every message is one frozen value; ``msg.encode()`` gives its payload bytes
  (``<leader>[CRLF<SIP>]``, §4) and
  :func:`~trio_srf.drachtio.decode_message` turns them back into the value.
* Tokens are kept as the exact strings sent (meta ``bytes``/``port`` too, with
  int accessors), so what the real server or drachtio-srf emit re-encodes
  byte for byte.
* SIP text is kept exactly as carried; :attr:`message` parses it lazily:
  strictly for server-sent SIP, leniently for the skeletons apps send (they
  may lack Via, CSeq, Call-ID, which the server fills in, §7).
* Replies (``response``) live in :mod:`._replies`; decoding in :mod:`._decode`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

import attrs

from ..errors import LocalProtocolError, RemoteProtocolError
from ..sip import Request, Response, parse
from ._wire import Role, join_leader, new_message_id

__all__ = [
    "AppSip",
    "Authenticate",
    "Cdr",
    "CdrAttempt",
    "CdrStart",
    "CdrStop",
    "Message",
    "Meta",
    "Ping",
    "Proxy",
    "RemoveRoute",
    "Route",
    "ServerSip",
    "parse_sip",
]


def _to_str(value: int | str) -> str:
    return str(value)


def _tuple(value: Any) -> tuple[str, ...]:
    items = tuple(str(v) for v in value)
    # "" on the wire is the empty list; a lone empty item would encode the same way.
    return () if items == ("",) else items


def _strs(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


def _as_int(value: str) -> int | None:
    return int(value) if value.isascii() and value.isdigit() else None


def parse_sip(text: str, *, strict: bool = True) -> Request | Response:
    """Parse the SIP part of a drachtio payload.

    Args:
        text: The SIP text as carried in the frame.
        strict: Apply full RFC 3261 validation (mandatory headers). Pass
            ``False`` for the skeletons apps send (§7): they may lack Via,
            CSeq, Call-ID and the rest, which the server fills in.

    Returns:
        The parsed request or response.

    Raises:
        RemoteProtocolError: the text is not a SIP message.
    """
    data = text.encode("utf-8", "surrogateescape")
    if strict:
        return parse(data)
    try:
        return _parse_skeleton(data)
    except LocalProtocolError as err:
        raise RemoteProtocolError(err.msg, status_hint=err.status_hint) from None


def _parse_skeleton(data: bytes) -> Request | Response:
    """Parse an app's SIP skeleton: start line, ``Name: value`` lines, body (§7).

    Only the RFC 3261 §7 syntax is checked (start line shape, header name
    tokens, no control characters, folding per §7.3.1, Content-Length no
    larger than the body); mandatory headers are not required.
    """
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.rstrip(b"\r\n").decode("utf-8", "surrogateescape").split("\r\n")
    start = lines[0]
    fields: list[tuple[str, str]] = []
    content_length: int | None = None
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and fields:
            name, value = fields[-1]
            more = line.strip(" \t")
            fields[-1] = (name, f"{value} {more}" if more else value)
            continue
        name, colon, value = line.partition(":")
        if not colon:
            raise LocalProtocolError(f"header line without a colon: {line[:40]!r}")
        fields.append((name.rstrip(" \t"), value.strip(" \t")))
    for name, value in fields:
        if name.lower() in ("content-length", "l"):
            if not (value.isascii() and value.isdigit()):
                raise LocalProtocolError(f"invalid Content-Length {value[:20]!r}")
            content_length = int(value)
    if content_length is not None:
        if content_length > len(body):
            raise LocalProtocolError(
                f"Content-Length {content_length} exceeds the {len(body)} body bytes"
            )
        body = body[:content_length]
    msg: Request | Response
    if start[:4].upper() == "SIP/":
        version, _, rest = start.partition(" ")
        code, _, reason = rest.partition(" ")
        if len(code) != 3 or not (code.isascii() and code.isdigit()):
            raise LocalProtocolError(f"malformed status line {start[:80]!r}")
        msg = Response(int(code), reason, fields, body, version)
    else:
        parts = start.split(" ")
        if len(parts) != 3 or not all(parts):
            raise LocalProtocolError(f"malformed request line {start[:80]!r}")
        method, uri, version = parts
        msg = Request(method, uri, fields, body, version)
    return msg


@attrs.frozen(kw_only=True)
class Meta:
    """The six meta tokens the server puts before SIP it reports (§6.5, §6.7).

    Kept as the exact strings sent; ``size`` and ``port`` accept ints.

    Attributes:
        source: ``network`` or ``application``.
        size: The ``bytes`` token (informational only, see §6.5 quirks).
        protocol: ``udp``, ``tcp``, ``tls`` or empty (the real server leaves
            it empty for some ACKs and echoes).
        address: Remote (or, in request echoes, the server's own) address.
        port: The matching port.
        time: ``HH:MM:SS.uuuuuu`` (see :func:`~trio_srf.drachtio.wire_time`).
    """

    source: str = "network"
    size: str = attrs.field(default="0", converter=_to_str)
    protocol: str = "udp"
    address: str = ""
    port: str = attrs.field(default="0", converter=_to_str)
    time: str = "00:00:00.000000"

    @property
    def byte_count(self) -> int | None:
        """``size`` as an int, or ``None`` if it is not a decimal number."""
        return _as_int(self.size)

    @property
    def port_number(self) -> int | None:
        """``port`` as an int, or ``None`` if it is not a decimal number."""
        return _as_int(self.port)

    def tokens(self) -> list[str]:
        """The six tokens in wire order."""
        return [self.source, self.size, self.protocol, self.address, self.port, self.time]

    @classmethod
    def from_tokens(cls, tokens: list[str]) -> Meta:
        """Build from exactly six tokens in wire order."""
        source, size, protocol, address, port, time = tokens
        return cls(
            source=source, size=size, protocol=protocol, address=address, port=port, time=time
        )


@attrs.frozen(kw_only=True)
class Message:
    """Base of every drachtio message.

    Attributes:
        msg_id: The sender-chosen message id (token 0); a fresh UUID by default.
    """

    TYPE: ClassVar[str] = ""
    SENDER: ClassVar[Role] = Role.APP

    msg_id: str = attrs.field(factory=new_message_id)
    _parsed: Request | Response | None = attrs.field(
        default=None, init=False, eq=False, repr=False, hash=False
    )

    def leader(self) -> list[str]:
        """The leader tokens, message id and type first."""
        raise NotImplementedError

    def sip_text(self) -> str | None:
        """The SIP part carried after the leader, or ``None``."""
        return None

    def encode(self) -> bytes:
        """Return the payload bytes (without the length prefix).

        Raises:
            LocalProtocolError: a field cannot be carried (empty id, or a
                ``|``, CR or LF inside a token).
        """
        if not self.msg_id:
            raise LocalProtocolError("a drachtio message needs a non-empty message id")
        return join_leader(self.leader(), self.sip_text())


class _CarriesSip:
    """Mixin: lazy parsing of a ``sip`` text attribute."""

    __slots__ = ()
    sip: str
    _parsed: Request | Response | None
    SENDER: ClassVar[Role]

    @property
    def message(self) -> Request | Response:
        """The SIP part parsed (once, then cached); see :func:`parse_sip`.

        Raises:
            RemoteProtocolError: the SIP text does not parse.
        """
        if self._parsed is None:
            parsed = parse_sip(self.sip, strict=self.SENDER is Role.SERVER)
            object.__setattr__(self, "_parsed", parsed)
            return parsed
        return self._parsed


# ---------------------------------------------------------------- app -> server


@attrs.frozen(kw_only=True)
class Authenticate(Message):
    """``<id>|authenticate|<secret>|<tags>`` (§6.1); always the app's first message.

    Attributes:
        secret: The shared secret.
        tags: The app's tags (comma-joined on the wire; empty leaves a trailing ``|``).
    """

    TYPE: ClassVar[str] = "authenticate"
    secret: str
    tags: tuple[str, ...] = attrs.field(default=(), converter=_tuple)

    def leader(self) -> list[str]:
        for tag in self.tags:
            if "," in tag:
                raise LocalProtocolError(f"tag {tag!r} contains a comma")
        return [self.msg_id, self.TYPE, self.secret, ",".join(self.tags)]


@attrs.frozen(kw_only=True)
class Route(Message):
    """``<id>|route|<verb>`` (§6.3): receive new requests of a method, or CDRs.

    Attributes:
        verb: Lower-case SIP method (``invite``) or ``cdr:attempt``/``cdr:start``/``cdr:stop``.
    """

    TYPE: ClassVar[str] = "route"
    verb: str

    def leader(self) -> list[str]:
        return [self.msg_id, self.TYPE, self.verb]


@attrs.frozen(kw_only=True)
class RemoveRoute(Message):
    """``<id>|remove_route|<verb>`` (§6.3).

    Attributes:
        verb: As for :class:`Route`.
    """

    TYPE: ClassVar[str] = "remove_route"
    verb: str

    def leader(self) -> list[str]:
        return [self.msg_id, self.TYPE, self.verb]


@attrs.frozen(kw_only=True)
class Ping(Message):
    """``<id>|ping`` (§6.4), answered with :class:`Pong`."""

    TYPE: ClassVar[str] = "ping"

    def leader(self) -> list[str]:
        return [self.msg_id, self.TYPE]


@attrs.frozen(kw_only=True)
class AppSip(_CarriesSip, Message):
    """``<id>|sip|<txnId>|<dialogId>[|<routeUri>]`` + SIP, sent by the app (§6.6).

    Attributes:
        transaction_id: The incoming request's id (responses), the INVITE's id
            (CANCEL), or empty.
        dialog_id: The dialog for an in-dialog request, or empty.
        route_uri: Next hop for a new request (token 4), or ``None`` to omit it.
        sip: The SIP text (usually a skeleton the server completes, §7).
    """

    TYPE: ClassVar[str] = "sip"
    transaction_id: str = ""
    dialog_id: str = ""
    route_uri: str | None = None
    sip: str

    @property
    def is_response(self) -> bool:
        """Whether the SIP part is a response (its start line begins ``SIP/``)."""
        return self.sip[:4].upper() == "SIP/"

    @property
    def purpose(self) -> str:
        """What the server does with it (§6.6 table).

        Returns:
            ``"response"``, ``"in-dialog"``, ``"cancel"``, ``"new"``, or
            ``"invalid"`` (a non-CANCEL request with only a transaction id,
            which the real server cannot handle).
        """
        if self.is_response:
            return "response"
        if self.dialog_id:
            return "in-dialog"
        if self.sip[:7].upper() == "CANCEL ":
            return "cancel"
        return "invalid" if self.transaction_id else "new"

    def leader(self) -> list[str]:
        tokens = [self.msg_id, self.TYPE, self.transaction_id, self.dialog_id]
        if self.route_uri is not None:
            tokens.append(self.route_uri)
        return tokens

    def sip_text(self) -> str:
        return self.sip


@attrs.frozen(kw_only=True)
class Proxy(_CarriesSip, Message):
    """``<id>|proxy|<txnId>|<rr>|<full>|<follow>|<forking>|<prov>|<final>|<dest>...`` (§6.8).

    Attributes:
        transaction_id: The pending incoming request to proxy.
        remain_in_dialog: Record-Route (token ``remainInDialog``).
        full_response: Report each final response (token ``fullResponse``).
        follow_redirects: Act on 3xx (token ``followRedirects``).
        simultaneous: Fork in parallel (``simultaneous``) instead of ``serial``.
        provisional_timeout: ``<n>ms``/``<n>s`` or empty.
        final_timeout: Same syntax; ignored by the current server.
        destinations: Target URIs, one token each.
        sip: The stub request whose extra headers are added, or ``None``.
    """

    TYPE: ClassVar[str] = "proxy"
    transaction_id: str
    remain_in_dialog: bool = False
    full_response: bool = True
    follow_redirects: bool = False
    simultaneous: bool = False
    provisional_timeout: str = ""
    final_timeout: str = ""
    destinations: tuple[str, ...] = attrs.field(default=(), converter=_strs)
    sip: str | None = None  # type: ignore[assignment]

    def leader(self) -> list[str]:
        return [
            self.msg_id,
            self.TYPE,
            self.transaction_id,
            "remainInDialog" if self.remain_in_dialog else "",
            "fullResponse" if self.full_response else "",
            "followRedirects" if self.follow_redirects else "",
            "simultaneous" if self.simultaneous else "serial",
            self.provisional_timeout,
            self.final_timeout,
            *self.destinations,
        ]

    def sip_text(self) -> str | None:
        return self.sip

    @property
    def message(self) -> Request | Response:
        """The stub request parsed leniently.

        Raises:
            RemoteProtocolError: there is no SIP part, or it does not parse.
        """
        if self.sip is None:
            raise RemoteProtocolError("proxy message without a SIP part")
        return super().message


# ---------------------------------------------------------------- server -> app


@attrs.frozen(kw_only=True)
class ServerSip(_CarriesSip, Message):
    """``<id>|sip|<meta x6>|<txnId>|<dialogId>|[<recvHost>|<recvPort>|[<token>]]`` + SIP (§6.5).

    Attributes:
        meta: Source, bytes, protocol, address, port, time.
        transaction_id: Server transaction id, or ``unsolicited``.
        dialog_id: Server dialog id, or empty.
        received_host: Local listen address (new requests only), else empty.
        received_port: Its port, else empty.
        session_token: Token 12, reserved; empty from current servers.
        sip: The SIP message text.
    """

    TYPE: ClassVar[str] = "sip"
    SENDER: ClassVar[Role] = Role.SERVER
    meta: Meta = attrs.field(factory=Meta)
    transaction_id: str
    dialog_id: str = ""
    received_host: str = ""
    received_port: str = attrs.field(default="", converter=_to_str)
    session_token: str = ""
    sip: str

    @property
    def is_unsolicited(self) -> bool:
        """Whether the server generated this request itself (§9.7); never answer it."""
        return self.transaction_id == "unsolicited"

    @property
    def received_on(self) -> str | None:
        """``host:port`` of the receiving listen point (srf's ``req.receivedOn``), or None."""
        if not self.received_host:
            return None
        return f"{self.received_host}:{self.received_port}"

    def leader(self) -> list[str]:
        tokens = [self.msg_id, self.TYPE, *self.meta.tokens(), self.transaction_id, self.dialog_id]
        if self.received_host or self.received_port or self.session_token:
            tokens += [self.received_host, self.received_port, self.session_token]
        else:
            tokens.append("")
        return tokens

    def sip_text(self) -> str:
        return self.sip


@attrs.frozen(kw_only=True)
class Cdr(_CarriesSip, Message):
    """Base of the three CDR messages (§6.9).

    Attributes:
        source: ``network`` or ``application``.
        time: When the event happened, ``HH:MM:SS.uuuuuu``.
        sip: The SIP message the record is about.
    """

    SENDER: ClassVar[Role] = Role.SERVER
    source: str = "network"
    time: str = "00:00:00.000000"
    sip: str

    def sip_text(self) -> str:
        return self.sip


@attrs.frozen(kw_only=True)
class CdrAttempt(Cdr):
    """``<id>|cdr:attempt|<source>|<time>`` + SIP."""

    TYPE: ClassVar[str] = "cdr:attempt"

    def leader(self) -> list[str]:
        return [self.msg_id, self.TYPE, self.source, self.time]


@attrs.frozen(kw_only=True)
class CdrStart(Cdr):
    """``<id>|cdr:start|<source>|<time>|<role>`` + SIP.

    Attributes:
        role: ``uac``, ``uas``, ``proxy-uac`` or ``proxy-uas``.
    """

    TYPE: ClassVar[str] = "cdr:start"
    role: str

    def leader(self) -> list[str]:
        return [self.msg_id, self.TYPE, self.source, self.time, self.role]


@attrs.frozen(kw_only=True)
class CdrStop(Cdr):
    """``<id>|cdr:stop|<source>|<time>|<reason>`` + SIP.

    Attributes:
        reason: ``call-rejected``, ``call-canceled``, ``normal-release``, ...
    """

    TYPE: ClassVar[str] = "cdr:stop"
    reason: str

    def leader(self) -> list[str]:
        return [self.msg_id, self.TYPE, self.source, self.time, self.reason]
