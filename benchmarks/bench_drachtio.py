"""The UAS example over the drachtio link against the same example on the embedded engine.

Two setups of ``examples/uas.py --quiet`` (180, then 200 + SDP via ``create_uas``, holds the
call until BYE), measured one after the other in one run, under SIPp ``-sn uac`` over UDP with
``-buff_size 4194304``:

* ``embedded``: ``uas.py --listen sip:127.0.0.1:0;transport=udp``: one Python process that owns
  the SIP engine;
* ``drachtio``: ``trio-srf-server`` (``python -m trio_srf.drachtio._server``) owns the engine and
  SIP port, and ``uas.py --drachtio HOST:PORT`` is its app over the drachtio TCP link: two
  Python processes, every SIP message crossing the link once.

Pinning (``taskset``, when there are two CPUs or more): SIPp always runs on the second CPU and
the embedded ``uas.py`` on the first. The drachtio setup has *two* Python processes, so it is
measured in two layouts (``--layout shared|spread|both``, default both):

* ``drachtio shared``: ``trio-srf-server`` and ``uas.py`` both on the first CPU: the same
  budget as the embedded setup, one core for the system under test;
* ``drachtio spread``: ``trio-srf-server`` on the first CPU, ``uas.py`` on the second (shared
  with SIPp): the two processes run in parallel, as they would on separate hosts.

All run default timers (T1 = 0.5 s).

Figures:

1. **Highest zero-failure rate**: fresh processes per step, rates ``--step``, 2*``--step``...
   up to ``--max-rate``, each for ``--step-seconds`` worth of calls; a step passes when SIPp
   completes every call with none failed and an achieved rate (``CallRate(C)``) of at least
   95 % of the target. The figure is the last passing rate before the first failing step.
2. **CPU per call** at a fixed ``--cpu-rate`` (default 50 cps, which every layout sustains;
   a run with failed calls is flagged NOT CLEAN): ``utime + stime``
   from ``/proc/<pid>/stat``, *summed over the setup's Python processes* (not SIPp), from the
   start of the SIPp run until ``--settle`` s after it (default 34 s, so the 64*T1 = 32 s expiry
   of each call's transactions, RFC 3261 Timers J/L, is paid for; ``--quick``: 2 s), minus the
   idle rate measured before, divided by the calls SIPp completed.

Then the ratios drachtio/embedded of both, per layout (goal for the rate: >= 50 %).

Run from the repository root (SIPp = Debian package ``sip-tester``)::

    .venv/bin/python benchmarks/bench_drachtio.py            # ~6 min
    .venv/bin/python benchmarks/bench_drachtio.py --quick    # ~2 min: 2 s steps, 600 calls
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import attrs
import trio

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from trio_srf.testing import SippResult, run_sipp, sipp_available, sipp_version  # noqa: E402

SECRET = "cymru"
GOAL_RATIO = 0.5
_CLK = os.sysconf("SC_CLK_TCK")
_READY = re.compile(r"trio-srf-server ready: admin (\S+) sip udp/(\S+)")
_LISTENING = re.compile(r"listening on sip:(127\.0\.0\.1:\d+);transport=udp")


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` in seconds (fields 14 and 15 of /proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLK


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Proc:
    """A child process pinned to ``cpu``; its output goes to a file (a pipe could fill up)."""

    def __init__(self, name: str, argv: Sequence[str], cpu: int | None) -> None:
        self.name = name
        if cpu is not None:
            argv = ["taskset", "-c", str(cpu), *argv]
        self.lines_at_exit: list[str] = []
        self.out = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop())
        self.proc = subprocess.Popen(
            argv, stdout=self.out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=_env()
        )

    @property
    def lines(self) -> list[str]:
        """What it printed so far."""
        if self.out.closed:
            return self.lines_at_exit
        self.out.seek(0)
        return self.out.read().decode("utf-8", "replace").splitlines()

    async def wait_for(self, pattern: re.Pattern[str], within: float = 15.0) -> re.Match[str]:
        """The first output line matching ``pattern`` (polled, bounded)."""
        with trio.fail_after(within):
            while True:
                for line in self.lines:
                    found = pattern.search(line)
                    if found is not None:
                        return found
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} ended:\n" + "\n".join(self.lines))
                await trio.sleep(0.05)

    def cpu(self) -> float:
        return cpu_seconds(self.proc.pid)

    async def stop(self) -> None:
        """SIGTERM and wait (uas.py prints a stats line on its way out)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            await trio.to_thread.run_sync(lambda: self.proc.wait(timeout=15))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.lines_at_exit = self.lines
        self.out.close()

    def stats(self) -> dict[str, object] | None:
        """The last ``stats {json}`` line it printed, if any."""
        for line in reversed(self.lines):
            if line.startswith("stats "):
                return dict(json.loads(line[len("stats ") :]))
        return None


@attrs.define
class Setup:
    """The running processes of one setup and the SIP address SIPp calls."""

    kind: str
    procs: list[Proc]
    sip: str

    def cpu(self) -> float:
        return sum(p.cpu() for p in self.procs)

    def cpu_each(self) -> list[float]:
        return [p.cpu() for p in self.procs]

    async def close(self) -> str:
        """Stop every process (app first); a short line of what the app counted."""
        for p in reversed(self.procs):
            await p.stop()
        stats = self.procs[-1].stats() or {}
        srf = stats.get("srf", {})
        engine = stats.get("engine", {})
        keep = ("handler_errors", "unanswered", "overload_503", "inbox_drops", "internal_errors")
        merged = {
            **(srf if isinstance(srf, dict) else {}),
            **(engine if isinstance(engine, dict) else {}),
        }
        counters = {k: merged[k] for k in keep if k in merged}
        return f"outcomes={stats.get('outcomes')} {counters}"


async def open_setup(kind: str, cpus: dict[str, int | None]) -> Setup:
    """Start ``embedded`` (uas.py alone) or ``drachtio`` (trio-srf-server + uas.py)."""
    uas = [sys.executable, str(ROOT / "examples" / "uas.py"), "--quiet"]
    if kind == "embedded":
        app = Proc("uas.py", [*uas, "--listen", "sip:127.0.0.1:0;transport=udp"], cpus["app"])
        found = await app.wait_for(_LISTENING)
        return Setup(kind, [app], found.group(1))
    serve = [sys.executable, "-m", "trio_srf.drachtio._server", "--secret", SECRET]
    ports = ["--admin", "127.0.0.1:0", "--listen", "sip:127.0.0.1:0;transport=udp"]
    server = Proc("trio-srf-server", [*serve, *ports], cpus["server"])
    found = await server.wait_for(_READY)
    admin, sip = found.group(1), found.group(2)
    app = Proc("uas.py", [*uas, "--drachtio", admin, "--secret", SECRET], cpus["app"])
    await app.wait_for(re.compile(r"^connected to drachtio server "))
    return Setup(kind, [server, app], sip)


async def sipp_calls(sip: str, calls: int, rate: int, cpu: int | None) -> SippResult:
    return await run_sipp(
        scenario="uac",
        remote=sip,
        calls=calls,
        rate=rate,
        cpu=cpu,
        buff_size=4_194_304,
        timeout_s=calls / rate + 20,
    )


@attrs.frozen
class Case:
    """A setup with its pinning: ``kind`` is ``embedded`` or ``drachtio``."""

    label: str
    kind: str
    cpus: dict[str, int | None]

    def describe(self) -> str:
        where = f"uas.py CPU {self.cpus['app']}"
        if self.kind == "drachtio":
            where += f", trio-srf-server CPU {self.cpus['server']}"
        return f"{self.label}: {where}, SIPp CPU {self.cpus['sipp']}"


async def max_rate(case: Case, args: argparse.Namespace) -> int:
    """Step the rate up until a step fails; return the highest clean rate."""
    kind, cpus = case.label, case.cpus
    best = 0
    rate = args.step
    while rate <= args.max_rate:
        setup = await open_setup(case.kind, cpus)
        calls = int(rate * args.step_seconds)
        try:
            result = await sipp_calls(setup.sip, calls, rate, cpus["sipp"])
        finally:
            counted = await setup.close()
        ok = result.failed == 0 and result.successful == calls and result.call_rate >= 0.95 * rate
        print(
            f"  {kind} step {rate} cps: {'ok  ' if ok else 'FAIL'} {result.summary()} uas.py: "
            f"{counted}",
            flush=True,
        )
        if not ok:
            break
        best = rate
        rate += args.step
    return best


async def cpu_per_call(case: Case, args: argparse.Namespace) -> tuple[float, list[float], str]:
    """CPU ms per call at ``--cpu-rate``: (total, per process, detail line)."""
    kind, cpus = case.label, case.cpus
    setup = await open_setup(case.kind, cpus)
    try:
        await trio.sleep(0.5)
        c0, t0 = setup.cpu_each(), time.monotonic()
        await trio.sleep(1.5)
        idle = [
            (c - c_0) / (time.monotonic() - t0) for c, c_0 in zip(setup.cpu_each(), c0, strict=True)
        ]
        c0, t0 = setup.cpu_each(), time.monotonic()
        result = await sipp_calls(setup.sip, args.calls, args.cpu_rate, cpus["sipp"])
        await trio.sleep(args.settle)
        elapsed = time.monotonic() - t0
        used = [c - c_0 - i * elapsed for c, c_0, i in zip(setup.cpu_each(), c0, idle, strict=True)]
    finally:
        counted = await setup.close()
    done = max(result.successful, 1)
    per_proc = [1000 * u / done for u in used]
    names = [p.name for p in setup.procs]
    clean = result.failed == 0 and result.successful == args.calls
    detail = (
        f"{kind} @{args.cpu_rate} cps x {args.calls} calls, settle {args.settle:g} s: "
        + ", ".join(f"{n} {ms:.3f} ms" for n, ms in zip(names, per_proc, strict=True))
        + f"; {result.summary()}; uas.py: {counted}"
        + ("" if clean else "; NOT CLEAN: calls failed, the figure includes overload work")
    )
    return sum(per_proc), per_proc, detail


def pick_cases(layout: str) -> list[Case]:
    """The embedded case, then the drachtio layouts asked for (no pinning on one CPU)."""
    try:
        allowed = sorted(os.sched_getaffinity(0))
    except AttributeError:
        allowed = []
    first, second = (allowed[0], allowed[1]) if len(allowed) >= 2 else (None, None)
    cases = [Case("embedded", "embedded", {"app": first, "server": None, "sipp": second})]
    if layout in ("shared", "both"):
        cpus = {"app": first, "server": first, "sipp": second}
        cases.append(Case("drachtio shared", "drachtio", cpus))
    if layout in ("spread", "both"):
        cpus = {"app": second, "server": first, "sipp": second}
        cases.append(Case("drachtio spread", "drachtio", cpus))
    return cases


async def run(args: argparse.Namespace) -> int:
    if not sipp_available():
        print("SIPp is not installed (Debian package sip-tester)")
        return 2
    cases = pick_cases(args.layout)
    print(
        f"bench_drachtio: {sipp_version()}, python {sys.version.split()[0]}, "
        f"{os.cpu_count()} CPUs, loadavg {os.getloadavg()}"
    )
    for case in cases:
        print(f"  {case.describe()}")
    print(
        f"  rate steps of {args.step} cps up to {args.max_rate}, {args.step_seconds:g} s each; "
        f"CPU at {args.cpu_rate} cps x {args.calls} calls, settle {args.settle:g} s",
        flush=True,
    )
    rates: dict[str, int] = {}
    cpu: dict[str, tuple[float, list[float], str]] = {}
    for case in cases:
        rates[case.label] = await max_rate(case, args)
        cpu[case.label] = await cpu_per_call(case, args)
        print(f"  {cpu[case.label][2]}", flush=True)
    print(f"loadavg at end {os.getloadavg()}")
    print()
    e_rate, e_cpu = rates["embedded"], cpu["embedded"][0]
    print(f"embedded uas.py max zero-failure rate: {e_rate} calls/s")
    print(f"embedded CPU per call @{args.cpu_rate} cps: {e_cpu:.3f} ms (uas.py)")
    for case in cases[1:]:
        label = case.label
        d_rate, (d_cpu, (server_ms, app_ms), _) = rates[label], cpu[label]
        print(f"{label} max zero-failure rate: {d_rate} calls/s (trio-srf-server + uas.py)")
        print(
            f"{label} CPU per call @{args.cpu_rate} cps: {d_cpu:.3f} ms "
            f"(trio-srf-server {server_ms:.3f} + uas.py {app_ms:.3f})"
        )
    for case in cases[1:]:
        label = case.label
        if e_rate:
            ratio = rates[label] / e_rate
            met = "met" if ratio >= GOAL_RATIO else "NOT met"
            print(f"ratio {label}/embedded max rate: {ratio:.2f} (goal >= {GOAL_RATIO:.2f}: {met})")
        else:
            print(f"ratio {label}/embedded max rate: n/a (embedded passed no step)")
        if e_cpu > 0:
            print(f"ratio {label}/embedded CPU per call: {cpu[label][0] / e_cpu:.2f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--step", type=int, default=50, help="rate step, calls/s (50)")
    parser.add_argument("--max-rate", type=int, default=3000, help="highest rate tried (3000)")
    parser.add_argument("--step-seconds", type=float, default=4.0, help="seconds per step (4)")
    parser.add_argument("--cpu-rate", type=int, default=50, help="rate of the CPU run (50)")
    parser.add_argument("--calls", type=int, default=2000, help="calls of the CPU run (2000)")
    parser.add_argument("--settle", type=float, default=34.0, help="CPU counted after, s (34)")
    parser.add_argument(
        "--layout", choices=["shared", "spread", "both"], default="both", help="drachtio pinning"
    )
    parser.add_argument("--quick", action="store_true", help="2 s steps, 600 calls, settle 2 s")
    args = parser.parse_args(argv)
    if args.quick:
        args.step_seconds, args.calls, args.settle = 2.0, min(args.calls, 600), 2.0
    return trio.run(run, args)


if __name__ == "__main__":
    sys.exit(main())
