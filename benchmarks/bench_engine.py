"""CPU per call and highest zero-failure call rate of the engine UAS under SIPp (issue 3, item 7).

Two servers are measured the same way, each in a child process pinned with ``taskset`` to one
CPU while SIPp (``-sn uac`` over UDP, ``-buff_size 4194304``) runs pinned to another:

* ``engine``: the embedded engine with ``examples/engine_uas.py``'s ``run_uas`` (200 + SDP to
  INVITE, 200 to BYE, ACK absorbed), default :class:`~trio_srf.engine.EngineConfig` (T1 = 0.5 s,
  so Timer J/L keep each call's transactions for 32 s after it ends, as RFC 3261/6026 ask);
* ``bare``: the floor, a Trio UDP loop that does no transaction work: ``recvfrom``, answer
  INVITE with a canned 200 (+ the same SDP) built by string operations, BYE with 200, ignore ACK.

Figures:

1. **CPU per call at a fixed 500 calls/s**: ``--reps`` runs of ``--calls`` calls on one server
   process; CPU is ``utime + stime`` of the child from ``/proc/<pid>/stat``, minus its idle rate
   measured beforehand. Each run's figure is printed, with the median; the headline figure is
   the engine's *total* CPU over all runs **plus** the timer expiries afterwards (the engine is
   watched until its transaction tables are empty, ~32 s), divided by all calls.
2. **Highest zero-failure call rate**: a fresh server process per step, rates 500, 1000, 1500...
   each for ``--step-seconds`` worth of calls; the figure is the highest rate before the first
   step with a failed call or an achieved rate (SIPp's ``CallRate(C)``) below 95 % of target.

Run from the repository root (SIPp = Debian package ``sip-tester``)::

    .venv/bin/python benchmarks/bench_engine.py            # ~4 min
    .venv/bin/python benchmarks/bench_engine.py --quick    # ~1 min, fewer/shorter runs
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import attrs
import trio

_ROOT = Path(__file__).resolve().parent.parent
for _p in (_ROOT, _ROOT / "examples"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from trio_srf.testing import SippResult, run_sipp, sipp_available, sipp_version  # noqa: E402

GOAL_CPU_MS = 0.25
GOAL_RATE = 2500
CPU_RATE = 500
RATE_STEP = 500
RATE_LIMIT = 10_000
_CLK = os.sysconf("SC_CLK_TCK")
_SDP = (
    b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    b"m=audio 6000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n"
)


# --------------------------------------------------------------------------- the servers (child)


async def _control(stats: Callable[[], str]) -> None:
    """Answer ``stats`` lines on stdin with one line of table sizes; return at EOF."""
    stream = trio.lowlevel.FdStream(os.dup(0))
    buf = b""
    async with stream:
        while True:
            chunk = await stream.receive_some(4096)
            if not chunk:
                return
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                if line.strip() == b"stats":
                    print(stats(), flush=True)


async def serve_engine() -> None:
    """The engine UAS: ``run_uas`` on ``open_engine`` with default options."""
    from engine_uas import run_uas

    from trio_srf.engine import open_engine

    async with open_engine(["sip:127.0.0.1:0;transport=udp"]) as engine:

        def stats() -> str:
            s = engine.statistics()
            st = s.stack
            live = st.server_transactions + st.client_transactions + st.dialogs
            return (
                f"live={live} retrans_out={st.retransmissions_out} "
                f"retrans_in={st.retransmissions_in} drops={s.inbox_drops} "
                f"overload={s.overload_503} errors={s.internal_errors}"
            )

        async with trio.open_nursery() as nursery:
            await nursery.start(run_uas, engine)
            print(f"ready {engine.listening[0].port}", flush=True)
            await _control(stats)
            nursery.cancel_scope.cancel()


async def serve_bare() -> None:
    """The floor: answer INVITE/BYE with canned 200s built by string operations, ignore ACK."""
    sock = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for force, plain in ((33, socket.SO_RCVBUF), (32, socket.SO_SNDBUF)):  # *BUFFORCE, then cap
        try:
            sock.setsockopt(socket.SOL_SOCKET, force, 4 * 1024 * 1024)
        except OSError:
            sock.setsockopt(socket.SOL_SOCKET, plain, 4 * 1024 * 1024)
    await sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    keep = (b"via:", b"from:", b"to:", b"call-id:", b"cseq:")
    tail_invite = (
        b"\r\nContact: <sip:127.0.0.1:%d>\r\nContent-Type: application/sdp\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (port, len(_SDP), _SDP)
    )
    tail_other = b"\r\nContent-Length: 0\r\n\r\n"
    answered = 0

    async def loop() -> None:
        nonlocal answered
        while True:
            data, addr = await sock.recvfrom(65535)
            if data.startswith(b"ACK") or data.startswith(b"SIP/"):
                continue
            head = data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
            invite = head[0].startswith(b"INVITE")
            lines = [b"SIP/2.0 200 OK"]
            for line in head[1:]:
                low = line[:8].lower()
                if low.startswith(keep):
                    if invite and low.startswith(b"to:"):
                        line += b";tag=bare%d" % answered
                    lines.append(line)
            answered += 1
            await sock.sendto(b"\r\n".join(lines) + (tail_invite if invite else tail_other), addr)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(loop)
        print(f"ready {port}", flush=True)
        await _control(lambda: f"live=0 answered={answered}")
        nursery.cancel_scope.cancel()
    sock.close()


# --------------------------------------------------------------------------- the parent


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` in seconds (fields 14 and 15 of /proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLK


class Server:
    """A server child process pinned to one CPU, with a line protocol on stdin/stdout."""

    def __init__(self, kind: str, cpu: int | None) -> None:
        argv = [sys.executable, __file__, "--serve", kind]
        if cpu is not None:
            argv = ["taskset", "-c", str(cpu), *argv]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode().split()
        if not line or line[0] != "ready":
            self.proc.kill()
            raise RuntimeError(f"{kind} server did not start: {line!r}")
        self.port = int(line[1])

    def cpu(self) -> float:
        return cpu_seconds(self.proc.pid)

    def stats(self) -> dict[str, int]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(b"stats\n")
        self.proc.stdin.flush()
        words = self.proc.stdout.readline().decode().split()
        return {k: int(v) for k, v in (w.split("=", 1) for w in words)}

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@attrs.frozen
class Step:
    rate: int
    result: SippResult
    ok: bool


async def sipp_calls(port: int, calls: int, rate: int, cpu: int | None) -> SippResult:
    return await run_sipp(
        scenario="uac",
        remote=f"127.0.0.1:{port}",
        calls=calls,
        rate=rate,
        cpu=cpu,
        buff_size=4_194_304,
        timeout_s=calls / rate + 40,
    )


async def idle_rate(server: Server, seconds: float = 1.5) -> float:
    before = server.cpu()
    await trio.sleep(seconds)
    return (server.cpu() - before) / seconds


async def measure_cpu(
    kind: str, args: argparse.Namespace, cpus: tuple[int | None, int | None]
) -> tuple[float, list[float], str]:
    """CPU ms per call at CPU_RATE: (headline incl. drain, per-run figures, detail line).

    The detail line says so when a run had failed calls: the server was overloaded at
    CPU_RATE and its CPU figure then includes overload work (retransmissions, 503s).
    """
    server = Server(kind, cpus[0])
    try:
        idle = await idle_rate(server)
        start_cpu, start_t = server.cpu(), time.monotonic()
        per_run: list[float] = []
        total_calls = 0
        failed_runs = 0
        for rep in range(args.reps):
            c0, t0 = server.cpu(), time.monotonic()
            result = await sipp_calls(server.port, args.calls, CPU_RATE, cpus[1])
            await trio.sleep(0.3)
            used = server.cpu() - c0 - idle * (time.monotonic() - t0)
            per_run.append(1000 * used / args.calls)
            total_calls += result.successful
            print(
                f"  {kind} @{CPU_RATE} cps run {rep + 1}: {per_run[-1]:.3f} ms/call  "
                f"{result.summary()}",
                flush=True,
            )
            if result.failed or result.successful != args.calls:
                failed_runs += 1
                print(f"  {kind}: run {rep + 1} had failures; CPU figure is not clean")
        drain_s = 0.0
        if kind == "engine" and not args.quick:
            # Timers J and L (64*T1 = 32 s) end the calls' transactions later: count that too.
            t_drain = time.monotonic()
            while time.monotonic() - t_drain < 60:
                if server.stats()["live"] == 0:
                    break
                await trio.sleep(0.5)
            drain_s = time.monotonic() - t_drain
        total = server.cpu() - start_cpu - idle * (time.monotonic() - start_t)
        headline = 1000 * total / max(total_calls, 1)
        detail = (
            f"idle {idle * 1000:.2f} ms/s subtracted; total {total:.2f} s CPU / {total_calls} calls"
            + (f", incl. {drain_s:.0f} s until tables drained" if drain_s else "")
            + f"; server: {server.stats()}"
            + (f"; OVERLOADED: {failed_runs} run(s) had failed calls" if failed_runs else "")
        )
        return headline, per_run, detail
    finally:
        server.close()


async def max_rate(
    kind: str, args: argparse.Namespace, cpus: tuple[int | None, int | None]
) -> tuple[int, list[Step]]:
    """Step the rate up until a step fails; return the highest clean rate and the steps."""
    best = 0
    steps: list[Step] = []
    rate = RATE_STEP
    while rate <= RATE_LIMIT:
        server = Server(kind, cpus[0])
        try:
            calls = int(rate * args.step_seconds)
            result = await sipp_calls(server.port, calls, rate, cpus[1])
            stats = server.stats()
        finally:
            server.close()
        ok = result.failed == 0 and result.successful == calls and result.call_rate >= 0.95 * rate
        steps.append(Step(rate, result, ok))
        print(
            f"  {kind} step {rate} cps: {'ok  ' if ok else 'FAIL'} {result.summary()} "
            f"server: {stats}",
            flush=True,
        )
        if not ok:
            break
        best = rate
        rate += RATE_STEP
    return best, steps


def pick_cpus() -> tuple[int | None, int | None]:
    try:
        allowed = sorted(os.sched_getaffinity(0))
    except AttributeError:
        return (None, None)
    if len(allowed) < 2:
        return (None, None)
    return (allowed[0], allowed[1])


async def run(args: argparse.Namespace) -> int:
    if not sipp_available():
        print("SIPp is not installed (Debian package sip-tester)")
        return 2
    cpus = pick_cpus()
    print(
        f"bench_engine: {sipp_version()}, python {sys.version.split()[0]}, "
        f"server CPU {cpus[0]}, SIPp CPU {cpus[1]}, loadavg {os.getloadavg()}"
    )
    print(
        f"  fixed rate {CPU_RATE} cps x {args.calls} calls x {args.reps} runs; "
        f"rate steps of {RATE_STEP} cps, {args.step_seconds:g} s each",
        flush=True,
    )
    figures: dict[str, tuple[float, list[float], int, str]] = {}
    for kind in ("engine", "bare"):
        cpu_ms, per_run, detail = await measure_cpu(kind, args, cpus)
        print(f"  {kind}: {detail}", flush=True)
        best, _ = await max_rate(kind, args, cpus)
        note = " [overloaded: runs had failed calls]" if "OVERLOADED" in detail else ""
        figures[kind] = (cpu_ms, per_run, best, note)
    e_cpu, e_runs, e_rate, e_note = figures["engine"]
    b_cpu, b_runs, b_rate, b_note = figures["bare"]
    print(f"loadavg at end {os.getloadavg()}")
    print()
    met_cpu = "met" if e_cpu <= GOAL_CPU_MS else "NOT met"
    met_rate = "met" if e_rate >= GOAL_RATE else "NOT met"
    print(
        f"engine UAS CPU per call @{CPU_RATE} cps: {e_cpu:.3f} ms "
        f"(runs: {', '.join(f'{x:.3f}' for x in e_runs)}; median {statistics.median(e_runs):.3f})"
        f" (goal <= {GOAL_CPU_MS} ms: {met_cpu}){e_note}"
    )
    print(f"engine UAS max zero-failure rate: {e_rate} calls/s (goal >= {GOAL_RATE}: {met_rate})")
    print(
        f"bare responder CPU per call @{CPU_RATE} cps: {b_cpu:.3f} ms "
        f"(runs: {', '.join(f'{x:.3f}' for x in b_runs)}; median {statistics.median(b_runs):.3f})"
        f"{b_note}"
    )
    print(f"bare responder max zero-failure rate: {b_rate} calls/s")
    print(f"ratio engine/bare CPU per call: {e_cpu / b_cpu:.2f}" if b_cpu > 0 else "ratio: n/a")
    print(f"ratio engine/bare max rate: {e_rate / b_rate:.2f}" if b_rate else "ratio: n/a")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=5000, help="calls per fixed-rate run")
    parser.add_argument("--reps", type=int, default=3, help="fixed-rate runs per server")
    parser.add_argument("--step-seconds", type=float, default=4.0, help="seconds per rate step")
    parser.add_argument("--quick", action="store_true", help="1 run of 2000 calls, 2 s steps")
    parser.add_argument("--serve", choices=["engine", "bare"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        trio.run(serve_engine if args.serve == "engine" else serve_bare)
        return 0
    if args.quick:
        args.calls, args.reps, args.step_seconds = min(args.calls, 2000), 1, 2.0
    return trio.run(run, args)


if __name__ == "__main__":
    sys.exit(main())
