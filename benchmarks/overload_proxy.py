"""examples/proxy.py past its capacity: does it shed load and recover?

Runs ``proxy.py --quiet`` (pinned, as ``bench_calls.py`` does) between the SIPp caller
(``uac_bench.xml``) and callee (``uas_plain.xml``), places ``--calls`` calls at ``--rate``
and prints, every ``--every`` seconds, the proxy's engine tables and counters (its
``stats`` line, asked for with SIGUSR1) next to its CPU use, then SIPp's summary::

    flock /tmp/bench.lock .venv/bin/python benchmarks/overload_proxy.py --rate 500 --calls 1000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import bench_calls
import trio

_KEYS = (
    "server_transactions",
    "client_transactions",
    "retransmissions_in",
    "retransmissions_out",
    "inbox_drops",
    "overload_503",
)


def _quiet_argv(name: str, port: int, callee: str | None) -> tuple[list[str], dict[str, str]]:
    argv, env = _plain_argv(name, port, callee)
    return [*argv, "--quiet"], env


_plain_argv = bench_calls.server_argv
bench_calls.server_argv = _quiet_argv


async def main(args: argparse.Namespace) -> int:
    """Run the load, print the proxy's tables while it lasts."""
    cpus = bench_calls.pick_cpus()
    with tempfile.TemporaryDirectory(prefix="overload_proxy_") as tmp:
        callee_dir = Path(tmp) / "callee"
        callee_dir.mkdir()
        async with bench_calls.start_sipp(
            scenario=bench_calls.UAS,
            cpu=cpus.load,
            timeout_s=3600,
            stop_grace_s=1,
            workdir=callee_dir,
        ) as callee:
            server = await bench_calls.start_server("proxy.py", cpus, callee.address, Path(tmp))
            try:
                result: list[bench_calls.SippResult] = []

                async def load() -> None:
                    result.append(
                        await bench_calls.run_sipp(
                            scenario=bench_calls.UAC,
                            remote=f"127.0.0.1:{server.port}",
                            calls=args.calls,
                            rate=args.rate,
                            cpu=cpus.load,
                            timeout_s=args.calls / args.rate + 40,
                        )
                    )

                start = time.monotonic()
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(load)
                    last_cpu, last_t = bench_calls.cpu_ticks(server.pid), start
                    while not result:
                        await trio.sleep(args.every)
                        stats = await server.stats(within=30)
                        now = time.monotonic()
                        cpu = bench_calls.cpu_ticks(server.pid)
                        busy = (cpu - last_cpu) / bench_calls.CLK / (now - last_t)
                        last_cpu, last_t = cpu, now
                        engine = stats.get("engine", {})
                        srf = stats.get("srf", {})
                        shown = " ".join(f"{k}={engine.get(k)}" for k in _KEYS)
                        print(
                            f"t={now - start:5.1f}s cpu={busy:4.0%} outcomes={stats['outcomes']} "
                            f"{shown} srf={srf}",
                            flush=True,
                        )
            finally:
                await bench_calls.stop_server(server)
        print("caller:", result[0].summary())
        print("callee:", callee.result.summary() if callee.result else "-")
        for name, res in (("caller", result[0]), ("callee", callee.result)):
            text = res.errors if res else ""
            if args.keep_errors:
                await trio.Path(f"{args.keep_errors}.{name}").write_text(text)
                full = trio.Path(callee_dir / "errors.log")
                if name == "callee" and await full.exists():
                    data = await full.read_bytes()
                    await trio.Path(f"{args.keep_errors}.callee.full").write_bytes(data)
            lines = [ln for ln in text.splitlines() if "unexpected" in ln.lower()]
            print(f"{name}: {len(lines)} 'unexpected' lines in the -trace_err tail")
            for line in lines[: args.errors]:
                print("   ", line[:240])
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rate", type=int, default=500, help="calls per second")
    p.add_argument("--calls", type=int, default=1000, help="calls placed")
    p.add_argument("--every", type=float, default=1.0, help="seconds between samples")
    p.add_argument("--errors", type=int, default=8, help="SIPp error lines shown per side")
    p.add_argument("--keep-errors", default=None, help="write SIPp's error tails to PREFIX.side")
    return p.parse_args(argv)


if __name__ == "__main__":
    sys.exit(trio.run(main, parse_args()))
