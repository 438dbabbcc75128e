"""An in-memory, seeded, lossy UDP network for engine tests under a mock clock.

Real sockets and ``MockClock(autojump_threshold=0)`` do not mix: the clock jumps
while a datagram is in flight. :class:`LoopbackNetwork` replaces the sockets
with memory: each engine gets a :class:`LoopbackTransports` (an implementation
of :class:`trio_srf.transport.Transports`) bound to an address, and every
datagram between them goes through one seeded :class:`random.Random` that may
drop it, duplicate it, or delay it (which reorders it against later ones),
like Trio's own ``test_handshake_over_terrible_network``. Delays are
``trio.sleep`` calls, so under an autojump clock a run with RFC 3261's real
timers (T1 = 500 ms, 64*T1 = 32 s) takes milliseconds and is repeatable for a
seed.

Usage::

    net = LoopbackNetwork(seed=7, drop=0.2, duplicate=0.1, max_delay=0.3)
    async with open_engine(transports=net.transports("127.0.0.1", 5060)) as a, \\
               open_engine(transports=net.transports("127.0.0.2", 5060)) as b:
        ...

No packet ever leaves the process.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import attrs
import trio

from ..core import Flow
from ..errors import TransportFailure
from ..transport import Inbound, Listening, TransportStatistics

__all__ = ["LoopbackNetwork", "LoopbackTransports", "NetworkStatistics"]


@attrs.define
class NetworkStatistics:
    """What the network did to the datagrams it carried.

    Attributes:
        sent: Datagrams handed to the network.
        dropped: Datagrams it discarded.
        duplicated: Datagrams it delivered twice.
        delayed: Copies it held back (and so possibly reordered).
        delivered: Copies that reached a bound address.
        unreachable: Copies addressed to nobody (dropped, as UDP would).
    """

    sent: int = 0
    dropped: int = 0
    duplicated: int = 0
    delayed: int = 0
    delivered: int = 0
    unreachable: int = 0


class LoopbackTransports:
    """One host's transports on a :class:`LoopbackNetwork` (UDP only)."""

    def __init__(
        self,
        network: LoopbackNetwork,
        address: tuple[str, int],
        inbox: trio.MemorySendChannel[Inbound],
        nursery: trio.Nursery,
    ) -> None:
        self.listening: list[Listening] = [Listening("udp", address[0], address[1])]
        self.on_datagram: Callable[[Inbound], Awaitable[bool]] | None = None
        self.address = address
        self._network = network
        self._inbox = inbox
        self._nursery = nursery
        self._sent = 0
        self._received = 0
        self._drops = 0

    async def send(self, data: bytes, flow: Flow, *, server_hostname: str | None = None) -> Flow:
        """Hand a datagram to the network; return the flow used."""
        if not self.send_nowait(data, flow):  # pragma: no cover - send_nowait always sends
            raise TransportFailure("loopback send failed")
        await trio.lowlevel.checkpoint()
        return Flow("udp", flow.remote, self.address)

    def send_nowait(self, data: bytes, flow: Flow) -> bool:
        """Hand a datagram to the network (never blocks)."""
        if flow.transport != "udp":
            raise TransportFailure(f"the loopback network carries UDP only, not {flow.transport}")
        self._sent += 1
        self._network._carry(self.address, flow.remote, data)
        return True

    def lookup(self, flow: Flow) -> Flow | None:
        """UDP needs no connection: every flow is usable as is."""
        return flow

    def statistics(self) -> TransportStatistics:
        """Counters in the shape of the real transports'."""
        return TransportStatistics(
            connections=0,
            connections_opened=0,
            connections_rejected=0,
            connections_reaped=0,
            connection_errors=0,
            messages_in=self._received,
            messages_out=self._sent,
            bytes_in=0,
            bytes_out=0,
            inbox_drops=self._drops,
            parse_errors=0,
            keepalives=0,
            send_errors=0,
        )

    def _arrive(self, data: bytes, source: tuple[str, int], delay: float) -> None:
        self._nursery.start_soon(self._deliver, data, source, delay)

    async def _deliver(self, data: bytes, source: tuple[str, int], delay: float) -> None:
        if delay > 0:
            await trio.sleep(delay)
        self._received += 1
        item = Inbound(Flow("udp", source, self.address), data=data)
        handler = self.on_datagram
        if handler is not None and await handler(item):
            return
        try:
            self._inbox.send_nowait(item)
        except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
            self._drops += 1


class LoopbackNetwork:
    """A seeded in-memory datagram network that can drop, duplicate and delay.

    Args:
        seed: Seed of the one random generator every decision comes from.
        drop: Probability that a datagram is discarded.
        duplicate: Probability that a (surviving) datagram is delivered twice.
        max_delay: Each copy is delayed uniformly in ``[0, max_delay]`` seconds
            (0: delivered at the next scheduling point, in order).
        max_consecutive_drops: Cap on drops in a row between the same two
            hosts, so a test can bound how long a transaction may starve
            (``None``: no cap; then a transaction may legitimately time out).
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        drop: float = 0.0,
        duplicate: float = 0.0,
        max_delay: float = 0.0,
        max_consecutive_drops: int | None = None,
    ) -> None:
        self._rng = random.Random(seed)
        self.drop = drop
        self.duplicate = duplicate
        self.max_delay = max_delay
        self.max_consecutive_drops = max_consecutive_drops
        self.stats = NetworkStatistics()
        self._hosts: dict[tuple[str, int], LoopbackTransports] = {}
        self._drop_runs: dict[tuple[tuple[str, int], tuple[str, int]], int] = {}

    def transports(
        self, host: str = "127.0.0.1", port: int = 5060
    ) -> Callable[
        [trio.MemorySendChannel[Inbound]], AbstractAsyncContextManager[LoopbackTransports]
    ]:
        """A factory for ``open_engine(transports=...)`` binding ``host:port``."""

        @asynccontextmanager
        async def factory(
            inbox: trio.MemorySendChannel[Inbound],
        ) -> AsyncIterator[LoopbackTransports]:
            address = (host, port)
            if address in self._hosts:
                raise OSError(f"address {host}:{port} already bound on this network")
            async with trio.open_nursery() as nursery:
                tm = LoopbackTransports(self, address, inbox, nursery)
                self._hosts[address] = tm
                try:
                    yield tm
                finally:
                    del self._hosts[address]
                    nursery.cancel_scope.cancel()

        return factory

    def _carry(self, source: tuple[str, int], dest: tuple[str, int], data: bytes) -> None:
        rng = self._rng
        stats = self.stats
        stats.sent += 1
        path = (source, dest)
        if rng.random() < self.drop:
            run = self._drop_runs.get(path, 0)
            cap = self.max_consecutive_drops
            if cap is None or run < cap:
                self._drop_runs[path] = run + 1
                stats.dropped += 1
                return
        self._drop_runs[path] = 0
        copies = 2 if rng.random() < self.duplicate else 1
        if copies == 2:
            stats.duplicated += 1
        host = self._hosts.get(dest)
        for _ in range(copies):
            delay = rng.uniform(0.0, self.max_delay) if self.max_delay > 0 else 0.0
            if delay > 0:
                stats.delayed += 1
            if host is None:
                stats.unreachable += 1
                continue
            stats.delivered += 1
            host._arrive(data, source, delay)
