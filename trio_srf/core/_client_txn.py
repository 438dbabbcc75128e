"""Client transactions: INVITE (RFC 3261 §17.1.1 + RFC 6026) and non-INVITE (§17.1.2).

Rules this module keeps:

* A machine only moves between the states of its RFC figure; every input it
  does not expect in its current state is absorbed (never raised): the peer
  controls the inputs.
* Retransmission timers (A, E) are armed only on unreliable transports.
  Timer A starts at T1 and doubles; Timer E starts at T1 and doubles up to
  T2, and is T2 in Proceeding (§17.1.2.2). Timer B/F (64*T1) bound the wait.
* INVITE, RFC 6026: a 2xx moves Calling/Proceeding to *Accepted*, where
  further 2xx (retransmissions or other forks) are still passed up, so the TU
  can ACK them; Timer M (64*T1) ends the state. A 300-699 is ACKed here
  (§17.1.1.3: same Request-URI, Call-ID, From, CSeq number and top Via as the
  INVITE, the To of the response, the INVITE's Route set) and moves to
  *Completed*, where retransmitted finals only re-send the ACK; Timer D (32 s
  UDP, 0 reliable) ends it.
* In Proceeding a client INVITE waits at most Timer C (the TU would
  otherwise keep a transaction forever; RFC 3261 leaves this to the TU). A
  CANCEL sent for it arms a 64*T1 guard (§9.1): without a final response by
  then the transaction times out.
* Zero-length timers (D, K on reliable transports) terminate at once.

Theory of operation: the stack creates a machine, calls :meth:`start`, then
feeds it matched responses (:meth:`receive_response`, which says whether the
TU should see the response) and expired timers (:meth:`fire`, which says
whether that was a timeout). The machine writes bytes to an
:class:`~trio_srf.core._events.Outbox` and timers to a shared
:class:`~trio_srf.core._timers.DeadlineHeap`; the stack reads ``state`` to
drop terminated machines.
"""

from __future__ import annotations

import enum
from typing import Any

import attrs

from ..sip import Headers, Request, Response
from ._dialog import DialogId
from ._events import Outbox
from ._flow import Flow
from ._timers import DeadlineHeap, TimerConfig

__all__ = ["ClientState", "ClientTransaction", "build_non2xx_ack"]


class ClientState(enum.Enum):
    """States of both client machines (Figures 5 and 6, RFC 6026 Figure 5)."""

    CALLING = "Calling"
    TRYING = "Trying"
    PROCEEDING = "Proceeding"
    COMPLETED = "Completed"
    ACCEPTED = "Accepted"
    TERMINATED = "Terminated"


def build_non2xx_ack(request: Request, response: Response) -> Request:
    """Build the ACK for a 300-699 response to ``request`` (RFC 3261 §17.1.1.3).

    Args:
        request: The INVITE as sent.
        response: The non-2xx final response.
    """
    src = request.headers
    out = Headers()
    vias = src.get_all("via")
    if vias:
        out.add("Via", str(request.top_via))
    for name in ("route",):
        for value in src.get_all(name):
            out.add("Route", value)
    out.add("Max-Forwards", "70")
    out.add("From", src.get("from") or "")
    out.add("To", response.headers.get("to") or "")
    out.add("Call-ID", request.call_id)
    out.add("CSeq", f"{request.cseq.seq} ACK")
    return Request("ACK", request.uri, out)


@attrs.define(eq=False)
class ClientTransaction:
    """One client transaction (INVITE or non-INVITE).

    Attributes:
        id: Opaque transaction id.
        request: The request as sent.
        flow: Where the request (and retransmissions, and the ACK) go.
        config: Timer values.
        timers: The stack's deadline heap (this machine's timers are keyed by ``id``).
        internal: Started by the stack itself (a BYE after an ACK timeout): the
            TU sees no events for it.
        state: Current state.
        has_provisional: A 1xx was received (a CANCEL may now be sent, §9.1).
        cancel_id: Id reserved for the CANCEL once the TU asked for one.
        cancel_sent: The CANCEL went out (after a provisional, §9.1).
        final_status: Status of the first final response, or ``None``.
        key: The stack's matching key (§17.1.3).
        dialog_id: The dialog an in-dialog request was sent in, or ``None``.
        seen_2xx: To tags of the 2xx responses already passed up (an INVITE
            in Accepted sees retransmissions and other forks' 2xx).
    """

    id: str
    request: Request
    flow: Flow
    config: TimerConfig
    timers: DeadlineHeap
    internal: bool = False
    state: ClientState = ClientState.TRYING
    has_provisional: bool = False
    cancel_id: str | None = None
    cancel_sent: bool = False
    final_status: int | None = None
    key: Any = None
    dialog_id: DialogId | None = None
    seen_2xx: set[str | None] = attrs.field(factory=set)
    _data: bytes = b""
    _interval: float = 0.0
    _ack: bytes | None = None

    @property
    def is_invite(self) -> bool:
        """Whether this is an INVITE transaction."""
        return self.request.method == "INVITE"

    @property
    def method(self) -> str:
        """The request method."""
        return self.request.method

    def start(self, now: float, out: Outbox) -> None:
        """Send the request and arm the initial timers."""
        cfg = self.config
        self._data = self.request.serialize()
        out.send(self._data, self.flow)
        reliable = self.flow.reliable
        self._interval = cfg.t1
        if self.is_invite:
            self.state = ClientState.CALLING
            if not reliable:
                self.timers.set(self.id, "A", now + cfg.t1)
            self.timers.set(self.id, "B", now + cfg.timer_b)
        else:
            self.state = ClientState.TRYING
            if not reliable:
                self.timers.set(self.id, "E", now + cfg.t1)
            self.timers.set(self.id, "F", now + cfg.timer_f)

    def receive_response(self, response: Response, now: float, out: Outbox) -> bool:
        """Feed a matched response; return whether the TU should see it."""
        if self.is_invite:
            return self._invite_response(response, now, out)
        return self._non_invite_response(response, now)

    def _invite_response(self, response: Response, now: float, out: Outbox) -> bool:
        state = self.state
        status = response.status
        cfg = self.config
        if state in (ClientState.CALLING, ClientState.PROCEEDING):
            if status < 200:
                if state is ClientState.CALLING:
                    self.state = ClientState.PROCEEDING
                    self.timers.clear(self.id, "A")
                    self.timers.clear(self.id, "B")
                self.has_provisional = True
                if self.timers.get(self.id, "cancel") is None:
                    # Timer C restarts on every provisional (§16.6 step 11 analogue).
                    self.timers.set(self.id, "C", now + cfg.timer_c)
                return True
            self._clear_all()
            self.final_status = status
            if status < 300:
                # RFC 6026 §7.2: Accepted, absorb nothing, let the TU ACK.
                self.state = ClientState.ACCEPTED
                self.timers.set(self.id, "M", now + cfg.timer_m)
                return True
            ack = build_non2xx_ack(self.request, response)
            self._ack = ack.serialize()
            out.send(self._ack, self.flow)
            wait = cfg.timer_d_for(self.flow.reliable)
            if wait > 0:
                self.state = ClientState.COMPLETED
                self.timers.set(self.id, "D", now + wait)
            else:
                self.state = ClientState.TERMINATED
            return True
        if state is ClientState.ACCEPTED:
            # RFC 6026 §8.4: 2xx in Accepted go to the TU; anything else is dropped.
            return 200 <= status < 300
        if state is ClientState.COMPLETED and status >= 300 and self._ack is not None:
            out.resend(self._ack, self.flow)  # §17.1.1.2: ACK each retransmitted final
        return False

    def _non_invite_response(self, response: Response, now: float) -> bool:
        state = self.state
        if state not in (ClientState.TRYING, ClientState.PROCEEDING):
            return False  # Completed absorbs retransmitted finals (§17.1.2.2)
        if response.status < 200:
            if state is ClientState.TRYING:
                self.state = ClientState.PROCEEDING
            self.has_provisional = True
            return True
        self._clear_all()
        self.final_status = response.status
        wait = self.config.timer_k_for(self.flow.reliable)
        if wait > 0:
            self.state = ClientState.COMPLETED
            self.timers.set(self.id, "K", now + wait)
        else:
            self.state = ClientState.TERMINATED
        return True

    def arm_cancel_guard(self, now: float) -> None:
        """A CANCEL was sent: time out if no final response within 64*T1 (§9.1)."""
        if self.state in (ClientState.CALLING, ClientState.PROCEEDING):
            self.timers.clear(self.id, "C")
            self.timers.set(self.id, "cancel", now + 64 * self.config.t1)

    def fire(self, name: str, now: float, out: Outbox) -> bool:
        """Handle expired timer ``name``; return whether it was a timeout for the TU."""
        cfg = self.config
        if name in ("A", "E"):
            if self.state not in (ClientState.CALLING, ClientState.TRYING, ClientState.PROCEEDING):
                return False
            out.resend(self._data, self.flow)
            if name == "A":
                self._interval *= 2  # §17.1.1.2: A doubles with no cap
            elif self.state is ClientState.PROCEEDING:
                self._interval = cfg.t2  # §17.1.2.2: E is T2 in Proceeding
            else:
                self._interval = cfg.next_interval(self._interval)
            self.timers.set(self.id, name, now + self._interval)
            return False
        if name in ("B", "F", "C", "cancel"):
            self._clear_all()
            self.state = ClientState.TERMINATED
            return True
        # D, K, M: the wait is over.
        self._clear_all()
        self.state = ClientState.TERMINATED
        return False

    def transport_error(self) -> None:
        """The transport reported a failure for this transaction's flow (§17.1.4)."""
        self._clear_all()
        self.state = ClientState.TERMINATED

    def _clear_all(self) -> None:
        for name in ("A", "B", "C", "D", "E", "F", "K", "M", "cancel"):
            self.timers.clear(self.id, name)
