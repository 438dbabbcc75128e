"""SIP over TCP, TLS, WS and WSS on Trio: listeners, connectors and the connection table.

Rules this module keeps:

* One task per connection reads, frames and delivers; nothing else reads the
  stream. Writes come from the engine (``send``) and from the reader itself
  (keep-alive pongs), serialised by a per-connection FIFO lock and bounded by
  ``TransportConfig.write_timeout`` so a peer that stops reading cannot stall
  the caller for long: it loses the connection instead.
* Framing (RFC 3261 §18.3): TCP/TLS use :class:`~trio_srf.sip.StreamFramer`
  (Content-Length is mandatory); the messages it parses are delivered parsed.
  WebSocket messages (RFC 7118) are delivered as raw bytes, one SIP message each.
* RFC 5626 §4.4.1: a double-CRLF ping is answered with one CRLF.
* A peer that sends garbage, lies in Content-Length, stalls mid-message
  (``read_timeout`` from the first byte of an incomplete message), exceeds the
  size limit or breaks a handshake loses its own connection and nothing else.
  After a framing error the connection stops reading, the engine gets an
  :class:`~trio_srf.transport._base.Inbound` ``error`` and ``error_linger``
  seconds to answer on that connection (a 400 or 513), then it is closed.
  Every connection task catches everything but cancellation, so no exception
  from one connection reaches the transport's nursery.
* Connection reuse (RFC 3261 §18.2.2, §18.1.1): connections are indexed by id
  and by ``(transport, remote host, remote port)``. A send with a ``conn_id``
  uses that connection; without one (or when it is gone) it reuses any live
  connection to the remote address and otherwise opens one.
* Idle reaping: a connection with no traffic in either direction for
  ``idle_timeout`` seconds is closed.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
from typing import Protocol

import attrs
import trio

from ..core._flow import Flow
from ..errors import RemoteProtocolError, TransportFailure
from ..sip import KeepAlive, ParserLimits, StreamFramer
from ._base import Counters, Inbound, TransportConfig
from ._ws import Fed, WsHandshakeError, ws_client_handshake, ws_server_handshake

__all__ = ["Connection", "StreamTransports"]

log = logging.getLogger("trio_srf.transport")

_RECEIVE_SIZE = 65536
_CLOSE_GRACE = 1.0

_PEER_ERRORS = (
    trio.BrokenResourceError,
    trio.ClosedResourceError,
    trio.TooSlowError,
    OSError,
    WsHandshakeError,
)


class _Codec(Protocol):
    @property
    def pending(self) -> bool: ...

    def feed(self, data: bytes) -> Fed: ...

    def encode(self, payload: bytes) -> bytes: ...

    def close_bytes(self) -> bytes: ...


class SipStreamCodec:
    """Framing for SIP directly over a byte stream (TCP, TLS).

    Args:
        limits: Parser limits for the framer.
    """

    def __init__(self, limits: ParserLimits) -> None:
        self._framer = StreamFramer(limits)

    @property
    def pending(self) -> bool:
        """Whether part of a message is buffered."""
        return self._framer.buffered > 0

    def feed(self, data: bytes) -> Fed:
        """Frame received bytes; ``b""`` means EOF.

        Raises:
            RemoteProtocolError: the stream is not valid SIP (framing is lost).
        """
        out = Fed()
        if not data:
            out.close = True
            return out
        framer = self._framer
        framer.feed(data)
        while (event := framer.next_event()) is not None:
            if isinstance(event, KeepAlive):
                if event.ping:
                    out.reply += b"\r\n"  # RFC 5626 §4.4.1 pong
                    out.keepalives += 1
            else:
                out.items.append(event)
        return out

    def encode(self, payload: bytes) -> bytes:
        """SIP needs no extra framing on a stream."""
        return payload

    def close_bytes(self) -> bytes:
        """Nothing to say before closing a TCP/TLS connection."""
        return b""


@attrs.define(eq=False)
class Connection:
    """One live stream connection (internal bookkeeping, exposed for tests).

    Attributes:
        flow: The concrete flow (``conn_id`` set) messages on it carry.
        stream: The Trio stream (SocketStream, or SSLStream over one).
        codec: Framing for this transport.
        last_activity: ``trio.current_time()`` of the last byte in or out.
        broken: Reading stopped after a framing error; no longer reused.
    """

    flow: Flow
    stream: trio.abc.Stream
    codec: _Codec
    last_activity: float
    scope: trio.CancelScope = attrs.field(factory=trio.CancelScope)
    send_lock: trio.StrictFIFOLock = attrs.field(factory=trio.StrictFIFOLock)
    answered: trio.Event = attrs.field(factory=trio.Event)
    broken: bool = False

    @property
    def key(self) -> tuple[str, str, int]:
        """The reuse key: ``(transport, remote host, remote port)``."""
        return (self.flow.transport, self.flow.remote[0], self.flow.remote[1])


def _addr(sockaddr: tuple[object, ...]) -> tuple[str, int]:
    host, port = sockaddr[0], sockaddr[1]
    assert isinstance(host, str) and isinstance(port, int)
    return host, port


class StreamTransports:
    """Every TCP/TLS/WS/WSS listener and connection of one transport manager.

    Args:
        nursery: Where listener and connection tasks run.
        inbox: The engine's inbox.
        counters: Shared counters.
        config: Transport configuration.
    """

    def __init__(
        self,
        nursery: trio.Nursery,
        inbox: trio.MemorySendChannel[Inbound],
        counters: Counters,
        config: TransportConfig,
    ) -> None:
        self._nursery = nursery
        self._inbox = inbox
        self._counters = counters
        self._config = config
        self._next_id = 1
        self.connections: dict[int, Connection] = {}
        self._by_remote: dict[tuple[str, str, int], Connection] = {}
        self._connecting: dict[tuple[str, str, int], trio.Event] = {}
        self._handshaking = 0  # inbound connections not registered yet
        self._listeners: list[trio.SocketListener] = []
        self._client_ctx: ssl.SSLContext | None = config.tls_client_context

    # -- listening ---------------------------------------------------------------

    async def listen(self, transport: str, host: str, port: int) -> tuple[str, int]:
        """Bind a listener and start accepting; return the bound address.

        Raises:
            ValueError: TLS/WSS without ``config.tls_server_context``.
            OSError: the address cannot be bound.
        """
        if transport in ("tls", "wss") and self._config.tls_server_context is None:
            raise ValueError(f"listening on {transport} needs TransportConfig.tls_server_context")
        listeners = await trio.open_tcp_listeners(port, host=host)
        bound = _addr(listeners[0].socket.getsockname())
        for listener in listeners:
            self._listeners.append(listener)
            self._nursery.start_soon(self._accept_loop, listener, transport)
        return bound

    async def _accept_loop(self, listener: trio.SocketListener, transport: str) -> None:
        while True:
            try:
                stream = await listener.accept()
            except trio.ClosedResourceError:
                return
            except OSError as exc:  # EMFILE and friends: back off, keep serving
                log.warning("accept failed on %s listener: %s", transport, exc)
                await trio.sleep(0.1)
                continue
            if self._in_use() >= self._config.max_connections:
                self._counters.connections_rejected += 1
                await trio.aclose_forcefully(stream)
                continue
            self._handshaking += 1
            self._nursery.start_soon(self._run_inbound, stream, transport)

    def _in_use(self) -> int:
        return len(self.connections) + len(self._connecting) + self._handshaking

    async def _run_inbound(self, sock_stream: trio.SocketStream, transport: str) -> None:
        try:
            setup = await self._setup_inbound(sock_stream, transport)
        finally:
            self._handshaking -= 1
        if setup is not None:
            conn, initial = setup
            await self._run(conn, initial)

    async def _setup_inbound(
        self, sock_stream: trio.SocketStream, transport: str
    ) -> tuple[Connection, Fed | None] | None:
        config = self._config
        stream: trio.abc.Stream = sock_stream
        try:
            remote = _addr(sock_stream.socket.getpeername())
            local = _addr(sock_stream.socket.getsockname())
            initial: Fed | None = None
            codec: _Codec
            with trio.fail_after(config.handshake_timeout):
                if transport in ("tls", "wss"):
                    assert config.tls_server_context is not None
                    stream = trio.SSLStream(stream, config.tls_server_context, server_side=True)
                    await stream.do_handshake()
                if transport in ("ws", "wss"):
                    codec, initial = await ws_server_handshake(stream, config)
                else:
                    codec = SipStreamCodec(config.limits)
        except _PEER_ERRORS as exc:
            self._counters.connection_errors += 1
            log.debug("inbound %s handshake failed: %s", transport, exc)
            await trio.aclose_forcefully(stream)
            return None
        except Exception:  # pragma: no cover - a bug; keep it inside this connection
            log.exception("inbound %s connection setup crashed", transport)
            await trio.aclose_forcefully(stream)
            return None
        except BaseException:  # cancelled (shutdown): do not leak the socket
            await trio.aclose_forcefully(stream)
            raise
        return self._register(transport, remote, local, stream, codec), initial

    # -- connecting ----------------------------------------------------------------

    def _client_context(self) -> ssl.SSLContext:
        if self._client_ctx is None:
            self._client_ctx = ssl.create_default_context()
        return self._client_ctx

    def lookup(self, flow: Flow) -> Connection | None:
        """The live connection a send on ``flow`` would use, or ``None`` to open one."""
        if flow.conn_id is not None:
            conn = self.connections.get(flow.conn_id)
            if conn is not None:
                return conn
        conn = self._by_remote.get((flow.transport, flow.remote[0], flow.remote[1]))
        if conn is not None and not conn.broken:
            return conn
        return None

    async def _connect(
        self, transport: str, remote: tuple[str, int], server_hostname: str | None
    ) -> Connection:
        key = (transport, remote[0], remote[1])
        while (pending := self._connecting.get(key)) is not None:
            await pending.wait()  # another task is connecting there: share its connection
            conn = self._by_remote.get(key)
            if conn is not None and not conn.broken:
                return conn
        if self._in_use() >= self._config.max_connections:
            self._counters.send_errors += 1
            raise TransportFailure(f"connection limit reached; cannot connect to {remote}")
        done = self._connecting[key] = trio.Event()
        try:
            return await self._open(transport, remote, server_hostname)
        finally:
            del self._connecting[key]
            done.set()

    async def _open(
        self, transport: str, remote: tuple[str, int], server_hostname: str | None
    ) -> Connection:
        config = self._config
        stream: trio.abc.Stream | None = None
        try:
            with trio.fail_after(config.connect_timeout):
                sock_stream = await trio.open_tcp_stream(remote[0], remote[1])
                stream = sock_stream
                local = _addr(sock_stream.socket.getsockname())
                peer = _addr(sock_stream.socket.getpeername())
                if transport in ("tls", "wss"):
                    stream = trio.SSLStream(
                        stream,
                        self._client_context(),
                        server_hostname=server_hostname or remote[0],
                    )
                    await stream.do_handshake()
                initial: Fed | None = None
                codec: _Codec
                if transport in ("ws", "wss"):
                    codec, initial = await ws_client_handshake(
                        stream, server_hostname or remote[0], remote[1], config
                    )
                else:
                    codec = SipStreamCodec(config.limits)
        except _PEER_ERRORS as exc:
            self._counters.send_errors += 1
            if stream is not None:
                await trio.aclose_forcefully(stream)
            raise TransportFailure(
                f"cannot open {transport} connection to {remote[0]}:{remote[1]}: {exc!r}"
            ) from exc
        except BaseException:  # the caller was cancelled: do not leak the socket
            if stream is not None:
                await trio.aclose_forcefully(stream)
            raise
        conn = self._register(transport, peer, local, stream, codec)
        # Keep the caller's spelling of the address for reuse lookups too.
        self._by_remote[(transport, remote[0], remote[1])] = conn
        self._nursery.start_soon(self._run, conn, initial)
        return conn

    # -- the table -----------------------------------------------------------------

    def _register(
        self,
        transport: str,
        remote: tuple[str, int],
        local: tuple[str, int],
        stream: trio.abc.Stream,
        codec: _Codec,
    ) -> Connection:
        conn_id = self._next_id
        self._next_id += 1
        flow = Flow(transport, remote, local, conn_id)
        conn = Connection(flow, stream, codec, trio.current_time())
        self.connections[conn_id] = conn
        self._by_remote[conn.key] = conn
        self._counters.connections_opened += 1
        return conn

    def _unregister(self, conn: Connection) -> None:
        self.connections.pop(conn.flow.conn_id or 0, None)
        for key in [k for k, c in self._by_remote.items() if c is conn]:
            del self._by_remote[key]

    # -- sending -------------------------------------------------------------------

    async def send(self, data: bytes, flow: Flow, server_hostname: str | None = None) -> Flow:
        """Send one SIP message; reuse or open a connection as needed.

        Args:
            data: The serialized message.
            flow: Where to; ``conn_id`` picks a connection, ``None`` means any.
            server_hostname: Name to verify the TLS certificate against (SNI);
                defaults to the remote host.

        Returns:
            The concrete flow used (``conn_id`` set).

        Raises:
            TransportFailure: connecting, the handshake or the write failed.
        """
        conn = self.lookup(flow)
        if conn is None:
            conn = await self._connect(flow.transport, flow.remote, server_hostname)
        await self._write(conn, conn.codec.encode(data))
        self._counters.messages_out += 1
        if conn.broken:
            conn.answered.set()
        return conn.flow

    async def _write(self, conn: Connection, payload: bytes) -> None:
        try:
            async with conn.send_lock:
                with trio.fail_after(self._config.write_timeout):
                    await conn.stream.send_all(payload)
        except _PEER_ERRORS as exc:
            self._counters.send_errors += 1
            conn.scope.cancel()
            raise TransportFailure(f"write on {conn.flow} failed: {exc!r}") from exc
        conn.last_activity = trio.current_time()
        self._counters.bytes_out += len(payload)

    # -- the per-connection task -------------------------------------------------------

    async def _run(self, conn: Connection, initial: Fed | None) -> None:
        graceful = False
        try:
            with conn.scope:
                graceful = await self._read_loop(conn, initial)
        except RemoteProtocolError as err:
            await self._framing_error(conn, err)
        except _PEER_ERRORS as exc:
            self._counters.connection_errors += 1
            log.debug("connection %s lost: %r", conn.flow, exc)
        except Exception:  # pragma: no cover - a bug; keep it inside this connection
            self._counters.connection_errors += 1
            log.exception("connection %s crashed", conn.flow)
        finally:
            self._unregister(conn)
            with trio.CancelScope(shield=True):
                await self._close(conn, graceful)

    async def _read_loop(self, conn: Connection, initial: Fed | None) -> bool:
        """Read and deliver until EOF, reaping or a close; True when it ended cleanly."""
        config = self._config
        stream = conn.stream
        codec = conn.codec
        partial_since: float | None = None
        if initial is not None and await self._handle(conn, initial):
            return True
        while True:
            deadline = conn.last_activity + config.idle_timeout
            if partial_since is not None:
                deadline = min(deadline, partial_since + config.read_timeout)
            with trio.move_on_at(deadline) as timer:
                data = await stream.receive_some(_RECEIVE_SIZE)
            now = trio.current_time()
            if timer.cancelled_caught:
                if partial_since is not None and now >= partial_since + config.read_timeout:
                    # A peer that stalls mid-message holds buffer space: drop it.
                    self._counters.connection_errors += 1
                    log.debug("connection %s stalled mid-message", conn.flow)
                    return False
                if now >= conn.last_activity + config.idle_timeout:
                    self._counters.connections_reaped += 1
                    return True
                continue
            conn.last_activity = now
            self._counters.bytes_in += len(data)
            fed = codec.feed(bytes(data))
            if await self._handle(conn, fed):
                return True
            if not codec.pending:
                partial_since = None
            elif partial_since is None or fed.items:
                partial_since = now

    async def _handle(self, conn: Connection, fed: Fed) -> bool:
        """Deliver what a chunk produced and write any reply; True if the connection must end."""
        counters = self._counters
        for item in fed.items:
            if isinstance(item, bytes):
                inbound = Inbound(conn.flow, data=item)
            else:
                inbound = Inbound(conn.flow, message=item)
            if not await self._deliver(inbound):
                return True
        if fed.reply:
            counters.keepalives += fed.keepalives
            await self._write(conn, fed.reply)
        return fed.close

    async def _deliver(self, inbound: Inbound) -> bool:
        """Put one item in the inbox; False when the inbox is closed."""
        try:
            if self._config.stream_backpressure:
                await self._inbox.send(inbound)
            else:
                self._inbox.send_nowait(inbound)
        except trio.WouldBlock:
            self._counters.inbox_drops += 1
            return True
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return False
        self._counters.messages_in += 1
        return True

    async def _framing_error(self, conn: Connection, err: RemoteProtocolError) -> None:
        """Report a framing error, then give the engine time to answer on this connection."""
        self._counters.parse_errors += 1
        self._counters.connection_errors += 1
        conn.broken = True
        for key in [k for k, c in self._by_remote.items() if c is conn]:
            del self._by_remote[key]
        log.debug("framing error on %s: %s", conn.flow, err)
        try:
            self._inbox.send_nowait(Inbound(conn.flow, error=err))
        except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
            return
        if err.can_answer:
            with trio.move_on_after(self._config.error_linger):
                await conn.answered.wait()

    async def _close(self, conn: Connection, graceful: bool) -> None:
        """Close the stream: a WebSocket close frame and TLS close_notify when graceful."""
        stream = conn.stream
        if not graceful:
            await trio.aclose_forcefully(stream)
            return
        with trio.move_on_after(_CLOSE_GRACE):
            goodbye = conn.codec.close_bytes()
            if goodbye:
                try:
                    async with conn.send_lock:
                        await stream.send_all(goodbye)
                except _PEER_ERRORS:
                    pass
            with contextlib.suppress(*_PEER_ERRORS):
                await stream.aclose()  # closes even when cancelled

    async def aclose(self) -> None:
        """Stop listening and close every connection."""
        for listener in self._listeners:
            await trio.aclose_forcefully(listener)
        for conn in list(self.connections.values()):
            conn.scope.cancel()
