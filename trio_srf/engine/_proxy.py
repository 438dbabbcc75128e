"""The engine's side of the stateful proxy: next-hop resolution and the awaitable ``proxy()``.

Rules this module keeps:

* The proxy logic is sans-IO (``core/_proxy.py``); this module only does
  what needs I/O: resolving a branch's next hop (RFC 3263) and the first
  transmission of its request, so that a connect failure counts as a 503 for
  that branch (RFC 3261 §16.9), plus waking the task that awaits the outcome.
* It runs inside the engine's core loop for events (synchronous, no
  awaiting) and in short tasks of the engine nursery for resolution; like the
  engine, it never blocks the core loop.
* A next hop that needs no I/O (an IP literal over UDP, the common case for a
  proxy with numeric targets and for record-routed in-dialog requests) is
  resolved synchronously: the context starts the branch at once (see
  ``set_hop_flow``) and an ACK is forwarded inline, so no task is spawned and
  the bytes leave with the engine's next flush. UDP has no connect step, so
  nothing of the §16.9 "connect failure is a 503" rule is lost; TCP/TLS/WS
  hops and host names still go through a resolution task.
* The stack learns our addresses (``SipStack.local_addresses``) from the
  listening endpoints, so in-dialog requests and ACKs that carry our
  Record-Route come back through us and are forwarded without the app.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

import trio

from ..core import Flow
from ..core._events import Event, ProxyFinished, ProxyHopNeeded, ProxyOutcome, StatelessForward
from ..core._proxy import ProxyOptions, set_hop_flow
from ..errors import AgentLost, LocalProtocolError, ProtocolError, TransportFailure
from ..sip import Request, SipURI, parse_uri
from ..transport import Target

_HOP_CACHE_SIZE = 1024

if TYPE_CHECKING:
    from ._engine import Engine

__all__ = ["ProxyDriver", "ProxyOutcome"]


class ProxyDriver:
    """Connects the stack's proxy contexts to transports and to awaiting tasks."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._waiters: dict[str, trio.Event] = {}
        self.forwarded_stateless = 0
        """ACKs (and other transaction-less requests) forwarded."""
        self._hop_cache: dict[str, Flow | None] = {}
        stack = engine._stack
        for lst in engine._tm.listening:
            stack.local_addresses.add(_norm(lst.host, lst.port))
            stack.local_addresses.add(_norm(*engine._local_for(lst.transport)))
        self._udp = "udp" in engine._resolver.transports and any(
            lst.transport == "udp" for lst in engine._tm.listening
        )
        set_hop_flow(stack, self.hop_flow)

    # -- the awaitable operation ----------------------------------------------------------

    async def proxy(
        self,
        server_txn: str,
        targets: Sequence[str],
        *,
        record_route: bool = False,
        forking: str = "sequential",
        follow_redirects: bool = False,
        provisional_timeout: float | None = None,
        final_timeout: float | None = None,
        headers: Sequence[tuple[str, str]] = (),
    ) -> ProxyOutcome:
        """See :meth:`Engine.proxy`."""
        engine = self._engine
        if engine._closed:
            raise AgentLost("engine closed")
        options = ProxyOptions(
            record_route=record_route,
            forking=forking,
            follow_redirects=follow_redirects,
            provisional_timeout=provisional_timeout,
            final_timeout=final_timeout,
            headers=tuple(headers),
        )
        stack = engine._stack
        ctx = stack.start_proxy(server_txn, list(targets), trio.current_time(), options)
        done = trio.Event()
        self._waiters[ctx.id] = done
        if stack._events:
            engine._kick()  # events (a hop to resolve, a rejection) go out from the core loop
        try:
            # Branches started inline queued their requests: send them from this task.
            await engine._flush(checkpoint=False)
            if ctx.outcome is None:
                await done.wait()
        except BaseException:
            # The awaiting task was cancelled: treat it like the caller's CANCEL.
            self._waiters.pop(ctx.id, None)
            if ctx.outcome is None:
                ctx.cancel(trio.current_time())
                engine._kick()
            raise
        if ctx.outcome is None:
            raise AgentLost("engine closed")
        return ctx.outcome

    # -- events from the stack (core loop) ------------------------------------------------

    def handle_event(self, event: Event) -> bool:
        """Consume a proxy event; return whether it was one."""
        if isinstance(event, ProxyHopNeeded):
            self._engine._nursery.start_soon(self._start_branch, event)
            return True
        if isinstance(event, StatelessForward):
            flow = self.hop_flow(event.next_hop)
            if flow is None:
                self._engine._nursery.start_soon(self._forward, event.request, event.next_hop)
            else:
                # §16.11 inline: the engine sends the stack's queue after its events.
                self._forward_on(event.request, flow)
            return True
        if isinstance(event, ProxyFinished):
            waiter = self._waiters.pop(event.proxy_id, None)
            if waiter is not None:
                waiter.set()
            return True
        return False

    def close(self) -> None:
        """Wake every awaiting task (the engine is closing)."""
        for waiter in self._waiters.values():
            waiter.set()
        self._waiters.clear()

    # -- resolution ---------------------------------------------------------------------

    def hop_flow(self, next_hop: str) -> Flow | None:
        """The flow for ``next_hop`` when it resolves without I/O, else ``None``.

        Only a ``sip:`` URI whose host (or ``maddr``) is an IP literal and whose
        transport is UDP (given or default, RFC 3263 §4.1) qualifies, which is
        what :class:`Resolver` would answer with no lookup.
        """
        if not self._udp:
            return None
        cache = self._hop_cache
        if next_hop in cache:
            return cache[next_hop]
        flow: Flow | None = None
        try:
            uri = parse_uri(next_hop)
        except ProtocolError:
            uri = None
        if isinstance(uri, SipURI):
            targets = self._engine._resolver.resolve_literal(uri)
            if targets and targets[0].transport == "udp":
                flow = self._engine._flow_for(targets[0])
        if len(cache) >= _HOP_CACHE_SIZE:
            cache.clear()
        cache[next_hop] = flow
        return flow

    async def _resolve(self, next_hop: str) -> Target | None:
        try:
            uri = parse_uri(next_hop)
        except ProtocolError:
            return None
        if not isinstance(uri, SipURI):
            return None
        try:
            targets = await self._engine._resolver.resolve(uri)
        except (OSError, ProtocolError, TransportFailure):
            return None
        return targets[0] if targets else None

    async def _start_branch(self, event: ProxyHopNeeded) -> None:
        engine = self._engine
        stack = engine._stack
        target = await self._resolve(event.next_hop)
        ctx = stack.proxy_context(event.proxy_id)
        if ctx is None:
            return
        now = trio.current_time()
        if target is None:
            ctx.branch_failed(event.branch, now)
            engine._kick()
            return
        flow = engine._flow_for(target)
        try:
            txn_id = ctx.start_branch(event.branch, flow, now)
        except LocalProtocolError:
            engine._kick()
            return
        if txn_id is None:
            engine._kick()
            return
        # Send the branch's request ourselves so a connect failure is its 503.
        transmits = stack.outgoing()
        ours = transmits.pop() if transmits else None
        for other in transmits:
            await engine._transmit(other)
        if ours is not None:
            try:
                await engine._tm.send(ours.data, ours.flow, server_hostname=target.server_name)
            except TransportFailure:
                engine._send_errors += 1
                stack.transport_error(txn_id, trio.current_time())
        engine._kick()

    async def _forward(self, request: Request, next_hop: str) -> None:
        engine = self._engine
        target = await self._resolve(next_hop)
        if target is None:
            return
        self._forward_on(request, engine._flow_for(target))
        engine._kick()

    def _forward_on(self, request: Request, flow: Flow) -> None:
        with contextlib.suppress(LocalProtocolError, ProtocolError):
            self._engine._stack.forward_stateless(request, flow)
            self.forwarded_stateless += 1


def _norm(host: str, port: int) -> tuple[str, int]:
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if host == "0.0.0.0":
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return host.lower(), port
