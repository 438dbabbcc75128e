"""SipStack: the sans-IO SIP engine core that owns every transaction and dialog table.

Rules this module keeps:

* No I/O and no clock. Bytes come in through :meth:`SipStack.receive` with the
  :class:`Flow` they arrived on and the current time; bytes to send and
  events for the transaction user (TU) accumulate until the driver drains
  :meth:`SipStack.outgoing` and :meth:`SipStack.events`. The driver sleeps
  until :meth:`SipStack.next_deadline` and then calls
  :meth:`SipStack.handle_timers` (aioquic's shape).
* Malformed input never raises: a request that cannot be parsed is answered
  with the parser's status hint (400/416/505/513) when its Via, From, To,
  Call-ID and CSeq survived (§8.2.6, never for ACK), otherwise dropped; both
  are counted. Stray responses are dropped (§18.1.2).
* Requests get ``received`` (when the Via host is not the source address,
  §18.2.1) and ``rport`` (when asked for, RFC 3581 §4) on their top Via before
  anything else sees them; responses are routed by §18.2.2 from there.
* The stack answers by itself what a UA core must (ARCHITECTURE §4):
  100 Trying to INVITE, 482 to merged requests (§8.2.2.2), 483 to an
  out-of-dialog non-OPTIONS request with Max-Forwards 0 (a UAS is not a proxy,
  but an application server may proxy the request, so it treats a spent
  Max-Forwards like §16.3 does; OPTIONS is answered by the TU as §11 allows),
  481 to in-dialog requests for unknown dialogs (§12.2.2) and to CANCELs that
  match nothing (§9.2), 500 to in-dialog requests whose CSeq went backwards,
  and for a CANCEL that matches a pending INVITE: 200 to the CANCEL and 487 to
  the INVITE (§9.2).
* The UAS core retransmits a 2xx to INVITE from T1 doubling to T2 until the
  ACK arrives (§13.3.1.4, on every transport: a reliable first hop says
  nothing about the rest of the path); after 64*T1 without ACK it sends a BYE
  itself and ends the dialog (:class:`AckTimeout`). The UAC core re-sends its
  ACK whenever a 2xx is retransmitted (§13.2.2.4).
* Tables drain: every transaction ends by a timer or at once, dialogs end by
  BYE, by a 481/408 to an in-dialog request (§12.2.1.2), by an ACK timeout or
  when the TU calls :meth:`SipStack.terminate_dialog`. The TU must answer
  every :class:`RequestReceived` (reSIProcate's TU contract); an unanswered
  server transaction stays in the tables.

Theory of operation. Client transactions are keyed by (branch, method),
server transactions by the §17.2.3 key (see ``_matching``); both machines
share one :class:`DeadlineHeap` with the dialog layer (2xx retransmission
timers are keyed by the :class:`DialogId`). Every path that can end a
transaction goes through ``_reap_*``, which removes it from every index and
emits :class:`TransactionTerminated`.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Sequence

import attrs

from ..errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from ..sip import (
    DEFAULT_LIMITS,
    Headers,
    ParserLimits,
    Request,
    Response,
    new_branch,
    new_tag,
    parse,
    parse_via_list,
    reason_phrase,
)
from ._client_txn import ClientState, ClientTransaction
from ._dialog import TARGET_REFRESH_METHODS, Dialog, DialogId, DialogState
from ._events import (
    AckReceived,
    AckTimeout,
    CancelReceived,
    DialogTerminated,
    Event,
    Outbox,
    RequestReceived,
    ResponseReceived,
    StatelessForward,
    TransactionTerminated,
    TransactionTimeout,
    Transmit,
    TransportFailed,
)
from ._flow import Flow
from ._matching import (
    ServerKey,
    ack_server_keys,
    cancel_target_keys,
    client_key,
    merge_key,
    response_key,
    server_key,
)
from ._proxy import (
    ProxyContext,
    ProxyOptions,
    check_request,
    dialog_key,
    is_local_uri,
    preprocess_routes,
    routed_through_us,
)
from ._server_txn import ServerState, ServerTransaction, response_flow
from ._timers import DeadlineHeap, TimerConfig

__all__ = ["DIALOG_CREATING_METHODS", "SipStack", "StackStatistics"]

#: Requests whose tagged 1xx/2xx create a dialog in this stack (§12.1, RFC 6665, RFC 3515).
DIALOG_CREATING_METHODS = frozenset({"INVITE", "SUBSCRIBE", "REFER"})


@attrs.frozen
class StackStatistics:
    """Counters and table sizes of a :class:`SipStack`.

    Attributes:
        messages_in: Datagrams/messages fed to the stack.
        messages_out: Messages queued for sending (including retransmissions).
        requests_in: Parsed requests received.
        responses_in: Parsed responses received.
        retransmissions_out: Messages re-sent (timers, duplicates, 2xx, ACK).
        retransmissions_in: Received requests absorbed as retransmissions.
        parse_errors: Messages that failed to parse.
        error_responses: Responses the stack generated itself (400, 481, 482,
            483, 487, 500, and the 200 to CANCEL).
        stray_responses: Responses matching no client transaction (§18.1.2).
        stray_acks: ACKs matching no transaction and no dialog.
        client_transactions: Live client transactions.
        server_transactions: Live server transactions.
        dialogs: Live dialogs (early and confirmed).
        timers: Armed timers.
    """

    messages_in: int
    messages_out: int
    requests_in: int
    responses_in: int
    retransmissions_out: int
    retransmissions_in: int
    parse_errors: int
    error_responses: int
    stray_responses: int
    stray_acks: int
    client_transactions: int
    server_transactions: int
    dialogs: int
    timers: int


@attrs.define
class _Pending2xx:
    """A 2xx to INVITE being retransmitted until ACK (§13.3.1.4)."""

    data: bytes
    flow: Flow
    seq: int
    interval: float


def _bare(host: str) -> str:
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def _host_port(addr: tuple[str, int]) -> str:
    host, port = addr
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{host}:{port}" if port else host


def _replace_top_via(headers: Headers, new_top: str) -> None:
    """Replace the first Via value, keeping any others on the same line."""
    first = headers.get("via")
    if first is None:
        headers.prepend("Via", new_top)
        return
    rest = parse_via_list(first)[1:] if "," in first else []
    headers.pop_first("via")
    headers.prepend("Via", ", ".join([new_top, *(str(v) for v in rest)]))


class SipStack:
    """The sans-IO transaction and dialog engine (RFC 3261 §8, §9, §12-§13, §17-§18).

    Args:
        config: Timer values.
        limits: Parser limits for incoming datagrams.

    All methods that take ``now`` expect a monotonic time in seconds. After
    any call, drain :meth:`outgoing` and :meth:`events`, and re-read
    :meth:`next_deadline`.
    """

    def __init__(
        self, config: TimerConfig | None = None, *, limits: ParserLimits = DEFAULT_LIMITS
    ) -> None:
        self.config = config if config is not None else TimerConfig()
        self.limits = limits
        self._timers = DeadlineHeap()
        self._out = Outbox()
        self._events: list[Event] = []
        self._seq = 0
        self._client: dict[str, ClientTransaction] = {}
        self._client_by_key: dict[tuple[str, str], str] = {}
        self._server: dict[str, ServerTransaction] = {}
        self._server_by_key: dict[ServerKey, str] = {}
        self._merge: dict[object, str] = {}
        self._dialogs: dict[DialogId, Dialog] = {}
        self._early: dict[str, set[DialogId]] = {}
        self._pending_2xx: dict[DialogId, _Pending2xx] = {}
        self._sent_acks: dict[DialogId, tuple[int, Transmit]] = {}
        #: Our own (host, port) addresses: Route entries and Vias naming them are
        #: ours (RFC 3261 §16.4, §16.3 loop detection). Empty: we route nothing.
        self.local_addresses: set[tuple[str, int]] = set()
        self._proxies: dict[str, ProxyContext] = {}
        self._proxy_txns: dict[str, ProxyContext] = {}
        # Record-routed dialogs: (Call-ID, From tag, To tag) -> the far side's Contact.
        self._proxy_dialogs: dict[tuple[str, str, str], str] = {}
        self._n = {
            "messages_in": 0,
            "messages_out": 0,
            "requests_in": 0,
            "responses_in": 0,
            "retransmissions_in": 0,
            "parse_errors": 0,
            "error_responses": 0,
            "stray_responses": 0,
            "stray_acks": 0,
        }

    # -- driver interface ------------------------------------------------------

    def outgoing(self) -> list[Transmit]:
        """Return and clear the queued :class:`Transmit` values, in send order."""
        out = self._out.transmits
        if out:
            self._n["messages_out"] += len(out)
            self._out.transmits = []
        return out

    def events(self) -> list[Event]:
        """Return and clear the queued events, in the order they happened."""
        events = self._events
        self._events = []
        return events

    def next_deadline(self) -> float | None:
        """The time :meth:`handle_timers` must next be called, or ``None``."""
        return self._timers.next_deadline()

    def handle_timers(self, now: float) -> None:
        """Run every timer due at ``now`` (retransmissions, timeouts, reaping)."""
        while True:
            due = self._timers.pop_due(now)
            if not due:
                return
            for owner, name in due:
                if isinstance(owner, DialogId):
                    self._dialog_timer(owner, name, now)
                    continue
                assert isinstance(owner, str)
                proxy = self._proxies.get(owner)
                if proxy is not None:
                    proxy.fire(name, now)
                    continue
                client = self._client.get(owner)
                if client is not None:
                    if client.fire(name, now, self._out):
                        self._client_timeout(client, now)
                    self._after_client(client)
                    continue
                server = self._server.get(owner)
                if server is not None:
                    server.fire(name, now, self._out)
                    self._after_server(server)

    def statistics(self) -> StackStatistics:
        """Counters and table sizes (the tables drain to zero when traffic stops)."""
        n = self._n
        return StackStatistics(
            messages_in=n["messages_in"],
            messages_out=n["messages_out"] + len(self._out.transmits),
            requests_in=n["requests_in"],
            responses_in=n["responses_in"],
            retransmissions_out=self._out.retransmissions,
            retransmissions_in=n["retransmissions_in"],
            parse_errors=n["parse_errors"],
            error_responses=n["error_responses"],
            stray_responses=n["stray_responses"],
            stray_acks=n["stray_acks"],
            client_transactions=len(self._client),
            server_transactions=len(self._server),
            dialogs=len(self._dialogs),
            timers=len(self._timers),
        )

    def _new_id(self, prefix: str) -> str:
        self._seq += 1
        return f"{prefix}{self._seq}"

    # -- input -----------------------------------------------------------------

    def receive(self, data: bytes, flow: Flow, now: float) -> None:
        """Feed one datagram (or one framed stream message) received on ``flow``."""
        self._n["messages_in"] += 1
        try:
            message = parse(data, limits=self.limits)
        except RemoteProtocolError as err:
            self._n["parse_errors"] += 1
            if err.can_answer and err.method != "ACK":
                self._answer_malformed(err, flow)
            return
        self._dispatch(message, flow, now)

    def receive_message(self, message: Request | Response, flow: Flow, now: float) -> None:
        """Feed a message a stream driver already framed and parsed (``StreamFramer``)."""
        self._n["messages_in"] += 1
        self._dispatch(message, flow, now)

    def _dispatch(self, message: Request | Response, flow: Flow, now: float) -> None:
        try:
            if isinstance(message, Request):
                self._n["requests_in"] += 1
                self._on_request(message, flow, now)
            else:
                self._n["responses_in"] += 1
                self._on_response(message, flow, now)
        except ProtocolError:
            # A header the parser validates lazily (e.g. a Contact or
            # Record-Route) was malformed: drop it, like a parse error.
            self._n["parse_errors"] += 1

    def answer_malformed(self, err: RemoteProtocolError, flow: Flow) -> None:
        """Answer a request a stream driver could not frame or parse (if routable).

        Datagrams go through :meth:`receive`, which does this by itself.
        """
        self._n["parse_errors"] += 1
        if err.can_answer and err.method != "ACK":
            self._answer_malformed(err, flow)

    def server_flow(self, txn_id: str) -> Flow | None:
        """The flow a live server transaction's request arrived on, or ``None``."""
        txn = self._server.get(txn_id)
        return txn.flow if txn is not None else None

    @property
    def has_outgoing(self) -> bool:
        """Whether bytes are queued for :meth:`outgoing`."""
        return bool(self._out.transmits)

    def _answer_malformed(self, err: RemoteProtocolError, flow: Flow) -> None:
        """Answer an unparseable request from its salvaged headers (§8.2.6, §18.2.2)."""
        assert err.cseq is not None and err.call_id is not None
        assert err.from_ is not None and err.to is not None
        try:
            headers = Headers()
            for via in err.via:
                headers.add("Via", via)
            to = err.to if ";tag=" in err.to.lower() else f"{err.to};tag={new_tag()}"
            headers.add("From", err.from_)
            headers.add("To", to)
            headers.add("Call-ID", err.call_id)
            headers.add("CSeq", err.cseq)
            status = err.status_hint if 400 <= err.status_hint <= 699 else 400
            response = Response(status, reason_phrase(status), headers)
            dest = flow
            if not flow.reliable:
                top = parse_via_list(err.via[0])[0]
                port = top.rport if top.has_rport else None
                if top.maddr is None and port is None:
                    port = top.port or 5060
                host = flow.remote[0] if top.maddr is None else _bare(top.maddr)
                dest = Flow(flow.transport, (host, port or flow.remote[1]), flow.local)
            data = response.serialize()
        except ProtocolError:
            return
        self._n["error_responses"] += 1
        self._out.send(data, dest)

    # -- requests in ------------------------------------------------------------

    def _stamp_via(self, request: Request, flow: Flow) -> None:
        """Add received/rport to the top Via (§18.2.1, RFC 3581 §4)."""
        via = request.top_via
        src_host, src_port = flow.remote
        if via.has_rport and via.rport is None:
            new = via.with_params(received=src_host, rport=str(src_port))
        elif _bare(via.host) != src_host and via.received != src_host:
            new = via.with_param("received", src_host)
        else:
            return
        _replace_top_via(request.headers, str(new))

    def _on_request(self, request: Request, flow: Flow, now: float) -> None:
        self._stamp_via(request, flow)
        method = request.method
        if method == "ACK":
            self._on_ack(request, flow, now)
            return
        key = server_key(request)
        txn_id = self._server_by_key.get(key)
        if txn_id is not None:
            # §17.2.3: a retransmission; the machine decides what to re-send.
            self._n["retransmissions_in"] += 1
            txn = self._server[txn_id]
            txn.receive_request(request, now, self._out)
            self._after_server(txn)
            return
        if method == "CANCEL":
            self._on_cancel(request, flow, key, now)
            return
        mkey = merge_key(request)
        if mkey is not None and mkey in self._merge and self._merge[mkey] not in self._proxy_txns:
            # §8.2.2.2 merged request (a proxied request coming back is a spiral
            # or loop instead, which the proxy tells apart, §16.3 step 4).
            self._reject(request, flow, key, 482, now)
            return
        to_tag = request.to.tag
        if to_tag is None:
            mf = request.headers.get("max-forwards")
            if mf is not None and mf.strip("0 \t") == "" and method != "OPTIONS":
                self._reject(request, flow, key, 483, now)
                return
            txn = self._new_server(request, flow, key, now, merge=mkey)
            self._events.append(RequestReceived(txn.id, request, flow, None))
            return
        from_tag = request.from_.tag or ""
        did = DialogId(request.call_id, to_tag, from_tag)
        dialog = self._dialogs.get(did)
        if dialog is None:
            if routed_through_us(request, self.local_addresses) or (
                dialog_key(request) in self._proxy_dialogs
            ):
                # A dialog we record-routed: forward it statefully (§16).
                txn = self._new_server(request, flow, key, now, merge=None)
                self.start_proxy(txn.id, None, now)
                return
            self._reject(request, flow, key, 481, now)  # §12.2.2
            return
        if not dialog.check_remote_seq(request):
            self._reject(request, flow, key, 500, now)  # §12.2.2: CSeq went back
            return
        if method in TARGET_REFRESH_METHODS:
            dialog.refresh_target(request)
        txn = self._new_server(request, flow, key, now, merge=None)
        dialog.flow = txn.reply_flow
        self._events.append(RequestReceived(txn.id, request, flow, did))

    def _new_server(
        self,
        request: Request,
        flow: Flow,
        key: ServerKey,
        now: float,
        *,
        merge: object | None,
        internal: bool = False,
    ) -> ServerTransaction:
        txn = ServerTransaction(
            self._new_id("s"),
            request,
            flow,
            response_flow(request, flow),
            self.config,
            self._timers,
            key=key,
            merge_key=merge,
            internal=internal,
        )
        self._server[txn.id] = txn
        self._server_by_key[key] = txn.id
        if merge is not None:
            self._merge[merge] = txn.id
        txn.start(now, self._out, trying=not internal)
        return txn

    def _reject(
        self, request: Request, flow: Flow, key: ServerKey, status: int, now: float
    ) -> None:
        """Answer ``request`` with ``status`` through an internal server transaction."""
        txn = self._new_server(request, flow, key, now, merge=None, internal=True)
        self._n["error_responses"] += 1
        self._respond(txn, request.make_response(status), now)

    def _on_cancel(self, request: Request, flow: Flow, key: ServerKey, now: float) -> None:
        """RFC 3261 §9.2: 200 to the CANCEL, 487 to a pending INVITE, else 481."""
        target: ServerTransaction | None = None
        for tkey in cancel_target_keys(request):
            tid = self._server_by_key.get(tkey)
            if tid is not None:
                target = self._server[tid]
                break
        if target is None:
            self._reject(request, flow, key, 481, now)
            return
        txn = self._new_server(request, flow, key, now, merge=None, internal=True)
        self._n["error_responses"] += 1
        txn.local_tag = target.local_tag
        self._respond(txn, request.make_response(200), now)
        proxy = self._proxy_txns.get(target.id)
        if proxy is not None:
            # §16.10: the proxy CANCELs its branches; their 487 comes back up.
            if target.state is ServerState.PROCEEDING:
                proxy.cancel(now)
            return
        if target.state is ServerState.PROCEEDING:
            if not target.internal:
                self._events.append(CancelReceived(target.id, request))
            self._n["error_responses"] += 1
            self._respond(target, target.request.make_response(487), now)

    def _on_ack(self, request: Request, flow: Flow, now: float) -> None:
        for key, check_tag in ack_server_keys(request):
            tid = self._server_by_key.get(key)
            if tid is None:
                continue
            txn = self._server[tid]
            if check_tag and txn.local_tag != request.to.tag:
                continue
            if not txn.receive_request(request, now, self._out):
                self._after_server(txn)  # ACK for a non-2xx: absorbed (§17.2.1)
                return
            break  # RFC 2543 ACK for a 2xx in Accepted: the dialog layer's
        to_tag = request.to.tag
        if to_tag is not None:
            did = DialogId(request.call_id, to_tag, request.from_.tag or "")
            if did in self._dialogs:
                pending = self._pending_2xx.get(did)
                if pending is not None and pending.seq == request.cseq.seq:
                    del self._pending_2xx[did]
                    self._timers.clear(did, "2xx")
                    self._timers.clear(did, "2xx_end")
                    self._events.append(AckReceived(did, request))
                else:
                    self._n["retransmissions_in"] += 1
                return
        if routed_through_us(request, self.local_addresses) or (
            to_tag is not None and dialog_key(request) in self._proxy_dialogs
        ):
            self._route_ack(request)
            return
        self._n["stray_acks"] += 1

    # -- responses out ----------------------------------------------------------

    def send_response(self, txn_id: str, response: Response, now: float) -> DialogId | None:
        """Send ``response`` on server transaction ``txn_id``.

        A To tag is added to every response but 100 when the request had none
        (the same tag for every response of the transaction, §8.2.6.2); the
        ``response`` object is updated in place, so it is the as-sent message.
        A tagged 1xx/2xx to INVITE/SUBSCRIBE/REFER creates (or confirms) the
        UAS dialog (§12.1.1); a 2xx to INVITE is retransmitted until ACK.

        Returns:
            The dialog the response created or belongs to, or ``None``.

        Raises:
            LocalProtocolError: unknown (or finished) transaction, or a
                response the transaction cannot send any more.
        """
        txn = self._server.get(txn_id)
        if txn is None or txn.internal:
            raise LocalProtocolError(f"no server transaction {txn_id}")
        return self._respond(txn, response, now)

    def _respond(self, txn: ServerTransaction, response: Response, now: float) -> DialogId | None:
        status = response.status
        headers = response.headers
        to_raw = headers.get("to") or ""
        # Hot path: a To copied from the request needs no parsing (the
        # request's own view is cached since the parser validated it).
        tag = txn.request.to.tag if to_raw == txn.request.headers.get("to") else response.to.tag
        if status > 100 and tag is None:
            if txn.local_tag is None:
                txn.local_tag = new_tag()
            tag = txn.local_tag
            headers.set("To", f"{to_raw};tag={tag}")
        elif tag is not None and txn.local_tag is None:
            txn.local_tag = tag
        txn.send_response(response, now, self._out)
        did = self._uas_dialog(txn, response, tag, now)
        self._after_server(txn)
        return did

    def _uas_dialog(
        self, txn: ServerTransaction, response: Response, tag: str | None, now: float
    ) -> DialogId | None:
        request = txn.request
        method = request.method
        status = response.status
        dialog: Dialog | None = None
        if request.to.tag is None:
            if method not in DIALOG_CREATING_METHODS or txn.internal:
                return None
            if status >= 300:
                self._purge_early(txn.id)
                return None
            from_tag = request.from_.tag
            if status == 100 or tag is None or from_tag is None:
                return None  # (no From tag: an RFC 2543 peer, no dialog)
            did = DialogId(request.call_id, tag, from_tag)
            dialog = self._dialogs.get(did)
            if dialog is None:
                dialog = Dialog.for_uas(request, response, txn.reply_flow, txn.id, tag)
                self._dialogs[did] = dialog
                if dialog.state is DialogState.EARLY:
                    self._early.setdefault(txn.id, set()).add(did)
            elif status >= 200 and dialog.state is DialogState.EARLY:
                dialog.state = DialogState.CONFIRMED
                self._early.get(txn.id, set()).discard(did)
        else:
            did = DialogId(request.call_id, request.to.tag, request.from_.tag or "")
            dialog = self._dialogs.get(did)
            if dialog is None:
                return None
            if method == "BYE" and status >= 200 and status not in (401, 407):
                self._end_dialog(did, "bye")
                return did
        if method == "INVITE" and 200 <= status < 300:
            # §13.3.1.4: retransmit the 2xx until ACK, give up after 64*T1.
            t1 = self.config.t1
            data = txn.last_sent if txn.last_response is response else None
            if data is None:
                data = response.serialize()
            pending = _Pending2xx(data, txn.reply_flow, request.cseq.seq, t1)
            self._pending_2xx[did] = pending
            self._timers.set(did, "2xx", now + t1)
            self._timers.set(did, "2xx_end", now + 64 * t1)
        return did

    # -- requests out -----------------------------------------------------------

    def _ensure_via(self, request: Request, flow: Flow) -> str:
        """Give ``request`` a top Via with a fresh branch if it lacks one; return the branch."""
        if not request.headers.has("via"):
            if not flow.local[0]:
                raise LocalProtocolError("no Via and no local address in the flow")
            branch = new_branch()
            request.headers.prepend(
                "Via",
                f"SIP/2.0/{flow.via_transport} {_host_port(flow.local)};rport;branch={branch}",
            )
            return branch
        top = request.top_via
        if top.branch is not None:
            return top.branch
        branch = new_branch()
        _replace_top_via(request.headers, str(top.with_param("branch", branch)))
        return branch

    def send_request(self, request: Request, flow: Flow, now: float) -> str:
        """Start a client transaction for ``request`` on ``flow``; return its id.

        Adds a top Via (``flow.local``, ``rport``, fresh branch) when there is
        none, a branch when the top Via has none, and ``Max-Forwards: 70``
        when absent. An in-dialog request (To tag of a known dialog, as built
        by :meth:`build_in_dialog`) is tied to its dialog: a 481/408 answer
        ends the dialog, a finished BYE too.

        Raises:
            LocalProtocolError: ``request`` is an ACK (use :meth:`send_ack`) or
                a CANCEL (use :meth:`cancel`), or its branch is in use.
        """
        method = request.method
        if method in ("ACK", "CANCEL"):
            raise LocalProtocolError(f"{method} is sent with send_ack()/cancel()")
        return self._start_client(request, flow, now).id

    def _start_client(
        self,
        request: Request,
        flow: Flow,
        now: float,
        *,
        txn_id: str | None = None,
        internal: bool = False,
    ) -> ClientTransaction:
        branch = self._ensure_via(request, flow)
        if not request.headers.has("max-forwards"):
            request.headers.add("Max-Forwards", "70")
        key = client_key(branch, request.method)
        if key in self._client_by_key:
            raise LocalProtocolError(f"branch {branch} already in use for {request.method}")
        txn = ClientTransaction(
            txn_id or self._new_id("c"),
            request,
            flow,
            self.config,
            self._timers,
            internal=internal,
            key=key,
        )
        to_tag = request.to.tag
        if to_tag is not None:
            did = DialogId(request.call_id, request.from_.tag or "", to_tag)
            dialog = self._dialogs.get(did)
            if dialog is not None:
                txn.dialog_id = did
                dialog.flow = flow
        self._client[txn.id] = txn
        self._client_by_key[key] = txn.id
        txn.start(now, self._out)
        return txn

    def cancel(self, txn_id: str, now: float) -> str | None:
        """Cancel a pending INVITE client transaction (RFC 3261 §9.1).

        The CANCEL is sent once a provisional response has arrived (at once if
        one already has); a 64*T1 guard then ends the INVITE if no final
        response comes. Returns the CANCEL's client transaction id (its events
        appear only if the CANCEL is actually sent), or ``None`` when there is
        nothing to cancel (unknown id, not an INVITE, final response received).
        """
        txn = self._client.get(txn_id)
        if txn is None or not txn.is_invite:
            return None
        if txn.state not in (ClientState.CALLING, ClientState.PROCEEDING):
            return None
        if txn.cancel_id is not None:
            return txn.cancel_id
        txn.cancel_id = self._new_id("c")
        if txn.has_provisional:
            self._send_cancel(txn, now)
        return txn.cancel_id

    def _send_cancel(self, invite: ClientTransaction, now: float) -> None:
        """Build and send the CANCEL for ``invite`` (§9.1)."""
        src = invite.request
        headers = Headers()
        headers.add("Via", str(src.top_via))
        for route in src.headers.get_all("route"):
            headers.add("Route", route)
        headers.add("Max-Forwards", "70")
        headers.add("From", src.headers.get("from") or "")
        headers.add("To", src.headers.get("to") or "")
        headers.add("Call-ID", src.call_id)
        headers.add("CSeq", f"{src.cseq.seq} CANCEL")
        cancel = Request("CANCEL", src.uri, headers)
        assert invite.cancel_id is not None
        invite.cancel_sent = True
        self._start_client(cancel, invite.flow, now, txn_id=invite.cancel_id)
        invite.arm_cancel_guard(now)

    def send_ack(
        self,
        dialog_id: DialogId,
        now: float,
        *,
        flow: Flow | None = None,
        headers: list[tuple[str, str]] | None = None,
        body: bytes = b"",
    ) -> Request:
        """Send the ACK for a 2xx to INVITE (§13.2.2.4): no transaction of its own.

        The stack re-sends it whenever the 2xx is retransmitted.

        Args:
            dialog_id: The (confirmed) dialog.
            now: The current time.
            flow: Where to send it; the dialog's flow by default.
            headers: Extra headers (e.g. Content-Type for a late-offer answer).
            body: The body (an SDP answer for a late offer).

        Returns:
            The ACK as sent.

        Raises:
            LocalProtocolError: unknown dialog or no INVITE in it.
        """
        dialog = self._dialogs.get(dialog_id)
        if dialog is None:
            raise LocalProtocolError(f"no dialog {dialog_id}")
        ack = dialog.build_request("ACK", headers=headers, body=body)
        dest = flow or dialog.flow
        if dest is None:
            raise LocalProtocolError("no flow for the ACK")
        self._ensure_via(ack, dest)
        data = ack.serialize()
        self._out.send(data, dest)
        self._sent_acks[dialog_id] = (ack.cseq.seq, Transmit(data, dest))
        return ack

    # -- responses in -----------------------------------------------------------

    def _on_response(self, response: Response, flow: Flow, now: float) -> None:
        key = response_key(response)
        txn_id = self._client_by_key.get(key) if key is not None else None
        if txn_id is None:
            self._n["stray_responses"] += 1  # §18.1.2
            return
        txn = self._client[txn_id]
        if txn.receive_response(response, now, self._out):
            status = response.status
            proxy = self._proxy_txns.get(txn.id)
            if proxy is not None:
                # A proxy branch: no UAC dialog, every 2xx goes up (RFC 6026
                # §8.4), and the proxy runs Timer C itself (§16.6 step 11).
                self._timers.clear(txn.id, "C")
                if txn.is_invite and status < 200 and txn.cancel_id and not txn.cancel_sent:
                    self._send_cancel(txn, now)
                proxy.on_response(txn.id, response, now)
                self._after_client(txn)
                return
            did, deliver = self._uac_dialog(txn, response, now)
            pending_cancel = txn.cancel_id is not None and not txn.cancel_sent
            if txn.is_invite and status < 200 and pending_cancel:
                self._send_cancel(txn, now)  # §9.1: deferred until a provisional
            if deliver and not txn.internal:
                self._events.append(ResponseReceived(txn.id, response, did))
        self._after_client(txn)

    def _uac_dialog(
        self, txn: ClientTransaction, response: Response, now: float
    ) -> tuple[DialogId | None, bool]:
        """Dialog bookkeeping for a response the machine passed up; (dialog, deliver?)."""
        request = txn.request
        method = request.method
        status = response.status
        to_tag = response.to.tag
        if txn.is_invite and 200 <= status < 300:
            if to_tag in txn.seen_2xx:
                # §13.2.2.4: a retransmitted 2xx; re-send our ACK if we sent one.
                if to_tag is not None:
                    sent = self._sent_acks.get(
                        DialogId(request.call_id, request.from_.tag or "", to_tag)
                    )
                    if sent is not None and sent[0] == request.cseq.seq:
                        self._out.resend(sent[1].data, sent[1].flow)
                return None, False
            txn.seen_2xx.add(to_tag)
        if txn.dialog_id is not None:
            did = txn.dialog_id
            dialog = self._dialogs.get(did)
            if dialog is not None and status >= 200:
                if status < 300 and method in TARGET_REFRESH_METHODS:
                    dialog.refresh_target(response)
                if status in (481, 408):
                    self._end_dialog(did, str(status))  # §12.2.1.2
                elif method == "BYE" and status not in (401, 407):
                    self._end_dialog(did, "bye")
            return did, True
        if method not in DIALOG_CREATING_METHODS:
            return None, True
        if status >= 300:
            self._purge_early(txn.id)
            return None, True
        if to_tag is None or status == 100 or request.from_.tag is None:
            return None, True
        did = DialogId(request.call_id, request.from_.tag, to_tag)
        dialog = self._dialogs.get(did)
        if dialog is None:
            dialog = Dialog.for_uac(request, response, txn.flow, txn.id)
            self._dialogs[did] = dialog
            if dialog.state is DialogState.EARLY:
                self._early.setdefault(txn.id, set()).add(did)
        elif status >= 200:
            dialog.confirm(response)
            self._early.get(txn.id, set()).discard(did)
        else:
            dialog.refresh_target(response)
        return did, True

    # -- dialogs ----------------------------------------------------------------

    def dialog(self, dialog_id: DialogId) -> Dialog | None:
        """The live dialog with this id, or ``None``."""
        return self._dialogs.get(dialog_id)

    def build_in_dialog(
        self,
        dialog_id: DialogId,
        method: str,
        *,
        headers: list[tuple[str, str]] | None = None,
        body: bytes = b"",
    ) -> Request:
        """Build an in-dialog request (§12.2.1.1) to pass to :meth:`send_request`.

        Raises:
            LocalProtocolError: unknown dialog, or ``method`` is ACK/CANCEL.
        """
        dialog = self._dialogs.get(dialog_id)
        if dialog is None:
            raise LocalProtocolError(f"no dialog {dialog_id}")
        if method == "ACK":
            raise LocalProtocolError("use send_ack() for the ACK to a 2xx")
        return dialog.build_request(method, headers=headers, body=body)

    def terminate_dialog(self, dialog_id: DialogId) -> bool:
        """Forget a dialog (e.g. a subscription the TU ended); no event, no BYE.

        Returns whether the dialog existed.
        """
        if dialog_id not in self._dialogs:
            return False
        self._drop_dialog(dialog_id)
        return True

    def _drop_dialog(self, did: DialogId) -> Dialog | None:
        dialog = self._dialogs.pop(did, None)
        self._pending_2xx.pop(did, None)
        self._sent_acks.pop(did, None)
        self._timers.clear(did, "2xx")
        self._timers.clear(did, "2xx_end")
        if dialog is not None and dialog.creating_txn is not None:
            early = self._early.get(dialog.creating_txn)
            if early is not None:
                early.discard(did)
        return dialog

    def _end_dialog(self, did: DialogId, reason: str) -> None:
        if self._drop_dialog(did) is not None:
            self._events.append(DialogTerminated(did, reason))

    def _purge_early(self, txn_id: str) -> None:
        """End the early dialogs a transaction created that never got confirmed."""
        early = self._early.pop(txn_id, None)
        if not early:
            return
        for did in sorted(early, key=str):
            dialog = self._dialogs.get(did)
            if dialog is not None and dialog.state is DialogState.EARLY:
                self._end_dialog(did, "rejected")

    def _dialog_timer(self, did: DialogId, name: str, now: float) -> None:
        pending = self._pending_2xx.get(did)
        if pending is None:
            return
        if name == "2xx":
            self._out.resend(pending.data, pending.flow)
            pending.interval = self.config.next_interval(pending.interval)
            self._timers.set(did, "2xx", now + pending.interval)
            return
        # 2xx_end: 64*T1 without ACK (§13.3.1.4): BYE, end the dialog.
        self._events.append(AckTimeout(did))
        dialog = self._dialogs.get(did)
        if dialog is not None and dialog.flow is not None:
            bye = dialog.build_request("BYE")
            with contextlib.suppress(ProtocolError):
                self._start_client(bye, dialog.flow, now, internal=True)
        self._end_dialog(did, "ack_timeout")

    # -- transaction bookkeeping -------------------------------------------------

    def transport_error(self, txn_id: str, now: float | None = None) -> None:
        """The driver could not send client transaction ``txn_id``'s request (§8.1.3.1).

        ``now`` is needed for proxy branches (the proxy may answer upstream);
        without it the time of the proxy's last input is used.
        """
        txn = self._client.get(txn_id)
        if txn is None or txn.state not in (
            ClientState.CALLING,
            ClientState.TRYING,
            ClientState.PROCEEDING,
        ):
            return
        txn.transport_error()
        proxy = self._proxy_txns.get(txn.id)
        if proxy is not None:
            proxy.on_failure(txn.id, 503, now if now is not None else proxy._now)  # §16.9
        elif not txn.internal:
            self._events.append(TransportFailed(txn.id))
        if txn.dialog_id is not None:
            self._end_dialog(txn.dialog_id, "408")
        self._after_client(txn)

    def _client_timeout(self, txn: ClientTransaction, now: float) -> None:
        proxy = self._proxy_txns.get(txn.id)
        if proxy is not None:
            proxy.on_failure(txn.id, 408, now)
        elif not txn.internal:
            self._events.append(TransactionTimeout(txn.id))
        if txn.dialog_id is not None:
            # §12.2.1.2: a 408 (or timeout) to an in-dialog request ends the dialog.
            self._end_dialog(txn.dialog_id, "bye" if txn.method == "BYE" else "408")

    def _after_client(self, txn: ClientTransaction) -> None:
        if txn.state is not ClientState.TERMINATED:
            return
        if self._client.pop(txn.id, None) is None:
            return
        if self._client_by_key.get(txn.key) == txn.id:
            del self._client_by_key[txn.key]
        if txn.is_invite:
            self._purge_early(txn.id)
        proxy = self._proxy_txns.pop(txn.id, None)
        if proxy is not None:
            proxy.on_terminated(txn.id)
        elif not txn.internal:
            self._events.append(TransactionTerminated(txn.id))

    def _after_server(self, txn: ServerTransaction) -> None:
        if txn.state is not ServerState.TERMINATED:
            return
        if self._server.pop(txn.id, None) is None:
            return
        if self._server_by_key.get(txn.key) == txn.id:
            del self._server_by_key[txn.key]
        if txn.merge_key is not None and self._merge.get(txn.merge_key) == txn.id:
            del self._merge[txn.merge_key]
        if txn.is_invite:
            self._purge_early(txn.id)
        proxy = self._proxy_txns.get(txn.id)
        if proxy is not None and proxy.server_txn == txn.id:
            del self._proxy_txns[txn.id]
            self._drop_proxy_if_idle(proxy)
        elif not txn.internal:
            self._events.append(TransactionTerminated(txn.id))

    # -- proxy (RFC 3261 §16; the logic lives in _proxy) ---------------------------------

    def start_proxy(
        self,
        txn_id: str,
        targets: Sequence[str] | None,
        now: float,
        options: ProxyOptions | None = None,
    ) -> ProxyContext:
        """Proxy server transaction ``txn_id`` statefully to ``targets`` (§16).

        The stack answers :class:`ProxyHopNeeded` events' branches through the
        returned context and emits :class:`ProxyFinished` when the final
        response went upstream. The stack creates no dialog for proxied
        requests. ``targets=None`` routes by the request itself (Route, then
        Request-URI), as for in-dialog requests of record-routed dialogs.

        Raises:
            LocalProtocolError: unknown, answered or already proxied transaction.
        """
        txn = self._server.get(txn_id)
        if (
            txn is None
            or txn.internal
            or txn.final_status is not None
            or txn_id in self._proxy_txns
            or txn.request.method == "ACK"
        ):
            raise LocalProtocolError(f"cannot proxy server transaction {txn_id}")
        ctx = ProxyContext(self, self._new_id("p"), txn, targets, options or ProxyOptions())
        self._proxies[ctx.id] = ctx
        self._proxy_txns[txn_id] = ctx
        ctx.begin(now)
        return ctx

    def proxy_context(self, proxy_id: str) -> ProxyContext | None:
        """The live proxy context with this id, or ``None``."""
        return self._proxies.get(proxy_id)

    def server_request(self, txn_id: str) -> Request | None:
        """The request of a live server transaction, or ``None``."""
        txn = self._server.get(txn_id)
        return txn.request if txn is not None else None

    def send_response_raw(self, txn_id: str, response: Response, now: float) -> None:
        """Send ``response`` on ``txn_id`` exactly as given (a proxy forwarding, §16.7).

        Unlike :meth:`send_response` no To tag is added and no dialog is
        created or tracked; the caller has already removed its own Via.

        Raises:
            LocalProtocolError: unknown transaction, or one that cannot send
                this response any more.
        """
        txn = self._server.get(txn_id)
        if txn is None or txn.internal:
            raise LocalProtocolError(f"no server transaction {txn_id}")
        txn.send_response(response, now, self._out)
        self._after_server(txn)

    def forward_stateless(self, request: Request, flow: Flow) -> None:
        """Forward a :class:`StatelessForward` request on ``flow`` with our Via (§16.11).

        The branch is derived from the request (the same for a retransmission).
        """
        top = request.headers.get("via") or ""
        digest = hashlib.sha1(
            f"{top}\n{request.uri}\n{request.cseq}".encode(), usedforsecurity=False
        ).hexdigest()[:20]
        request.headers.prepend(
            "Via",
            f"SIP/2.0/{flow.via_transport} {_host_port(flow.local)};rport;branch=z9hG4bK{digest}.s",
        )
        self._out.send(request.serialize(), flow)

    def _route_ack(self, request: Request) -> None:
        """An ACK for a 2xx in a dialog we record-routed: forward it without state."""
        if check_request(request, self.local_addresses) is not None:
            self._n["stray_acks"] += 1  # Max-Forwards spent or a loop: drop it
            return
        forward = request.copy()
        try:
            preprocess_routes(forward, self.local_addresses)
            max_forwards = forward.max_forwards
            forward.headers.set(
                "Max-Forwards", str(max_forwards - 1 if max_forwards is not None else 70)
            )
            routes = forward.route
            if not routes and is_local_uri(forward.request_uri, self.local_addresses):
                mapped = self._proxy_dialogs.get(dialog_key(forward))
                if mapped is None:
                    self._n["stray_acks"] += 1
                    return
                forward.uri = mapped
            hop = str(routes[0].uri) if routes else forward.uri
        except ProtocolError:
            self._n["stray_acks"] += 1
            return
        self._events.append(StatelessForward(forward, hop))

    def _forget_proxy_dialog(self, request: Request) -> None:
        """A BYE passes: the record-routed dialog ends (both directions)."""
        call_id, from_tag, to_tag = dialog_key(request)
        self._proxy_dialogs.pop((call_id, from_tag, to_tag), None)
        self._proxy_dialogs.pop((call_id, to_tag, from_tag), None)

    def _drop_proxy_if_idle(self, proxy: ProxyContext) -> None:
        """Forget a proxy context once it answered and its branches ended."""
        if not proxy.idle or proxy.id not in self._proxies:
            return
        del self._proxies[proxy.id]
        for cancel_id in proxy.cancel_ids:
            if self._proxy_txns.get(cancel_id) is proxy and cancel_id not in self._client:
                del self._proxy_txns[cancel_id]
        if self._proxy_txns.get(proxy.server_txn) is proxy and proxy.server_txn not in self._server:
            del self._proxy_txns[proxy.server_txn]
