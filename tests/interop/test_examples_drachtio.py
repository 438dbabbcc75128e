"""Interop: the Srf examples over the drachtio link (``--drachtio``), driven by real SIPp.

Every process is the real program, started the way a user starts it, on ephemeral ports over
127.0.0.1: ``trio-srf-server`` (``python -m trio_srf.drachtio._server``, the console script's
module) serves an embedded engine to drachtio apps and announces its admin and SIP ports on its
``trio-srf-server ready: ...`` line; each example connects to its admin port with
``--drachtio HOST:PORT --secret S`` and prints ``connected to drachtio server ...`` once it is
authenticated and routed. SIPp talks only to the server's SIP port:

* ``uas.py``: ``sipp -sn uac`` -> server -> the app answers;
* ``uac.py``: the app -> server -> ``sipp -sn uas``;
* ``b2bua.py``: ``sipp -sn uac`` -> server -> the app -> server -> ``sipp -sn uas``;
* ``proxy.py``: ``uac_plain.xml`` -> server (proxying for the app) -> a SIPp answering 503,
  then a SIPp answering the call; the server record-routes, so ACK and BYE pass through it.

Each test prints the SIPp summaries it judged, asserts exact call counts with zero failed
calls, and checks the example's own per-call outcomes from its ``stats {json}`` line (SIGUSR1,
and once more on SIGINT) until the Srf holds no request or dialog. Over drachtio the example
has no engine of its own, so its stats carry no engine tables. Bounded: <= 20 calls per run,
rate <= 20/s, SIPp timeouts of 30 s, a Trio deadline around each test.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs
import pytest
import trio

from trio_srf.testing import requires_sipp, run_sipp, start_sipp

from .test_srf_sipp import (
    EXAMPLES,
    Example,
    _env,
    assert_sipp_ok,
    assert_uas_ok,
    scenario,
    show,
)

pytestmark = [pytest.mark.interop, requires_sipp()]

SECRET = "cymru"
READY = re.compile(r"trio-srf-server ready: admin (\S+):(\d+) sip udp/(\S+):(\d+)")


@attrs.frozen
class ServerAddresses:
    """Where a running ``trio-srf-server`` listens."""

    admin: str
    sip: str


def srf_drained(stats: dict[str, Any]) -> bool:
    """No request or dialog left in the example's Srf (and no engine: it runs over drachtio)."""
    s = stats["srf"]
    return "engine" not in stats and (s["dialogs"], s["pending_requests"]) == (0, 0)


async def wait_srf_drained(ex: Example, within: float = 8.0) -> dict[str, Any]:
    """Poll the example's stats until its Srf holds nothing; return them."""
    with trio.fail_after(within):
        while True:
            stats = await ex.stats()
            if srf_drained(stats):
                print(f"{ex.name} drained: {json.dumps(stats, sort_keys=True)}")
                return stats
            await trio.sleep(0.3)


async def _stop(process: trio.Process, name: str, signum: int = signal.SIGINT) -> None:
    """Send ``signum`` to ``process`` and wait for it; kill it if it does not end within 15 s."""
    if process.returncode is None:
        process.send_signal(signum)
        with trio.move_on_after(15):
            await process.wait()
    if process.returncode is None:
        process.kill()
        with trio.CancelScope(shield=True):
            await process.wait()
        raise AssertionError(f"{name} did not exit on SIGINT")


@asynccontextmanager
async def drachtio_server() -> AsyncIterator[ServerAddresses]:
    """Run ``trio-srf-server`` on free ports (UDP SIP) until the block ends, then SIGTERM it."""
    argv = [
        sys.executable, "-m", "trio_srf.drachtio._server", "--listen",
        "sip:127.0.0.1:0;transport=udp", "--admin", "127.0.0.1:0", "--secret", SECRET,
    ]  # fmt: skip
    process = await trio.lowlevel.open_process(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=_env()
    )
    out = Example("trio-srf-server", process)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(out._read)
            with trio.fail_after(15):
                line = await out.wait_line(lambda s: READY.search(s) is not None)
            found = READY.search(line)
            assert found is not None
            yield ServerAddresses(
                f"{found.group(1)}:{found.group(2)}", f"{found.group(3)}:{found.group(4)}"
            )
            # SIGTERM: on Python 3.11 its SIGINT exit prints a KeyboardInterrupt group.
            await _stop(process, "trio-srf-server", signal.SIGTERM)
            nursery.cancel_scope.cancel()
    finally:
        if process.returncode is None:
            process.kill()
            with trio.CancelScope(shield=True):
                await process.wait()
        print(f"--- trio-srf-server output ---\n{out.text}")
    assert process.returncode == -signal.SIGTERM, f"trio-srf-server exited {process.returncode}"
    assert "Traceback" not in out.text


@asynccontextmanager
async def drachtio_example(
    script: str, server: ServerAddresses, *args: str
) -> AsyncIterator[Example]:
    """Run ``examples/<script> --drachtio ADMIN`` until the block ends, then Ctrl-C it."""
    argv = [sys.executable, str(EXAMPLES / script), "--drachtio", server.admin, "--secret", SECRET]
    process = await trio.lowlevel.open_process(
        [*argv, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=_env(),
    )
    ex = Example(script, process)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ex._read)
            with trio.fail_after(15):
                line = await ex.wait_line(lambda s: s.startswith("connected to drachtio server "))
            assert line.endswith(f"sip sip:{server.sip};transport=udp"), line
            yield ex
            await _stop(process, script)
            nursery.cancel_scope.cancel()
    finally:
        if process.returncode is None:
            process.kill()
            with trio.CancelScope(shield=True):
                await process.wait()
        print(f"--- {script} output ---\n{ex.text}")
    assert process.returncode == 0, f"{script} exited {process.returncode}"
    assert "Traceback" not in ex.text


# --------------------------------------------------------------------------- uas.py


async def test_sipp_uac_through_server_to_uas_example() -> None:
    calls = 20
    with trio.fail_after(60):
        async with (
            drachtio_server() as server,
            drachtio_example("uas.py", server) as uas,
        ):
            assert "routes invite;" in uas.lines[0]
            result = await run_sipp(
                scenario="uac", remote=server.sip, calls=calls, rate=20, timeout_s=30
            )
            show("sipp uac -> trio-srf-server -> uas.py", result)
            assert_sipp_ok(result, calls)
            stats = await wait_srf_drained(uas)
            assert stats["outcomes"] == {"200 remote_hangup": calls}
            assert stats["srf"]["handler_errors"] == stats["srf"]["unanswered"] == 0
            logged = uas.calls()
            assert len({call_id for call_id, _, _, _ in logged}) == calls
            assert {outcome for _, _, outcome, _ in logged} == {"200 remote_hangup"}


# --------------------------------------------------------------------------- uac.py


async def test_uac_example_through_server_to_sipp_uas() -> None:
    calls = 10
    with trio.fail_after(60):
        async with (
            start_sipp(scenario="uas", timeout_s=30) as callee,
            drachtio_server() as server,
        ):
            argv = [
                sys.executable, str(EXAMPLES / "uac.py"), "--drachtio", server.admin,
                "--secret", SECRET, "--to", f"sip:service@{callee.address}",
                "--calls", str(calls), "--rate", "20", "--hold-ms", "100",
            ]  # fmt: skip
            done = await trio.run_process(
                argv, capture_stdout=True, stderr=subprocess.STDOUT, check=False, env=_env()
            )
            text = done.stdout.decode("utf-8", "replace")
            print(f"--- uac.py output (exit {done.returncode}) ---\n{text}")
        assert callee.result is not None
        show("uac.py -> trio-srf-server -> sipp uas", callee.result)
        assert "Traceback" not in text
        assert done.returncode == 0
        lines = text.splitlines()
        assert lines[0].startswith(f"connected to drachtio server {server.admin} ")
        assert "routes -;" in lines[0]  # a pure UAC routes no method to itself
        assert f"summary: calls={calls} ok={calls} failed=0" in text
        (stats_line,) = [line for line in lines if line.startswith("stats ")]
        stats = json.loads(stats_line[len("stats ") :])
        assert stats["outcomes"] == {"200 local_hangup": calls}
        assert srf_drained(stats)
        assert_uas_ok(callee.result, calls)


# --------------------------------------------------------------------------- b2bua.py


async def test_sipp_uac_through_server_and_b2bua_example_to_sipp_uas() -> None:
    calls = 20
    with trio.fail_after(60):
        async with (
            start_sipp(scenario="uas", timeout_s=30) as callee,
            drachtio_server() as server,
        ):
            target = f"sip:service@{callee.address}"
            async with drachtio_example("b2bua.py", server, "--target", target) as b2b:
                result = await run_sipp(
                    scenario="uac", remote=server.sip, calls=calls, rate=20, timeout_s=30
                )
                show("sipp uac -> trio-srf-server -> b2bua.py -> trio-srf-server", result)
                assert_sipp_ok(result, calls)
                stats = await wait_srf_drained(b2b)
                assert stats["outcomes"] == {"200 a=remote_hangup b=local_hangup": calls}
                assert len(b2b.calls()) == calls
        show("b2bua.py (via trio-srf-server) -> sipp uas", callee.result)  # type: ignore[arg-type]
        assert_uas_ok(callee.result, calls)


# --------------------------------------------------------------------------- proxy.py


async def test_sipp_uac_through_server_proxying_for_proxy_example() -> None:
    # Two targets: a SIPp answering 503, then one answering the call. proxy.py prints no
    # stats; SIPp's three sides and the example's per-request log lines are judged.
    calls = 10
    with trio.fail_after(60):
        async with (
            start_sipp(scenario=scenario("uas_503.xml"), timeout_s=30) as busy,
            start_sipp(scenario=scenario("uas_plain.xml"), timeout_s=30) as callee,
            drachtio_server() as server,
        ):
            targets = [f"sip:service@{busy.address}", f"sip:service@{callee.address}"]
            args = ["--target", targets[0], "--target", targets[1]]
            async with drachtio_example("proxy.py", server, *args) as proxy:
                assert "routes invite,message,options;" in proxy.lines[0]
                result = await run_sipp(
                    scenario=scenario("uac_plain.xml"), remote=server.sip, calls=calls,
                    rate=10, timeout_s=30,
                )  # fmt: skip
                show("uac_plain -> trio-srf-server (proxy.py)", result)
                assert_sipp_ok(result, calls)
                with trio.fail_after(5):
                    while sum(" -> " in line for line in proxy.lines) < calls:
                        await proxy.wait_line(lambda s: " -> " in s, len(proxy.lines))
            decided = [line.split(" -> ", 1)[1] for line in proxy.lines if " -> " in line]
            assert decided == [f"{targets[1]}: 200"] * calls
        show("trio-srf-server -> uas_503", busy.result)  # type: ignore[arg-type]
        show("trio-srf-server -> uas_plain", callee.result)  # type: ignore[arg-type]
        assert_uas_ok(busy.result, calls)
        assert_uas_ok(callee.result, calls)
