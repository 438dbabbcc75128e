"""Interop: a real drachtio-srf ``srf.listen()`` app served by our server's outbound mode (§10).

The Node app (``tests/interop/node/outbound_uas.js``, npm ``drachtio-srf`` 5.0.29) listens
for connections; our engine and :func:`serve_drachtio_apps` (or the ``trio-srf-server``
process) are configured with a request handler for INVITE pointing at it. SIPp places the
calls: for each INVITE the server connects to the app, the app authenticates, the server
delivers the INVITE, the app answers with ``createUAS`` and, when the dialog is gone, ends
the session (``srf.endSession``). The test asserts zero failed calls, the events the app
printed (one connection per call), and that the server's tables drained.

Skipped when ``node`` or the installed ``drachtio-srf`` package is missing.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio

from trio_srf.drachtio._server import DrachtioServer, serve_drachtio_apps
from trio_srf.drachtio._server_outbound import OutboundConfig, OutboundTarget
from trio_srf.engine import EngineConfig, open_engine
from trio_srf.testing import pick_free_port, run_sipp

from .test_node_drachtio import (
    NODE,
    NODE_DIR,
    QUICK,
    SCENARIOS,
    SECRET,
    NodeApp,
    pytestmark,  # noqa: F401  (the same skips and the interop mark)
    show,
    wait_until,
)


@asynccontextmanager
async def listening_app(port: int, *args: str) -> AsyncIterator[NodeApp]:
    """Run ``node outbound_uas.js`` listening on ``port``; kill it on exit."""
    assert NODE is not None
    argv = [NODE, "outbound_uas.js", "--port", str(port), "--secret", SECRET, *args]
    process = await trio.lowlevel.open_process(
        argv, cwd=str(NODE_DIR), stdout=-1, stderr=sys.stderr.fileno()
    )
    app = NodeApp(process)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(app._read)
        try:
            await app.wait_for("listening", within=15)
            yield app
        finally:
            if process.returncode is None:
                process.kill()
            with trio.move_on_after(5):
                await process.wait()
            print("outbound_uas.js output:\n" + "\n".join(app.output))
            nursery.cancel_scope.cancel()


@asynccontextmanager
async def outbound_server(app_port: int) -> AsyncIterator[tuple[DrachtioServer, int]]:
    """Engine on a free UDP+TCP port; INVITEs go to the app at ``app_port`` (outbound mode)."""
    sip_port = pick_free_port()
    outbound = OutboundConfig(handlers={"invite": OutboundTarget("127.0.0.1", app_port)})
    async with (
        open_engine(
            [f"sip:127.0.0.1:{sip_port};transport=udp,tcp"], config=EngineConfig(timers=QUICK)
        ) as engine,
        trio.open_nursery() as nursery,
    ):
        server: DrachtioServer = await nursery.start(
            lambda task_status: serve_drachtio_apps(
                engine, "127.0.0.1", 0, SECRET, outbound=outbound, task_status=task_status
            )
        )
        yield server, sip_port
        nursery.cancel_scope.cancel()


async def drained(server: DrachtioServer) -> None:
    """No app connection, pending request, dialog or client request left."""
    assert server.outbound is not None
    outbound = server.outbound

    def empty() -> bool:
        st = server.statistics()
        ob = outbound.statistics()
        return (st.apps, st.pending_requests, st.dialogs, st.client_requests, ob.sessions) == (
            0,
            0,
            0,
            0,
            0,
        )

    await wait_until(empty, within=10)


async def test_node_listen_app_answers_sipp_calls_one_connection_each() -> None:
    app_port = pick_free_port()
    async with (
        listening_app(app_port) as app,
        outbound_server(app_port) as (server, sip_port),
    ):
        result = await run_sipp(scenario="uac", remote=f"127.0.0.1:{sip_port}", calls=5, rate=5)
        show("uac -> outbound mode -> node srf.listen uas", result)
        assert (result.returncode, result.successful, result.failed) == (0, 5, 0)
        await app.wait_for("session-closed", 5)
        assert app.counts() == {
            "listening": 1,
            "connect": 5,
            "invite": 5,
            "dialog": 5,
            "destroy": 5,
            "session-closed": 5,
        }
        invites = app.named("invite")
        assert {e["receivedOn"] for e in invites} == {f"127.0.0.1:{sip_port}"}
        assert len({e["remote"] for e in invites}) == 5  # one server connection per call
        assert {e["local"] for e in invites} == {f"127.0.0.1:{app_port}"}
        hostports = {e["hostport"] for e in app.named("connect")}
        assert hostports == {f"udp/127.0.0.1:{sip_port},tcp/127.0.0.1:{sip_port}"}
        await drained(server)
        assert server.outbound is not None
        st = server.outbound.statistics()
        assert (st.delivered, st.rejected) == (5, 0)
        assert server.statistics().rejected_503 == 0


async def test_node_app_ending_the_session_mid_call_gets_the_call_hung_up() -> None:
    app_port = pick_free_port()
    async with (
        listening_app(app_port, "--end-session-early") as app,
        outbound_server(app_port) as (server, sip_port),
    ):
        result = await run_sipp(
            scenario=SCENARIOS / "uac_wait_bye.xml", remote=f"127.0.0.1:{sip_port}", calls=2
        )
        show("uac_wait_bye -> node app that ends its session after the ACK", result)
        # SIPp got its BYE from the server: the calls completed.
        assert (result.returncode, result.successful, result.failed) == (0, 2, 0)
        await app.wait_for("session-closed", 2)
        assert app.counts()["invite"] == 2
        assert app.counts()["end-session"] == 2
        await drained(server)


async def test_cli_outbound_option_with_node_listen_app() -> None:
    """``trio-srf-server --outbound "invite=127.0.0.1:PORT"`` as its own process."""
    sip = pick_free_port()
    admin = pick_free_port()
    app_port = pick_free_port()
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
        "--outbound",
        f"invite=127.0.0.1:{app_port}",
    ]
    async with listening_app(app_port) as app:
        process = await trio.lowlevel.open_process(argv, stdout=-1)
        try:
            assert process.stdout is not None
            with trio.fail_after(15):
                ready = await process.stdout.receive_some(4096)
            assert ready.decode().startswith(f"trio-srf-server ready: admin 127.0.0.1:{admin} ")
            result = await run_sipp(scenario="uac", remote=f"127.0.0.1:{sip}", calls=3, rate=3)
            show("uac -> trio-srf-server --outbound -> node srf.listen uas", result)
            assert (result.returncode, result.successful, result.failed) == (0, 3, 0)
            await app.wait_for("session-closed", 3)
            assert app.counts() == {
                "listening": 1,
                "connect": 3,
                "invite": 3,
                "dialog": 3,
                "destroy": 3,
                "session-closed": 3,
            }
        finally:
            process.terminate()
            with trio.move_on_after(5):
                await process.wait()
            if process.returncode is None:
                process.kill()
                await process.wait()
