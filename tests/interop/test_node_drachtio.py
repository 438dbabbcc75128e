"""Interop: real drachtio-srf apps (Node, npm ``drachtio-srf`` 5.0.29) against our server.

Each test runs an engine and :func:`serve_drachtio_apps` in this process (ephemeral ports),
starts one of the small Node apps in ``tests/interop/node/`` (they connect in inbound mode
with the secret and print one JSON event per line), and drives SIP calls with SIPp. It
asserts zero failed calls and the exact events each app printed, then that the server's
tables drained (no pending request, dialog or client request left).

Skipped when ``node`` or the installed ``drachtio-srf`` package is missing
(``scripts/setup.sh`` runs ``npm ci`` in ``tests/interop/node`` when node and npm exist).
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio

from trio_srf.core import TimerConfig
from trio_srf.drachtio._server import DrachtioServer, serve_drachtio_apps
from trio_srf.engine import EngineConfig, open_engine
from trio_srf.testing import SippResult, pick_free_port, requires_sipp, run_sipp, start_sipp

NODE_DIR = Path(__file__).resolve().parent / "node"
SCENARIOS = Path(__file__).resolve().parents[1] / "sipp"
NODE = shutil.which("node")
SRF_INSTALLED = (NODE_DIR / "node_modules" / "drachtio-srf" / "package.json").exists()

pytestmark = [
    pytest.mark.interop,
    requires_sipp(),
    pytest.mark.skipif(NODE is None, reason="node is not installed (Node 20 runs these in CI)"),
    pytest.mark.skipif(
        not SRF_INSTALLED,
        reason="drachtio-srf is not installed: run `npm ci` in tests/interop/node",
    ),
]

SECRET = "cymru"
#: Short engine timers so transactions drain within seconds (64*T1 = 3.2 s).
QUICK = TimerConfig(t1=0.05, t2=0.2, t4=0.1, timer_d=0.2)


def show(label: str, result: SippResult) -> None:
    """Print the SIPp statistics a test judges."""
    print(f"{label}: {result.summary()}")
    if result.errors:
        print(f"{label} SIPp errors tail:\n{result.errors[-1500:]}")


class NodeApp:
    """A running Node app and the JSON events it printed so far."""

    def __init__(self, process: trio.Process) -> None:
        self.process = process
        self.events: list[dict[str, Any]] = []
        self.output: list[str] = []
        self._changed = trio.Event()

    def named(self, name: str) -> list[dict[str, Any]]:
        """The events called ``name``, in order."""
        return [e for e in self.events if e.get("event") == name]

    def counts(self) -> dict[str, int]:
        """How many events of each name were printed."""
        out: dict[str, int] = {}
        for e in self.events:
            out[e["event"]] = out.get(e["event"], 0) + 1
        return out

    async def wait_for(self, name: str, count: int = 1, within: float = 15) -> None:
        """Wait until ``count`` events called ``name`` were printed."""
        with trio.fail_after(within):
            while len(self.named(name)) < count:
                await self._changed.wait()

    async def _read(self) -> None:
        assert self.process.stdout is not None
        buf = b""
        async for chunk in self.process.stdout:
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                text = line.decode(errors="replace")
                self.output.append(text)
                try:
                    event = json.loads(text)
                except ValueError:
                    continue
                if isinstance(event, dict) and "event" in event:
                    self.events.append(event)
                    self._changed.set()
                    self._changed = trio.Event()


@asynccontextmanager
async def node_app(
    server: DrachtioServer | tuple[str, int], script: str, *args: str
) -> AsyncIterator[NodeApp]:
    """Run ``node <script>`` connected to ``server`` (or an admin address); kill it on exit."""
    admin = server if isinstance(server, tuple) else server.admin_address
    assert NODE is not None and admin is not None
    host, port = admin
    argv = [NODE, script, "--host", host, "--port", str(port), "--secret", SECRET, *args]
    process = await trio.lowlevel.open_process(
        argv, cwd=str(NODE_DIR), stdout=-1, stderr=sys.stderr.fileno()
    )
    app = NodeApp(process)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(app._read)
        try:
            await app.wait_for("connect", within=15)
            yield app
        finally:
            if process.returncode is None:
                process.kill()
            with trio.move_on_after(5):
                await process.wait()
            print(f"{script} output:\n" + "\n".join(app.output))
            nursery.cancel_scope.cancel()


async def wait_until(check: Callable[[], bool], within: float = 10) -> None:
    """Poll ``check`` until it holds."""
    with trio.fail_after(within):
        while not check():
            await trio.sleep(0.02)


@asynccontextmanager
async def drachtio_server() -> AsyncIterator[tuple[DrachtioServer, int]]:
    """An engine on a free UDP+TCP port served to apps on a free admin port."""
    sip_port = pick_free_port()
    config = EngineConfig(timers=QUICK)
    async with (
        open_engine([f"sip:127.0.0.1:{sip_port};transport=udp,tcp"], config=config) as engine,
        trio.open_nursery() as nursery,
    ):
        server: DrachtioServer = await nursery.start(
            serve_drachtio_apps, engine, "127.0.0.1", 0, SECRET
        )
        yield server, sip_port
        nursery.cancel_scope.cancel()


async def drained(server: DrachtioServer) -> None:
    """Wait until the server holds no pending request, dialog or client request."""
    await wait_until(
        lambda: (
            (
                (s := server.statistics()).pending_requests,
                s.dialogs,
                s.client_requests,
            )
            == (0, 0, 0)
        ),
        within=10,
    )


async def test_uas_answers_sipp_calls() -> None:
    async with drachtio_server() as (server, sip_port), node_app(server, "uas.js") as app:
        await wait_until(lambda: server.statistics().routes.get("invite") == 1)
        result = await run_sipp(scenario="uac", remote=f"127.0.0.1:{sip_port}", calls=5, rate=5)
        show("uac -> node uas", result)
        assert (result.returncode, result.successful, result.failed) == (0, 5, 0)
        await app.wait_for("destroy", 5)
        assert app.counts() == {"connect": 1, "invite": 5, "dialog": 5, "destroy": 5}
        first = app.named("invite")[0]
        assert first["receivedOn"] == f"127.0.0.1:{sip_port}"
        dialog_ids = {e["id"] for e in app.named("dialog")}
        assert len(dialog_ids) == 5
        assert all(";from-tag=" in d for d in dialog_ids)
        await drained(server)


async def test_uac_with_digest_auth_through_server() -> None:
    async with (
        drachtio_server() as (server, _sip_port),
        start_sipp(scenario=SCENARIOS / "uas_401_challenge.xml", timeout_s=30) as uas,
    ):
        uri = f"sip:service@127.0.0.1:{uas.local_port}"
        async with node_app(server, "uac.js", "--uri", uri, "--user", "trio") as app:
            await app.wait_for("destroyed")
            assert app.counts() == {
                "connect": 1,
                "provisional": 1,
                "dialog": 1,
                "destroyed": 1,
            }
            assert app.named("provisional")[0]["status"] == 180
            assert app.named("dialog")[0]["remoteSdp"] is True
            await drained(server)
    assert uas.result is not None
    show("node uac -> uas_401_challenge", uas.result)
    assert (uas.result.successful, uas.result.failed) == (1, 0)


async def test_b2bua_to_sipp_uas() -> None:
    async with (
        drachtio_server() as (server, sip_port),
        start_sipp(scenario="uas", timeout_s=30) as uas,
    ):
        target = f"sip:service@127.0.0.1:{uas.local_port}"
        async with node_app(server, "b2bua.js", "--target", target) as app:
            await wait_until(lambda: server.statistics().routes.get("invite") == 1)
            result = await run_sipp(scenario="uac", remote=f"127.0.0.1:{sip_port}", calls=3, rate=3)
            show("uac -> node b2bua", result)
            assert (result.returncode, result.successful, result.failed) == (0, 3, 0)
            await app.wait_for("destroy", 3)
            assert app.counts() == {"connect": 1, "invite": 3, "b2bua": 3, "destroy": 3}
            assert {e["leg"] for e in app.named("destroy")} == {"uas"}
            await drained(server)
    assert uas.result is not None
    show("sipp uas (B leg)", uas.result)
    assert (uas.result.successful, uas.result.failed) == (3, 0)


async def test_proxy_serial_to_two_sipp_uases() -> None:
    async with (
        drachtio_server() as (server, sip_port),
        start_sipp(scenario=SCENARIOS / "uas_486.xml", timeout_s=30) as busy,
        start_sipp(scenario=SCENARIOS / "uas_record_route.xml", timeout_s=30) as uas,
    ):
        targets = f"sip:127.0.0.1:{busy.local_port},sip:127.0.0.1:{uas.local_port}"
        async with node_app(server, "proxy.js", "--targets", targets) as app:
            await wait_until(lambda: server.statistics().routes.get("invite") == 1)
            result = await run_sipp(
                scenario=SCENARIOS / "uac_plain.xml",
                remote=f"127.0.0.1:{sip_port}",
                calls=2,
                rate=2,
            )
            show("uac_plain -> node proxy", result)
            assert (result.returncode, result.successful, result.failed) == (0, 2, 0)
            await app.wait_for("proxied", 2)
            assert app.counts() == {"connect": 1, "invite": 2, "proxied": 2}
            for event in app.named("proxied"):
                assert (event["finalStatus"], event["connected"]) == (200, True)
            await drained(server)
    assert busy.result is not None and uas.result is not None
    show("sipp uas_486 (first target)", busy.result)
    show("sipp uas (second target)", uas.result)
    assert (busy.result.successful, busy.result.failed) == (2, 0)
    assert (uas.result.successful, uas.result.failed) == (2, 0)


@pytest.mark.parametrize(
    ("scenario", "event"), [("uac_info.xml", "info"), ("uac_reinvite.xml", "modify")]
)
async def test_in_dialog_info_and_reinvite_reach_node_uas(scenario: str, event: str) -> None:
    async with drachtio_server() as (server, sip_port), node_app(server, "uas.js") as app:
        await wait_until(lambda: server.statistics().routes.get("invite") == 1)
        result = await run_sipp(
            scenario=SCENARIOS / scenario, remote=f"127.0.0.1:{sip_port}", calls=3, rate=3
        )
        show(f"{scenario} -> node uas", result)
        assert (result.returncode, result.successful, result.failed) == (0, 3, 0)
        await app.wait_for("destroy", 3)
        assert app.counts() == {"connect": 1, "invite": 3, "dialog": 3, event: 3, "destroy": 3}
        if event == "info":
            for info in app.named("info"):
                assert info["contentType"] == "application/dtmf-relay"
                assert info["body"] == "Signal=5\r\nDuration=160\r\n"
        else:
            assert all(e["hasSdp"] for e in app.named("modify"))
        await drained(server)


async def test_killed_app_dialogs_torn_down_then_503_until_routed_again() -> None:
    async with drachtio_server() as (server, sip_port):
        remote = f"127.0.0.1:{sip_port}"
        async with trio.open_nursery() as nursery:
            results: list[SippResult] = []

            async def waiting_call() -> None:
                results.append(
                    await run_sipp(scenario=SCENARIOS / "uac_wait_bye.xml", remote=remote, calls=1)
                )

            async with node_app(server, "uas.js") as app:
                await wait_until(lambda: server.statistics().routes.get("invite") == 1)
                nursery.start_soon(waiting_call)
                await app.wait_for("dialog")
                assert server.statistics().dialogs == 1
                app.process.kill()  # mid-call: the app dies without a word
                with trio.fail_after(10):
                    await app.process.wait()
        # SIPp got its BYE from the server: the call completed.
        (caller,) = results
        show("uac_wait_bye (app killed mid-call)", caller)
        assert (caller.returncode, caller.successful, caller.failed) == (0, 1, 0)
        await wait_until(lambda: server.statistics().apps == 0)
        assert server.statistics().routes == {}
        rejected = await run_sipp(
            scenario=SCENARIOS / "uac_expect_503.xml", remote=remote, calls=2, rate=2
        )
        show("uac_expect_503 (no app routes INVITE)", rejected)
        assert (rejected.returncode, rejected.successful, rejected.failed) == (0, 2, 0)
        assert server.statistics().rejected_503 == 2
        async with node_app(server, "uas.js") as again:
            await wait_until(lambda: server.statistics().routes.get("invite") == 1)
            result = await run_sipp(scenario="uac", remote=remote, calls=2, rate=2)
            show("uac after a new app routed INVITE", result)
            assert (result.returncode, result.successful, result.failed) == (0, 2, 0)
            await again.wait_for("destroy", 2)
        await drained(server)


async def test_cli_server_with_node_uas() -> None:
    """``trio-srf-server`` as its own process (the console entry point's module)."""
    sip = pick_free_port()
    admin = pick_free_port()
    argv = [
        sys.executable,
        "-m",
        "trio_srf.drachtio._server",
        "--listen",
        f"sip:127.0.0.1:{sip};transport=udp,tcp",
        "--admin",
        f"127.0.0.1:{admin}",
        "--secret",
        SECRET,
    ]
    process = await trio.lowlevel.open_process(argv, stdout=-1)
    try:
        assert process.stdout is not None
        with trio.fail_after(15):
            ready = await process.stdout.receive_some(4096)
        assert ready.decode().strip() == (
            f"trio-srf-server ready: admin 127.0.0.1:{admin} "
            f"sip udp/127.0.0.1:{sip},tcp/127.0.0.1:{sip}"
        )
        async with node_app(("127.0.0.1", admin), "uas.js") as app:
            assert app.named("connect")[0]["hostport"] == (
                f"udp/127.0.0.1:{sip},tcp/127.0.0.1:{sip}"
            )
            await trio.sleep(0.5)  # srf sends its route right after the authenticate reply
            result = await run_sipp(scenario="uac", remote=f"127.0.0.1:{sip}", calls=2, rate=2)
            show("uac -> trio-srf-server process -> node uas", result)
            assert (result.returncode, result.successful, result.failed) == (0, 2, 0)
            await app.wait_for("destroy", 2)
            assert app.counts() == {"connect": 1, "invite": 2, "dialog": 2, "destroy": 2}
    finally:
        process.terminate()
        with trio.move_on_after(5):
            await process.wait()
        if process.returncode is None:
            process.kill()
            await process.wait()
