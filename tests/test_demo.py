"""The README's first command runs examples/parse_demo.py: it must keep working."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_parse_demo_runs_and_passes() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "parse_demo.py")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "verdict: all checks passed" in proc.stdout
    assert "caller  --    BYE-->  callee" in proc.stdout
