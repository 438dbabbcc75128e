"""Client transaction timer schedules (RFC 3261 §17.1, RFC 6026), stepped by hand."""

from __future__ import annotations

from trio_srf.core import (
    ResponseReceived,
    SipStack,
    TimerConfig,
    TransactionTerminated,
    TransactionTimeout,
)
from trio_srf.sip import Request, parse

from .core_support import a_to_b, first_line, new_request, run_timers


def _response_to(stack_out: bytes, status: int, to_tag: str | None = "btag") -> bytes:
    request = parse(stack_out)
    assert isinstance(request, Request)
    return request.make_response(status, to_tag=to_tag).serialize()


def _send(method: str, transport: str = "udp") -> tuple[SipStack, str, bytes]:
    stack = SipStack()
    txn = stack.send_request(new_request(method), a_to_b(transport), now=0.0)
    (sent,) = stack.outgoing()
    assert sent.flow == a_to_b(transport)
    return stack, txn, sent.data


def test_timer_a_doubles_until_timer_b() -> None:
    stack, txn, data = _send("INVITE")
    steps = run_timers(stack, until=100.0)
    retransmit_times = [t for t, sent, _ in steps if sent]
    assert retransmit_times == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert all(sent == [data] for _, sent, _ in steps if sent)
    last_time, last_sent, last_events = steps[-1]
    assert last_time == 32.0
    assert last_sent == []
    assert last_events == [TransactionTimeout(txn), TransactionTerminated(txn)]
    assert stack.statistics().client_transactions == 0
    assert stack.statistics().timers == 0
    assert stack.statistics().retransmissions_out == 6


def test_invite_over_tcp_never_retransmits_and_times_out_at_b() -> None:
    stack, txn, _ = _send("INVITE", "tcp")
    steps = run_timers(stack, until=100.0)
    assert steps == [(32.0, [], [TransactionTimeout(txn), TransactionTerminated(txn)])]


def test_timer_e_is_capped_at_t2() -> None:
    stack, txn, _ = _send("OPTIONS")
    steps = run_timers(stack, until=100.0)
    times = [t for t, sent, _ in steps if sent]
    assert times == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert steps[-1] == (32.0, [], [TransactionTimeout(txn), TransactionTerminated(txn)])


def test_timer_e_is_t2_in_proceeding() -> None:
    stack, _, data = _send("OPTIONS")
    stack.receive(_response_to(data, 100, to_tag=None), a_to_b(), 0.2)
    assert [type(e) for e in stack.events()] == [ResponseReceived]
    steps = run_timers(stack, until=12.0)
    assert [t for t, sent, _ in steps if sent] == [0.5, 4.5, 8.5]


def test_custom_t1_t2_scale_the_schedule() -> None:
    stack = SipStack(TimerConfig(t1=0.1, t2=0.4))
    stack.send_request(new_request("INVITE"), a_to_b(), 0.0)
    stack.outgoing()
    steps = run_timers(stack, until=100.0)
    times = [round(t, 6) for t, sent, _ in steps if sent]
    assert times == [0.1, 0.3, 0.7, 1.5, 3.1, 6.3]
    assert round(steps[-1][0], 6) == 6.4


def test_non2xx_final_is_acked_and_timer_d_is_32s_on_udp() -> None:
    stack, txn, data = _send("INVITE")
    stack.receive(_response_to(data, 180), a_to_b(), 0.1)
    stack.receive(_response_to(data, 486), a_to_b(), 0.2)
    (ack,) = stack.outgoing()
    ack_req = parse(ack.data)
    assert isinstance(ack_req, Request)
    invite = parse(data)
    assert isinstance(invite, Request)
    # §17.1.1.3: same Request-URI, Call-ID, From, CSeq number, top Via; To of the response.
    assert ack_req.method == "ACK"
    assert ack_req.uri == invite.uri
    assert ack_req.call_id == invite.call_id
    assert ack_req.cseq.seq == invite.cseq.seq and ack_req.cseq.method == "ACK"
    assert ack_req.top_via.branch == invite.top_via.branch
    assert ack_req.to.tag == "btag"
    assert ack_req.from_.tag == "atag"
    statuses = [e.response.status for e in stack.events() if isinstance(e, ResponseReceived)]
    assert statuses == [180, 486]
    # A retransmitted 486 is absorbed and re-ACKed.
    stack.receive(_response_to(data, 486), a_to_b(), 5.0)
    assert [t.data for t in stack.outgoing()] == [ack.data]
    assert stack.events() == []
    steps = run_timers(stack, until=100.0)
    assert steps == [(32.2, [], [TransactionTerminated(txn)])]


def test_timer_d_is_zero_on_tcp() -> None:
    stack, txn, data = _send("INVITE", "tcp")
    stack.receive(_response_to(data, 603), a_to_b("tcp"), 0.2)
    assert first_line(stack.outgoing()[0].data).startswith("ACK ")
    events = stack.events()
    assert isinstance(events[0], ResponseReceived)
    assert events[1:] == [TransactionTerminated(txn)]
    assert stack.statistics().client_transactions == 0
    assert stack.next_deadline() is None


def test_timer_k_t4_on_udp_and_zero_on_tcp() -> None:
    stack, txn, data = _send("OPTIONS")
    stack.receive(_response_to(data, 200), a_to_b(), 1.0)
    assert [type(e) for e in stack.events()] == [ResponseReceived]
    stack.outgoing()
    # Retransmitted final absorbed in Completed.
    stack.receive(_response_to(data, 200), a_to_b(), 2.0)
    assert stack.events() == [] and stack.outgoing() == []
    assert run_timers(stack, until=100.0) == [(6.0, [], [TransactionTerminated(txn)])]

    stack, txn, data = _send("OPTIONS", "tcp")
    stack.receive(_response_to(data, 200), a_to_b("tcp"), 1.0)
    assert [type(e) for e in stack.events()] == [ResponseReceived, TransactionTerminated]


def test_2xx_moves_to_accepted_and_timer_m_ends_it() -> None:
    stack, txn, data = _send("INVITE")
    stack.receive(_response_to(data, 200), a_to_b(), 0.3)
    (event,) = stack.events()
    assert isinstance(event, ResponseReceived)
    assert event.dialog_id is not None
    assert stack.outgoing() == []  # the ACK for a 2xx is the TU's (send_ack)
    ack = stack.send_ack(event.dialog_id, 0.4)
    assert ack.cseq.seq == 1 and ack.cseq.method == "ACK"
    (sent_ack,) = stack.outgoing()
    # A retransmitted 2xx is not passed up again but re-ACKed (§13.2.2.4).
    stack.receive(_response_to(data, 200), a_to_b(), 1.0)
    assert stack.events() == []
    assert [t.data for t in stack.outgoing()] == [sent_ack.data]
    # A 2xx from another fork is passed up with its own dialog.
    stack.receive(_response_to(data, 200, to_tag="fork2"), a_to_b(), 2.0)
    (fork,) = stack.events()
    assert isinstance(fork, ResponseReceived)
    assert fork.dialog_id is not None and fork.dialog_id.remote_tag == "fork2"
    assert run_timers(stack, until=100.0) == [(32.3, [], [TransactionTerminated(txn)])]
    assert stack.statistics().dialogs == 2


def test_stray_response_is_dropped_and_counted() -> None:
    stack, _, data = _send("OPTIONS")
    other = data.replace(b"branch=z9hG4bK", b"branch=z9hG4bKother")
    stack.receive(_response_to(other, 200), a_to_b(), 0.1)
    assert stack.events() == [] and stack.outgoing() == []
    assert stack.statistics().stray_responses == 1


def test_provisional_then_timer_c() -> None:
    stack = SipStack(TimerConfig(timer_c=60.0))
    txn = stack.send_request(new_request("INVITE"), a_to_b(), 0.0)
    data = stack.outgoing()[0].data
    stack.receive(_response_to(data, 180), a_to_b(), 0.2)
    stack.events()
    steps = run_timers(stack, until=1000.0)
    # No retransmission after a provisional (Timer A stops), no Timer B.
    assert all(not sent for _, sent, _ in steps)
    timeout_at, _, events = steps[0]
    assert timeout_at == 60.2
    assert TransactionTimeout(txn) in events
    assert stack.statistics().client_transactions == 0
    assert stack.statistics().dialogs == 0  # the early dialog went with it
