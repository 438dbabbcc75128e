"""What the sans-IO stack hands up to its driver: outgoing datagrams and events.

Rules this module keeps:

* Everything here is a frozen attrs value. The stack never calls up into the
  layer above; the driver drains :meth:`SipStack.outgoing` (bytes to send) and
  :meth:`SipStack.events` (things the transaction user must know) after every
  call (ARCHITECTURE §1, "events go up, commands go down").
* Transaction ids are opaque strings (``"c…"`` client, ``"s…"`` server) so
  a drachtio-server front end can map them 1:1 onto its ``transactionId``.
* Each event names the RFC 3261 situation that produced it in its docstring.
"""

from __future__ import annotations

import attrs

from ..sip import Request, Response
from ._dialog import DialogId
from ._flow import Flow

__all__ = [
    "AckReceived",
    "AckTimeout",
    "CancelReceived",
    "DialogTerminated",
    "Event",
    "ProxyFinished",
    "ProxyHopNeeded",
    "ProxyOutcome",
    "StatelessForward",
    "RequestReceived",
    "ResponseReceived",
    "TransactionTerminated",
    "TransactionTimeout",
    "Transmit",
    "TransportFailed",
]


@attrs.frozen
class Transmit:
    """Bytes to send on a flow.

    Attributes:
        data: The serialized message.
        flow: Where to send it. For reliable transports ``flow.conn_id`` names
            the connection to reuse; ``None`` means any (or a new) connection.
    """

    data: bytes
    flow: Flow


@attrs.frozen
class RequestReceived:
    """A new request for the TU: a new server transaction was created.

    The stack has already sent 100 Trying for an INVITE and answered the
    requests a UA core must reject by itself (400, 481, 482, 483, 500 for an
    out-of-order CSeq); those never show up here.

    Attributes:
        txn_id: The server transaction to answer with :meth:`SipStack.send_response`.
        request: The request, with ``received``/``rport`` already set on its top Via.
        flow: The flow it arrived on.
        dialog_id: The dialog it belongs to, or ``None`` for out-of-dialog requests.
    """

    txn_id: str
    request: Request
    flow: Flow
    dialog_id: DialogId | None


@attrs.frozen
class ResponseReceived:
    """A response for a client transaction the TU started.

    Retransmissions are absorbed below: each provisional/final response that
    reaches the TU is new (a 2xx to an INVITE from a second fork is new).

    Attributes:
        txn_id: The client transaction.
        response: The response.
        dialog_id: The (early or confirmed) dialog the response created or
            belongs to, or ``None``.
    """

    txn_id: str
    response: Response
    dialog_id: DialogId | None


@attrs.frozen
class CancelReceived:
    """A CANCEL matched a pending INVITE server transaction (RFC 3261 §9.2).

    The stack has answered 200 to the CANCEL and 487 to the INVITE; the TU
    must only stop working on the INVITE (its transaction accepts no more
    responses).

    Attributes:
        txn_id: The INVITE's server transaction.
        request: The CANCEL request.
    """

    txn_id: str
    request: Request


@attrs.frozen
class AckReceived:
    """The ACK for a 2xx to an INVITE arrived (RFC 3261 §13.3.1.4).

    Emitted once per INVITE (retransmitted ACKs are absorbed); the stack has
    stopped retransmitting the 2xx.

    Attributes:
        dialog_id: The dialog.
        request: The ACK (it may carry an SDP answer, RFC 3261 §13.2.1).
    """

    dialog_id: DialogId
    request: Request


@attrs.frozen
class AckTimeout:
    """No ACK for our 2xx within 64*T1 (RFC 3261 §13.3.1.4).

    The stack has sent a BYE and terminated the dialog (a
    :class:`DialogTerminated` follows).

    Attributes:
        dialog_id: The dialog.
    """

    dialog_id: DialogId


@attrs.frozen
class TransactionTimeout:
    """A client transaction got no final response (RFC 3261 Timer B/F).

    Also emitted when a CANCELled INVITE gets no final response within 64*T1
    (§9.1) and when an INVITE stays in Proceeding longer than Timer C.
    The TU should act as on a 408 (§8.1.3.1).

    Attributes:
        txn_id: The client transaction.
    """

    txn_id: str


@attrs.frozen
class TransportFailed:
    """The driver reported that a client transaction's request could not be sent.

    RFC 3261 §8.1.3.1: the TU should treat this as a 503. The transaction is
    gone (a :class:`TransactionTerminated` follows).

    Attributes:
        txn_id: The client transaction.
    """

    txn_id: str


@attrs.frozen
class TransactionTerminated:
    """A transaction left the tables (either side); its id is now unknown.

    Attributes:
        txn_id: The transaction.
    """

    txn_id: str


@attrs.frozen
class DialogTerminated:
    """A dialog left the tables.

    Attributes:
        dialog_id: The dialog.
        reason: ``"bye"`` (a BYE completed, either direction),
            ``"rejected"`` (an early dialog's INVITE failed or another
            dialog was confirmed), ``"ack_timeout"``, ``"481"``/``"408"``
            (an in-dialog request got that answer, §12.2.1.2) or ``"local"``
            (:meth:`SipStack.terminate_dialog`).
    """

    dialog_id: DialogId
    reason: str


@attrs.frozen
class ProxyOutcome:
    """How a stateful proxy operation ended (RFC 3261 §16.7).

    Attributes:
        status: The final status forwarded (or generated) upstream.
        response: The final response as sent upstream.
        target: The target whose response was forwarded as the final one, or
            ``None`` when the proxy generated it (no target, timeouts, errors).
        responses: ``(target, status)`` of every response received on any
            branch, in arrival order (100 Trying and 2xx retransmissions included).
        cancelled: The caller CANCELled the request (§16.10).
    """

    status: int
    response: Response | None
    target: str | None
    responses: tuple[tuple[str, int], ...]
    cancelled: bool = False

    @property
    def connected(self) -> bool:
        """Whether a 2xx was forwarded (drachtio's ``connected``)."""
        return 200 <= self.status < 300


@attrs.frozen
class ProxyHopNeeded:
    """A proxy branch needs a transport: resolve ``next_hop`` and start it.

    The driver resolves ``next_hop`` (RFC 3263) and calls
    ``ProxyContext.start_branch(branch, flow, now)``, or
    ``ProxyContext.branch_failed(branch, now)`` when it cannot be reached.

    Attributes:
        proxy_id: The proxy context (``SipStack.proxy_context(proxy_id)``).
        branch: The branch number within the context.
        target: The branch's Request-URI.
        next_hop: The URI to resolve (first Route or the Request-URI, §16.6 step 7).
    """

    proxy_id: str
    branch: int
    target: str
    next_hop: str


@attrs.frozen
class ProxyFinished:
    """A proxy context forwarded (or generated) its final response upstream.

    Later 2xx retransmissions are still relayed until the branches' client
    transactions end.

    Attributes:
        proxy_id: The proxy context.
        server_txn: The server transaction that was proxied.
        outcome: The result.
    """

    proxy_id: str
    server_txn: str
    outcome: ProxyOutcome


@attrs.frozen
class StatelessForward:
    """A request routed through us to forward without a transaction (§16.11).

    The ACK for a 2xx in a record-routed dialog: the stack has done the Route
    processing and Max-Forwards; the driver resolves ``next_hop`` and calls
    :meth:`SipStack.forward_stateless` (which adds our Via).

    Attributes:
        request: The request to forward.
        next_hop: The URI to resolve.
    """

    request: Request
    next_hop: str


Event = (
    RequestReceived
    | ResponseReceived
    | CancelReceived
    | AckReceived
    | AckTimeout
    | TransactionTimeout
    | TransportFailed
    | TransactionTerminated
    | DialogTerminated
    | ProxyHopNeeded
    | ProxyFinished
    | StatelessForward
)


@attrs.define
class Outbox:
    """Where transaction machines put bytes to send (internal to ``core``).

    Attributes:
        transmits: Pending :class:`Transmit` values, drained by the stack's driver.
        retransmissions: Count of timer-driven or duplicate-triggered resends.
    """

    transmits: list[Transmit] = attrs.field(factory=list)
    retransmissions: int = 0

    def send(self, data: bytes, flow: Flow) -> None:
        """Queue ``data`` for ``flow``."""
        self.transmits.append(Transmit(data, flow))

    def resend(self, data: bytes, flow: Flow) -> None:
        """Queue a retransmission of ``data`` for ``flow`` (counted)."""
        self.retransmissions += 1
        self.transmits.append(Transmit(data, flow))
