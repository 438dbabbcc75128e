"""Helpers for the sans-IO core tests: message factories and an in-memory wire.

``StackPair`` is the h11 ``ConnectionPair`` idea for SIP: two SipStacks joined
by a wire whose seeded RNG drops, duplicates and delays (hence reorders)
datagrams; time only moves when the test says so.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable

import attrs

from trio_srf.core import Event, Flow, SipStack, TimerConfig
from trio_srf.sip import Request

A_ADDR = ("10.0.0.1", 5060)
B_ADDR = ("10.0.0.2", 5060)


def a_to_b(transport: str = "udp", conn_id: int | None = None) -> Flow:
    """The flow A uses to reach B."""
    return Flow(transport, B_ADDR, A_ADDR, conn_id)


def b_from_a(transport: str = "udp", conn_id: int | None = None) -> Flow:
    """The flow on which B receives A's messages."""
    return Flow(transport, A_ADDR, B_ADDR, conn_id)


def raw_request(
    method: str = "INVITE",
    *,
    branch: str | None = "z9hG4bKabc1",
    via_host: str = "10.0.0.1:5060",
    transport: str = "UDP",
    via_params: str = "",
    ruri: str = "sip:bob@10.0.0.2",
    from_tag: str | None = "ft1",
    to_tag: str | None = None,
    call_id: str = "call-1@10.0.0.1",
    cseq: int = 1,
    cseq_method: str | None = None,
    max_forwards: int | None = 70,
    extra: str = "",
    body: bytes = b"",
) -> bytes:
    """A request as a peer would send it."""
    branch_part = f";branch={branch}" if branch is not None else ""
    from_part = f";tag={from_tag}" if from_tag is not None else ""
    to_part = f";tag={to_tag}" if to_tag is not None else ""
    lines = [
        f"{method} {ruri} SIP/2.0",
        f"Via: SIP/2.0/{transport} {via_host}{branch_part}{via_params}",
    ]
    if max_forwards is not None:
        lines.append(f"Max-Forwards: {max_forwards}")
    lines += [
        f"From: <sip:alice@10.0.0.1>{from_part}",
        f"To: <sip:bob@10.0.0.2>{to_part}",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} {cseq_method or method}",
        "Contact: <sip:alice@10.0.0.1:5060>",
    ]
    if extra:
        lines += extra.strip("\r\n").split("\r\n")
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def new_request(
    method: str = "INVITE",
    *,
    ruri: str = "sip:bob@10.0.0.2",
    call_id: str = "call-a@10.0.0.1",
    from_tag: str = "atag",
    cseq: int = 1,
    extra: list[tuple[str, str]] | None = None,
) -> Request:
    """A request a TU would hand to ``send_request`` (no Via: the stack adds it)."""
    headers = [
        ("From", f"<sip:alice@10.0.0.1>;tag={from_tag}"),
        ("To", "<sip:bob@10.0.0.2>"),
        ("Call-ID", call_id),
        ("CSeq", f"{cseq} {method}"),
        ("Contact", "<sip:alice@10.0.0.1:5060>"),
    ]
    headers += extra or []
    return Request(method, ruri, headers)


def run_timers(stack: SipStack, until: float) -> list[tuple[float, list[bytes], list[Event]]]:
    """Step ``stack`` from deadline to deadline up to ``until``.

    Returns ``(time, transmitted data, events)`` for each step that produced any.
    """
    steps: list[tuple[float, list[bytes], list[Event]]] = []
    while True:
        deadline = stack.next_deadline()
        if deadline is None or deadline > until:
            return steps
        stack.handle_timers(deadline)
        sent = [t.data for t in stack.outgoing()]
        events = stack.events()
        if sent or events:
            steps.append((deadline, sent, events))


def first_line(data: bytes) -> str:
    """The start line of a serialized message."""
    return data.split(b"\r\n", 1)[0].decode()


@attrs.define
class StackPair:
    """Two stacks, A at 10.0.0.1:5060 and B at 10.0.0.2:5060, over a lossy wire.

    Attributes:
        a, b: The stacks.
        rng: Seeded RNG deciding drop/duplicate/delay per datagram.
        drop, dup: Probabilities per datagram.
        max_delay: Delays are uniform in [0.001, max_delay] (reordering).
        now: Current time.
        events_a, events_b: Everything each TU saw, with the time.
        on_a, on_b: TU reactions, called with (pair, event) for each event.
    """

    a: SipStack = attrs.field(factory=lambda: SipStack(TimerConfig()))
    b: SipStack = attrs.field(factory=lambda: SipStack(TimerConfig()))
    rng: random.Random = attrs.field(factory=lambda: random.Random(0))
    drop: float = 0.0
    dup: float = 0.0
    max_delay: float = 0.01
    now: float = 0.0
    wire: list[tuple[float, int, str, bytes, Flow]] = attrs.field(factory=list)
    events_a: list[tuple[float, Event]] = attrs.field(factory=list)
    events_b: list[tuple[float, Event]] = attrs.field(factory=list)
    on_a: Callable[[StackPair, Event], None] | None = None
    on_b: Callable[[StackPair, Event], None] | None = None
    sent: int = 0

    def _flush(self) -> None:
        progress = True
        while progress:
            progress = False
            for name, stack in (("a", self.a), ("b", self.b)):
                for tx in stack.outgoing():
                    progress = True
                    self.sent += 1
                    dest = "b" if tx.flow.remote == B_ADDR else "a"
                    src = A_ADDR if name == "a" else B_ADDR
                    arrive_flow = Flow(tx.flow.transport, src, tx.flow.remote, tx.flow.conn_id)
                    copies = 0 if self.rng.random() < self.drop else 1
                    if copies and self.rng.random() < self.dup:
                        copies = 2
                    for _ in range(copies):
                        delay = self.rng.uniform(0.001, self.max_delay)
                        heapq.heappush(
                            self.wire, (self.now + delay, self.sent, dest, tx.data, arrive_flow)
                        )
                        self.sent += 1
                events = stack.events()
                if events:
                    progress = True
                log = self.events_a if name == "a" else self.events_b
                hook = self.on_a if name == "a" else self.on_b
                for event in events:
                    log.append((self.now, event))
                    if hook is not None:
                        hook(self, event)

    def step(self) -> bool:
        """Advance to the next wire delivery or timer; return False when idle."""
        self._flush()
        times = [t for t in (self.a.next_deadline(), self.b.next_deadline()) if t is not None]
        if self.wire:
            times.append(self.wire[0][0])
        if not times:
            return False
        self.now = max(self.now, min(times))
        while self.wire and self.wire[0][0] <= self.now:
            _, _, dest, data, flow = heapq.heappop(self.wire)
            (self.a if dest == "a" else self.b).receive(data, flow, self.now)
            self._flush()
        self.a.handle_timers(self.now)
        self.b.handle_timers(self.now)
        self._flush()
        return True

    def run(self, until: float) -> None:
        """Step until idle or past ``until``."""
        while self.now <= until and self.step():
            pass

    def idle(self) -> bool:
        """Whether both stacks' tables are empty and nothing is in flight."""
        for stack in (self.a, self.b):
            st = stack.statistics()
            if st.client_transactions or st.server_transactions or st.dialogs or st.timers:
                return False
        return not self.wire
