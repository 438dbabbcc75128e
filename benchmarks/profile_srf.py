"""Where a Srf example's CPU goes under SIPp load: py-spy samples, summarised.

Starts ``uas.py`` or ``b2bua.py`` exactly as ``bench_calls.py`` does (pinned, ``--quiet``),
records it with ``py-spy record --format raw`` (collapsed stacks, idle frames dropped) while
SIPp places ``--calls`` calls at ``--rate``, then prints:

* the share of samples per layer, by the innermost ``trio_srf`` (or ``trio``/other) frame;
* the heaviest functions by self time and by inclusive time.

Run from the repository root, under the shared benchmark lock (py-spy needs ptrace rights)::

    flock /tmp/bench.lock .venv/bin/python benchmarks/profile_srf.py uas.py --calls 2000
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_calls

_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^:()]+)(?::(?P<line>\d+))?\)$")


def _layer(path: str) -> str | None:
    """``trio_srf/srf``, ``trio_srf/engine``..., ``trio``, ``examples``; ``None`` for others."""
    path = path.replace("\\", "/")
    for root in ("/trio_srf/", "trio_srf/"):
        if path.startswith(root) or (root.startswith("/") and root in path):
            rest = path.split(root, 1)[1]
            return "trio_srf/" + rest.split("/", 1)[0] if "/" in rest else "trio_srf/" + rest
    if path.startswith("trio/") or "/trio/" in path:
        return "trio"
    if path in ("uas.py", "b2bua.py", "_agent.py") or "/examples/" in path:
        return "examples"
    return None


def summarise(raw: Path, top: int) -> None:
    """Print layer shares and the heaviest functions of a py-spy raw (collapsed) file."""
    self_time: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    layers: collections.Counter[str] = collections.Counter()
    owners: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = []
        for part in stack.split(";"):
            match = _FRAME.match(part)
            frames.append((match["func"], match["file"]) if match else (part, ""))
        names = [f"{func} ({Path(file).parent.name}/{Path(file).name})" for func, file in frames]
        self_time[names[-1]] += count
        for name in set(names):
            inclusive[name] += count
        layer = "other"
        for _, file in reversed(frames):
            found = _layer(file)
            if found is not None:
                layer = found
                break
        layers[layer] += count
        owner = "trio scheduler/other"
        layers_of = [_layer(file) for _, file in frames]
        first = layers_of.index("trio") if "trio" in layers_of else -1
        for _, file in reversed(frames[first + 1 :]):
            found = _layer(file)
            if found is not None and found != "trio":
                owner = found
                break
        owners[owner] += count
    print(f"{total} samples")
    print("innermost layer:")
    for name, count in layers.most_common():
        print(f"  {100 * count / total:5.1f}%  {name}")
    print("innermost trio_srf layer (trio calls charged to their caller):")
    for name, count in owners.most_common():
        print(f"  {100 * count / total:5.1f}%  {name}")
    print("self time:")
    for name, count in self_time.most_common(top):
        print(f"  {100 * count / total:5.1f}%  {name}")
    print("inclusive time:")
    for name, count in inclusive.most_common(top):
        print(f"  {100 * count / total:5.1f}%  {name}")


async def main(args: argparse.Namespace) -> int:
    """Profile one server under load and print the summary."""
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if spy is None or not bench_calls.sipp_available():
        print("needs py-spy and SIPp")
        return 2
    cpus = bench_calls.pick_cpus()
    with tempfile.TemporaryDirectory(prefix="profile_srf_") as tmp:
        workdir = Path(tmp)
        raw = Path(args.output) if args.output else workdir / "profile.txt"
        async with bench_calls.start_sipp(
            scenario=bench_calls.UAS, cpu=cpus.load, timeout_s=3600, stop_grace_s=1
        ) as callee_sipp:
            server = await bench_calls.start_server(args.server, cpus, callee_sipp.address, workdir)
            try:
                recorder = await trio.lowlevel.open_process(
                    [spy, "record", "--format", "raw", "--rate", str(args.sample_rate),
                     "--pid", str(server.pid), "--output", str(raw), "--nonblocking"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )  # fmt: skip
                await trio.sleep(1.0)
                result = await bench_calls.run_sipp(
                    scenario=bench_calls.UAC,
                    remote=f"127.0.0.1:{server.port}",
                    calls=args.calls,
                    rate=args.rate,
                    cpu=cpus.load,
                    timeout_s=args.calls / args.rate + 30,
                )
                await trio.sleep(1.0)
                recorder.send_signal(2)
                await recorder.wait()
            finally:
                await bench_calls.stop_server(server)
        print(f"{args.server} @{args.rate} cps: {result.summary()}")
        summarise(raw, args.top)
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("server", choices=["uas.py", "b2bua.py"])
    p.add_argument("--rate", type=int, default=200, help="calls per second")
    p.add_argument("--calls", type=int, default=2000, help="calls placed")
    p.add_argument("--sample-rate", type=int, default=1000, help="py-spy samples per second")
    p.add_argument("--top", type=int, default=40, help="functions listed")
    p.add_argument("--output", default=None, help="keep the raw py-spy file here")
    return p.parse_args(argv)


if __name__ == "__main__":
    sys.exit(trio.run(main, parse_args()))
