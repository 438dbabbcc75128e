"""The Agent boundary: what the Srf layer needs from a SIP engine (ARCHITECTURE §4).

Two implementations exist or are planned: the embedded engine
(:mod:`trio_srf.engine`) and a drachtio-server connection. Both deliver the
same notices upward and accept the same commands, so Srf code runs unchanged
on either. This module holds the notice types and the :class:`Agent`
protocol only; no logic.

Ids (server transactions, client transactions, dialogs) are opaque strings so
that a drachtio implementation can map them 1:1 onto drachtio's
``transactionId`` and ``dialogId``.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Sequence
from typing import Protocol

import attrs

from .core import Flow
from .core._events import ProxyOutcome
from .sip import Request, Response

__all__ = [
    "AckReceived",
    "Agent",
    "ClientTransactionHandle",
    "DialogEnded",
    "IncomingRequest",
    "Notice",
    "RequestCancelled",
]


@attrs.frozen
class IncomingRequest:
    """A request for the application.

    Attributes:
        server_txn: The server transaction to answer with ``Agent.respond``;
            ``""`` for requests that must not be answered (none today).
        request: The request, as received (Via already carries received/rport).
        flow: The transport, source and local address it arrived on.
        dialog_id: The dialog it belongs to, or ``None`` for out-of-dialog requests.
    """

    server_txn: str
    request: Request
    flow: Flow
    dialog_id: str | None = None

    @property
    def source_address(self) -> str:
        """The sender's IP address."""
        return self.flow.remote[0]

    @property
    def source_port(self) -> int:
        """The sender's port."""
        return self.flow.remote[1]

    @property
    def protocol(self) -> str:
        """The transport (``udp``, ``tcp``, ``tls``, ``ws``, ``wss``)."""
        return self.flow.transport


@attrs.frozen
class RequestCancelled:
    """The caller CANCELled a pending INVITE; the agent already sent 200 and 487.

    Attributes:
        server_txn: The INVITE's server transaction.
        request: The CANCEL request.
    """

    server_txn: str
    request: Request


@attrs.frozen
class AckReceived:
    """The ACK for a 2xx we sent arrived; the dialog is confirmed.

    Attributes:
        dialog_id: The dialog.
        request: The ACK (its body is the answer to a late offer).
    """

    dialog_id: str
    request: Request


@attrs.frozen
class DialogEnded:
    """A dialog ended below the application (BYE handled, ACK timeout, 481/408).

    Attributes:
        dialog_id: The dialog.
        reason: ``"bye"``, ``"ack_timeout"``, ``"481"``, ``"408"``, ``"rejected"``,
            ``"agent_closed"`` (we closed the agent) or ``"agent_lost"`` (the
            drachtio connection dropped).
    """

    dialog_id: str
    reason: str


#: What an agent delivers on ``incoming`` and on per-dialog channels.
Notice = IncomingRequest | RequestCancelled | AckReceived | DialogEnded


class ClientTransactionHandle(Protocol):
    """A request we sent: iterate its responses; cancel it if it is an INVITE."""

    @property
    def id(self) -> str:
        """The client transaction id."""
        ...

    @property
    def request(self) -> Request:
        """The request as sent (Via, branch and Max-Forwards filled in)."""
        ...

    def __aiter__(self) -> AsyncIterator[Response]:
        """Yield responses in arrival order, ending after the final one.

        Raises:
            RequestTimeout: no final response in 64*T1.
            TransportFailure: the request could not be delivered.
        """
        ...

    def cancel(self) -> None:
        """CANCEL a pending INVITE (RFC 3261 §9.1); a no-op once answered."""
        ...

    async def final(self) -> Response:
        """Wait for the final response, skipping provisionals."""
        ...


class Agent(Protocol):
    """The commands Srf issues and the notices it consumes."""

    @property
    def incoming(self) -> AsyncIterable[Notice]:
        """New requests, CANCEL notices, and notices of dialogs nobody attached."""
        ...

    def contact_uri(self, transport: str = "udp") -> str:
        """A SIP URI reaching this agent on ``transport`` (for Contact and From)."""
        ...

    def dialog_id_for(self, response: Response, *, uac: bool) -> str | None:
        """The id of the live dialog a 1xx/2xx we sent (or received, ``uac``) belongs to."""
        ...

    async def respond(self, server_txn: str, response: Response) -> Response:
        """Send a response on a server transaction; return it as sent."""
        ...

    async def request(
        self, request: Request, *, next_hop: str | None = None
    ) -> ClientTransactionHandle:
        """Send an out-of-dialog request (resolving its next hop, RFC 3263)."""
        ...

    async def request_in_dialog(
        self,
        dialog_id: str,
        method: str,
        *,
        headers: Sequence[tuple[str, str]] = (),
        body: bytes = b"",
    ) -> ClientTransactionHandle:
        """Send a request inside a dialog (§12.2.1.1)."""
        ...

    async def ack(
        self, dialog_id: str, *, headers: Sequence[tuple[str, str]] = (), body: bytes = b""
    ) -> Request:
        """Send the ACK for a 2xx to INVITE; return it as sent."""
        ...

    def attach_dialog(self, dialog_id: str) -> AsyncIterator[Notice]:
        """Route this dialog's in-dialog notices to the returned channel."""
        ...

    def detach_dialog(self, dialog_id: str) -> None:
        """Route this dialog's notices back to ``incoming``."""
        ...

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
        """Proxy a received request statefully (RFC 3261 §16); return the outcome."""
        ...
