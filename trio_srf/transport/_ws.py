"""SIP over WebSocket (RFC 7118) with wsproto: handshakes and the per-connection codec.

Rules this module keeps:

* RFC 7118 §4.1: the client offers the ``sip`` subprotocol in
  ``Sec-WebSocket-Protocol``; the server accepts only a handshake that offers it
  (others get HTTP 400) and answers with ``sip``; a client whose answer lacks
  ``sip`` fails the connection.
* RFC 7118 §5.1: each WebSocket message (text or binary) carries exactly one
  SIP message, so a message is handed to the engine like a datagram (raw bytes;
  Content-Length is optional, §5.2 says the message boundary frames it). We send
  text frames when the message is valid UTF-8 and binary frames otherwise.
* A message over ``limits.max_message_size`` closes the connection with 1009
  (RFC 6455 §7.4.1); a frame protocol error closes it with the code wsproto gives.
* Pings are answered with pongs (RFC 6455 §5.5.2); a close frame is answered and
  ends the connection (§5.5.1).

This module only holds sans-IO state plus the two async handshakes; the task
shape (one reader per connection, table, reaping) is shared with TCP/TLS in
``_stream.py``.
"""

from __future__ import annotations

import contextlib

import attrs
import trio
import wsproto
import wsproto.utilities
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    RejectConnection,
    RejectData,
    TextMessage,
)

from ..sip import Request, Response
from ._base import TransportConfig

__all__ = ["Fed", "WsCodec", "WsHandshakeError", "ws_client_handshake", "ws_server_handshake"]

SUBPROTOCOL = "sip"

_RECEIVE_SIZE = 65536


class WsHandshakeError(Exception):
    """The WebSocket opening handshake failed (bad HTTP, no ``sip`` subprotocol, EOF)."""


@attrs.define
class Fed:
    """What one chunk of received bytes produced (internal).

    Attributes:
        items: Complete SIP messages in arrival order: raw bytes (WebSocket) or
            messages the stream framer parsed (TCP/TLS).
        reply: Bytes to write back (pongs, close frames).
        close: Whether the connection must be closed after writing ``reply``.
        keepalives: RFC 5626 pings answered in ``reply``.
    """

    items: list[bytes | Request | Response] = attrs.field(factory=list)
    reply: bytes = b""
    close: bool = False
    keepalives: int = 0


class WsCodec:
    """WebSocket framing state for one established connection.

    Args:
        ws: The wsproto connection, already past the opening handshake.
        max_message_size: Largest SIP message accepted in one WebSocket message.
    """

    def __init__(self, ws: WSConnection, max_message_size: int) -> None:
        self._ws = ws
        self._max = max_message_size
        self._parts: list[bytes] = []
        self._size = 0

    @property
    def pending(self) -> bool:
        """Whether part of a message has arrived and the rest has not."""
        return self._size > 0 or bool(self._parts)

    def feed(self, data: bytes) -> Fed:
        """Feed received bytes (``b""`` for EOF) and collect complete SIP messages."""
        try:
            self._ws.receive_data(data or None)
        except wsproto.utilities.ProtocolError:
            return Fed(reply=self._close_bytes(1002, "protocol error"), close=True)
        out = self.drain()
        if not data:
            out.close = True
        return out

    def drain(self) -> Fed:
        """Collect the events already buffered (e.g. frames that came with the handshake)."""
        ws = self._ws
        out = Fed()
        try:
            for event in ws.events():
                if isinstance(event, TextMessage | BytesMessage):
                    chunk = (
                        event.data.encode("utf-8")
                        if isinstance(event, TextMessage)
                        else bytes(event.data)
                    )
                    self._size += len(chunk)
                    if self._size > self._max:
                        out.reply += self._close_bytes(1009, "SIP message too big")
                        out.close = True
                        return out
                    self._parts.append(chunk)
                    if event.message_finished:
                        out.items.append(b"".join(self._parts))
                        self._parts.clear()
                        self._size = 0
                elif isinstance(event, Ping):
                    out.reply += ws.send(event.response())
                elif isinstance(event, CloseConnection):
                    if ws.state is ConnectionState.REMOTE_CLOSING:
                        out.reply += ws.send(event.response())
                    else:
                        out.reply += self._close_bytes(event.code, event.reason or "")
                    out.close = True
                    return out
        except wsproto.utilities.ProtocolError:
            out.reply += self._close_bytes(1002, "protocol error")
            out.close = True
        return out

    def _close_bytes(self, code: int, reason: str) -> bytes:
        if self._ws.state is not ConnectionState.OPEN:
            return b""
        try:
            return self._ws.send(CloseConnection(code=code, reason=reason))
        except wsproto.utilities.ProtocolError:  # pragma: no cover - state raced
            return b""

    def encode(self, payload: bytes) -> bytes:
        """Frame one SIP message (text frame when it is UTF-8, else binary)."""
        try:
            return self._ws.send(TextMessage(data=payload.decode("utf-8")))
        except UnicodeDecodeError:
            return self._ws.send(BytesMessage(data=payload))

    def close_bytes(self) -> bytes:
        """A normal-closure frame (1000), or ``b""`` if closing already began."""
        return self._close_bytes(1000, "")


async def _handshake_event(stream: trio.abc.Stream, ws: WSConnection, max_size: int) -> Event:
    """Read until the handshake produces its first event and return it.

    Later events (frames that arrived in the same read) stay queued in ``ws``.
    """
    received = 0
    while True:
        data = await stream.receive_some(_RECEIVE_SIZE)
        if not data:
            raise WsHandshakeError("connection closed during the WebSocket handshake")
        received += len(data)
        if received > max_size:
            raise WsHandshakeError("WebSocket handshake too large")
        try:
            ws.receive_data(bytes(data))
            event = next(ws.events(), None)
        except wsproto.utilities.ProtocolError as exc:
            raise WsHandshakeError(f"bad WebSocket handshake: {exc}") from exc
        if event is not None:
            return event


async def ws_server_handshake(
    stream: trio.abc.Stream, config: TransportConfig
) -> tuple[WsCodec, Fed]:
    """Run the server side of the opening handshake on an accepted stream.

    Returns:
        The codec and what arrived with the handshake (see :meth:`WsCodec.drain`).

    Raises:
        WsHandshakeError: the peer did not send a valid upgrade offering ``sip``.
    """
    ws = WSConnection(ConnectionType.SERVER)
    event = await _handshake_event(stream, ws, config.limits.max_message_size)
    if not isinstance(event, wsproto.events.Request):
        raise WsHandshakeError(f"expected an upgrade request, got {type(event).__name__}")
    if SUBPROTOCOL not in [p.strip().lower() for p in event.subprotocols]:
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await stream.send_all(
                ws.send(RejectConnection(status_code=400, has_body=True))
                + ws.send(RejectData(data=b"Sec-WebSocket-Protocol must offer sip (RFC 7118)"))
            )
        raise WsHandshakeError("WebSocket client did not offer the sip subprotocol")
    await stream.send_all(ws.send(AcceptConnection(subprotocol=SUBPROTOCOL)))
    codec = WsCodec(ws, config.limits.max_message_size)
    return codec, codec.drain()


async def ws_client_handshake(
    stream: trio.abc.Stream, host: str, port: int, config: TransportConfig
) -> tuple[WsCodec, Fed]:
    """Run the client side of the opening handshake, offering the ``sip`` subprotocol.

    Args:
        stream: A connected TCP (or TLS) stream.
        host: The server's host name or address (for the ``Host`` header).
        port: The server's port.
        config: Supplies ``ws_path`` and the size limit.

    Returns:
        The codec and what arrived right after the handshake.

    Raises:
        WsHandshakeError: the server rejected the upgrade or did not choose ``sip``.
    """
    ws = WSConnection(ConnectionType.CLIENT)
    host_header = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    request = wsproto.events.Request(
        host=host_header, target=config.ws_path, subprotocols=[SUBPROTOCOL]
    )
    await stream.send_all(ws.send(request))
    event = await _handshake_event(stream, ws, config.limits.max_message_size)
    if isinstance(event, RejectConnection):
        raise WsHandshakeError(f"WebSocket upgrade rejected with HTTP {event.status_code}")
    if not isinstance(event, AcceptConnection):
        raise WsHandshakeError(f"unexpected WebSocket handshake event {type(event).__name__}")
    if event.subprotocol != SUBPROTOCOL:
        raise WsHandshakeError("WebSocket server did not accept the sip subprotocol")
    codec = WsCodec(ws, config.limits.max_message_size)
    return codec, codec.drain()
