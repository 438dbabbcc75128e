"""The embedded SIP engine: a SipStack driven by Trio, serving the Agent boundary.

Shape (ARCHITECTURE §5)::

    open_engine(...)                engine nursery
    ├── transports                  UDP/TCP/TLS/WS readers push Inbound items into the inbox
    └── core loop (1 task)          sole driver of the SipStack: feed inbox items, run timers,
                                    dispatch events to channels, transmit outgoing bytes

Rules this module keeps:

* **One place sends.** Every byte the stack queues is transmitted by the core
  loop, in order. Application tasks call the (synchronous, non-blocking) stack
  methods and *kick* the loop; Trio never preempts sync code, so there are no
  locks. The one exception is the first transmission of a new client request,
  which its caller performs so that a connect/TLS failure is reported to that
  request at once (RFC 3263 failover needs it).
* **Nothing blocks the loop.** Fan-out uses ``send_nowait``: a full incoming
  channel gets the request answered 503 + Retry-After; a full dialog channel
  gets 500 + Retry-After (drachtio-srf's answer to an unhandled in-dialog
  request it cannot queue); a full inbox drops datagrams (counted). A send that
  needs a new connection runs in its own task.
* **Failures stay local.** A malformed datagram is answered or dropped by the
  stack; a stream framing error is answered (when routable) and costs only
  that connection; an exception while sending is counted, never raised into
  the engine's nursery.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import math
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

import attrs
import trio

from .._notices import deliver_notice
from ..agent import AckReceived, DialogEnded, IncomingRequest, Notice, RequestCancelled
from ..core import (
    AckReceived as CoreAckReceived,
    AckTimeout,
    CancelReceived,
    Dialog,
    DialogId,
    DialogTerminated,
    Flow,
    RequestReceived,
    ResponseReceived,
    SipStack,
    StackStatistics,
    TransactionTerminated,
    TransactionTimeout,
    Transmit,
    TransportFailed,
)
from ..errors import (
    AgentLost,
    LocalProtocolError,
    RemoteProtocolError,
    RequestTimeout,
    TransportFailure,
)
from ..sip import AbsoluteURI, Request, Response, SipURI, TelURI, parse_uri
from ..transport import (
    Inbound,
    Listening,
    Resolver,
    Target,
    Transports,
    TransportStatistics,
    open_transports,
)
from ._config import EngineConfig
from ._proxy import ProxyDriver, ProxyOutcome

__all__ = ["ClientTransaction", "Engine", "EngineStatistics", "open_engine"]

logger = logging.getLogger("trio_srf.engine")

#: Builds the transports an engine runs on, given the engine's inbox.
TransportFactory = Callable[
    [trio.MemorySendChannel[Inbound]], contextlib.AbstractAsyncContextManager[Transports]
]

_WAKE = object()

#: IP-literal next hops whose resolution is remembered (the table empties when full).
_HOP_CACHE_SIZE = 256

# Methods whose requests carry a Contact (RFC 3261 §8.1.1.8, RFC 3265, RFC 3515).
_CONTACT_METHODS = frozenset({"INVITE", "SUBSCRIBE", "REFER", "REGISTER", "NOTIFY", "UPDATE"})


def dialog_key(did: DialogId) -> str:
    """The opaque string id of a dialog (Call-ID, local tag, remote tag)."""
    return f"{did.call_id};{did.local_tag};{did.remote_tag}"


@attrs.frozen
class EngineStatistics:
    """Counters of a running engine.

    Attributes:
        stack: The SipStack's counters and table sizes.
        transport: The transports' counters.
        inbox_drops: Items dropped because the inbox was full.
        overload_503: New requests answered 503 because the app was behind.
        dialog_overload_500: In-dialog requests answered 500 (dialog queue full).
        send_errors: Transmissions that failed.
        client_handles: Live client transaction handles.
        attached_dialogs: Dialogs with an attached channel.
        internal_errors: Bugs caught and logged instead of stopping the engine.
    """

    stack: StackStatistics
    transport: TransportStatistics
    inbox_drops: int
    overload_503: int
    dialog_overload_500: int
    send_errors: int
    client_handles: int
    attached_dialogs: int
    internal_errors: int = 0


class ClientTransaction:
    """A request the engine sent: iterate its responses; cancel an INVITE.

    Iteration yields every response in order and ends after the final one.
    RFC 3263 §4.3 failover is built in: a 503, a timeout or a transport
    failure before any provisional response moves the request to the next
    resolved target with a fresh branch.
    """

    def __init__(self, engine: Engine, template: Request, targets: list[Target]) -> None:
        self._engine = engine
        self._template = template
        self._targets = targets
        self._send, self._recv = trio.open_memory_channel[Response | Exception](64)
        self._id = ""
        self._request: Request = template
        self._got_provisional = False
        self._done = False
        self.dialog_id: str | None = None
        """The dialog a 2xx (or tagged 1xx) to this request established, if any."""

    @property
    def id(self) -> str:
        """The current client transaction id (changes on failover)."""
        return self._id

    @property
    def request(self) -> Request:
        """The request as sent (on the current target)."""
        return self._request

    async def _start_next(self) -> bool:
        """Send on the next target that accepts the bytes; False if none is left."""
        engine = self._engine
        while self._targets:
            target = self._targets.pop(0)
            request = self._template.copy()
            flow = engine._flow_for(target)
            engine._complete_request(request, flow)
            try:
                txn_id = engine._stack.send_request(request, flow, trio.current_time())
            except LocalProtocolError:
                raise
            self._id = txn_id
            self._request = request
            engine._clients[txn_id] = self
            transmits = engine._stack.outgoing()
            ours = transmits.pop() if transmits else None
            for other in transmits:
                await engine._transmit(other)
            if ours is None:
                return True
            try:
                # A UDP datagram goes out synchronously when the socket has room; no
                # yield either way (the caller's next await on the handle yields).
                if not engine._tm.send_nowait(ours.data, ours.flow):
                    await engine._tm.send(ours.data, ours.flow, server_hostname=target.server_name)
                await engine._flush(checkpoint=False)
                return True
            except TransportFailure:
                engine._send_errors += 1
                engine._clients.pop(txn_id, None)
                engine._stack.transport_error(txn_id)
                engine._kick()
        return False

    def _deliver(self, item: Response | Exception) -> None:
        with contextlib.suppress(
            trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError
        ):
            self._send.send_nowait(item)

    def __aiter__(self) -> ClientTransaction:
        return self

    async def __anext__(self) -> Response:
        """Return the next response; stop after the final one (RFC 3263 failover inside)."""
        while not self._done:
            item = await self._recv.receive()
            failover = False
            if isinstance(item, Exception):
                failover = isinstance(item, RequestTimeout | TransportFailure)
            elif item.status == 503:
                failover = True
            if failover and not self._got_provisional and self._targets:
                self._engine._clients.pop(self._id, None)
                if await self._start_next():
                    continue
            if isinstance(item, Exception):
                self._done = True
                raise item
            if item.status < 200:
                if item.status > 100:
                    self._got_provisional = True
            else:
                self._done = True
            return item
        raise StopAsyncIteration

    async def final(self) -> Response:
        """Wait for and return the final response (provisionals are skipped)."""
        async for response in self:
            if response.status >= 200:
                return response
        raise RequestTimeout()  # pragma: no cover - iteration always ends in a final

    def cancel(self) -> None:
        """CANCEL a pending INVITE (RFC 3261 §9.1); the stack waits for a 1xx first."""
        if self._done or not self._id:
            return
        self._targets = []
        cancel_id = self._engine._stack.cancel(self._id, trio.current_time())
        if cancel_id is not None:
            self._engine._kick()


class Engine:
    """The embedded SIP engine (an :class:`~trio_srf.agent.Agent`). Use :func:`open_engine`.

    Attributes:
        incoming: Channel of :data:`~trio_srf.agent.Notice` items for the
            application: new requests, CANCEL notices, and in-dialog requests
            and notices of dialogs nobody attached.
        listening: The bound listen endpoints.
    """

    def __init__(
        self,
        config: EngineConfig,
        tm: Transports,
        nursery: trio.Nursery,
        inbox_send: trio.MemorySendChannel[Any],
        inbox_recv: trio.MemoryReceiveChannel[Any],
    ) -> None:
        self.config = config
        self._tm = tm
        self._nursery = nursery
        self._inbox_send = inbox_send
        self._inbox_recv = inbox_recv
        self._stack = SipStack(config.timers, limits=config.transport.limits)
        self._incoming_send, self.incoming = trio.open_memory_channel[Notice](config.incoming_size)
        self._resolver = Resolver(transports=[lst.transport for lst in tm.listening] or ["udp"])
        self._clients: dict[str, ClientTransaction] = {}
        self._dialog_ids: dict[str, DialogId] = {}
        self._dialog_chans: dict[str, trio.MemorySendChannel[Notice]] = {}
        # The dialog key of the response the engine handled last (received on a client
        # transaction, or sent by respond), with the side: dialog_id_for's usual question
        # is about exactly that response, whose tags the stack has already matched.
        self._last_dialog: tuple[Response, bool, str] | None = None
        # Next hops (text) that are IP literals -> their targets (RFC 3263 §4: no lookup).
        self._hop_targets: dict[str, list[Target]] = {}
        self._closed = False
        self._overload_503 = 0
        self._dialog_500 = 0
        self._send_errors = 0
        self._internal_errors = 0
        # What the core loop sleeps until (-inf while it is busy: no kick needed).
        self._sleep_until = -math.inf
        self._proxy = ProxyDriver(self)

    # -- introspection -------------------------------------------------------

    @property
    def listening(self) -> list[Listening]:
        """The bound endpoints (real ports when port 0 was asked for)."""
        return list(self._tm.listening)

    @property
    def stack(self) -> SipStack:
        """The sans-IO stack (for inspection in tests; do not drive it directly)."""
        return self._stack

    def statistics(self) -> EngineStatistics:
        """Counters: messages, retransmissions, drops, parse errors, live tables."""
        transport = self._tm.statistics()
        return EngineStatistics(
            stack=self._stack.statistics(),
            transport=transport,
            inbox_drops=transport.inbox_drops,
            overload_503=self._overload_503,
            dialog_overload_500=self._dialog_500,
            send_errors=self._send_errors,
            client_handles=len(self._clients),
            attached_dialogs=len(self._dialog_chans),
            internal_errors=self._internal_errors,
        )

    def contact_uri(self, transport: str = "udp") -> str:
        """A SIP URI reaching this engine on ``transport`` (for Contact headers)."""
        local = self._local_for(transport)
        host = local[0]
        host = f"[{host}]" if ":" in host else host
        scheme = "sips" if transport in ("tls", "wss") else "sip"
        suffix = "" if transport in ("udp", "tls") else f";transport={transport}"
        return f"{scheme}:{host}:{local[1]}{suffix}"

    # -- helpers ---------------------------------------------------------------

    def _local_for(self, transport: str) -> tuple[str, int]:
        chosen: Listening | None = None
        for lst in self._tm.listening:
            if lst.transport == transport:
                chosen = lst
                break
        if chosen is None:
            for lst in self._tm.listening:
                chosen = lst
                break
        if chosen is None:
            return (self.config.advertised_host or "127.0.0.1", 0)
        host = self.config.advertised_host or chosen.host
        if host in ("0.0.0.0", "::"):
            host = "127.0.0.1" if host == "0.0.0.0" else "::1"
        return (host, chosen.port)

    def _flow_for(self, target: Target) -> Flow:
        return Flow(target.transport, (target.host, target.port), self._local_for(target.transport))

    def _complete_request(self, request: Request, flow: Flow) -> None:
        """Add Contact and User-Agent where the application left them out."""
        headers = request.headers
        if request.method in _CONTACT_METHODS and not headers.has("contact"):
            headers.add("Contact", f"<{self.contact_uri(flow.transport)}>")
        if self.config.user_agent and not headers.has("user-agent"):
            headers.add("User-Agent", self.config.user_agent)

    def _kick(self) -> None:
        with contextlib.suppress(
            trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError
        ):
            self._inbox_send.send_nowait(_WAKE)

    def _dialog_id(self, key: str) -> DialogId:
        did = self._dialog_ids.get(key)
        if did is None:
            raise LocalProtocolError(f"unknown dialog {key!r}")
        return did

    def _key(self, did: DialogId) -> str:
        key = dialog_key(did)
        self._dialog_ids.setdefault(key, did)
        return key

    # -- Agent commands ----------------------------------------------------------

    async def respond(self, server_txn: str, response: Response) -> Response:
        """Send ``response`` on ``server_txn``; return it as sent (To tag filled in).

        Adds a Contact to 1xx/2xx answers of dialog-creating requests and a
        Server header when configured and absent.

        This is a cancellation point but, when the bytes go out at once (the
        usual UDP case), not a scheduling point: the caller's next ``receive``
        yields anyway, and an extra yield per response cost a scheduler pass
        (an ``epoll_wait``) per message under load.
        """
        if self._closed:
            raise AgentLost("engine closed")
        headers = response.headers
        if (
            100 < response.status < 300
            and not headers.has("contact")
            and headers.has("cseq")
            and response.cseq.method in _CONTACT_METHODS
        ):
            headers.add("Contact", f"<{self.contact_uri(self._flow_of_server(server_txn))}>")
        if self.config.user_agent and not headers.has("server"):
            headers.add("Server", self.config.user_agent)
        did = self._stack.send_response(server_txn, response, trio.current_time())
        if did is not None:
            self._last_dialog = (response, False, self._key(did))
        await self._flush(checkpoint=False)
        await trio.lowlevel.checkpoint_if_cancelled()
        return response

    def _flow_of_server(self, server_txn: str) -> str:
        flow = self._stack.server_flow(server_txn)
        return flow.transport if flow is not None else "udp"

    async def request(self, request: Request, *, next_hop: str | None = None) -> ClientTransaction:
        """Send an out-of-dialog request; return its handle.

        The next hop is ``next_hop`` if given, else the first Route, else the
        Request-URI; it is resolved per RFC 3263 and the request fails over
        across the resulting targets.

        Raises:
            TransportFailure: no target could be resolved or reached.
        """
        if self._closed:
            raise AgentLost("engine closed")
        # A cancellation point before anything goes out (a Cancelled raised after the
        # INVITE left would lose the handle that can CANCEL it), not a scheduling point.
        await trio.lowlevel.checkpoint_if_cancelled()
        hop_text: str | None = None
        if next_hop is not None:
            hop_text = next_hop
        elif not request.headers.has("route"):
            hop_text = request.uri
        targets = self._hop_targets.get(hop_text) if hop_text is not None else None
        if targets is not None:
            hop: Any = hop_text
            targets = list(targets)  # the handle pops from its list
        else:
            hop = parse_uri(hop_text) if hop_text is not None else request.route[0].uri
            if isinstance(hop, TelURI | AbsoluteURI) or not isinstance(hop, SipURI):
                raise TransportFailure(f"cannot route to {hop}")
            targets = await self._resolve(hop, hop_text)
        if not targets:
            raise TransportFailure(f"no usable target for {hop}")
        handle = ClientTransaction(self, request.copy(), targets)
        if not await handle._start_next():
            raise TransportFailure(f"could not reach any target for {hop}")
        return handle

    async def request_in_dialog(
        self,
        dialog_id: str,
        method: str,
        *,
        headers: Sequence[tuple[str, str]] = (),
        body: bytes = b"",
    ) -> ClientTransaction:
        """Send a request inside a dialog (§12.2.1.1), towards its route set/target.

        A cancellation point before the request goes out; not a scheduling point
        when the bytes go out at once (the caller awaits the handle next).
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        did = self._dialog_id(dialog_id)
        stack = self._stack
        dialog = stack.dialog(did)
        if dialog is None:
            raise LocalProtocolError(f"dialog {dialog_id!r} is gone")
        request = stack.build_in_dialog(did, method, headers=list(headers), body=body)
        flow = await self._dialog_flow(dialog)
        handle = ClientTransaction(self, request, [])
        if self.config.user_agent and not request.headers.has("user-agent"):
            request.headers.add("User-Agent", self.config.user_agent)
        txn_id = stack.send_request(request, flow, trio.current_time())
        handle._id = txn_id
        handle._request = request
        self._clients[txn_id] = handle
        await self._flush(checkpoint=False)
        return handle

    async def _dialog_flow(self, dialog: Dialog) -> Flow:
        """Where the dialog's next request goes (RFC 3261 §12.2.1.1).

        The next hop is the first route of the route set, else the remote
        target (the peer's Contact), resolved per RFC 3263: not the flow the
        dialog-creating request travelled on, which may have been a proxy that
        did not record-route. A live stream connection is reused when it
        leads to that hop, and always for a dialog the peer created over a
        stream (RFC 5923 style reuse: a WebSocket client cannot be reached
        any other way). The result is remembered as ``dialog.flow``, which
        the stack also uses (ACK retransmission, the BYE after an ACK timeout).
        """
        flow = dialog.flow
        live = flow is not None and flow.reliable and self._tm.lookup(flow) is not None
        if live and flow is not None and not dialog.is_uac:
            return flow
        hop_text = dialog.next_hop()
        targets = self._hop_targets.get(hop_text)
        if targets is None:
            hop = parse_uri(hop_text)
            targets = await self._resolve(hop, hop_text) if isinstance(hop, SipURI) else []
        if targets:
            target = targets[0]
            if live and flow is not None and flow.remote == (target.host, target.port):
                return flow
            resolved = self._flow_for(target)
            dialog.flow = resolved
            return resolved
        if flow is None:
            raise TransportFailure(f"cannot route to {dialog.next_hop()}")
        return flow if live else Flow(flow.transport, flow.remote, flow.local, None)

    async def _resolve(self, hop: SipURI, hop_text: str | None) -> list[Target]:
        """RFC 3263 targets of ``hop``; an IP literal's are remembered under ``hop_text``.

        Only an answer that needed no DNS (:meth:`Resolver.resolve_literal`)
        never changes (no TTL), so only that one is kept.
        """
        targets = self._resolver.resolve_literal(hop)
        if targets is None:
            return await self._resolver.resolve(hop)
        if hop_text is not None and targets:
            if len(self._hop_targets) >= _HOP_CACHE_SIZE:
                self._hop_targets.clear()
            self._hop_targets[hop_text] = list(targets)
        return targets

    async def ack(
        self, dialog_id: str, *, headers: Sequence[tuple[str, str]] = (), body: bytes = b""
    ) -> Request:
        """Send the ACK for the 2xx that confirmed ``dialog_id``; return it as sent.

        Like :meth:`respond`, a cancellation point (checked before the ACK goes
        out) but not a scheduling point when the bytes go out at once.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        did = self._dialog_id(dialog_id)
        dialog = self._stack.dialog(did)
        if dialog is None:
            raise LocalProtocolError(f"dialog {dialog_id!r} is gone")
        flow = await self._dialog_flow(dialog)
        ack = self._stack.send_ack(
            did, trio.current_time(), flow=flow, headers=list(headers), body=body
        )
        await self._flush(checkpoint=False)
        return ack

    def dialog_id_for(self, response: Response, *, uac: bool) -> str | None:
        """The id of the live dialog a 1xx/2xx belongs to, or ``None``.

        Args:
            response: A response we sent (``uac=False``: its To tag is ours)
                or received (``uac=True``: its From tag is ours).
            uac: Which side of the dialog we are.
        """
        last = self._last_dialog
        if last is not None and last[0] is response and last[1] == uac:
            return last[2] if last[2] in self._dialog_ids else None
        try:
            local, remote = response.to.tag, response.from_.tag
            call_id = response.call_id
        except LocalProtocolError:
            return None
        if uac:
            local, remote = remote, local
        if local is None or remote is None:
            return None
        key = dialog_key(DialogId(call_id, local, remote))
        return key if key in self._dialog_ids else None

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
        """Proxy a received request statefully (RFC 3261 §16); see docs/proxy.md.

        Returns once the final response went upstream. Cancelling the caller
        CANCELs the branches. Raises ``LocalProtocolError`` for a transaction
        that is unknown, answered or already proxied.
        """
        return await self._proxy.proxy(
            server_txn,
            targets,
            record_route=record_route,
            forking=forking,
            follow_redirects=follow_redirects,
            provisional_timeout=provisional_timeout,
            final_timeout=final_timeout,
            headers=headers,
        )

    def attach_dialog(self, dialog_id: str) -> trio.MemoryReceiveChannel[Notice]:
        """Deliver this dialog's notices (in-dialog requests, ACK, end) to a new channel.

        Until attached (and after :meth:`detach_dialog`), they go to ``incoming``.
        """
        send, recv = trio.open_memory_channel[Notice](self.config.dialog_queue)
        self._dialog_chans[dialog_id] = send
        return recv

    def detach_dialog(self, dialog_id: str) -> None:
        """Stop routing notices to the dialog's channel (and close it)."""
        send = self._dialog_chans.pop(dialog_id, None)
        if send is not None:
            send.close()

    def end_dialog(self, dialog_id: str) -> None:
        """Forget a dialog without signalling (after the app sent/answered BYE)."""
        did = self._dialog_ids.pop(dialog_id, None)
        if did is not None:
            self._stack.terminate_dialog(did)
        self.detach_dialog(dialog_id)

    # -- the core loop -----------------------------------------------------------

    async def _core_loop(self) -> None:
        stack = self._stack
        recv = self._inbox_recv
        while True:
            deadline = stack.next_deadline()
            item: Any = None
            try:
                item = recv.receive_nowait()
            except trio.WouldBlock:
                # Coalesce timers: waking a few ms late lets one turn expire many.
                self._sleep_until = (
                    deadline + self.config.timer_slack if deadline is not None else math.inf
                )
                with trio.move_on_at(self._sleep_until):
                    item = await recv.receive()
                self._sleep_until = -math.inf
            now = trio.current_time()
            if item is not None:
                self._feed(item, now)
                for _ in range(63):
                    try:
                        item = recv.receive_nowait()
                    except trio.WouldBlock:
                        break
                    self._feed(item, now)
            try:
                stack.handle_timers(now)
                self._dispatch_events()
            except Exception:
                self._internal_errors += 1
                logger.exception("internal error in timer or event handling")
            for transmit in stack.outgoing():
                await self._transmit(transmit)
            # Bytes queued while we were sending (by other tasks) go out next turn.
            if stack.has_outgoing:
                self._kick()

    async def _flush(self, *, checkpoint: bool = True) -> None:
        """Send what the stack queued, from the calling task (no hop to the core loop).

        Then wake the core loop only if the stack's next deadline moved before
        the one it sleeps until (a new transaction armed an earlier timer).
        ``checkpoint=False`` skips the final yield for callers that yield
        anyway (the UDP reader checkpoints every few datagrams by itself).
        """
        transmits = self._stack.outgoing()
        for transmit in transmits:
            await self._transmit(transmit)
        deadline = self._stack.next_deadline()
        # The loop sleeps until its earliest deadline *plus* the slack: comparing
        # without the slack woke it for every message while any timer was armed.
        if deadline is not None and deadline + self.config.timer_slack < self._sleep_until:
            self._kick()
        if checkpoint:
            await trio.lowlevel.checkpoint()

    async def _on_datagram(self, item: Inbound) -> bool:
        """UDP fast path, run in the reader task: receive, dispatch, send, all inline.

        Equivalent to queueing the datagram for the core loop, minus two task
        switches per message. Trio never preempts the synchronous stack calls,
        so the stack still sees one operation at a time.
        """
        if self._closed:
            return False
        self._feed(item, trio.current_time())
        notified = True
        try:
            notified = self._dispatch_events()
        except Exception:
            self._internal_errors += 1
            logger.exception("internal error in event handling")
        # Yield only when some task got something to do: the reader then takes
        # one datagram per scheduler pass, as the application takes one notice
        # per pass. A datagram can bring more than one notice (a BYE's answer
        # ends the dialog), so while the application is behind the reader
        # yields once more, and a flood cannot outrun it into 503s.
        await self._flush(checkpoint=notified)
        if notified and self._incoming_send.statistics().current_buffer_used:
            await trio.lowlevel.checkpoint()
        return True

    def _feed(self, item: Any, now: float) -> None:
        if item is _WAKE:
            return
        try:
            self._feed_one(item, now)
        except Exception:
            # A bug triggered by one message must not take the engine down
            # (ARCHITECTURE §7): log it, count it, carry on with the next one.
            self._internal_errors += 1
            logger.exception("internal error while handling %r", item)

    def _feed_one(self, item: Any, now: float) -> None:
        assert isinstance(item, Inbound)
        if item.data is not None:
            self._stack.receive(item.data, item.flow, now)
        elif item.message is not None:
            self._stack.receive_message(item.message, item.flow, now)
        elif isinstance(item.error, RemoteProtocolError):
            err = item.error
            if err.can_answer and err.method != "ACK":
                self._stack.answer_malformed(err, item.flow)

    async def _transmit(self, transmit: Transmit) -> None:
        flow = transmit.flow
        if flow.transport == "udp":
            try:
                if self._tm.send_nowait(transmit.data, flow):
                    return
            except TransportFailure:
                self._send_errors += 1
                return
        elif self._tm.lookup(flow) is None:
            self._nursery.start_soon(self._transmit_now, transmit)
            return
        await self._transmit_now(transmit)

    async def _transmit_now(self, transmit: Transmit) -> None:
        try:
            await self._tm.send(transmit.data, transmit.flow)
        except TransportFailure:
            self._send_errors += 1

    def _dispatch_events(self) -> bool:
        """Hand the stack's events to their tasks; return whether any task was notified."""
        events = self._stack.events()
        notified = False
        for event in events:
            if isinstance(event, TransactionTerminated | AckTimeout):
                # Bookkeeping only (AckTimeout: DialogTerminated follows).
                if isinstance(event, TransactionTerminated):
                    self._clients.pop(event.txn_id, None)
                continue
            notified = True
            if self._proxy.handle_event(event):
                continue
            if isinstance(event, RequestReceived):
                self._on_request(event)
            elif isinstance(event, ResponseReceived):
                handle = self._clients.get(event.txn_id)
                if handle is not None:
                    did = event.dialog_id
                    if did is not None:
                        # Every fork's dialog gets a key (dialog_id_for must find a
                        # 2xx that follows another fork's 1xx, e.g. through a proxy)
                        # while it lives: the 2xx to our BYE comes after the stack's
                        # DialogTerminated, and keying it again leaked one key per call.
                        key = dialog_key(did)
                        if self._stack.dialog(did) is not None:
                            self._dialog_ids.setdefault(key, did)
                        if handle.dialog_id is None:
                            handle.dialog_id = key
                        self._last_dialog = (event.response, True, key)
                    handle._deliver(event.response)
            elif isinstance(event, CancelReceived):
                self._notify(None, RequestCancelled(event.txn_id, event.request))
            elif isinstance(event, CoreAckReceived):
                key = self._key(event.dialog_id)
                self._notify(key, AckReceived(key, event.request))
            elif isinstance(event, TransactionTimeout):
                handle = self._clients.pop(event.txn_id, None)
                if handle is not None:
                    handle._deliver(RequestTimeout())
            elif isinstance(event, TransportFailed):
                handle = self._clients.pop(event.txn_id, None)
                if handle is not None:
                    handle._deliver(TransportFailure())
            elif isinstance(event, DialogTerminated):
                key = dialog_key(event.dialog_id)
                self._notify(key, DialogEnded(key, event.reason))
                self._dialog_ids.pop(key, None)
        return notified

    def _notify(self, key: str | None, notice: Notice) -> None:
        deliver_notice(self._dialog_chans, self._incoming_send, key, notice)

    def _on_request(self, event: RequestReceived) -> None:
        key = self._key(event.dialog_id) if event.dialog_id is not None else None
        notice = IncomingRequest(event.txn_id, event.request, event.flow, key)
        chan = self._dialog_chans.get(key) if key is not None else None
        now = trio.current_time()
        if chan is not None:
            try:
                chan.send_nowait(notice)
                return
            except trio.WouldBlock:
                self._dialog_500 += 1
                self._overload(event, 500, now)
                return
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self._dialog_chans.pop(key or "", None)
        try:
            self._incoming_send.send_nowait(notice)
        except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
            self._overload_503 += 1
            self._overload(event, 503, now)

    def _overload(self, event: RequestReceived, status: int, now: float) -> None:
        response = event.request.make_response(
            status, headers=[("Retry-After", str(self.config.retry_after))]
        )
        with contextlib.suppress(LocalProtocolError):
            self._stack.send_response(event.txn_id, response, now)

    async def _close(self) -> None:
        self._closed = True
        self._proxy.close()
        for key, chan in list(self._dialog_chans.items()):
            with contextlib.suppress(trio.WouldBlock, trio.BrokenResourceError):
                chan.send_nowait(DialogEnded(key, "agent_closed"))
            chan.close()
        self._dialog_chans.clear()
        for handle in list(self._clients.values()):
            handle._deliver(AgentLost("engine closed"))
        self._clients.clear()
        self._incoming_send.close()


@contextlib.asynccontextmanager
async def open_engine(
    listen: Sequence[str] = ("sip:127.0.0.1:5060",),
    *,
    config: EngineConfig | None = None,
    transports: TransportFactory | None = None,
) -> AsyncIterator[Engine]:
    """Run the embedded SIP engine for the duration of the block.

    Args:
        listen: Listen specs in drachtio contact syntax, e.g.
            ``"sip:127.0.0.1:5060;transport=udp,tcp"``, ``"sips:127.0.0.1:5061"``,
            ``"sip:[::1]:5060;transport=ws"``; port 0 picks a free port.
        config: Timers, transport options, queue sizes (:class:`EngineConfig`).
        transports: For tests: a factory ``inbox -> async context manager``
            yielding other :class:`~trio_srf.transport.Transports` than real
            sockets (``listen`` is then ignored), e.g.
            ``LoopbackNetwork.transports(...)`` from :mod:`trio_srf.testing`.

    Yields:
        The running :class:`Engine`. Leaving the block stops it: pending client
        transactions raise :class:`~trio_srf.errors.AgentLost`, attached dialogs
        get a ``DialogEnded("agent_closed")`` notice.
    """
    cfg = config if config is not None else EngineConfig()
    inbox_send, inbox_recv = trio.open_memory_channel[Any](cfg.inbox_size)
    with _gc_tuned(cfg.gc_threshold):
        async with _open_engine(listen, cfg, transports, inbox_send, inbox_recv) as engine:
            yield engine


@contextlib.contextmanager
def _gc_tuned(threshold: tuple[int, int, int] | None) -> Iterator[None]:
    """Raise the collector's thresholds for the duration (never lowering them)."""
    before = gc.get_threshold()
    if threshold is None or threshold[0] <= before[0]:
        yield
        return
    gc.set_threshold(*threshold)
    try:
        yield
    finally:
        gc.set_threshold(*before)


@contextlib.asynccontextmanager
async def _open_engine(
    listen: Sequence[str],
    cfg: EngineConfig,
    transports: TransportFactory | None,
    inbox_send: trio.MemorySendChannel[Any],
    inbox_recv: trio.MemoryReceiveChannel[Any],
) -> AsyncIterator[Engine]:
    try:
        async with (
            (
                transports(inbox_send)
                if transports is not None
                else open_transports(list(listen), cfg.transport, inbox=inbox_send)
            ) as tm,
            trio.open_nursery() as nursery,
        ):
            engine = Engine(cfg, tm, nursery, inbox_send, inbox_recv)
            nursery.start_soon(engine._core_loop)
            tm.on_datagram = engine._on_datagram
            try:
                yield engine
            finally:
                await engine._close()
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        # The core loop and transports catch their own errors, so a group here
        # carries the body's exception: hand it back as itself (ARCHITECTURE §5).
        if len(group.exceptions) == 1:
            raise group.exceptions[0] from None
        raise
