"""The stateful proxy core (RFC 3261 §16) without Trio: four SipStacks on an in-memory wire.

A (caller, 10.0.0.1) -> P (proxy, 10.0.0.5) -> B1 (10.0.0.2) / B2 (10.0.0.3). Time moves
only when a test says so; the wire delivers at once, in order.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from trio_srf.core import (
    AckReceived,
    DialogTerminated,
    Event,
    Flow,
    RequestReceived,
    ResponseReceived,
    SipStack,
    TimerConfig,
)
from trio_srf.core._events import ProxyFinished, ProxyHopNeeded, ProxyOutcome, StatelessForward
from trio_srf.core._proxy import (
    ProxyOptions,
    best_response,
    check_request,
    is_local_uri,
    pop_top_via,
    preprocess_routes,
)
from trio_srf.errors import LocalProtocolError
from trio_srf.sip import Headers, Request, Response, parse, parse_uri

A = ("10.0.0.1", 5060)
P = ("10.0.0.5", 5060)
B1 = ("10.0.0.2", 5060)
B2 = ("10.0.0.3", 5060)
NAMES = {A: "A", P: "P", B1: "B1", B2: "B2"}
T1 = "sip:bob@10.0.0.2"
T2 = "sip:bob@10.0.0.3"

Handler = Callable[["Net", str, Event], None]


class Net:
    """The four stacks, the wire log, and per-node TU reactions."""

    def __init__(self, proxy_config: TimerConfig | None = None) -> None:
        cfg = TimerConfig(trying_delay=0.0)
        self.stacks = {addr: SipStack(proxy_config or cfg if addr == P else cfg) for addr in NAMES}
        self.p.local_addresses.add(P)
        self.now = 0.0
        self.down: set[tuple[str, int]] = set()
        self.log: list[tuple[str, str, str]] = []  # (from, to, start line)
        self.received: dict[str, list[Request | Response]] = {n: [] for n in NAMES.values()}
        self.events: dict[str, list[Event]] = {n: [] for n in NAMES.values()}
        self.handlers: dict[str, Handler] = {}
        self.outcomes: list[ProxyOutcome] = []
        self.proxy_targets: list[str] = [T1, T2]
        self.route: Callable[[Request], list[str]] | None = None
        self.options = ProxyOptions()

    @property
    def a(self) -> SipStack:
        return self.stacks[A]

    @property
    def p(self) -> SipStack:
        return self.stacks[P]

    def flush(self) -> None:
        progress = True
        while progress:
            progress = False
            for addr, stack in self.stacks.items():
                for tx in stack.outgoing():
                    progress = True
                    dest = tx.flow.remote
                    line = tx.data.split(b"\r\n", 1)[0].decode()
                    self.log.append((NAMES[addr], NAMES.get(dest, "?"), line))
                    if dest in self.down or dest not in self.stacks:
                        continue
                    self.received[NAMES[dest]].append(parse(tx.data))
                    self.stacks[dest].receive(tx.data, Flow("udp", addr, dest), self.now)
                for event in stack.events():
                    progress = True
                    name = NAMES[addr]
                    self.events[name].append(event)
                    if addr == P:
                        self._proxy_tu(event)
                    handler = self.handlers.get(name)
                    if handler is not None:
                        handler(self, name, event)

    def _flow_to(self, uri: str) -> Flow | None:
        parsed = parse_uri(uri)
        host, port = getattr(parsed, "host", ""), getattr(parsed, "port", None) or 5060
        if (host, port) not in self.stacks:
            return None
        return Flow("udp", (host, port), P)

    def _proxy_tu(self, event: Event) -> None:
        p = self.p
        if isinstance(event, RequestReceived):
            targets = self.route(event.request) if self.route else self.proxy_targets
            p.start_proxy(event.txn_id, targets, self.now, self.options)
        elif isinstance(event, ProxyHopNeeded):
            ctx = p.proxy_context(event.proxy_id)
            assert ctx is not None
            flow = self._flow_to(event.next_hop)
            if flow is None:
                ctx.branch_failed(event.branch, self.now)
            else:
                ctx.start_branch(event.branch, flow, self.now)
        elif isinstance(event, StatelessForward):
            flow = self._flow_to(event.next_hop)
            assert flow is not None
            p.forward_stateless(event.request, flow)
        elif isinstance(event, ProxyFinished):
            self.outcomes.append(event.outcome)

    def advance(self, until: float) -> None:
        """Run every timer up to ``until``."""
        self.flush()
        while True:
            deadlines = [d for s in self.stacks.values() if (d := s.next_deadline()) is not None]
            if not deadlines or min(deadlines) > until:
                break
            self.now = max(self.now, min(deadlines))
            for stack in self.stacks.values():
                stack.handle_timers(self.now)
            self.flush()
        self.now = max(self.now, until)

    def call(self, ruri: str = "sip:bob@example.com", method: str = "INVITE", **kw: str) -> str:
        headers = [
            ("From", "<sip:alice@10.0.0.1>;tag=atag"),
            ("To", "<sip:bob@example.com>"),
            ("Call-ID", f"call-{len(self.log)}@10.0.0.1"),
            ("CSeq", f"1 {method}"),
            ("Contact", "<sip:alice@10.0.0.1:5060>"),
        ]
        headers += [(k.replace("_", "-"), v) for k, v in kw.items()]
        txn = self.a.send_request(Request(method, ruri, headers), Flow("udp", P, A), self.now)
        self.flush()
        return txn

    def statuses(self, name: str = "A") -> list[int]:
        return [e.response.status for e in self.events[name] if isinstance(e, ResponseReceived)]

    def requests(self, name: str, method: str) -> list[Request]:
        return [m for m in self.received[name] if isinstance(m, Request) and m.method == method]

    def drained(self) -> bool:
        """No transaction, timer or proxy context left anywhere (dialogs may live on)."""
        for stack in self.stacks.values():
            st = stack.statistics()
            if st.client_transactions or st.server_transactions or st.timers:
                return False
        return not self.p._proxies and not self.p._proxy_txns


def answer(*steps: tuple[float, int]) -> Handler:
    """A UAS reaction: answer an INVITE with each (delay, status); others get 200."""
    pending: list[tuple[float, str, SipStack, Request, int]] = []

    def handler(net: Net, name: str, event: Event) -> None:
        if not isinstance(event, RequestReceived):
            return
        stack = net.stacks[next(a for a, n in NAMES.items() if n == name)]
        request = event.request
        if request.method != "INVITE":
            stack.send_response(event.txn_id, request.make_response(200), net.now)
            return
        for delay, status in steps:
            pending.append((delay, event.txn_id, stack, request, status))
            if delay == 0:
                extra = []
                if status < 300:
                    extra = [("Contact", f"<sip:bob@{NAMES_INV[name][0]}:5060>")]
                stack.send_response(
                    event.txn_id, request.make_response(status, headers=extra), net.now
                )

    return handler


NAMES_INV = {n: a for a, n in NAMES.items()}


def respond_later(net: Net, name: str, at: float, status: int) -> None:
    """Answer the (single) INVITE node ``name`` received, at time ``at``."""
    net.advance(at)
    stack = net.stacks[NAMES_INV[name]]
    (event,) = [
        e
        for e in net.events[name]
        if isinstance(e, RequestReceived) and e.request.method == "INVITE"
    ]
    extra = [("Contact", f"<sip:bob@{NAMES_INV[name][0]}:5060>")] if status < 300 else []
    stack.send_response(event.txn_id, event.request.make_response(status, headers=extra), net.now)
    net.flush()


def ack_2xx(net: Net, name: str, event: Event) -> None:
    """Caller TU: ACK every 2xx to INVITE, answer in-dialog requests 200."""
    if isinstance(event, RequestReceived):
        net.a.send_response(event.txn_id, event.request.make_response(200), net.now)
    if (
        isinstance(event, ResponseReceived)
        and 200 <= event.response.status < 300
        and event.response.cseq.method == "INVITE"
        and event.dialog_id is not None
    ):
        dialog = net.a.dialog(event.dialog_id)
        assert dialog is not None
        hop = parse_uri(dialog.next_hop())
        dest = (getattr(hop, "host", ""), getattr(hop, "port", None) or 5060)
        net.a.send_ack(event.dialog_id, net.now, flow=Flow("udp", dest, A))


# -- pure helpers ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("statuses", "best"),
    [
        ([486, 404], 0),
        ([500, 404], 1),
        ([404, 401, 407], 1),
        ([404, 484], 1),
        ([302, 486], 0),
        ([486, 603, 500, 604], 1),
        ([503, 408], 1),
        ([], None),
    ],
)
def test_best_response(statuses: list[int], best: int | None) -> None:
    assert best_response([(s, None) for s in statuses]) == best


def test_is_local_uri_default_ports() -> None:
    local = {("10.0.0.5", 5060), ("10.0.0.5", 5061)}
    assert is_local_uri(parse_uri("sip:10.0.0.5;lr"), local)
    assert is_local_uri(parse_uri("sips:10.0.0.5"), local)
    assert not is_local_uri(parse_uri("sip:10.0.0.5:5070"), local)
    assert not is_local_uri(parse_uri("tel:+15551234"), local)


def test_preprocess_routes_loose_and_strict() -> None:
    local = {P}
    loose = Request(
        "BYE",
        "sip:bob@10.0.0.2",
        [("Route", "<sip:10.0.0.5;lr>, <sip:10.0.0.9;lr>"), ("Route", "<sip:10.0.0.8;lr>")],
    )
    assert preprocess_routes(loose, local)
    assert loose.headers.get_all("route") == ["<sip:10.0.0.9;lr>", "<sip:10.0.0.8;lr>"]
    assert loose.uri == "sip:bob@10.0.0.2"
    # §16.4: an upstream strict router put our Record-Route URI in the Request-URI.
    strict = Request(
        "BYE", "sip:10.0.0.5;lr", [("Route", "<sip:10.0.0.9;lr>"), ("Route", "<sip:bob@10.0.0.2>")]
    )
    assert preprocess_routes(strict, local)
    assert strict.uri == "sip:bob@10.0.0.2"
    assert strict.headers.get_all("route") == ["<sip:10.0.0.9;lr>"]
    other = Request("BYE", "sip:bob@10.0.0.2", [("Route", "<sip:10.0.0.9;lr>")])
    assert not preprocess_routes(other, local)
    assert other.headers.get_all("route") == ["<sip:10.0.0.9;lr>"]


def test_pop_top_via_with_comma_list() -> None:
    headers = Headers(
        [
            ("Via", "SIP/2.0/UDP 10.0.0.5;branch=z9hG4bKp, SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKa"),
            ("Via", "SIP/2.0/UDP 10.0.0.7;branch=z9hG4bKb"),
        ]
    )
    pop_top_via(headers)
    assert headers.get_all("via") == [
        "SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKa",
        "SIP/2.0/UDP 10.0.0.7;branch=z9hG4bKb",
    ]


def test_check_request_max_forwards_and_proxy_require() -> None:
    base = [("Via", "SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKa"), ("Call-ID", "x")]
    base += [("From", "<sip:a@x>;tag=1"), ("To", "<sip:b@x>"), ("CSeq", "1 INVITE")]
    assert check_request(Request("INVITE", T1, [*base, ("Max-Forwards", "0")]), {P}) == (483, [])
    assert check_request(Request("INVITE", T1, [*base, ("Max-Forwards", "1")]), {P}) is None
    req = Request("INVITE", T1, [*base, ("Proxy-Require", "foo, bar")])
    assert check_request(req, {P}) == (420, [("Unsupported", "foo, bar")])


def test_bad_forking_mode() -> None:
    with pytest.raises(LocalProtocolError):
        ProxyOptions(forking="parallel")


# -- calls through the proxy --------------------------------------------------------------


def test_sequential_failover_after_503() -> None:
    net = Net()
    net.handlers = {"B1": answer((0, 503)), "B2": answer((0, 200)), "A": ack_2xx}
    net.call()
    assert net.statuses() == [100, 200]
    (out,) = net.outcomes
    assert (out.status, out.target) == (200, T2)
    assert out.responses == ((T1, 100), (T1, 503), (T2, 100), (T2, 200))
    (inv1,) = net.requests("B1", "INVITE")
    (inv2,) = net.requests("B2", "INVITE")
    assert inv1.uri == T1 and inv2.uri == T2
    assert inv2.max_forwards == 69
    assert [v.host for v in inv2.via] == ["10.0.0.5", "10.0.0.1"]
    assert inv1.top_via.branch != inv2.top_via.branch
    # B1's 503 was ACKed hop by hop by P; A's 200 carries only A's own Via.
    assert [m.method for m in net.requests("B1", "ACK")] == ["ACK"]
    final = [e.response for e in net.events["A"] if isinstance(e, ResponseReceived)][-1]
    assert [v.host for v in final.via] == ["10.0.0.1"]
    # No Record-Route: the ACK goes straight to B2's Contact.
    (ack,) = net.requests("B2", "ACK")
    assert [v.host for v in ack.via] == ["10.0.0.1"]
    assert not any(isinstance(e, AckReceived) for e in net.events["P"])
    net.advance(40)
    assert net.drained()


def test_simultaneous_second_answers_first_is_cancelled() -> None:
    net = Net()
    net.options = ProxyOptions(forking="simultaneous")
    net.handlers = {"B1": answer((0, 180)), "B2": answer((0, 183)), "A": ack_2xx}
    net.call()
    assert net.statuses() == [100, 180, 183]
    respond_later(net, "B2", 2.0, 200)
    assert net.statuses() == [100, 180, 183, 200]
    (cancel,) = net.requests("B1", "CANCEL")
    (inv1,) = net.requests("B1", "INVITE")
    assert cancel.top_via.branch == inv1.top_via.branch
    assert net.requests("B2", "CANCEL") == []
    # B1's stack answered the CANCEL with 200 and the INVITE with 487, which P
    # ACKed and kept to itself (no event for the proxy's TU either).
    assert ("B1", "P", "SIP/2.0 487 Request Terminated") in net.log
    assert ("P", "B1", "ACK sip:bob@10.0.0.2 SIP/2.0") in net.log
    assert not any(isinstance(e, ResponseReceived) for e in net.events["P"])
    assert 487 not in net.statuses()
    (out,) = net.outcomes
    assert (out.status, out.target) == (200, T2)
    net.advance(60)
    assert net.drained()


def test_best_response_when_all_fail() -> None:
    net = Net()
    net.options = ProxyOptions(forking="simultaneous")
    net.handlers = {"B1": answer((0, 500)), "B2": answer((0, 486))}
    net.call()
    assert net.statuses() == [100, 486]
    (out,) = net.outcomes
    assert (out.status, out.target) == (486, T2)
    assert sorted(out.responses) == [(T1, 100), (T1, 500), (T2, 100), (T2, 486)]
    net.advance(60)
    assert net.drained()


def test_503_is_forwarded_as_500() -> None:
    net = Net()
    net.proxy_targets = [T1]
    net.handlers = {"B1": answer((0, 503))}
    net.call()
    assert net.statuses() == [100, 500]
    assert net.outcomes[0].status == 500


def test_401_and_407_challenges_are_merged() -> None:
    net = Net()
    net.options = ProxyOptions(forking="simultaneous")

    def challenge(status: int, name: str, realm: str) -> Handler:
        def handler(n: Net, node: str, event: Event) -> None:
            if isinstance(event, RequestReceived):
                resp = event.request.make_response(
                    status, headers=[(name, f'Digest realm="{realm}", nonce="n"')]
                )
                n.stacks[NAMES_INV[node]].send_response(event.txn_id, resp, n.now)

        return handler

    net.handlers = {
        "B1": challenge(401, "WWW-Authenticate", "one"),
        "B2": challenge(407, "Proxy-Authenticate", "two"),
    }
    net.call()
    final = [e.response for e in net.events["A"] if isinstance(e, ResponseReceived)][-1]
    assert final.status == 401
    assert final.headers.get_all("www-authenticate") == ['Digest realm="one", nonce="n"']
    assert final.headers.get_all("proxy-authenticate") == ['Digest realm="two", nonce="n"']


def test_6xx_wins_and_cancels_the_others() -> None:
    net = Net()
    net.options = ProxyOptions(forking="simultaneous")
    net.handlers = {"B1": answer((0, 180)), "B2": answer((0, 603))}
    net.call()
    assert net.statuses() == [100, 180, 603]
    assert len(net.requests("B1", "CANCEL")) == 1
    assert net.outcomes[0].status == 603
    net.advance(60)
    assert net.drained()


def test_sequential_6xx_stops_the_search() -> None:
    net = Net()
    net.handlers = {"B1": answer((0, 600)), "B2": answer((0, 200))}
    net.call()
    assert net.statuses() == [100, 600]
    assert net.requests("B2", "INVITE") == []


def test_record_route_keeps_proxy_in_the_dialog() -> None:
    net = Net()
    net.options = ProxyOptions(record_route=True)
    net.proxy_targets = [T2]
    net.handlers = {"B2": answer((0, 200)), "A": ack_2xx}
    net.call()
    assert net.statuses() == [100, 200]
    (inv,) = net.requests("B2", "INVITE")
    assert inv.headers.get_all("record-route") == ["<sip:10.0.0.5:5060;lr>"]
    # The ACK for the 2xx goes A -> P -> B2 (stateless), the dialog is confirmed at B2.
    (ack,) = net.requests("B2", "ACK")
    assert [v.host for v in ack.via] == ["10.0.0.5", "10.0.0.1"]
    assert ack.headers.get_all("route") == []
    assert ack.uri == "sip:bob@10.0.0.3:5060"
    assert any(isinstance(e, AckReceived) for e in net.events["B2"])
    # BYE from A through P: statefully forwarded, 200 relayed, both dialogs end.
    (did,) = [e.dialog_id for e in net.events["A"] if isinstance(e, ResponseReceived)][-1:]
    assert did is not None
    bye = net.a.build_in_dialog(did, "BYE")
    assert bye.headers.get_all("route") == ["<sip:10.0.0.5:5060;lr>"]
    dialog = net.a.dialog(did)
    assert dialog is not None and dialog.next_hop() == "sip:10.0.0.5:5060;lr"
    net.a.send_request(bye, Flow("udp", P, A), net.now)
    net.flush()
    (bye_b,) = net.requests("B2", "BYE")
    assert [v.host for v in bye_b.via] == ["10.0.0.5", "10.0.0.1"]
    assert bye_b.max_forwards == 69
    assert net.statuses() == [100, 200, 200]
    assert [e.reason for e in net.events["A"] if isinstance(e, DialogTerminated)] == ["bye"]
    assert [e.reason for e in net.events["B2"] if isinstance(e, DialogTerminated)] == ["bye"]
    # The proxy's TU never saw the in-dialog requests.
    assert [e.request.method for e in net.events["P"] if isinstance(e, RequestReceived)] == [
        "INVITE"
    ]
    net.advance(60)
    assert net.drained()


def test_bye_from_callee_through_proxy() -> None:
    net = Net()
    net.options = ProxyOptions(record_route=True)
    net.proxy_targets = [T1]
    net.handlers = {"B1": answer((0, 200)), "A": ack_2xx}
    net.call()
    b1 = net.stacks[B1]
    (did,) = {e.dialog_id for e in net.events["B1"] if isinstance(e, AckReceived)}
    bye = b1.build_in_dialog(did, "BYE")
    assert bye.uri == "sip:alice@10.0.0.1:5060"
    b1.send_request(bye, Flow("udp", P, B1), net.now)
    net.flush()
    (bye_a,) = net.requests("A", "BYE")
    assert [v.host for v in bye_a.via] == ["10.0.0.5", "10.0.0.2"]
    assert [e.reason for e in net.events["A"] if isinstance(e, DialogTerminated)] == ["bye"]
    assert [e.response.status for e in net.events["B1"] if isinstance(e, ResponseReceived)] == [200]


def test_max_forwards_zero_gets_483() -> None:
    net = Net()
    net.call(method="OPTIONS", Max_Forwards="0")
    assert net.statuses() == [483]
    assert net.outcomes[0].status == 483 and net.outcomes[0].target is None
    assert net.requests("B1", "OPTIONS") == []
    # An INVITE with Max-Forwards 1 goes out with 0.
    net2 = Net()
    net2.proxy_targets = [T1]
    net2.handlers = {"B1": answer((0, 486))}
    net2.call(Max_Forwards="1")
    assert net2.requests("B1", "INVITE")[0].max_forwards == 0


def test_proxy_require_gets_420() -> None:
    net = Net()
    net.call(Proxy_Require="sec-agree")
    final = [e.response for e in net.events["A"] if isinstance(e, ResponseReceived)][-1]
    assert final.status == 420
    assert final.headers.get("unsupported") == "sec-agree"


def test_loop_is_482_but_spiral_is_forwarded() -> None:
    net = Net()
    # Loop: P forwards to itself with the same Request-URI it received.
    net.proxy_targets = ["sip:bob@10.0.0.5"]
    net.call("sip:bob@10.0.0.5", method="OPTIONS")
    assert net.statuses() == [482]
    assert ("P", "P", "OPTIONS sip:bob@10.0.0.5 SIP/2.0") in net.log
    assert ("P", "P", "SIP/2.0 482 Loop Detected") in net.log
    # Spiral: the Request-URI changes on the second pass, so it is forwarded on.
    net2 = Net()
    net2.handlers = {"B1": answer((0, 200))}
    routes = {"sip:x@10.0.0.5": ["sip:y@10.0.0.5"], "sip:y@10.0.0.5": [T1]}
    net2.route = lambda request: routes[request.uri]
    net2.call("sip:x@10.0.0.5", method="OPTIONS")
    assert net2.statuses() == [200]
    (opt,) = net2.requests("B1", "OPTIONS")
    assert [v.host for v in opt.via] == ["10.0.0.5", "10.0.0.5", "10.0.0.1"]


def test_provisional_timeout_moves_on() -> None:
    net = Net()
    net.down = {B1}
    net.options = ProxyOptions(provisional_timeout=2.0)
    net.handlers = {"B2": answer((0, 200)), "A": ack_2xx}
    net.call()
    net.advance(1.9)
    assert net.requests("B2", "INVITE") == []
    net.advance(2.1)
    assert len(net.requests("B2", "INVITE")) == 1
    assert net.statuses() == [100, 200]
    assert net.outcomes[0].target == T2
    net.advance(80)
    assert net.drained()


def test_final_timeout_cancels_and_moves_on() -> None:
    net = Net()
    net.options = ProxyOptions(final_timeout=5.0)
    net.handlers = {"B1": answer((0, 180)), "B2": answer((0, 200)), "A": ack_2xx}
    net.call()
    net.advance(4.9)
    assert net.requests("B1", "CANCEL") == []
    net.advance(5.1)
    assert len(net.requests("B1", "CANCEL")) == 1
    assert net.statuses() == [100, 180, 200]
    assert net.outcomes[0].responses[-1] == (T2, 200)
    net.advance(80)
    assert net.drained()


def test_timer_c_cancels_a_ringing_branch() -> None:
    net = Net(TimerConfig(trying_delay=0.0, timer_c=10.0))
    net.proxy_targets = [T1]
    net.handlers = {"B1": answer((0, 180))}
    net.call()
    net.advance(9.0)
    respond_later(net, "B1", 9.5, 180)  # a second 1xx restarts Timer C
    net.advance(19.0)
    assert net.requests("B1", "CANCEL") == []
    net.advance(19.6)
    assert len(net.requests("B1", "CANCEL")) == 1
    assert net.statuses() == [100, 180, 180, 408]
    net.advance(80)
    assert net.drained()


def test_caller_cancel_fans_out() -> None:
    net = Net()
    net.options = ProxyOptions(forking="simultaneous")
    net.handlers = {"B1": answer((0, 180)), "B2": answer((0, 180))}
    txn = net.call()
    net.a.cancel(txn, net.now)
    net.flush()
    assert len(net.requests("B1", "CANCEL")) == 1
    assert len(net.requests("B2", "CANCEL")) == 1
    assert net.statuses()[-1] == 487
    assert net.statuses().count(487) == 1
    (out,) = net.outcomes
    assert out.cancelled and out.status == 487
    net.advance(80)
    assert net.drained()


def test_follow_redirects() -> None:
    def redirect(n: Net, node: str, event: Event) -> None:
        if isinstance(event, RequestReceived):
            resp = event.request.make_response(302, headers=[("Contact", f"<{T2}>")])
            n.stacks[B1].send_response(event.txn_id, resp, n.now)

    net = Net()
    net.proxy_targets = [T1]
    net.options = ProxyOptions(follow_redirects=True)
    net.handlers = {"B1": redirect, "B2": answer((0, 486))}
    net.call()
    assert net.statuses() == [100, 486]
    assert net.outcomes[0].target == T2
    net2 = Net()
    net2.proxy_targets = [T1]
    net2.handlers = {"B1": redirect}
    net2.call()
    assert net2.statuses() == [100, 302]


def test_no_targets_is_480_and_unreachable_is_500() -> None:
    net = Net()
    net.proxy_targets = []
    net.call()
    assert net.statuses() == [100, 480]
    net2 = Net()
    net2.proxy_targets = ["sip:nobody@10.9.9.9"]
    net2.call()
    # A transport failure counts as 503 (§16.9), forwarded as 500.
    assert net2.statuses() == [100, 500]


def test_start_proxy_refuses_answered_transactions() -> None:
    net = Net()
    net.proxy_targets = [T1]
    net.handlers = {"B1": answer((0, 486))}
    net.call()
    (event,) = [e for e in net.events["P"] if isinstance(e, RequestReceived)]
    with pytest.raises(LocalProtocolError):
        net.p.start_proxy(event.txn_id, [T1], net.now)


def test_bye_without_route_follows_the_remembered_dialog() -> None:
    # SIPp's built-in UAC ignores Record-Route and sends BYE to its first hop.
    net = Net()
    net.options = ProxyOptions(record_route=True)
    net.proxy_targets = [T2]
    net.handlers = {"B2": answer((0, 200)), "A": ack_2xx}
    net.call()
    assert len(net.p._proxy_dialogs) == 2
    (did,) = [e.dialog_id for e in net.events["A"] if isinstance(e, ResponseReceived)][-1:]
    assert did is not None
    bye = net.a.build_in_dialog(did, "BYE")
    bye.uri = "sip:service@10.0.0.5:5060"
    bye.headers.remove("route")
    net.a.send_request(bye, Flow("udp", P, A), net.now)
    net.flush()
    (bye_b,) = net.requests("B2", "BYE")
    assert bye_b.uri == "sip:bob@10.0.0.3:5060"
    assert net.statuses() == [100, 200, 200]
    assert net.p._proxy_dialogs == {}
    net.advance(60)
    assert net.drained()
