"""CPU per call of examples/proxy.py, in one process, calls in sequence (no SIPp).

``bench_srf_inproc.py``'s caller and callee (SIP from string templates) on either side of
``examples/proxy.py``'s Srf (record-routing, one target): INVITE, (100), 180, 200, ACK,
BYE, 200 per call. The callee does not echo Record-Route, so the caller's ACK and BYE
reach the proxy without a Route and are routed by the dialog the proxy remembered (the
path SIPp's built-in scenarios take). Under callgrind the instruction count per call is the
steady figure::

    .venv/bin/python benchmarks/bench_proxy_inproc.py --calls 2000
"""

from __future__ import annotations

import argparse

import trio
from bench_srf_inproc import callee, caller, timers_for  # puts examples/ and ROOT on sys.path

from trio_srf.engine import EngineConfig
from trio_srf.srf import open_srf


async def main(args: argparse.Namespace) -> None:
    """Run the proxy and the calls; print CPU per call."""
    import proxy

    sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
    await sock.bind(("127.0.0.1", 0))
    target = f"sip:service@127.0.0.1:{sock.getsockname()[1]}"
    srf = proxy.build_proxy([target])
    config = EngineConfig(timers=timers_for(args.t1))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(callee, sock)
        async with open_srf(srf, listen=["sip:127.0.0.1:0;transport=udp"], config=config) as app:
            port = app.agent.listening[0].port  # type: ignore[attr-defined]
            cpu = await caller(port, args.calls, args.warmup)
        nursery.cancel_scope.cancel()
    print(f"proxy: {cpu / args.calls * 1000:.3f} ms CPU per call ({args.calls} calls)")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--calls", type=int, default=1000, help="measured calls")
    p.add_argument("--warmup", type=int, default=100, help="calls before measuring")
    p.add_argument("--t1", type=float, default=4.0, help="T1 (large: no retransmissions)")
    return p.parse_args(argv)


if __name__ == "__main__":
    trio.run(main, parse_args())
