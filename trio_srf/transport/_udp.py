"""SIP over UDP on Trio: one socket and one reader task per bound address.

Rules this module keeps:

* RFC 3261 §18: a datagram is one message. The reader does not parse; it hands
  the bytes to the engine as :class:`~trio_srf.transport._base.Inbound` ``data``
  with ``inbox.send_nowait`` and, when the inbox is full, drops the datagram and
  counts it. A UDP peer retransmits (Timers A/E/G), so dropping under overload is
  the right failure, and a reader never waits on a slow consumer.
* Datagrams holding only whitespace (CRLF keep-alives some UAs send over UDP) are
  counted as keep-alives and not delivered.
* Sends go straight to ``sendto`` from the caller's task instead of through a
  writer task: a UDP send only waits when the (multi-MiB) send buffer is full,
  and then waiting is the back-pressure we want, while a writer task would add
  a task switch and a queue hop to every datagram on the hot path.
* Buffers: SO_RCVBUF/SO_SNDBUF are set to the configured size; as root on Linux
  SO_RCVBUFFORCE/SO_SNDBUFFORCE are tried first to pass ``net.core.rmem_max``.
  The effective size (what ``getsockopt`` reports) is logged.
* IPv6 sockets set IPV6_V6ONLY so a v4 and a v6 listener can share a port.
"""

from __future__ import annotations

import logging
import os
import socket as _stdlib_socket
import sys
from collections.abc import Awaitable, Callable

import trio

from ..core._flow import Flow
from ..errors import TransportFailure
from ._base import Counters, Inbound, TransportConfig

__all__ = ["UdpEndpoint", "open_udp_socket", "set_buffer_sizes"]

log = logging.getLogger("trio_srf.transport")

# Linux-only options (asm-generic/socket.h); Python's socket module lacks the names.
_SO_SNDBUFFORCE = 32
_SO_RCVBUFFORCE = 33

_MAX_DATAGRAM = 65535
# Datagrams the reader handles back to back before it lets other tasks run.
_BURST = 16


def set_buffer_sizes(sock: trio.socket.SocketType, rcvbuf: int, sndbuf: int) -> tuple[int, int]:
    """Ask for ``rcvbuf``/``sndbuf`` bytes of socket buffer, forcing past the cap if allowed.

    Args:
        sock: A UDP socket.
        rcvbuf: Receive buffer size to request.
        sndbuf: Send buffer size to request.

    Returns:
        The effective ``(SO_RCVBUF, SO_SNDBUF)`` as ``getsockopt`` reports them
        (Linux reports twice the requested value, bookkeeping included).
    """
    sol = _stdlib_socket.SOL_SOCKET
    for size, force, plain in (
        (rcvbuf, _SO_RCVBUFFORCE, _stdlib_socket.SO_RCVBUF),
        (sndbuf, _SO_SNDBUFFORCE, _stdlib_socket.SO_SNDBUF),
    ):
        if size <= 0:
            continue
        if sys.platform == "linux":
            try:
                sock.setsockopt(sol, force, size)
                continue
            except OSError:
                pass  # not root (EPERM): fall back to the capped option
        try:
            sock.setsockopt(sol, plain, size)
        except OSError as exc:  # pragma: no cover - platform specific
            log.warning("could not set socket buffer to %d bytes: %s", size, exc)
    effective = (
        sock.getsockopt(sol, _stdlib_socket.SO_RCVBUF),
        sock.getsockopt(sol, _stdlib_socket.SO_SNDBUF),
    )
    return effective


async def open_udp_socket(host: str, port: int, config: TransportConfig) -> trio.socket.SocketType:
    """Create and bind a UDP socket with the configured buffer sizes.

    Args:
        host: Address to bind (IPv4 or IPv6 literal, or a name to resolve).
        port: Port to bind, 0 for ephemeral.
        config: Supplies the buffer sizes.

    Returns:
        The bound Trio socket.
    """
    infos = await trio.socket.getaddrinfo(
        host, port, type=_stdlib_socket.SOCK_DGRAM, flags=_stdlib_socket.AI_PASSIVE
    )
    if not infos:  # pragma: no cover - getaddrinfo raises instead
        raise OSError(f"cannot resolve {host!r}")
    family, type_, proto, _, sockaddr = infos[0]
    sock = trio.socket.socket(family, type_, proto)
    try:
        if family == _stdlib_socket.AF_INET6:
            sock.setsockopt(_stdlib_socket.IPPROTO_IPV6, _stdlib_socket.IPV6_V6ONLY, 1)
        rcv, snd = set_buffer_sizes(sock, config.udp_rcvbuf, config.udp_sndbuf)
        await sock.bind(sockaddr)
    except BaseException:
        sock.close()
        raise
    log.info(
        "UDP %s: SO_RCVBUF=%d SO_SNDBUF=%d (requested %d/%d)",
        sock.getsockname()[:2],
        rcv,
        snd,
        config.udp_rcvbuf,
        config.udp_sndbuf,
    )
    return sock


class UdpEndpoint:
    """One bound UDP socket: a reader task feeding the inbox and a ``send`` method.

    Args:
        sock: The bound socket (the endpoint owns it and closes it).
        inbox: Where received datagrams go.
        counters: Shared counters.
        on_datagram: Optional fast path: awaited in the reader task with each
            datagram; when it returns True the datagram was handled and does
            not go to the inbox (the engine uses this to skip a task switch).
    """

    def __init__(
        self,
        sock: trio.socket.SocketType,
        inbox: trio.MemorySendChannel[Inbound],
        counters: Counters,
        on_datagram: Callable[[Inbound], Awaitable[bool]] | None = None,
    ) -> None:
        self.sock = sock
        # The same socket through a duplicated descriptor, as a plain non-blocking
        # socket object for send_nowait (its own lifetime; closed in close()).
        self._raw = _stdlib_socket.socket(fileno=os.dup(sock.fileno()))
        self._raw.setblocking(False)
        self.family = sock.family
        name = sock.getsockname()
        self.local: tuple[str, int] = (name[0], name[1])
        self._inbox = inbox
        self._counters = counters
        self._on_datagram = on_datagram
        # Flows are immutable: reuse one per recent peer instead of building one per datagram.
        self._flows: dict[tuple[str, int], Flow] = {}

    def _flow_for(self, addr: tuple[str, int]) -> Flow:
        flow = self._flows.get(addr)
        if flow is None:
            if len(self._flows) >= 4096:
                self._flows.clear()
            flow = self._flows[addr] = Flow("udp", addr, self.local)
        return flow

    async def serve(self) -> None:
        """Read datagrams until the socket closes or the inbox's receiver is gone.

        Datagrams are read with a plain non-blocking ``recvfrom`` for as long as
        the kernel has some, and the task only parks in ``wait_readable`` when the
        socket is empty: Trio's ``sock.recvfrom`` would add a scheduler round trip
        (a checkpoint) to every datagram. To stay fair to other tasks under a
        flood, the reader still checkpoints after every ``_BURST`` datagrams.
        """
        sock = self.sock
        recvfrom = self._raw.recvfrom
        counters = self._counters
        inbox = self._inbox
        burst = 0
        while True:
            try:
                data, address = recvfrom(_MAX_DATAGRAM)
            except BlockingIOError:
                burst = 0
                try:
                    await trio.lowlevel.wait_readable(sock)
                except trio.ClosedResourceError:
                    return
                continue
            except OSError as exc:
                # ICMP errors can surface on the next recvfrom (ECONNREFUSED on some
                # platforms); they concern an earlier send, not this socket.
                if sock.fileno() == -1 or self._raw.fileno() == -1:
                    return
                log.debug("UDP recvfrom error on %s: %s", self.local, exc)
                await trio.lowlevel.checkpoint()
                continue
            burst += 1
            if burst >= _BURST:
                burst = 0
                await trio.lowlevel.checkpoint()
            if not data.strip(b"\r\n \t"):
                counters.keepalives += 1
                continue
            flow = self._flow_for((address[0], address[1]))
            item = Inbound(flow, data=data)
            handler = self._on_datagram
            if handler is not None and await handler(item):
                continue
            try:
                inbox.send_nowait(item)
            except trio.WouldBlock:
                counters.inbox_drops += 1
                continue
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return
            counters.messages_in += 1
            counters.bytes_in += len(data)

    async def send(self, data: bytes, remote: tuple[str, int]) -> Flow:
        """Send one datagram to ``remote``.

        Returns:
            The flow used (``local`` is this socket's address).

        Raises:
            TransportFailure: the kernel refused the send (no route, message too
                big for a datagram, socket closed).
        """
        try:
            await self.sock.sendto(data, remote)
        except (OSError, trio.ClosedResourceError) as exc:
            self._counters.send_errors += 1
            raise TransportFailure(f"UDP send to {remote[0]}:{remote[1]} failed: {exc}") from exc
        self._counters.messages_out += 1
        self._counters.bytes_out += len(data)
        return self._flow_for((remote[0], remote[1]))

    def send_nowait(self, data: bytes, remote: tuple[str, int]) -> bool:
        """Send one datagram now if the kernel takes it without waiting.

        A UDP ``sendto`` into a multi-MiB buffer almost never blocks; doing it
        synchronously saves the scheduler round trip Trio's ``sendto`` makes
        (a checkpoint per datagram). Returns False when the send would block,
        and the caller falls back to :meth:`send`.

        Raises:
            TransportFailure: the kernel refused the send.
        """
        try:
            self._raw.sendto(data, remote)
        except BlockingIOError:
            return False
        except OSError as exc:
            self._counters.send_errors += 1
            raise TransportFailure(f"UDP send to {remote[0]}:{remote[1]} failed: {exc}") from exc
        self._counters.messages_out += 1
        self._counters.bytes_out += len(data)
        return True

    def close(self) -> None:
        """Close the socket (the reader task then returns)."""
        self._raw.close()
        self.sock.close()
