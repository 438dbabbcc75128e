"""SipStack behaviour: §18 routing, malformed input, client CANCEL, dialogs, lossy wire."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from trio_srf.core import (
    AckReceived,
    DialogId,
    DialogTerminated,
    Event,
    Flow,
    RequestReceived,
    ResponseReceived,
    SipStack,
    TransactionTimeout,
)
from trio_srf.sip import Request, Response, parse

from .core_support import (
    A_ADDR,
    B_ADDR,
    StackPair,
    a_to_b,
    b_from_a,
    first_line,
    new_request,
    raw_request,
)


def _answer(stack: SipStack, data: bytes, flow: Flow) -> list[Flow]:
    stack.receive(data, flow, 0.0)
    (event,) = stack.events()
    assert isinstance(event, RequestReceived)
    stack.outgoing()
    stack.send_response(event.txn_id, event.request.make_response(200), 0.0)
    return [t.flow for t in stack.outgoing()]


def test_received_is_added_and_response_goes_to_sent_by_port() -> None:
    stack = SipStack()
    flow = Flow("udp", ("192.0.2.9", 40000), B_ADDR)
    data = raw_request("OPTIONS", via_host="pc.example.com:5070")
    stack.receive(data, flow, 0.0)
    (event,) = stack.events()
    assert isinstance(event, RequestReceived)
    assert event.request.top_via.received == "192.0.2.9"
    assert event.request.top_via.host == "pc.example.com"
    stack.send_response(event.txn_id, event.request.make_response(200), 0.0)
    (sent,) = stack.outgoing()
    # §18.2.2: received address, sent-by port (no rport asked).
    assert sent.flow == Flow("udp", ("192.0.2.9", 5070), B_ADDR)
    resp = parse(sent.data)
    assert isinstance(resp, Response)
    assert resp.top_via.received == "192.0.2.9"


def test_rport_is_filled_and_used() -> None:
    flow = Flow("udp", ("192.0.2.9", 40000), B_ADDR)
    data = raw_request("OPTIONS", via_host="10.1.1.1:5060", via_params=";rport")
    assert _answer(SipStack(), data, flow) == [Flow("udp", ("192.0.2.9", 40000), B_ADDR)]
    stack = SipStack()
    stack.receive(data, flow, 0.0)
    (event,) = stack.events()
    assert isinstance(event, RequestReceived)
    assert event.request.top_via.rport == 40000
    assert event.request.top_via.received == "192.0.2.9"


def test_default_port_maddr_and_reliable_routing() -> None:
    flow = Flow("udp", ("10.0.0.1", 5060), B_ADDR)
    no_port = raw_request("OPTIONS", via_host="10.0.0.1")
    assert _answer(SipStack(), no_port, flow) == [Flow("udp", ("10.0.0.1", 5060), B_ADDR)]
    maddr = raw_request("OPTIONS", via_host="10.0.0.1:5080", via_params=";maddr=239.1.1.1")
    assert _answer(SipStack(), maddr, flow) == [Flow("udp", ("239.1.1.1", 5080), B_ADDR)]
    tcp = Flow("tcp", ("192.0.2.9", 40001), B_ADDR, conn_id=3)
    over_tcp = raw_request("OPTIONS", transport="TCP", via_host="10.1.1.1:5060")
    assert _answer(SipStack(), over_tcp, tcp) == [tcp]


def test_ipv6_received() -> None:
    flow = Flow("udp", ("2001:db8::9", 5060), ("2001:db8::1", 5060))
    data = raw_request("OPTIONS", via_host="[2001:db8::5]:5062")
    assert _answer(SipStack(), data, flow) == [
        Flow("udp", ("2001:db8::9", 5062), ("2001:db8::1", 5060))
    ]


def test_malformed_request_is_answered_400_when_routable() -> None:
    stack = SipStack()
    bad = raw_request("OPTIONS").replace(b"CSeq: 1 OPTIONS", b"CSeq: 1 INVITE")
    stack.receive(bad, Flow("udp", ("192.0.2.9", 40000), B_ADDR), 0.0)
    (sent,) = stack.outgoing()
    assert first_line(sent.data) == "SIP/2.0 400 Bad Request"
    assert sent.flow == Flow("udp", ("192.0.2.9", 5060), B_ADDR)
    resp = parse(sent.data)
    assert isinstance(resp, Response)
    assert resp.call_id == "call-1@10.0.0.1" and resp.to.tag is not None
    assert stack.events() == []
    st_ = stack.statistics()
    assert (st_.parse_errors, st_.error_responses) == (1, 1)


def test_unroutable_garbage_is_dropped_and_counted() -> None:
    stack = SipStack()
    for junk in (b"\x00\x01garbage", b"INVITE sip:x SIP/2.0\r\n\r\n", b"SIP/2.0 200 OK\r\n\r\n"):
        stack.receive(junk, b_from_a(), 0.0)
    assert stack.outgoing() == [] and stack.events() == []
    assert stack.statistics().parse_errors == 3
    bad_ack = raw_request("ACK").replace(b"CSeq: 1 ACK", b"CSeq: 1 BYE")
    stack.receive(bad_ack, b_from_a(), 0.0)
    assert stack.outgoing() == []  # never answer an ACK


def test_send_request_fills_via_branch_and_max_forwards() -> None:
    stack = SipStack()
    stack.send_request(new_request("OPTIONS"), a_to_b(), 0.0)
    (sent,) = stack.outgoing()
    req = parse(sent.data)
    assert isinstance(req, Request)
    via = req.top_via
    assert (via.transport, via.host, via.port) == ("UDP", "10.0.0.1", 5060)
    assert via.branch is not None and via.branch.startswith("z9hG4bK") and via.has_rport
    assert req.max_forwards == 70


def test_client_cancel_waits_for_provisional_then_gets_487() -> None:
    stack = SipStack()
    txn = stack.send_request(new_request("INVITE"), a_to_b(), 0.0)
    invite = parse(stack.outgoing()[0].data)
    assert isinstance(invite, Request)
    cancel_id = stack.cancel(txn, 0.1)
    assert cancel_id is not None
    assert stack.outgoing() == []  # §9.1: not before a provisional
    stack.receive(invite.make_response(180, to_tag="bt").serialize(), a_to_b(), 0.2)
    (cancel_tx,) = stack.outgoing()
    cancel = parse(cancel_tx.data)
    assert isinstance(cancel, Request)
    assert cancel.method == "CANCEL" and cancel.uri == invite.uri
    assert cancel.top_via.branch == invite.top_via.branch
    assert cancel.cseq.seq == invite.cseq.seq and cancel.cseq.method == "CANCEL"
    assert cancel.to.tag is None and cancel.from_.tag == "atag"
    assert stack.cancel(txn, 0.3) == cancel_id
    stack.receive(cancel.make_response(200, to_tag="bt").serialize(), a_to_b(), 0.3)
    stack.receive(invite.make_response(487, to_tag="bt").serialize(), a_to_b(), 0.4)
    (ack,) = stack.outgoing()
    assert first_line(ack.data).startswith("ACK ")
    got = [(e.txn_id, e.response.status) for e in stack.events() if isinstance(e, ResponseReceived)]
    assert got == [(txn, 180), (cancel_id, 200), (txn, 487)]
    assert stack.cancel(txn, 0.5) is None


def test_cancel_guard_times_out_a_silent_invite() -> None:
    stack = SipStack()
    txn = stack.send_request(new_request("INVITE"), a_to_b("tcp"), 0.0)
    invite = parse(stack.outgoing()[0].data)
    assert isinstance(invite, Request)
    stack.receive(invite.make_response(100).serialize(), a_to_b("tcp"), 0.1)
    stack.cancel(txn, 10.0)
    stack.events()
    stack.handle_timers(41.9)
    assert TransactionTimeout(txn) not in stack.events()
    stack.handle_timers(42.0)
    assert TransactionTimeout(txn) in stack.events()


def test_uac_dialog_route_set_and_in_dialog_requests() -> None:
    stack = SipStack()
    txn = stack.send_request(new_request("INVITE"), a_to_b(), 0.0)
    invite = parse(stack.outgoing()[0].data)
    assert isinstance(invite, Request)
    ok = invite.make_response(
        200,
        to_tag="bt",
        headers=[
            ("Record-Route", "<sip:p2.example.com;lr>"),
            ("Record-Route", "<sip:p1.example.com;lr>"),
            ("Contact", "<sip:bob@192.0.2.20:5090>"),
        ],
    )
    stack.receive(ok.serialize(), a_to_b(), 0.1)
    (event,) = [e for e in stack.events() if isinstance(e, ResponseReceived)]
    did = event.dialog_id
    assert did == DialogId("call-a@10.0.0.1", "atag", "bt")
    dialog = stack.dialog(did)
    assert dialog is not None
    # §12.1.2: route set is the Record-Route reversed.
    assert [str(r.uri) for r in dialog.route_set] == [
        "sip:p1.example.com;lr",
        "sip:p2.example.com;lr",
    ]
    assert dialog.remote_target == "sip:bob@192.0.2.20:5090"
    ack = stack.send_ack(did, 0.2)
    assert ack.uri == "sip:bob@192.0.2.20:5090" and ack.cseq.seq == 1
    assert ack.headers.get_all("route") == ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
    info = stack.build_in_dialog(did, "INFO")
    assert info.cseq.seq == 2 and info.to.tag == "bt" and info.from_.tag == "atag"
    reinvite = stack.build_in_dialog(did, "INVITE")
    assert reinvite.cseq.seq == 3
    assert reinvite.headers.get("contact") == "<sip:alice@10.0.0.1:5060>"
    # Strict routing: first route without lr becomes the Request-URI.
    dialog.route_set = [parse_route("<sip:strict.example.com>"), parse_route("<sip:p9;lr>")]
    bye = stack.build_in_dialog(did, "BYE")
    assert bye.uri == "sip:strict.example.com"
    assert bye.headers.get_all("route") == ["<sip:p9;lr>", "<sip:bob@192.0.2.20:5090>"]
    stack.send_request(bye, a_to_b(), 1.0)
    sent_bye = parse(stack.outgoing()[-1].data)
    assert isinstance(sent_bye, Request)
    stack.receive(sent_bye.make_response(200).serialize(), a_to_b(), 1.1)
    assert DialogTerminated(did, "bye") in stack.events()
    assert txn


def parse_route(text: str):  # type: ignore[no-untyped-def]
    from trio_srf.sip import parse_name_addr

    return parse_name_addr(text)


def test_481_to_in_dialog_request_ends_dialog() -> None:
    stack = SipStack()
    stack.send_request(new_request("INVITE"), a_to_b("tcp"), 0.0)
    invite = parse(stack.outgoing()[0].data)
    assert isinstance(invite, Request)
    stack.receive(invite.make_response(200, to_tag="bt").serialize(), a_to_b("tcp"), 0.1)
    (event,) = [e for e in stack.events() if isinstance(e, ResponseReceived)]
    assert event.dialog_id is not None
    info = stack.build_in_dialog(event.dialog_id, "INFO")
    stack.send_request(info, a_to_b("tcp"), 1.0)
    sent = parse(stack.outgoing()[-1].data)
    assert isinstance(sent, Request)
    stack.receive(sent.make_response(481).serialize(), a_to_b("tcp"), 1.1)
    assert DialogTerminated(event.dialog_id, "481") in stack.events()


# -- two stacks over a lossy wire ---------------------------------------------------------


def _uas_tu(status: int) -> object:
    def on_b(pair: StackPair, event: Event) -> None:
        if isinstance(event, RequestReceived):
            req = event.request
            if req.method == "INVITE":
                pair.b.send_response(event.txn_id, req.make_response(180), pair.now)
                pair.b.send_response(event.txn_id, req.make_response(status), pair.now)
            else:
                pair.b.send_response(event.txn_id, req.make_response(200), pair.now)

    return on_b


def _uac_tu(pair: StackPair, event: Event) -> None:
    if not isinstance(event, ResponseReceived) or event.dialog_id is None:
        return
    if event.response.status == 200 and event.response.cseq.method == "INVITE":
        pair.a.send_ack(event.dialog_id, pair.now)
        bye = pair.a.build_in_dialog(event.dialog_id, "BYE")
        pair.a.send_request(bye, Flow("udp", B_ADDR, A_ADDR), pair.now)


def _finals(pair: StackPair, txn: str) -> list[int]:
    return [
        e.response.status
        for _, e in pair.events_a
        if isinstance(e, ResponseReceived) and e.txn_id == txn and e.response.status >= 200
    ]


def test_pair_clean_call_drains_tables() -> None:
    pair = StackPair(on_a=_uac_tu, on_b=_uas_tu(200))  # type: ignore[arg-type]
    txn = pair.a.send_request(new_request("INVITE"), a_to_b(), 0.0)
    pair.run(until=200.0)
    assert _finals(pair, txn) == [200]
    assert any(isinstance(e, AckReceived) for _, e in pair.events_b)
    reasons = [e.reason for _, e in pair.events_b if isinstance(e, DialogTerminated)]
    assert reasons == ["bye"]
    assert pair.idle()
    assert pair.a.statistics().retransmissions_out == 0


@settings(max_examples=60)
@given(
    seed=st.integers(0, 2**32 - 1),
    drop=st.sampled_from([0.0, 0.1, 0.3, 0.5]),
    dup=st.sampled_from([0.0, 0.2]),
    status=st.sampled_from([200, 486]),
    transport=st.sampled_from(["udp", "udp", "tcp"]),
)
def test_lossy_wire_exactly_one_final_and_tables_drain(
    seed: int, drop: float, dup: float, status: int, transport: str
) -> None:
    import random

    pair = StackPair(
        rng=random.Random(seed),
        drop=drop if transport == "udp" else 0.0,
        dup=dup,
        max_delay=0.8,
        on_a=_uac_tu,
        on_b=_uas_tu(status),  # type: ignore[arg-type]
    )
    txn = pair.a.send_request(new_request("INVITE"), a_to_b(transport), 0.0)
    pair.run(until=64 * 0.5 * 4 + 60)
    finals = _finals(pair, txn)
    timed_out = any(isinstance(e, TransactionTimeout) and e.txn_id == txn for _, e in pair.events_a)
    # Exactly one outcome reaches the TU: one final response, or a timeout.
    assert len(finals) + int(timed_out) == 1, (finals, timed_out)
    if finals:
        assert finals == [status]
    assert pair.idle(), (pair.a.statistics(), pair.b.statistics())


def test_transport_error_fails_the_transaction() -> None:
    from trio_srf.core import TransactionTerminated, TransportFailed

    stack = SipStack()
    txn = stack.send_request(new_request("OPTIONS"), a_to_b("tcp"), 0.0)
    stack.outgoing()
    stack.transport_error(txn)
    assert stack.events() == [TransportFailed(txn), TransactionTerminated(txn)]
    assert stack.statistics().client_transactions == 0 and stack.next_deadline() is None
