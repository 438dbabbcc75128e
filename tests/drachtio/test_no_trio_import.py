"""trio_srf.drachtio is sans-IO: it imports and works without trio or socket.

The exceptions are the Trio I/O layers built on it: ``_client*``, ``_server`` and
``_server_outbound`` (``_server_sip`` holds pure functions and is checked).
"""

from __future__ import annotations

import pathlib
import subprocess
import sys
import textwrap

ROOT = pathlib.Path(__file__).resolve().parents[2]

CODE = """
import sys
for name in ("trio", "socket", "anyio", "_socket"):
    sys.modules[name] = None
import importlib, pkgutil
import trio_srf.drachtio as d
for info in pkgutil.iter_modules(d.__path__):
    if info.name in ("_server", "_server_outbound") or info.name.startswith("_client"):
        continue  # the Trio I/O layers built on the codec
    importlib.import_module(f"trio_srf.drachtio.{info.name}")
app = d.DrachtioConnection(d.Role.APP, id_factory=lambda: "a1")
server = d.DrachtioConnection(d.Role.SERVER)
server.receive_data(app.send(d.Authenticate(msg_id=app.new_id(), secret="cymru")))
auth = server.next_event()
app.receive_data(server.send(d.AuthOk(msg_id="s1", request_id=auth.msg_id, version="v0.9.10")))
print(type(app.next_event()).__name__, app.state.value)
"""


def test_drachtio_imports_and_works_without_trio_or_socket() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(CODE)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "AuthOk ready"
