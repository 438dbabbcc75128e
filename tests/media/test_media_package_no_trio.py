"""`import trio_srf.media` works with trio blocked; only the RTP endpoint needs it."""

from __future__ import annotations

import subprocess
import sys

CODE = """
import sys
sys.modules["trio"] = None
import trio_srf.media as media
offer = media.SessionDescription.build("127.0.0.1", 4000)
assert media.ulaw_decode(media.ulaw_encode([0, 1000]))[1] != 0
try:
    media.open_rtp_endpoint
except ImportError:
    print("endpoint needs trio")
print("ok")
"""


def test_media_package_imports_without_trio() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", CODE], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["endpoint", "needs", "trio", "ok"]
