"""CPU per call of the Srf examples only (no rate search, no held dialogs), repeated.

A quicker loop than ``bench_calls.py`` for before/after comparisons of the Srf layer: each
round starts a fresh ``uas.py`` / ``b2bua.py`` and measures the server's CPU per completed
call at ``--rate`` exactly as ``bench_calls.py`` does (``utime + stime`` minus the idle
rate, over the SIPp run plus ``--settle`` seconds). Prints each figure and the median.

Run from the repository root, under the shared benchmark lock::

    flock /tmp/bench.lock .venv/bin/python benchmarks/bench_srf_cpu.py --rounds 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_calls


async def main(args: argparse.Namespace) -> int:
    """Run the rounds and print medians."""
    if not bench_calls.sipp_available():
        print("SIPp is not installed (Debian package sip-tester)")
        return 2
    cpus = bench_calls.pick_cpus()
    names = args.servers.split(",")
    figures: dict[str, list[float]] = {n: [] for n in names}
    with tempfile.TemporaryDirectory(prefix="bench_srf_cpu_") as tmp:
        workdir = Path(tmp)
        async with bench_calls.start_sipp(
            scenario=bench_calls.UAS, cpu=cpus.load, timeout_s=3600, stop_grace_s=1
        ) as callee_sipp:
            for _ in range(args.rounds):
                for name in names:
                    ms, failed = await bench_calls.cpu_per_call(
                        name,
                        cpus,
                        callee_sipp.address,
                        workdir,
                        rate=args.rate,
                        calls=args.calls,
                        settle=args.settle,
                    )
                    if failed:
                        print(f"  {name}: {failed} calls FAILED")
                    figures[name].append(ms)
    for name in names:
        values = ", ".join(f"{v:.3f}" for v in figures[name])
        print(f"{name}: median {statistics.median(figures[name]):.3f} ms/call ({values})")
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rounds", type=int, default=3, help="measurements per server")
    p.add_argument("--rate", type=int, default=200, help="calls per second")
    p.add_argument("--calls", type=int, default=1000, help="calls per measurement")
    p.add_argument("--settle", type=float, default=2.0, help="seconds counted after each run")
    p.add_argument("--servers", default="uas.py,b2bua.py", help="which examples to measure")
    return p.parse_args(argv)


if __name__ == "__main__":
    sys.exit(trio.run(main, parse_args()))
