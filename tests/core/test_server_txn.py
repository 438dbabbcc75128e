"""Server transactions and what the stack answers by itself (RFC 3261 §8.2, §9.2, §17.2)."""

from __future__ import annotations

from trio_srf.core import (
    AckReceived,
    AckTimeout,
    CancelReceived,
    DialogId,
    DialogTerminated,
    Flow,
    RequestReceived,
    SipStack,
    TimerConfig,
    TransactionTerminated,
)
from trio_srf.sip import Request, Response, parse

from .core_support import b_from_a, first_line, raw_request, run_timers


def _incoming(
    stack: SipStack, data: bytes, flow: Flow | None = None, now: float = 0.0
) -> RequestReceived:
    stack.receive(data, flow or b_from_a(), now)
    (event,) = stack.events()
    assert isinstance(event, RequestReceived)
    return event


def _status(data: bytes) -> int:
    msg = parse(data)
    assert isinstance(msg, Response)
    return msg.status


def test_100_trying_waits_200ms_and_is_skipped_if_the_tu_answers() -> None:
    stack = SipStack()
    ev = _incoming(stack, raw_request())
    assert stack.outgoing() == []
    assert stack.next_deadline() == 0.2
    stack.handle_timers(0.2)
    assert [first_line(t.data) for t in stack.outgoing()] == ["SIP/2.0 100 Trying"]
    # A TU that answers within 200 ms: no 100 at all.
    ev = _incoming(stack, raw_request(branch="z9hG4bKfast", call_id="fast"), now=1.0)
    stack.send_response(ev.txn_id, ev.request.make_response(180), 1.1)
    stack.handle_timers(1.2)
    assert [_status(t.data) for t in stack.outgoing()] == [180]
    # A retransmitted INVITE before any answer gets the 100 at once.
    _incoming(stack, raw_request(branch="z9hG4bKslow", call_id="slow"), now=2.0)
    stack.receive(raw_request(branch="z9hG4bKslow", call_id="slow"), b_from_a(), 2.1)
    assert [_status(t.data) for t in stack.outgoing()] == [100]
    stack.handle_timers(2.2)
    assert stack.outgoing() == []


def test_invite_gets_100_trying_and_retransmission_resends_last_provisional() -> None:
    stack = SipStack(TimerConfig(trying_delay=0.0))
    ev = _incoming(stack, raw_request())
    assert ev.dialog_id is None
    (trying,) = stack.outgoing()
    assert first_line(trying.data) == "SIP/2.0 100 Trying"
    stack.receive(raw_request(), b_from_a(), 0.2)
    assert stack.events() == []
    assert [_status(t.data) for t in stack.outgoing()] == [100]
    stack.send_response(ev.txn_id, ev.request.make_response(180), 0.3)
    (ringing,) = stack.outgoing()
    ring = parse(ringing.data)
    assert isinstance(ring, Response) and ring.to.tag is not None  # tag added by the stack
    stack.receive(raw_request(), b_from_a(), 0.4)
    assert [t.data for t in stack.outgoing()] == [ringing.data]
    assert stack.statistics().retransmissions_in == 2


def test_timer_g_capped_at_t2_until_timer_h() -> None:
    stack = SipStack()
    ev = _incoming(stack, raw_request())
    stack.outgoing()
    stack.send_response(ev.txn_id, ev.request.make_response(486), 0.0)
    (final,) = stack.outgoing()
    steps = run_timers(stack, until=100.0)
    times = [t for t, sent, _ in steps if sent]
    assert times == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert all(sent == [final.data] for _, sent, _ in steps if sent)
    assert steps[-1] == (32.0, [], [TransactionTerminated(ev.txn_id)])
    assert stack.statistics().server_transactions == 0


def test_ack_moves_to_confirmed_then_timer_i() -> None:
    stack = SipStack()
    ev = _incoming(stack, raw_request())
    stack.send_response(ev.txn_id, ev.request.make_response(404), 0.0)
    final = parse(stack.outgoing()[-1].data)
    assert isinstance(final, Response)
    ack = raw_request("ACK", to_tag=final.to.tag)
    stack.receive(ack, b_from_a(), 0.7)
    assert stack.events() == [] and stack.outgoing() == []
    # Confirmed absorbs more ACKs and sends nothing; Timer I = T4.
    stack.receive(ack, b_from_a(), 1.0)
    assert stack.outgoing() == []
    assert run_timers(stack, until=100.0) == [(5.7, [], [TransactionTerminated(ev.txn_id)])]


def test_timer_i_zero_and_no_g_on_tcp() -> None:
    stack = SipStack()
    flow = b_from_a("tcp", conn_id=7)
    ev = _incoming(stack, raw_request(transport="TCP"), flow)
    stack.send_response(ev.txn_id, ev.request.make_response(404), 0.0)
    sent = stack.outgoing()
    assert all(t.flow == flow for t in sent)  # §18.2.2: same connection
    final = parse(sent[-1].data)
    assert isinstance(final, Response)
    assert stack.next_deadline() == 32.0  # only Timer H
    stack.receive(raw_request("ACK", transport="TCP", to_tag=final.to.tag), flow, 0.1)
    assert stack.events() == [TransactionTerminated(ev.txn_id)]
    assert stack.statistics().server_transactions == 0


def test_timer_j_on_udp_and_zero_on_tcp() -> None:
    stack = SipStack()
    ev = _incoming(stack, raw_request("OPTIONS"))
    assert stack.outgoing() == []  # no 100 Trying for non-INVITE
    stack.receive(raw_request("OPTIONS"), b_from_a(), 0.1)  # Trying absorbs
    assert stack.outgoing() == [] and stack.events() == []
    stack.send_response(ev.txn_id, ev.request.make_response(200), 1.0)
    (ok,) = stack.outgoing()
    stack.receive(raw_request("OPTIONS"), b_from_a(), 2.0)
    assert [t.data for t in stack.outgoing()] == [ok.data]
    assert run_timers(stack, until=100.0) == [(33.0, [], [TransactionTerminated(ev.txn_id)])]

    stack = SipStack()
    ev = _incoming(stack, raw_request("OPTIONS", transport="TCP"), b_from_a("tcp"))
    stack.send_response(ev.txn_id, ev.request.make_response(200), 1.0)
    assert stack.events() == [TransactionTerminated(ev.txn_id)]


def test_response_after_final_is_refused() -> None:
    stack = SipStack()
    ev = _incoming(stack, raw_request("OPTIONS"))
    stack.send_response(ev.txn_id, ev.request.make_response(200), 0.0)
    try:
        stack.send_response(ev.txn_id, ev.request.make_response(500), 0.0)
    except Exception as exc:
        assert type(exc).__name__ == "LocalProtocolError"
    else:
        raise AssertionError("second final response accepted")


def test_2xx_retransmitted_until_ack_then_bye_after_64_t1() -> None:
    stack = SipStack()
    ev = _incoming(stack, raw_request())
    stack.outgoing()
    did = stack.send_response(ev.txn_id, ev.request.make_response(200), 0.0)
    assert did is not None and did.remote_tag == "ft1" and did.call_id == "call-1@10.0.0.1"
    (ok,) = stack.outgoing()
    steps = run_timers(stack, until=100.0)
    resend = [(t, sent) for t, sent, _ in steps if sent and sent[0] == ok.data]
    assert [t for t, _ in resend] == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    at_32 = [(sent, events) for t, sent, events in steps if t == 32.0]
    (bye_sent, events), *_ = at_32
    # Timer L ends the transaction at 32 too; the dialog layer sends BYE.
    assert AckTimeout(did) in events
    assert DialogTerminated(did, "ack_timeout") in events
    assert TransactionTerminated(ev.txn_id) in events
    (bye,) = [d for d in bye_sent if first_line(d).startswith("BYE ")]
    bye_req = parse(bye)
    assert isinstance(bye_req, Request)
    assert bye_req.uri == "sip:alice@10.0.0.1:5060"  # the remote target
    assert bye_req.from_.tag == did.local_tag and bye_req.to.tag == "ft1"
    assert stack.statistics().dialogs == 0


def test_ack_stops_2xx_retransmission_once() -> None:
    stack = SipStack()
    ev = _incoming(stack, raw_request())
    did = stack.send_response(ev.txn_id, ev.request.make_response(200), 0.0)
    assert did is not None
    stack.outgoing()
    run_timers(stack, until=1.0)  # one retransmission at 0.5
    ack = raw_request("ACK", branch="z9hG4bKack1", to_tag=did.local_tag)
    stack.receive(ack, b_from_a(), 1.2)
    (event,) = stack.events()
    assert isinstance(event, AckReceived) and event.dialog_id == did
    stack.receive(ack, b_from_a(), 1.3)
    assert stack.events() == []  # duplicate ACK absorbed
    steps = run_timers(stack, until=100.0)
    assert all(not sent for _, sent, _ in steps)
    assert steps == [(32.0, [], [TransactionTerminated(ev.txn_id)])]
    assert stack.statistics().dialogs == 1
    # BYE from the peer ends the dialog once answered.
    bye_ev = _incoming(stack, raw_request("BYE", branch="z9hG4bKbye", to_tag=did.local_tag, cseq=2))
    assert bye_ev.dialog_id == did
    stack.send_response(bye_ev.txn_id, bye_ev.request.make_response(200), 40.0)
    assert DialogTerminated(did, "bye") in stack.events()
    run_timers(stack, until=200.0)
    st = stack.statistics()
    assert (st.server_transactions, st.dialogs, st.timers) == (0, 0, 0)


def test_cancel_answers_200_and_487_and_absorbs_the_ack() -> None:
    stack = SipStack()
    ev = _incoming(stack, raw_request())
    stack.send_response(ev.txn_id, ev.request.make_response(180), 0.1)
    ringing = parse(stack.outgoing()[-1].data)
    assert isinstance(ringing, Response)
    assert stack.statistics().dialogs == 1  # early dialog
    stack.receive(raw_request("CANCEL", max_forwards=70), b_from_a(), 1.0)
    sent = stack.outgoing()
    assert [_status(t.data) for t in sent] == [200, 487]
    for t in sent:
        msg = parse(t.data)
        assert isinstance(msg, Response) and msg.to.tag == ringing.to.tag
    events = stack.events()
    assert isinstance(events[0], CancelReceived) and events[0].txn_id == ev.txn_id
    early = DialogId("call-1@10.0.0.1", ringing.to.tag or "", "ft1")
    assert events[1:] == [DialogTerminated(early, "rejected")]
    # The TU is too late now.
    try:
        stack.send_response(ev.txn_id, ev.request.make_response(200), 1.1)
    except Exception as exc:
        assert type(exc).__name__ == "LocalProtocolError"
    else:
        raise AssertionError("200 after 487 accepted")
    stack.receive(raw_request("ACK", to_tag=ringing.to.tag), b_from_a(), 1.2)
    assert stack.outgoing() == [] and stack.events() == []
    run_timers(stack, until=100.0)
    st = stack.statistics()
    assert (st.server_transactions, st.dialogs, st.timers) == (0, 0, 0)


def test_cancel_without_match_gets_481_and_retransmitted_cancel_is_absorbed() -> None:
    stack = SipStack()
    stack.receive(raw_request("CANCEL"), b_from_a(), 0.0)
    assert [_status(t.data) for t in stack.outgoing()] == [481]
    assert stack.events() == []
    stack.receive(raw_request("CANCEL"), b_from_a(), 0.5)
    assert [_status(t.data) for t in stack.outgoing()] == [481]


def test_cancel_after_final_gets_200_only() -> None:
    stack = SipStack()
    ev = _incoming(stack, raw_request())
    stack.send_response(ev.txn_id, ev.request.make_response(486), 0.0)
    stack.outgoing()
    stack.receive(raw_request("CANCEL"), b_from_a(), 0.1)
    assert [_status(t.data) for t in stack.outgoing()] == [200]
    assert stack.events() == []


def test_merged_request_gets_482() -> None:
    stack = SipStack()
    _incoming(stack, raw_request())
    stack.outgoing()
    # Same From tag, Call-ID, CSeq, no To tag, different branch: arrived by another path.
    stack.receive(raw_request(branch="z9hG4bKother"), b_from_a(), 0.1)
    assert stack.events() == []
    assert [_status(t.data) for t in stack.outgoing()] == [482]


def test_unknown_dialog_gets_481_and_max_forwards_zero_gets_483() -> None:
    stack = SipStack()
    stack.receive(raw_request("BYE", to_tag="nosuch"), b_from_a(), 0.0)
    assert [_status(t.data) for t in stack.outgoing()] == [481]
    stack.receive(raw_request("INVITE", branch="z9hG4bKmf", max_forwards=0), b_from_a(), 0.0)
    assert [_status(t.data) for t in stack.outgoing()] == [483]
    ev = _incoming(stack, raw_request("OPTIONS", branch="z9hG4bKop", max_forwards=0))
    assert ev.request.method == "OPTIONS"
    assert stack.events() == []
    # Stray ACKs are dropped and counted.
    stack.receive(raw_request("ACK", branch="z9hG4bKstray", to_tag="x"), b_from_a(), 0.0)
    assert stack.outgoing() == [] and stack.statistics().stray_acks == 1


def test_cseq_going_backwards_in_dialog_gets_500() -> None:
    stack = SipStack()
    ev = _incoming(stack, raw_request(cseq=5))
    did = stack.send_response(ev.txn_id, ev.request.make_response(200), 0.0)
    assert did is not None
    stack.outgoing()
    info = raw_request("INFO", branch="z9hG4bKi", to_tag=did.local_tag, cseq=4)
    stack.receive(info, b_from_a(), 0.1)
    assert [_status(t.data) for t in stack.outgoing()] == [500]


def test_rfc2543_peer_matching() -> None:
    stack = SipStack()
    old = {"branch": None, "via_host": "10.0.0.1:5060"}
    ev = _incoming(stack, raw_request(**old))  # type: ignore[arg-type]
    stack.outgoing()
    # Retransmission matched by Request-URI, tags, Call-ID, CSeq and top Via.
    stack.receive(raw_request(**old), b_from_a(), 0.3)  # type: ignore[arg-type]
    assert stack.events() == []
    assert [_status(t.data) for t in stack.outgoing()] == [100]
    # A different CSeq is a new transaction.
    stack.receive(raw_request(cseq=2, **old), b_from_a(), 0.3)  # type: ignore[arg-type]
    assert [type(e) for e in stack.events()] == [RequestReceived]
    stack.outgoing()
    stack.send_response(ev.txn_id, ev.request.make_response(486), 0.5)
    final = parse(stack.outgoing()[-1].data)
    assert isinstance(final, Response)
    # The ACK matches the INVITE through the To tag of our response.
    stack.receive(raw_request("ACK", to_tag=final.to.tag, **old), b_from_a(), 0.6)  # type: ignore[arg-type]
    assert stack.outgoing() == [] and stack.events() == []
    assert stack.statistics().stray_acks == 0
    steps = run_timers(stack, until=10.0)
    assert (5.6, [], [TransactionTerminated(ev.txn_id)]) in steps  # Timer I, not H
    # CANCEL for an RFC 2543 INVITE (the cseq=2 one, still pending).
    stack.receive(raw_request("CANCEL", cseq=2, **old), b_from_a(), 11.0)  # type: ignore[arg-type]
    assert [_status(t.data) for t in stack.outgoing()] == [200, 487]


def test_accepted_absorbs_invite_retransmissions_and_reinvite_refreshes_target() -> None:
    stack = SipStack(TimerConfig(trying_delay=0.0))
    ev = _incoming(stack, raw_request())
    did = stack.send_response(ev.txn_id, ev.request.make_response(200), 0.0)
    assert did is not None
    stack.outgoing()
    stack.receive(raw_request(), b_from_a(), 0.1)  # Timer L window: absorbed
    assert stack.outgoing() == [] and stack.events() == []
    stack.receive(raw_request("ACK", branch="z9hG4bKa", to_tag=did.local_tag), b_from_a(), 0.2)
    stack.events()
    reinvite = raw_request(branch="z9hG4bKre", to_tag=did.local_tag, cseq=2).replace(
        b"<sip:alice@10.0.0.1:5060>", b"<sip:alice@192.0.2.77:5062>"
    )
    re_ev = _incoming(stack, reinvite, now=1.0)
    assert re_ev.dialog_id == did
    dialog = stack.dialog(did)
    assert dialog is not None
    assert dialog.remote_target == "sip:alice@192.0.2.77:5062"
    assert dialog.remote_seq == 2
    stack.send_response(re_ev.txn_id, re_ev.request.make_response(200), 1.0)
    stack.outgoing()
    ack2 = raw_request("ACK", branch="z9hG4bKa2", to_tag=did.local_tag, cseq=2)
    stack.receive(ack2, b_from_a(), 1.1)
    (event,) = stack.events()
    assert isinstance(event, AckReceived) and event.request.cseq.seq == 2
