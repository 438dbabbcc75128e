"""Shared transport vocabulary: listen specs, configuration, inbox items and counters.

Rules this module keeps:

* A listen spec uses the drachtio contact syntax (``sip:HOST:PORT;transport=a,b``):

  - ``sip:`` without ``transport`` listens on UDP *and* TCP, as drachtio-server does
    (RFC 3261 §18: every element must implement both).
  - ``sips:`` without ``transport`` means TLS (RFC 3261 §26.2.2); ``sips:`` with
    ``transport=tcp`` is TLS too, ``transport=ws`` becomes WSS, and UDP is refused
    because sips needs a secure hop.
  - ``transport=tls`` and ``transport=wss`` are allowed under ``sip:`` as well.
  - A missing port defaults to 5060 (``sip:``) or 5061 (``sips:``) for every
    transport; port 0 asks the kernel for an ephemeral port, reported afterwards in
    ``TransportManager.listening``.
  - IPv6 hosts are written in brackets (``sip:[::1]:5060``) and stored without them,
    like :class:`~trio_srf.core._flow.Flow` addresses.

* Everything a transport hands to the engine is an :class:`Inbound`; datagram-like
  transports (UDP, one WebSocket message) hand over raw bytes for the engine to
  parse, byte-stream transports (TCP, TLS) hand over the message the framer already
  parsed, so nothing is parsed twice.
* RFC 3261 §18.1.1: a request larger than MTU - 200 bytes (1300 when the MTU is
  unknown) must go over a congestion-controlled transport. The Via header names
  the transport, so the choice belongs to whoever writes the Via (the engine);
  :func:`needs_congestion_control` states the rule once for it.
"""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import Awaitable, Callable
from typing import Protocol

import attrs

from ..core._flow import Flow
from ..errors import RemoteProtocolError
from ..sip import ParserLimits, Request, Response

__all__ = [
    "DEFAULT_PORTS",
    "Inbound",
    "Transports",
    "ListenSpec",
    "Listening",
    "TransportConfig",
    "TransportStatistics",
    "needs_congestion_control",
    "parse_listen_spec",
]

#: Default port per transport when a listen spec or URI gives none (RFC 3261 §19.1.2).
DEFAULT_PORTS = {"udp": 5060, "tcp": 5060, "ws": 5060, "tls": 5061, "wss": 5061}

_SIP_TRANSPORTS = ("udp", "tcp", "tls", "ws", "wss")

#: RFC 3261 §18.1.1: the size threshold when the path MTU is unknown.
_UNKNOWN_MTU_THRESHOLD = 1300


def needs_congestion_control(size: int, mtu: int | None = None) -> bool:
    """Whether a request of ``size`` bytes must avoid UDP (RFC 3261 §18.1.1).

    Args:
        size: The serialized request's length in bytes.
        mtu: The path MTU if known; ``None`` applies the 1300-byte rule.

    Returns:
        True when the request is within 200 bytes of the MTU (or above 1300
        bytes with an unknown MTU), so TCP must be used instead of UDP.
    """
    if mtu is None:
        return size > _UNKNOWN_MTU_THRESHOLD
    return size > mtu - 200


@attrs.frozen
class ListenSpec:
    """One listen address with the transports to serve on it.

    Attributes:
        host: Address to bind, IPv6 without brackets (``"0.0.0.0"``, ``"::1"``).
        port: Port to bind; 0 for an ephemeral port.
        transports: Transport names in the order given (``"udp"``, ``"tcp"``,
            ``"tls"``, ``"ws"``, ``"wss"``), without duplicates.
    """

    host: str
    port: int
    transports: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> ListenSpec:
        """Parse a drachtio-style contact such as ``sip:127.0.0.1:5060;transport=udp,tcp``.

        Raises:
            ValueError: the spec is not ``sip:``/``sips:`` host[:port][;transport=...],
                names an unknown transport, or asks for UDP under ``sips:``.
        """
        return parse_listen_spec(text)


def _split_host_port(hostport: str, text: str) -> tuple[str, int | None]:
    if hostport.startswith("["):
        end = hostport.find("]")
        if end == -1:
            raise ValueError(f"unterminated IPv6 reference in listen spec {text!r}")
        host = hostport[1:end]
        rest = hostport[end + 1 :]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"bad IPv6 address in listen spec {text!r}") from None
        if rest and not rest.startswith(":"):
            raise ValueError(f"junk after IPv6 reference in listen spec {text!r}")
        port_text = rest[1:] if rest else None
    else:
        host, sep, port_text_ = hostport.partition(":")
        port_text = port_text_ if sep else None
        if ":" in port_text_:
            raise ValueError(f"IPv6 addresses need brackets in listen spec {text!r}")
    if not host:
        raise ValueError(f"missing host in listen spec {text!r}")
    if port_text is None:
        return host, None
    if not port_text.isdigit() or not port_text.isascii() or int(port_text) > 65535:
        raise ValueError(f"bad port in listen spec {text!r}")
    return host, int(port_text)


def parse_listen_spec(text: str) -> ListenSpec:
    """Parse a drachtio-style listen contact (see the module docstring for defaults).

    Args:
        text: e.g. ``"sip:127.0.0.1:5060;transport=udp,tcp"``, ``"sips:[::1]:0"``.

    Returns:
        The :class:`ListenSpec`.

    Raises:
        ValueError: the text is not a valid listen spec.
    """
    scheme, sep, rest = text.strip().partition(":")
    scheme = scheme.lower()
    if not sep or scheme not in ("sip", "sips"):
        raise ValueError(f"listen spec must start with sip: or sips: ({text!r})")
    hostport, _, param_text = rest.partition(";")
    host, port = _split_host_port(hostport, text)
    wanted: list[str] = []
    for param in filter(None, param_text.split(";")):
        name, _, value = param.partition("=")
        if name.strip().lower() != "transport":
            raise ValueError(f"unknown listen spec parameter {name!r} in {text!r}")
        for token in value.split(","):
            token = token.strip().lower()
            if token not in _SIP_TRANSPORTS:
                raise ValueError(f"unknown transport {token!r} in listen spec {text!r}")
            if scheme == "sips":
                # RFC 3261 §26.2.2: sips means every hop is TLS-protected.
                if token == "udp":
                    raise ValueError(f"sips: cannot listen on UDP ({text!r})")
                token = {"tcp": "tls", "ws": "wss"}.get(token, token)
            if token not in wanted:
                wanted.append(token)
    if not wanted:
        wanted = ["tls"] if scheme == "sips" else ["udp", "tcp"]
    if port is None:
        port = 5061 if scheme == "sips" else 5060
    return ListenSpec(host=host, port=port, transports=tuple(wanted))


@attrs.frozen
class Listening:
    """A bound listening endpoint.

    Attributes:
        transport: ``"udp"``, ``"tcp"``, ``"tls"``, ``"ws"`` or ``"wss"``.
        host: The bound address (IPv6 without brackets).
        port: The bound port (the real one when the spec asked for port 0).
    """

    transport: str
    host: str
    port: int

    @property
    def contact(self) -> str:
        """The endpoint in listen-spec syntax, e.g. ``sip:[::1]:5060;transport=tcp``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        scheme = "sips" if self.transport in ("tls", "wss") else "sip"
        return f"{scheme}:{host}:{self.port};transport={self.transport}"


def _positive(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if value <= 0:
        raise ValueError(f"{attribute.name} must be positive, not {value!r}")


@attrs.frozen
class TransportConfig:
    """Tunables shared by every transport.

    Attributes:
        udp_rcvbuf: UDP receive buffer to request, in bytes. At the kernel's
            default (about 208 KiB) a busy UDP responder drops datagrams; when
            running as root the SO_RCVBUFFORCE option passes ``net.core.rmem_max``.
        udp_sndbuf: UDP send buffer to request, in bytes (SO_SNDBUFFORCE likewise).
        limits: Parser limits; ``limits.max_message_size`` caps every message on
            every transport (stream framing, WebSocket messages, datagrams).
        idle_timeout: Seconds without traffic in either direction after which a
            connection is closed (reaped).
        read_timeout: Seconds a connection may take to deliver the rest of a
            message once its first byte arrived (stalled peers lose the connection).
        handshake_timeout: Seconds allowed for an inbound TLS or WebSocket handshake.
        connect_timeout: Seconds allowed for an outbound connect plus TLS and
            WebSocket handshakes.
        write_timeout: Seconds one write on a stream connection may wait for the
            peer to read; past it the connection is closed and the send fails.
        error_linger: After a framing error the connection stops reading and
            waits this long for the engine to send an error response, then closes.
        max_connections: Most simultaneous stream connections, handshakes in
            progress included (inbound ones over the cap are closed on accept;
            outbound ones fail with TransportFailure).
        stream_backpressure: When True (default), a TCP/TLS/WS reader waits for
            room in the engine's inbox instead of dropping: a reliable transport's
            peer never retransmits, so a drop would lose the request for good, and
            waiting pushes back on that one peer only through TCP flow control.
            UDP readers always drop and count.
        tls_server_context: SSLContext for TLS/WSS listeners (required for them).
        tls_client_context: SSLContext for outbound TLS/WSS; ``None`` uses
            :func:`ssl.create_default_context` (verification against system CAs).
        ws_path: Resource path requested by the WebSocket client.
    """

    udp_rcvbuf: int = 4 * 1024 * 1024
    udp_sndbuf: int = 4 * 1024 * 1024
    limits: ParserLimits = attrs.field(factory=ParserLimits)
    idle_timeout: float = attrs.field(default=120.0, validator=_positive)
    read_timeout: float = attrs.field(default=32.0, validator=_positive)
    handshake_timeout: float = attrs.field(default=10.0, validator=_positive)
    connect_timeout: float = attrs.field(default=10.0, validator=_positive)
    write_timeout: float = attrs.field(default=5.0, validator=_positive)
    error_linger: float = attrs.field(default=2.0, validator=_positive)
    max_connections: int = 10_000
    stream_backpressure: bool = True
    tls_server_context: ssl.SSLContext | None = None
    tls_client_context: ssl.SSLContext | None = None
    ws_path: str = "/"


@attrs.frozen
class Inbound:
    """One item a transport puts into the engine's inbox.

    Exactly one of ``data``, ``message`` and ``error`` is set.

    Attributes:
        data: Raw bytes of one SIP message from a datagram-like transport (a UDP
            datagram or one WebSocket message); the engine parses it with
            :func:`trio_srf.sip.parse`.
        message: A message already parsed by a stream transport's framer.
        error: A framing error on a stream connection. The connection has stopped
            reading; it stays writable for ``TransportConfig.error_linger`` seconds
            so the engine can answer (400/513) when ``error.can_answer``, then it
            closes.
        flow: Where it came from; ``flow.conn_id`` is set on stream transports.
    """

    flow: Flow
    data: bytes | None = None
    message: Request | Response | None = None
    error: RemoteProtocolError | None = None


@attrs.frozen
class TransportStatistics:
    """A snapshot of transport counters (see ``TransportManager.statistics``).

    Attributes:
        connections: Live stream connections (TCP, TLS, WS, WSS).
        connections_opened: Stream connections accepted or opened so far.
        connections_rejected: Inbound connections closed at once (over the cap).
        connections_reaped: Connections closed for idleness.
        connection_errors: Connections lost to a peer error (reset, bad TLS or
            WebSocket handshake, stalled message, framing error).
        messages_in: SIP messages delivered to the inbox.
        messages_out: SIP messages sent.
        bytes_in: Bytes received: UDP payloads plus everything read from stream
            connections (keep-alives and WebSocket framing included).
        bytes_out: Bytes sent, counted the same way.
        inbox_drops: Messages dropped because the inbox was full.
        parse_errors: Framing errors on stream connections.
        keepalives: RFC 5626 pings answered plus whitespace keep-alive datagrams.
        send_errors: Sends that failed (raised TransportFailure).
    """

    connections: int
    connections_opened: int
    connections_rejected: int
    connections_reaped: int
    connection_errors: int
    messages_in: int
    messages_out: int
    bytes_in: int
    bytes_out: int
    inbox_drops: int
    parse_errors: int
    keepalives: int
    send_errors: int


@attrs.define
class Counters:
    """Mutable counters shared by the transports of one manager (internal)."""

    connections_opened: int = 0
    connections_rejected: int = 0
    connections_reaped: int = 0
    connection_errors: int = 0
    messages_in: int = 0
    messages_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    inbox_drops: int = 0
    parse_errors: int = 0
    keepalives: int = 0
    send_errors: int = 0

    def snapshot(self, connections: int) -> TransportStatistics:
        """Freeze the counters, with the current number of live connections."""
        return TransportStatistics(connections=connections, **attrs.asdict(self))


class Transports(Protocol):
    """What the engine needs from its transports (``TransportManager`` is the real one).

    ``trio_srf.testing.LoopbackNetwork`` provides an in-memory implementation so
    engine tests can run under ``MockClock(autojump_threshold=0)``.
    """

    listening: list[Listening]
    on_datagram: Callable[[Inbound], Awaitable[bool]] | None

    async def send(self, data: bytes, flow: Flow, *, server_hostname: str | None = None) -> Flow:
        """Send one message; return the concrete flow used."""
        ...

    def send_nowait(self, data: bytes, flow: Flow) -> bool:
        """Send a datagram synchronously if possible; False means use :meth:`send`."""
        ...

    def lookup(self, flow: Flow) -> Flow | None:
        """The flow a send would reuse, or None if it would need a new connection."""
        ...

    def statistics(self) -> TransportStatistics:
        """Counters."""
        ...
