"""In-process CPU per call of the sans-IO SipStack doing the engine UAS's work (issue 3).

No sockets, no Trio: SIPp-shaped datagrams (``-sn uac``: INVITE with SDP, ACK, BYE)
go through :meth:`SipStack.receive` from bytes, the "TU" answers like
``examples/engine_uas.py`` and :meth:`Engine.respond` do (200 + SDP + Contact to
INVITE, 200 to BYE), the outgoing bytes are drained, and finally every timer
(Timer J/L, the 100 Trying timer, the 2xx retransmission guard) expires through
:meth:`SipStack.handle_timers`, so the figure is the stack's whole cost per call.

The parse of each incoming datagram is timed separately (``parse`` column), so
the stack's own share shows apart from the parser's.

Run from the repository root::

    .venv/bin/python benchmarks/bench_stack.py            # 5 reps x 5000 calls
    .venv/bin/python benchmarks/bench_stack.py --profile  # cProfile of one rep

CPU time (``process_time``) is measured, not wall time; on a shared machine the
minimum over the runs is the steadier figure.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from trio_srf.core import Flow, RequestReceived, SipStack  # noqa: E402
from trio_srf.sip import parse  # noqa: E402

_SDP = (
    b"v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
    b"t=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)
_ANSWER = (
    b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    b"m=audio 6000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\n"
)
_CONTACT = "<sip:127.0.0.1:5060>"


def _invite(i: int) -> bytes:
    return (
        b"INVITE sip:service@127.0.0.1:5060 SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-4242-%d-0\r\n"
        b"From: sipp <sip:sipp@127.0.0.1:5061>;tag=4242SIPpTag00%d\r\n"
        b"To: service <sip:service@127.0.0.1:5060>\r\n"
        b"Call-ID: %d-4242@127.0.0.1\r\n"
        b"CSeq: 1 INVITE\r\n"
        b"Contact: sip:sipp@127.0.0.1:5061\r\n"
        b"Max-Forwards: 70\r\n"
        b"Subject: Performance Test\r\n"
        b"Content-Type: application/sdp\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (i, i, i, len(_SDP), _SDP)
    )


def _in_dialog(method: bytes, i: int, tag: str, cseq: int, branch: int) -> bytes:
    return (
        b"%s sip:service@127.0.0.1:5060 SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-4242-%d-%d\r\n"
        b"From: sipp <sip:sipp@127.0.0.1:5061>;tag=4242SIPpTag00%d\r\n"
        b"To: service <sip:service@127.0.0.1:5060>;tag=%s\r\n"
        b"Call-ID: %d-4242@127.0.0.1\r\n"
        b"CSeq: %d %s\r\n"
        b"Contact: sip:sipp@127.0.0.1:5061\r\n"
        b"Max-Forwards: 70\r\n"
        b"Subject: Performance Test\r\n"
        b"Content-Length: 0\r\n\r\n" % (method, i, branch, i, tag.encode(), i, cseq, method)
    )


def _answer(stack: SipStack, now: float) -> int:
    """The TU: answer every RequestReceived like engine_uas + Engine.respond; count them."""
    n = 0
    for event in stack.events():
        if not isinstance(event, RequestReceived):
            continue
        request = event.request
        if request.method == "INVITE":
            response = request.make_response(
                200, headers=[("Content-Type", "application/sdp")], body=_ANSWER
            )
        else:
            response = request.make_response(200)
        headers = response.headers
        method = response.cseq.method if headers.has("cseq") else ""
        if 100 < response.status < 300 and method == "INVITE" and not headers.has("contact"):
            headers.add("Contact", _CONTACT)
        stack.send_response(event.txn_id, response, now)
        n += 1
    return n


def run(calls: int, *, parse_time: bool = True) -> tuple[float, float, int]:
    """One rep: ``calls`` calls through a fresh stack; (total s, parse s, sent)."""
    stack = SipStack()
    flow = Flow("udp", ("127.0.0.1", 5061), ("127.0.0.1", 5060))
    invites = [_invite(i) for i in range(calls)]
    sent = 0
    now = 1000.0
    total = 0.0
    t0 = time.process_time()
    tags: list[str] = []
    for data in invites:
        stack.receive(data, flow, now)
        _answer(stack, now)
        out = stack.outgoing()
        sent += len(out)
        tags.append(stack._server[next(reversed(stack._server))].local_tag or "")
    total += time.process_time() - t0
    later = [
        (_in_dialog(b"ACK", i, tags[i], 1, 5), _in_dialog(b"BYE", i, tags[i], 2, 7))
        for i in range(calls)
    ]
    t0 = time.process_time()
    for ack, bye in later:
        stack.receive(ack, flow, now)
        _answer(stack, now)
        stack.receive(bye, flow, now)
        _answer(stack, now)
        sent += len(stack.outgoing())
    for step in range(1, 80):
        stack.handle_timers(now + step * 0.5)
        stack.events()
        sent += len(stack.outgoing())
    total += time.process_time() - t0
    st = stack.statistics()
    assert st.server_transactions == 0 and st.dialogs == 0 and st.timers == 0, st
    assert st.retransmissions_out == 0, st
    if not parse_time:
        return total, 0.0, sent
    # The parser's share, measured on the same datagrams.
    t0 = time.process_time()
    for data in invites:
        parse(data)
    for ack, bye in later:
        parse(ack)
        parse(bye)
    parse_s = time.process_time() - t0
    return total, parse_s, sent


def main() -> None:
    """Parse arguments, run the reps, print per-call figures."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--calls", type=int, default=5000)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--profile", action="store_true", help="cProfile one rep")
    ap.add_argument(
        "--no-parse-time",
        action="store_true",
        help="skip the separate parse timing (e.g. to count instructions under callgrind)",
    )
    args = ap.parse_args()
    gc.set_threshold(20_000, 50, 100)  # what EngineConfig.gc_threshold sets
    if args.profile:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.runcall(run, args.calls)
        pstats.Stats(prof).sort_stats("tottime").print_stats(30)
        return
    totals, parses = [], []
    for _ in range(args.reps):
        total, parse_s, sent = run(args.calls, parse_time=not args.no_parse_time)
        assert sent == 2 * args.calls, sent  # 200 to INVITE, 200 to BYE
        totals.append(total / args.calls * 1e6)
        parses.append(parse_s / args.calls * 1e6)
    med, pmed = statistics.median(totals), statistics.median(parses)
    print(
        f"stack per call: median {med:.1f} us, min {min(totals):.1f} us "
        f"(runs {', '.join(f'{t:.0f}' for t in totals)}); parse median {pmed:.1f} us, "
        f"min {min(parses):.1f} us; stack minus parse (median) {med - pmed:.1f} us"
    )


if __name__ == "__main__":
    main()
