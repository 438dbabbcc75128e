"""CPU per call, highest zero-failure call rate and held-dialog memory of the Srf examples.

Servers, each a child process pinned with ``taskset`` to one CPU while SIPp runs pinned to
another (``-buff_size 4194304``):

* ``uas.py``: ``examples/uas.py`` (180, 200 + SDP via ``create_uas``, waits for BYE);
* ``b2bua.py``: ``examples/b2bua.py --target`` a SIPp callee (``create_b2bua``);
* ``proxy.py``: ``examples/proxy.py --target`` the same callee (only if the file exists);
* ``sippy``: sippy 2.5.0's ``b2bua_simple`` (PyPI ``sippy``) between the same SIPp pair.

The caller is SIPp with our ``tests/sipp/uac_bench.xml`` (``uac_plain.xml`` with the 180
optional) and the callee SIPp with ``uas_plain.xml``: the built-in ``uas`` makes sippy fail
calls (it drops the BYE when the callee's Contact says ``transport=UDP`` in upper case), and
``uac_plain.xml`` fails the calls where sippy relays the 180 after the 200. Our examples run
with ``--quiet`` (no per-call log line) and
sippy with ``SIPLOG_BEND=none``; all run their default timers (T1 = 0.5 s).

Figures:

1. **CPU per call at a fixed rate** (``--rate``, ``--calls``): the server's ``utime + stime``
   from ``/proc/<pid>/stat`` from the start of the SIPp run until ``--settle`` seconds after
   it ended (``--quick``: 2 s; otherwise 34 s, so the 64*T1 = 32 s expiry of each call's
   transactions, RFC 3261 Timers J/L, is paid for), minus the idle rate measured before,
   divided by the calls SIPp completed.
2. **Highest zero-failure rate**: a fresh server per step, rates ``--step``, 2*``--step``...
   up to ``--max-rate``, each for ``--step-seconds`` worth of calls; a step passes when SIPp
   completes every call with none failed and an achieved rate of at least 95 % of the target.
   The figure is the last passing rate before the first failing step.
3. **Held dialogs**: ``--held N`` concurrent calls held on ``uas.py`` (SIPp ``-d`` 10 min,
   ``-l N``), and the process's RSS from ``/proc/<pid>/status`` once all N are up.

Run from the repository root (SIPp = Debian package ``sip-tester``; two CPUs or more)::

    .venv/bin/python benchmarks/bench_calls.py            # 200 cps x 3000 calls, 20,000 held
    .venv/bin/python benchmarks/bench_calls.py --quick    # 200 cps x 1000, 2 s steps, 2,000 held
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import attrs
import trio

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from trio_srf.testing import (  # noqa: E402
    SippResult,
    pick_free_port,
    run_sipp,
    sipp_available,
    sipp_version,
    start_sipp,
)

EXAMPLES = ROOT / "examples"
SCENARIOS = ROOT / "tests" / "sipp"
UAC = SCENARIOS / "uac_bench.xml"
UAS = SCENARIOS / "uas_plain.xml"
CLK = os.sysconf("SC_CLK_TCK")
#: Goals from issue 4 (CPU ms per call; calls/s; held dialogs under this RSS).
GOAL_CPU_MS = {"uas.py": 0.35, "b2bua.py": 1.0, "proxy.py": 0.5}
GOAL_B2BUA_RATE = 1000
GOAL_HELD = 20_000
GOAL_HELD_RSS_MIB = 1024


@attrs.frozen
class Cpus:
    """Where the server and the SIPp load run (None: no pinning)."""

    server: int | None
    load: int | None


def pick_cpus() -> Cpus:
    allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(allowed) < 2 or shutil.which("taskset") is None:
        print("WARNING: fewer than 2 CPUs or no taskset: nothing is pinned", flush=True)
        return Cpus(None, None)
    return Cpus(allowed[0], allowed[1])


def cpu_ticks(pid: int) -> int:
    """utime + stime of ``pid`` in clock ticks (fields 14 and 15 of /proc/<pid>/stat)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])


def rss_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of ``pid`` in KiB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0])
    return values["VmRSS"], values["VmHWM"]


def udp_port_taken(port: int) -> bool:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        return True
    finally:
        sock.close()
    return False


class Server:
    """A server under test, running as a pinned child process."""

    def __init__(self, name: str, process: trio.Process, port: int, log: Path) -> None:
        self.name = name
        self.process = process
        self.port = port
        self.log = log

    @property
    def pid(self) -> int:
        return self.process.pid

    async def stats(self, within: float = 10.0) -> dict[str, object]:
        """Our examples print ``stats {json}`` on SIGUSR1 (not sippy or proxy.py)."""
        before = self.log.read_text().count("\nstats ")
        self.process.send_signal(signal.SIGUSR1)
        with trio.fail_after(within):
            while True:
                text = self.log.read_text()
                if text.count("\nstats ") > before:
                    line = text[text.rindex("\nstats ") + 7 :].splitlines()[0]
                    return dict(json.loads(line))
                await trio.sleep(0.05)


def server_argv(name: str, port: int, callee: str | None) -> tuple[list[str], dict[str, str]]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    listen = f"sip:127.0.0.1:{port};transport=udp"
    target = f"sip:service@{callee}"
    py = sys.executable
    if name == "uas.py":
        return [py, str(EXAMPLES / "uas.py"), "--quiet", "--listen", listen], env
    if name == "b2bua.py":
        argv = [py, str(EXAMPLES / "b2bua.py"), "--quiet", "--listen", listen, "--target", target]
        return argv, env
    if name == "proxy.py":
        argv = [py, str(EXAMPLES / "proxy.py"), "--quiet", "--listen", listen, "--target", target]
        return argv, env
    if name == "sippy":
        exe = shutil.which("b2bua_simple", path=str(Path(sys.executable).parent))
        if exe is None:
            raise RuntimeError("sippy's b2bua_simple is not installed (pip install sippy)")
        env["SIPLOG_BEND"] = "none"
        host, _, cport = (callee or "").partition(":")
        return [exe, "-f", "-l", "127.0.0.1", "-p", str(port), "-n", f"{host}:{cport}"], env
    raise ValueError(name)


async def start_server(name: str, cpus: Cpus, callee: str | None, workdir: Path) -> Server:
    port = pick_free_port()
    argv, env = server_argv(name, port, callee)
    if cpus.server is not None:
        argv = ["taskset", "-c", str(cpus.server), *argv]
    log = workdir / f"{name}-{port}.log"
    with log.open("wb") as out:
        process = await trio.lowlevel.open_process(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env
        )
    server = Server(name, process, port, log)
    with trio.fail_after(20):
        while not udp_port_taken(port):
            if process.returncode is not None:
                raise RuntimeError(f"{name} exited {process.returncode}: {log.read_text()[-2000:]}")
            await trio.sleep(0.05)
    await trio.sleep(0.5)  # finish start-up (imports, other listeners)
    return server


async def stop_server(server: Server) -> None:
    if server.process.returncode is None:
        server.process.kill()
    await server.process.wait()


def passed(result: SippResult, calls: int, rate: float) -> bool:
    """Every call completed, none failed, and SIPp kept the rate (no backlog stretched the run:
    SIPp's elapsed time includes its start-up and the last calls, hence the 1 s slack)."""
    return (
        result.returncode == 0
        and result.failed == 0
        and result.successful == calls
        and result.elapsed <= calls / rate / 0.95 + 1.0
    )


def why(result: SippResult) -> str:
    """The first unexpected message SIPp logged, shortened, for a failing run."""
    for line in result.errors.splitlines():
        if "Aborting call" in line or "unexpected" in line.lower():
            return "\n    first error: " + line[line.find(":", 40) + 1 :][:200]
    return ""


async def cpu_per_call(
    name: str,
    cpus: Cpus,
    callee: str | None,
    workdir: Path,
    *,
    rate: int,
    calls: int,
    settle: float,
) -> tuple[float, int]:
    """(CPU ms per completed call at ``rate``, failed calls)."""
    server = await start_server(name, cpus, callee, workdir)
    try:
        await trio.sleep(0.5)
        t_idle, c_idle = time.monotonic(), cpu_ticks(server.pid)
        await trio.sleep(1.5)
        idle_rate = (cpu_ticks(server.pid) - c_idle) / (time.monotonic() - t_idle)
        t0, c0 = time.monotonic(), cpu_ticks(server.pid)
        result = await run_sipp(
            scenario=UAC,
            remote=f"127.0.0.1:{server.port}",
            calls=calls,
            rate=rate,
            cpu=cpus.load,
            timeout_s=calls / rate + 30,
        )
        await trio.sleep(settle)
        t1, c1 = time.monotonic(), cpu_ticks(server.pid)
        ticks = (c1 - c0) - idle_rate * (t1 - t0)
        ms = ticks / CLK * 1000 / max(result.successful, 1)
        extra = ""
        if name in ("uas.py", "b2bua.py"):
            st = await server.stats()
            extra = f" tables={st['engine']}"
        print(
            f"  {name} @{rate} cps: {result.summary()}\n"
            f"  {name} cpu {(c1 - c0) / CLK:.2f}s over {t1 - t0:.1f}s "
            f"(idle {idle_rate / CLK * 1000:.1f} ms/s) -> {ms:.3f} ms/call{extra}{why(result)}",
            flush=True,
        )
        return ms, calls - result.successful
    finally:
        await stop_server(server)


async def max_rate(
    name: str, cpus: Cpus, callee: str | None, workdir: Path, *, step: int, top: int, seconds: float
) -> int:
    """The highest rate of the step search with zero failures (0 if the first step fails)."""
    best = 0
    for rate in range(step, top + 1, step):
        calls = int(rate * seconds)
        server = await start_server(name, cpus, callee, workdir)
        try:
            result = await run_sipp(
                scenario=UAC,
                remote=f"127.0.0.1:{server.port}",
                calls=calls,
                rate=rate,
                cpu=cpus.load,
                timeout_s=seconds + 30,
            )
        finally:
            await stop_server(server)
        ok = passed(result, calls, rate)
        print(
            f"  {name} step {rate} cps: {'pass' if ok else 'FAIL'} {result.summary()}", flush=True
        )
        if not ok:
            break
        best = rate
    return best


async def held_dialogs(cpus: Cpus, workdir: Path, *, held: int, rate: int) -> tuple[int, int, int]:
    """(dialogs up, RSS KiB, idle RSS KiB) of uas.py holding ``held`` calls."""
    server = await start_server("uas.py", cpus, None, workdir)
    try:
        idle_rss, _ = rss_kib(server.pid)
        async with start_sipp(
            scenario=UAC,
            remote=f"127.0.0.1:{server.port}",
            calls=held,
            rate=rate,
            max_concurrent=held,
            cpu=cpus.load,
            extra_args=["-d", "600000"],
            timeout_s=held / rate + 120,
            stop_grace_s=1,
        ):
            up = 0
            with trio.move_on_after(held / rate + 60):
                while up < held:
                    await trio.sleep(1.0)
                    stats = await server.stats(within=30)
                    srf = stats["srf"]
                    assert isinstance(srf, dict)
                    up = int(srf["dialogs"])
            rss, hwm = rss_kib(server.pid)
            print(f"  uas.py held: {up} dialogs, RSS {rss} KiB (peak {hwm}), idle {idle_rss} KiB")
        return up, rss, idle_rss
    finally:
        await stop_server(server)


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}" if a and b else "n/a"


def goal(ok: bool) -> str:
    return "met" if ok else "NOT met"


async def main(args: argparse.Namespace) -> int:
    if not sipp_available():
        print("SIPp is not installed (Debian package sip-tester)")
        return 2
    cpus = pick_cpus()
    names = [n for n in args.servers.split(",") if n != "proxy.py" or (EXAMPLES / n).exists()]
    print(
        f"{sipp_version()}; python {sys.version.split()[0]}; server CPU {cpus.server}, "
        f"SIPp CPU {cpus.load}; load average {os.getloadavg()}",
        flush=True,
    )
    cpu: dict[str, tuple[float, int]] = {}
    rates: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="bench_calls_") as tmp:
        workdir = Path(tmp)
        async with start_sipp(
            scenario=UAS, cpu=cpus.load, timeout_s=3600, stop_grace_s=1
        ) as callee_sipp:
            callee = callee_sipp.address
            print(f"CPU per call at {args.rate} cps x {args.calls} calls:", flush=True)
            for name in names:
                cpu[name] = await cpu_per_call(
                    name, cpus, callee, workdir, rate=args.rate, calls=args.calls,
                    settle=args.settle,
                )  # fmt: skip
            print(f"Highest zero-failure rate (steps of {args.step} cps):", flush=True)
            for name in names:
                rates[name] = await max_rate(
                    name, cpus, callee, workdir, step=args.step, top=args.max_rate,
                    seconds=args.step_seconds,
                )  # fmt: skip
        print(f"Held dialogs ({args.held}):", flush=True)
        up, rss, idle_rss = await held_dialogs(cpus, workdir, held=args.held, rate=args.held_rate)
    print(f"load average at end {os.getloadavg()}")
    print()
    for name in names:
        ms, failed = cpu[name]
        shown = f"{ms:.3f} ms" + (f" ({failed} of {args.calls} calls FAILED)" if failed else "")
        target = GOAL_CPU_MS.get(name)
        note = f" (goal <= {target} ms: {goal(not failed and ms <= target)})" if target else ""
        print(f"{name} CPU per call @{args.rate} cps: {shown}{note}")
    for name in names:
        note = ""
        if name == "b2bua.py":
            note = f" (goal >= {GOAL_B2BUA_RATE}: {goal(rates[name] >= GOAL_B2BUA_RATE)})"
        top = " (search limit)" if rates[name] >= args.max_rate else ""
        print(f"{name} max zero-failure rate: {rates[name]} calls/s{top}{note}")
    for name in ("b2bua.py", "uas.py", "proxy.py"):
        if name in names and "sippy" in names:
            print(f"ratio {name}/sippy CPU per call: {ratio(cpu[name][0], cpu['sippy'][0])}")
            print(f"ratio {name}/sippy max rate: {ratio(rates[name], rates['sippy'])}")
    per = (rss - idle_rss) / max(up, 1)
    held_ok = up >= GOAL_HELD and rss / 1024 < GOAL_HELD_RSS_MIB
    print(
        f"uas.py held dialogs: {up} of {args.held}, RSS {rss / 1024:.1f} MiB "
        f"({per:.1f} KiB per dialog above idle {idle_rss / 1024:.1f} MiB) "
        f"(goal {GOAL_HELD} under {GOAL_HELD_RSS_MIB} MiB: "
        f"{goal(held_ok) if args.held >= GOAL_HELD else 'not tested at this N'})"
    )
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="fewer calls, short steps, 2,000 held")
    p.add_argument("--rate", type=int, default=200, help="fixed rate for CPU per call")
    p.add_argument("--calls", type=int, default=None, help="calls per CPU run (3000; quick 1000)")
    p.add_argument("--settle", type=float, default=None, help="seconds counted after a CPU run")
    p.add_argument("--step", type=int, default=100, help="rate step of the search")
    p.add_argument("--max-rate", type=int, default=None, help="search limit (3000; quick 1500)")
    p.add_argument("--step-seconds", type=float, default=None, help="per step (4; quick 2)")
    p.add_argument("--held", type=int, default=None, help="held dialogs (20000; quick 2000)")
    p.add_argument("--held-rate", type=int, default=500, help="rate at which they are set up")
    p.add_argument("--servers", default="uas.py,b2bua.py,proxy.py,sippy", help="which to measure")
    args = p.parse_args(argv)
    quick = args.quick
    args.calls = args.calls or (1000 if quick else 3000)
    args.settle = args.settle if args.settle is not None else (2.0 if quick else 34.0)
    args.max_rate = args.max_rate or (1500 if quick else 3000)
    args.step_seconds = args.step_seconds or (2.0 if quick else 4.0)
    args.held = args.held or (2000 if quick else GOAL_HELD)
    return args


if __name__ == "__main__":
    sys.exit(trio.run(main, parse_args()))
