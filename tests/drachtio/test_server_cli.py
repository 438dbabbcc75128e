"""trio-srf-server as a process: it starts, says so, and Ctrl-C stops it cleanly (exit 0)."""

from __future__ import annotations

import signal
import subprocess
import sys


def test_ctrl_c_stops_the_server_with_exit_status_0() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "trio_srf.drachtio._server",
            "--listen",
            "sip:127.0.0.1:0;transport=udp",
            "--admin",
            "127.0.0.1:0",
            "--secret",
            "cymru",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        ready = proc.stdout.readline()
        assert ready.startswith("trio-srf-server ready: admin 127.0.0.1:"), ready
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
