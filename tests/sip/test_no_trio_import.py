"""The sans-IO layers import and work without trio and without socket (ARCHITECTURE §2).

A fresh interpreter gets ``sys.modules["trio"] = None`` (and the same for
``socket``) before anything else runs, so any ``import trio``/``import socket``
reachable from ``trio_srf.sip`` or ``trio_srf.core`` raises ImportError.
"""

from __future__ import annotations

import pathlib
import subprocess
import sys
import textwrap

ROOT = pathlib.Path(__file__).resolve().parents[2]

PRELUDE = """
import sys
for name in ("trio", "socket", "anyio", "_socket"):
    sys.modules[name] = None
"""


def run_isolated(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(PRELUDE) + textwrap.dedent(code)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_blocking_really_blocks() -> None:
    proc = run_isolated("import trio\n")
    assert proc.returncode != 0
    assert "ImportError" in proc.stderr or "ModuleNotFoundError" in proc.stderr


def test_sip_imports_and_parses_without_trio_or_socket() -> None:
    proc = run_isolated(
        """
        import importlib, pkgutil
        import trio_srf.sip as sip
        # Every module of the package, not just what __init__ happens to import.
        for info in pkgutil.iter_modules(sip.__path__):
            importlib.import_module(f"trio_srf.sip.{info.name}")
        data = (
            b"OPTIONS sip:carol@chicago.example.com SIP/2.0\\r\\n"
            b"Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKhjhs8ass877\\r\\n"
            b"To: <sip:carol@chicago.example.com>\\r\\n"
            b"From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\\r\\n"
            b"Call-ID: a84b4c76e66710\\r\\n"
            b"CSeq: 63104 OPTIONS\\r\\n"
            b"Content-Length: 0\\r\\n\\r\\n"
        )
        m = sip.parse(data)
        framer = sip.StreamFramer()
        framer.feed(data)
        assert framer.next_event() == m
        r = m.make_response(200, to_tag="x")
        assert sip.parse(r.serialize()) == r
        assert "trio" not in {k for k, v in sys.modules.items() if v is not None}
        print("ok", m.method, m.top_via.branch)
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok OPTIONS z9hG4bKhjhs8ass877"


def test_core_imports_without_trio_or_socket() -> None:
    # trio_srf.core may not have its __init__ yet; a namespace package (no
    # __init__.py) has no origin and nothing to check until it does.
    proc = run_isolated(
        """
        import importlib, importlib.util, pkgutil
        spec = importlib.util.find_spec("trio_srf.core")
        if spec is None or spec.origin in (None, "namespace"):
            print("absent")
        else:
            core = importlib.import_module("trio_srf.core")
            for info in pkgutil.iter_modules(core.__path__):
                importlib.import_module(f"trio_srf.core.{info.name}")
            print("ok")
        """
    )
    assert proc.returncode == 0, proc.stderr
    expected = "ok" if (ROOT / "trio_srf" / "core" / "__init__.py").exists() else "absent"
    assert proc.stdout.strip() == expected
