"""Server transactions: INVITE (RFC 3261 §17.2.1 + RFC 6026) and non-INVITE (§17.2.2).

Rules this module keeps:

* Responses always go to the flow chosen once, at creation, by the §18.2.2
  rules (:func:`response_flow`); retransmissions reuse it.
* INVITE: the machine starts in *Proceeding* and sends 100 Trying itself
  after ``TimerConfig.trying_delay`` (200 ms by default, as §17.2.1 allows)
  if the TU has not answered by then, or at once when the INVITE is
  retransmitted first (or when the delay is 0). A retransmitted INVITE re-sends the last
  provisional. A 2xx moves it to *Accepted* (RFC 6026 §7.1): retransmitting
  the 2xx is the TU's job (the stack's dialog layer does it), further 2xx
  from the TU pass straight through, retransmitted INVITEs are absorbed and
  Timer L (64*T1) ends the state. A 300-699 moves it to *Completed*: Timer G
  re-sends it (T1 doubling, capped at T2, unreliable transports only) until
  an ACK (-> *Confirmed*, Timer I = T4 UDP / 0 reliable) or Timer H (64*T1).
* Non-INVITE: *Trying* absorbs retransmissions until the TU answers; a 1xx
  moves it to *Proceeding*, a final to *Completed* where retransmitted
  requests re-send the final until Timer J (64*T1 UDP, 0 reliable).
* Illegal TU calls (a response after the final one, a bad status) raise
  :class:`~trio_srf.errors.LocalProtocolError`; peer input never raises.
"""

from __future__ import annotations

import enum
from typing import Any

import attrs

from ..errors import LocalProtocolError
from ..sip import Request, Response
from ._events import Outbox
from ._flow import Flow
from ._timers import DeadlineHeap, TimerConfig

__all__ = ["ServerState", "ServerTransaction", "response_flow"]


class ServerState(enum.Enum):
    """States of both server machines (Figures 7 and 8, RFC 6026 Figure 7)."""

    TRYING = "Trying"
    PROCEEDING = "Proceeding"
    COMPLETED = "Completed"
    CONFIRMED = "Confirmed"
    ACCEPTED = "Accepted"
    TERMINATED = "Terminated"


def _bare(host: str) -> str:
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def response_flow(request: Request, flow: Flow) -> Flow:
    """Where responses to ``request`` (received on ``flow``) go: RFC 3261 §18.2.2.

    * Reliable transport: back over the same connection (``flow`` itself);
      if it is gone, the driver may open a new one to ``flow.remote``.
    * ``maddr`` in the top Via: that address, at the sent-by port (default 5060).
    * Otherwise the ``received`` address (source IP, RFC 3261 §18.2.1) and,
      when the Via had ``rport`` (RFC 3581 §4), the source port; else the
      sent-by port (default 5060).

    ``request`` must already carry the ``received``/``rport`` the stack added.
    """
    if flow.reliable:
        return flow
    via = request.top_via
    default_port = 5061 if via.transport in ("TLS", "WSS") else 5060
    maddr = via.maddr
    if maddr is not None:
        return Flow(flow.transport, (_bare(maddr), via.port or default_port), flow.local)
    host = via.received or _bare(via.host)
    rport = via.rport
    port = rport if rport is not None else (via.port or default_port)
    remote = (_bare(host), port)
    # Usually the answer goes back where the request came from: reuse that flow.
    return flow if remote == flow.remote else Flow(flow.transport, remote, flow.local)


@attrs.define(eq=False)
class ServerTransaction:
    """One server transaction (INVITE or non-INVITE).

    Attributes:
        id: Opaque transaction id.
        request: The request that created it.
        flow: The flow it arrived on.
        reply_flow: Where responses go (§18.2.2).
        config: Timer values.
        timers: The stack's deadline heap.
        state: Current state.
        local_tag: The To tag used in responses (chosen on the first response
            that needs one, and reused by the 487 after a CANCEL).
        final_status: Status of the final response sent, or ``None``.
        last_response: The last response sent, or ``None``.
        key: The stack's matching key for it (§17.2.3).
        merge_key: The stack's merged-request key (§8.2.2.2), or ``None``.
        internal: Answered by the stack itself; the TU never sees it.
    """

    id: str
    request: Request
    flow: Flow
    reply_flow: Flow
    config: TimerConfig
    timers: DeadlineHeap
    state: ServerState = ServerState.TRYING
    local_tag: str | None = None
    final_status: int | None = None
    last_response: Response | None = None
    key: Any = None
    merge_key: Any = None
    internal: bool = False
    _data: bytes | None = None
    _interval: float = 0.0

    @property
    def last_sent(self) -> bytes | None:
        """The wire form of the last response sent, or ``None``."""
        return self._data

    @property
    def is_invite(self) -> bool:
        """Whether this is an INVITE transaction."""
        return self.request.method == "INVITE"

    @property
    def method(self) -> str:
        """The request method."""
        return self.request.method

    def start(self, now: float, out: Outbox, *, trying: bool = True) -> None:
        """Enter the initial state; an INVITE schedules or sends 100 Trying.

        Args:
            now: The current time.
            out: Where bytes go.
            trying: ``False`` when the stack answers at once (no 100 needed).
        """
        if not self.is_invite:
            self.state = ServerState.TRYING
            return
        self.state = ServerState.PROCEEDING
        if not trying:
            return
        delay = self.config.trying_delay
        if delay > 0:
            self.timers.set(self.id, "trying", now + delay)
        else:
            self._send(self.request.make_response(100), out)

    def _send(self, response: Response, out: Outbox) -> None:
        self.last_response = response
        self._data = response.serialize()
        out.send(self._data, self.reply_flow)

    def receive_request(self, request: Request, now: float, out: Outbox) -> bool:
        """Feed a retransmitted request or an ACK; return whether the TU should see it.

        Only an ACK in the INVITE *Accepted* state (an RFC 2543 peer's ACK for
        the 2xx, matched by the fallback rules) goes up.
        """
        state = self.state
        if request.method == "ACK":
            if state is ServerState.COMPLETED:
                self.timers.clear(self.id, "G")
                self.timers.clear(self.id, "H")
                wait = self.config.timer_i_for(self.flow.reliable)
                if wait > 0:
                    self.state = ServerState.CONFIRMED
                    self.timers.set(self.id, "I", now + wait)
                else:
                    self.state = ServerState.TERMINATED
                return False
            return state is ServerState.ACCEPTED
        # A retransmission of the original request.
        if state in (ServerState.PROCEEDING, ServerState.COMPLETED):
            if self._data is not None:
                out.resend(self._data, self.reply_flow)
            elif self.is_invite:
                # The delayed 100 Trying is due now: the client is retransmitting.
                self.timers.clear(self.id, "trying")
                self._send(self.request.make_response(100), out)
        return False

    def send_response(self, response: Response, now: float, out: Outbox) -> None:
        """Send a TU response and move the machine (§17.2.1, §17.2.2).

        Raises:
            LocalProtocolError: the transaction already sent its final response
                (except further 2xx to an INVITE in Accepted), or the status is
                out of range.
        """
        status = response.status
        if not 100 <= status <= 699:
            raise LocalProtocolError(f"status {status} out of range")
        state = self.state
        cfg = self.config
        if state is ServerState.ACCEPTED and 200 <= status < 300:
            # RFC 6026 §8.5: a 2xx (retransmission or another one) passes through.
            out.send(response.serialize(), self.reply_flow)
            return
        if state not in (ServerState.TRYING, ServerState.PROCEEDING):
            raise LocalProtocolError(
                f"{self.method} transaction {self.id} already answered {self.final_status}"
            )
        self.timers.clear(self.id, "trying")
        self._send(response, out)
        if status < 200:
            self.state = ServerState.PROCEEDING
            return
        self.final_status = status
        reliable = self.flow.reliable
        if self.is_invite:
            if status < 300:
                self.state = ServerState.ACCEPTED
                self.timers.set(self.id, "L", now + cfg.timer_l)
                return
            self.state = ServerState.COMPLETED
            if not reliable:
                self._interval = cfg.t1
                self.timers.set(self.id, "G", now + cfg.t1)
            self.timers.set(self.id, "H", now + cfg.timer_h)
            return
        wait = cfg.timer_j_for(reliable)
        if wait > 0:
            self.state = ServerState.COMPLETED
            self.timers.set(self.id, "J", now + wait)
        else:
            self.state = ServerState.TERMINATED

    def fire(self, name: str, now: float, out: Outbox) -> None:
        """Handle expired timer ``name``."""
        if name == "trying":
            if self.state is ServerState.PROCEEDING and self.last_response is None:
                self._send(self.request.make_response(100), out)
            return
        if name == "G":
            if self.state is ServerState.COMPLETED and self._data is not None:
                out.resend(self._data, self.reply_flow)
                self._interval = self.config.next_interval(self._interval)
                self.timers.set(self.id, "G", now + self._interval)
            return
        # H (no ACK), I, J, L: the machine is done.
        for timer in ("G", "H", "I", "J", "L", "trying"):
            self.timers.clear(self.id, timer)
        self.state = ServerState.TERMINATED
