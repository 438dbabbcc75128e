"""The README's first command runs ``examples/two_stage_dialer.py --demo``: it must pass.

The demo runs the dialer, a scripted caller and a scripted gateway in one process over
127.0.0.1 and prints the call as a ladder diagram; these tests run it as a user would (a
subprocess) and check the exit status, the verdict and the key rows of the ladder, in order.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DIALER = ROOT / "examples" / "two_stage_dialer.py"

# The rows the call must show, in this order (arrow direction included).
LADDER = [
    r"\|-- INVITE dialer \(sdp caller\) -+>\|",
    r"\|<-- 200 OK \(sdp dialer\) -+\|",
    r"\|-- ACK -+>\|",
    r"\(dialer\) answered 2125550100 with the media endpoint; prompting",
    r"\(caller\) hears the prompt; keys 1023456789 as RFC 4733 events",
    r"\(dialer\) collected 1023456789; calling sip:1023456789@127\.0\.0\.1:\d+",
    r"\|-- INVITE 1023456789 \(sdp caller\) >\|",
    r"\|<-- 200 OK \(sdp gateway\) -+\|",
    r"\|<-- re-INVITE \(sdp gateway\) -+\|",
    r"\|-- 200 OK \(sdp caller\) -+>\|",
    r"\(dialer\) caller re-INVITEd with the gateway's SDP; media endpoint released",
    r"\(gateway\) hangs up",
    r"\|<-- BYE -+\|",
    r"\(dialer\) bridged call over \(gateway: remote_hangup\)",
    r"\(dialer\) call ended \(caller: local_hangup\)",
]


def run_demo() -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(DIALER), "--demo"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_demo_connects_and_tears_down_cleanly() -> None:
    proc = run_demo()
    out = proc.stdout
    print(out)
    assert proc.returncode == 0, out + proc.stderr
    assert proc.stderr == ""
    lines = out.splitlines()
    assert lines[-1] == "verdict: PASS: 1023456789 connected end to end and torn down cleanly"
    assert "[FAIL]" not in out
    assert out.count("[ok]") == 10
    # Each key row appears, in order.
    at = 0
    for pattern in LADDER:
        rx = re.compile(pattern)
        while at < len(lines) and not rx.search(lines[at]):
            at += 1
        assert at < len(lines), f"ladder row missing or out of order: {pattern}"
        at += 1


def test_demo_ladder_has_the_three_columns_and_only_adjacent_arrows() -> None:
    proc = run_demo()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    header = next(line for line in lines if line.lstrip().startswith("time"))
    assert header.split() == ["time", "caller", "dialer", "gateway"]
    rows = [line for line in lines if re.match(r"^ *\d+\.\d{3}  \|[-<| ]", line)]
    # A 100 Trying only goes out if an answer takes over 200 ms (a slow machine): not counted.
    arrows = [line for line in rows if "--" in line and "100 Trying" not in line]
    # caller <-> dialer: INVITE, 200, ACK, re-INVITE, 200, ACK, BYE, 200 = 8;
    # dialer <-> gateway: INVITE, 200, ACK, BYE, 200 = 5.
    assert len(arrows) == 13, "\n".join(arrows)
    for line in arrows:
        # Every arrow spans exactly one gap between two lifelines.
        assert line.count(">") + line.count("<") == 1, line
    times = [float(line.split()[0]) for line in rows]
    assert times == sorted(times)
    assert times[-1] < 10.0
