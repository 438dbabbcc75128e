"""CPU per call of examples/uas.py, b2bua.py or proxy.py, in one process, calls in sequence.

``bench_calls.py`` measures the examples as SIPp sees them, but on a shared two-core machine
its CPU figures move by 20 % between runs. This benchmark trades realism for repeatability:
the example's Srf runs on an embedded engine over real UDP sockets on 127.0.0.1, and a tiny
caller (and, for the B2BUA and the proxy, a tiny callee) in the same ``trio.run`` speak SIP
with plain string templates (no trio_srf parsing, so they cost the same whatever trio_srf
does). Calls run one at a time: INVITE, (100), 180, 200, ACK, BYE, 200. The proxy
record-routes to one target; the callee does not echo Record-Route, so the caller's ACK and
BYE reach the proxy without a Route and are routed by the dialog it remembered (the path
SIPp's built-in scenarios take).

The figure is ``time.process_time()`` per call over ``--calls`` calls after ``--warmup``
calls; the caller and callee's share is in it (a constant). Under callgrind (``--callgrind``
prints the command) the instruction count is deterministic to a fraction of a percent, which
is what before/after comparisons of a few percent need::

    .venv/bin/python benchmarks/bench_srf_inproc.py uas --calls 2000
    valgrind --tool=callgrind --callgrind-out-file=/dev/null \\
        .venv/bin/python benchmarks/bench_srf_inproc.py b2bua --calls 200 --warmup 50
    .venv/bin/python benchmarks/bench_srf_inproc.py proxy --calls 1000
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import trio

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "examples"), str(ROOT)]

from _agent import timers_for  # noqa: E402

from trio_srf.engine import EngineConfig  # noqa: E402
from trio_srf.srf import Srf, open_srf  # noqa: E402

SDP = (
    "v=0\r\no=caller 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 7000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)
_TO_TAG = re.compile(r"^(?:To|t):.*?;tag=([^;\r\n]+)", re.MULTILINE | re.IGNORECASE)
_STATUS = re.compile(r"^SIP/2\.0 (\d{3})")


def _request(method: str, uri: str, via: str, headers: list[str], body: str = "") -> bytes:
    lines = [f"{method} {uri} SIP/2.0", f"Via: SIP/2.0/UDP {via};rport", *headers]
    if body:
        lines.append("Content-Type: application/sdp")
    lines.append(f"Content-Length: {len(body.encode())}")
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


async def _final(sock: trio.socket.SocketType, cseq_method: str) -> str:
    """The next final response to ``cseq_method`` (provisional ones skipped)."""
    while True:
        data = (await sock.recv(65535)).decode()
        match = _STATUS.match(data)
        if match and int(match.group(1)) >= 200 and f" {cseq_method}\r\n" in data:
            return data


async def caller(port: int, calls: int, warmup: int) -> float:
    """Place ``warmup + calls`` calls in sequence; return CPU seconds for the last ``calls``."""
    sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
    await sock.bind(("127.0.0.1", 0))
    await sock.connect(("127.0.0.1", port))
    me = f"127.0.0.1:{sock.getsockname()[1]}"
    uri = f"sip:service@127.0.0.1:{port}"
    start = 0.0
    for i in range(warmup + calls):
        if i == warmup:
            start = time.process_time()
        common = [
            f"From: <sip:caller@{me}>;tag=c{i}",
            f"Call-ID: call-{i}@bench",
            f"Contact: <sip:caller@{me}>",
            "Max-Forwards: 70",
        ]
        invite = _request(
            "INVITE", uri, f"{me};branch=z9hG4bK-i{i}", [*common, f"To: <{uri}>", "CSeq: 1 INVITE"],
            SDP,
        )  # fmt: skip
        await sock.send(invite)
        answer = await _final(sock, "INVITE")
        if not answer.startswith("SIP/2.0 200"):
            raise RuntimeError(f"call {i}: {answer.splitlines()[0]}")
        tag_match = _TO_TAG.search(answer)
        assert tag_match is not None
        to = f"To: <{uri}>;tag={tag_match.group(1)}"
        await sock.send(
            _request("ACK", uri, f"{me};branch=z9hG4bK-a{i}", [*common, to, "CSeq: 1 ACK"])
        )
        await sock.send(
            _request("BYE", uri, f"{me};branch=z9hG4bK-b{i}", [*common, to, "CSeq: 2 BYE"])
        )
        bye = await _final(sock, "BYE")
        if not bye.startswith("SIP/2.0 200"):
            raise RuntimeError(f"call {i}: BYE {bye.splitlines()[0]}")
    return time.process_time() - start


def _reply(request: str, status: str, me: str, tag: str, body: str = "") -> bytes:
    head, _, _ = request.partition("\r\n\r\n")
    keep = [
        line
        for line in head.split("\r\n")[1:]
        if line.split(":", 1)[0].lower() in ("via", "from", "to", "call-id", "cseq")
    ]
    out = [f"SIP/2.0 {status}"]
    for line in keep:
        if line.lower().startswith("to:") and ";tag=" not in line:
            line += f";tag={tag}"
        out.append(line)
    out.append(f"Contact: <sip:callee@{me}>")
    if body:
        out.append("Content-Type: application/sdp")
    out.append(f"Content-Length: {len(body.encode())}")
    return ("\r\n".join(out) + "\r\n\r\n" + body).encode()


async def callee(sock: trio.socket.SocketType) -> None:
    """Answer INVITE with 180 + 200 (SDP), BYE with 200; ignore ACK."""
    me = f"127.0.0.1:{sock.getsockname()[1]}"
    n = 0
    while True:
        data, addr = await sock.recvfrom(65535)
        text = data.decode()
        method = text.split(" ", 1)[0]
        if method == "INVITE":
            n += 1
            await sock.sendto(_reply(text, "180 Ringing", me, f"e{n}"), addr)
            await sock.sendto(_reply(text, "200 OK", me, f"e{n}", SDP), addr)
        elif method in ("BYE", "OPTIONS", "INFO"):
            await sock.sendto(_reply(text, "200 OK", me, "x"), addr)


def build(name: str, target: str) -> Srf:
    """The example's Srf."""
    if name == "uas":
        import uas

        return uas.build_uas()
    if name == "proxy":
        import proxy

        return proxy.build_proxy([target])
    import b2bua

    return b2bua.build_b2bua(target)


async def main(args: argparse.Namespace) -> None:
    """Run the example and the calls; print CPU per call."""
    sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
    await sock.bind(("127.0.0.1", 0))
    target = f"sip:service@127.0.0.1:{sock.getsockname()[1]}"
    srf = build(args.example, target)
    config = EngineConfig(timers=timers_for(args.t1))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(callee, sock)
        async with open_srf(srf, listen=["sip:127.0.0.1:0;transport=udp"], config=config) as app:
            port = app.agent.listening[0].port  # type: ignore[attr-defined]
            cpu = await caller(port, args.calls, args.warmup)
        nursery.cancel_scope.cancel()
    print(f"{args.example}: {cpu / args.calls * 1000:.3f} ms CPU per call ({args.calls} calls)")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("example", choices=["uas", "b2bua", "proxy"])
    p.add_argument("--calls", type=int, default=1000, help="measured calls")
    p.add_argument("--warmup", type=int, default=100, help="calls before measuring")
    p.add_argument("--t1", type=float, default=4.0, help="T1 (large: no retransmissions)")
    return p.parse_args(argv)


if __name__ == "__main__":
    trio.run(main, parse_args())
