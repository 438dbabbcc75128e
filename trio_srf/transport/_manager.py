"""The transport manager: every listener and connection of one engine, in one nursery.

Rules this module keeps:

* ``open_transports(specs, config, inbox)`` binds every listen spec before the
  body runs (so ``tm.listening`` holds the real ports), runs every reader in its
  own nursery and closes everything on exit. Background tasks never raise (each
  connection catches its own failures), so an exception leaving the body is the
  body's own, re-raised unwrapped rather than inside an ExceptionGroup.
* ``send(data, flow)`` is the only way down. UDP picks the socket named by
  ``flow.local`` (or any socket of the right address family, opening an
  ephemeral one for a UAC-only process); stream transports reuse or open a
  connection (RFC 3261 §18.1.1, §18.2.2) and return the concrete flow.
* Failures to deliver raise :class:`~trio_srf.errors.TransportFailure`, which
  RFC 3261 §8.1.3.1 treats like a 503: the engine fails over to the next target.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager

import trio

from ..core._flow import Flow
from ..errors import TransportFailure
from ._base import (
    Counters,
    Inbound,
    Listening,
    ListenSpec,
    TransportConfig,
    TransportStatistics,
    parse_listen_spec,
)
from ._stream import StreamTransports
from ._udp import UdpEndpoint, open_udp_socket

__all__ = ["TransportManager", "open_transports"]


class TransportManager:
    """All transports of one engine. Create it with :func:`open_transports`.

    Attributes:
        listening: Bound endpoints, one per (spec, transport), real ports included.
        config: The configuration in use.
    """

    def __init__(
        self,
        nursery: trio.Nursery,
        config: TransportConfig,
        inbox: trio.MemorySendChannel[Inbound],
        on_datagram: Callable[[Inbound], Awaitable[bool]] | None = None,
    ) -> None:
        self.config = config
        self.on_datagram = on_datagram
        self.listening: list[Listening] = []
        self._nursery = nursery
        self._inbox = inbox
        self._counters = Counters()
        self._udp: list[UdpEndpoint] = []
        self._udp_by_local: dict[tuple[str, int], UdpEndpoint] = {}
        self._streams = StreamTransports(nursery, inbox, self._counters, config)
        self._closed = False

    async def _listen(self, spec: ListenSpec) -> None:
        for transport in spec.transports:
            if transport == "udp":
                endpoint = await self._add_udp(spec.host, spec.port)
                host, port = endpoint.local
            else:
                host, port = await self._streams.listen(transport, spec.host, spec.port)
            self.listening.append(Listening(transport, host, port))

    async def _add_udp(self, host: str, port: int) -> UdpEndpoint:
        sock = await open_udp_socket(host, port, self.config)
        endpoint = UdpEndpoint(sock, self._inbox, self._counters, self._direct)
        self._udp.append(endpoint)
        self._udp_by_local[endpoint.local] = endpoint
        self._nursery.start_soon(endpoint.serve)
        return endpoint

    async def _direct(self, item: Inbound) -> bool:
        handler = self.on_datagram
        return handler is not None and await handler(item)

    async def _udp_endpoint(self, flow: Flow) -> UdpEndpoint:
        endpoint = self._udp_by_local.get(flow.local)
        if endpoint is not None:
            return endpoint
        v6 = ":" in flow.remote[0]
        for endpoint in self._udp:
            if (endpoint.family == trio.socket.AF_INET6) == v6:
                return endpoint
        # No listener of this family: a client-only process still needs a socket.
        try:
            return await self._add_udp("::" if v6 else "0.0.0.0", 0)
        except OSError as exc:
            self._counters.send_errors += 1
            raise TransportFailure(f"cannot open a UDP socket: {exc}") from exc

    async def send(self, data: bytes, flow: Flow, *, server_hostname: str | None = None) -> Flow:
        """Send one serialized SIP message on ``flow``.

        Args:
            data: The message bytes.
            flow: The destination. ``remote`` must be an IP address (IPv6
                without brackets); ``conn_id`` selects a stream connection, and
                ``None`` reuses any live connection to ``remote`` or opens one.
            server_hostname: For TLS/WSS, the name the server's certificate must
                match (the SIP domain, RFC 5922); defaults to the remote address.

        Returns:
            The concrete flow used: for streams with ``conn_id`` set and the
            real local address, for UDP with the sending socket's address.

        Raises:
            TransportFailure: the message could not be sent (connect, TLS or
                WebSocket handshake failure, reset, UDP send error, closed manager).
        """
        if self._closed:
            raise TransportFailure("transports are closed")
        if flow.remote[0].startswith("["):
            flow = Flow(
                flow.transport, (flow.remote[0][1:-1], flow.remote[1]), flow.local, flow.conn_id
            )
        if flow.transport == "udp":
            endpoint = await self._udp_endpoint(flow)
            return await endpoint.send(data, flow.remote)
        if flow.transport not in ("tcp", "tls", "ws", "wss"):
            raise TransportFailure(f"unknown transport {flow.transport!r}")
        return await self._streams.send(data, flow, server_hostname)

    def send_nowait(self, data: bytes, flow: Flow) -> bool:
        """Send a UDP datagram synchronously if a socket for ``flow`` exists and has room.

        Returns False (nothing sent) for stream flows, when no socket of the
        flow's family is bound, or when the send would block: then use
        :meth:`send`.

        Raises:
            TransportFailure: the kernel refused the datagram.
        """
        if flow.transport != "udp" or self._closed:
            return False
        endpoint = self._udp_by_local.get(flow.local)
        if endpoint is None:
            return False
        remote = flow.remote
        if remote[0].startswith("["):
            remote = (remote[0][1:-1], remote[1])
        return endpoint.send_nowait(data, remote)

    def lookup(self, flow: Flow) -> Flow | None:
        """The flow a stream send would reuse, or ``None`` if it would have to connect.

        Lets the engine send on existing connections from its core loop and
        move sends that need a new connection (which can take up to
        ``connect_timeout``) to a separate task. UDP flows are returned as is.
        """
        if flow.transport == "udp":
            return flow
        conn = self._streams.lookup(flow)
        return conn.flow if conn is not None else None

    def statistics(self) -> TransportStatistics:
        """Counters since start, plus the number of live stream connections."""
        return self._counters.snapshot(connections=len(self._streams.connections))

    async def aclose(self) -> None:
        """Close every socket and connection; idempotent."""
        if self._closed:
            return
        self._closed = True
        for endpoint in self._udp:
            endpoint.close()
        await self._streams.aclose()
        self._nursery.cancel_scope.cancel()


@asynccontextmanager
async def open_transports(
    specs: Sequence[str | ListenSpec],
    config: TransportConfig | None = None,
    *,
    inbox: trio.MemorySendChannel[Inbound],
) -> AsyncIterator[TransportManager]:
    """Bind every listen spec and run the transports for the duration of the block.

    Args:
        specs: Listen specs (strings in drachtio syntax or :class:`ListenSpec`);
            may be empty for a client-only process.
        config: Transport configuration (defaults to :class:`TransportConfig()`).
        inbox: Where received messages go (the engine's bounded inbox).

    Yields:
        The running :class:`TransportManager`.

    Raises:
        ValueError: a spec is malformed, or TLS is requested without a context.
        OSError: an address could not be bound.
    """
    parsed = [s if isinstance(s, ListenSpec) else parse_listen_spec(s) for s in specs]
    cfg = config if config is not None else TransportConfig()
    try:
        async with trio.open_nursery() as nursery:
            tm = TransportManager(nursery, cfg, inbox)
            try:
                for spec in parsed:
                    await tm._listen(spec)
                yield tm
            finally:
                await tm.aclose()
    except BaseExceptionGroup as group:
        # Only the body can raise (connection tasks catch their own errors):
        # hand its exception back as itself, not wrapped in a group.
        if len(group.exceptions) == 1:
            raise group.exceptions[0] from None
        raise
