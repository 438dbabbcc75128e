"""Interop: the Srf examples (examples/uas.py, uac.py, b2bua.py, proxy.py) against real SIPp.

Each example runs as a subprocess (it is the real program, started the way a user starts
it), on ephemeral ports announced by its ``listening on ...`` lines. SIPp runs as a child
process through :mod:`trio_srf.testing`. Each test prints the SIPp statistics it judged
(``SippResult.summary()``), asserts exact call counts with zero failures, checks the
example's own per-call log lines, and then watches the example's engine until its
transaction and dialog tables are empty: the examples print a ``stats {json}`` line on
SIGUSR1 (and once more on SIGINT/SIGTERM, when they hang up and exit 0).

The examples run with ``--t1 0.05`` so their tables empty within 64*T1 = 3.2 s of the last
call (RFC 3261 Timers J/L, RFC 6026); SIPp keeps its own 500 ms retransmission timer.
Every run is bounded: at most 20 calls, rate <= 20/s, SIPp timeouts <= 30 s, and a Trio
deadline around each test.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio

from trio_srf.testing import SippResult, requires_sipp, run_sipp, start_sipp

pytestmark = [pytest.mark.interop, requires_sipp()]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
SCENARIOS = ROOT / "tests" / "sipp"
LISTEN = "sip:127.0.0.1:0;transport=udp,tcp"
T1 = "0.05"
CALL_LINE = re.compile(r" call (\S+) (?:from|to) (\S+) -> (.+?)(?: modify=(\d+))? duration ")


def show(label: str, result: SippResult) -> None:
    """Print what a test judges: SIPp's summary line and its unexpected-message log."""
    print(f"{label}: {result.summary()}")
    if result.errors:
        print(f"{label} SIPp errors tail:\n{result.errors[-1500:]}")


def scenario(name: str) -> str:
    """A built-in SIPp scenario name, or the path of one of ours."""
    return str(SCENARIOS / name) if name.endswith(".xml") else name


def assert_sipp_ok(result: SippResult, calls: int) -> None:
    assert result.failure_reasons() == {}
    assert (result.returncode, result.successful, result.failed) == (0, calls, 0)


def assert_uas_ok(result: SippResult | None, calls: int, transport: str = "u1") -> None:
    """A SIPp UAS's result; over TCP, SIPp books one call in timewait as TcpClosed when the
    peer closes the connection (see tests/testing/test_sipp.py)."""
    assert result is not None
    assert result.counter("IncomingCall") == calls
    if transport == "u1":
        assert (result.returncode, result.successful, result.failed) == (0, calls, 0)
    else:
        assert result.successful + result.failed == calls
        assert result.failure_reasons() in ({}, {"TcpClosed": 1})


def tables_empty(stats: dict[str, Any]) -> bool:
    e, s = stats["engine"], stats["srf"]
    return (
        e["client_transactions"],
        e["server_transactions"],
        e["dialogs"],
        e["client_handles"],
        s["dialogs"],
        s["pending_requests"],
    ) == (0, 0, 0, 0, 0, 0)


class Example:
    """A running example subprocess: its stdout lines, ports and statistics."""

    def __init__(self, name: str, process: trio.Process) -> None:
        self.name = name
        self.process = process
        self.lines: list[str] = []
        self.eof = False
        self._changed = trio.Event()

    async def _read(self) -> None:
        assert self.process.stdout is not None
        pending = b""
        async for chunk in self.process.stdout:
            pending += chunk
            *complete, pending = pending.split(b"\n")
            self.lines.extend(line.decode("utf-8", "replace") for line in complete)
            self._changed.set()
            self._changed = trio.Event()
        self.eof = True
        self._changed.set()

    async def wait_line(self, match: Callable[[str], bool], start: int = 0) -> str:
        """The first line from index ``start`` on that ``match``es (waits for it)."""
        while True:
            for line in self.lines[start:]:
                if match(line):
                    return line
            if self.eof:
                raise AssertionError(f"{self.name} ended without the expected line:\n{self.text}")
            await self._changed.wait()

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def port(self, transport: str) -> int:
        for line in self.lines:
            found = re.match(rf"listening on sip:127\.0\.0\.1:(\d+);transport={transport}$", line)
            if found:
                return int(found.group(1))
        raise AssertionError(f"{self.name} does not listen on {transport}:\n{self.text}")

    def address(self, transport: str = "udp") -> str:
        return f"127.0.0.1:{self.port(transport)}"

    def calls(self) -> list[tuple[str, str, str, str | None]]:
        """(call-id, peer, outcome, modify count) of each per-call log line."""
        out = []
        for line in self.lines:
            found = CALL_LINE.search(line)
            if found:
                out.append((found.group(1), found.group(2), found.group(3), found.group(4)))
        return out

    async def stats(self) -> dict[str, Any]:
        """Ask for a ``stats`` line with SIGUSR1 and return it parsed."""
        start = len(self.lines)
        self.process.send_signal(signal.SIGUSR1)
        line = await self.wait_line(lambda s: s.startswith("stats "), start)
        return dict(json.loads(line[len("stats ") :]))

    async def wait_drained(self, within: float = 8.0) -> dict[str, Any]:
        """Poll the stats until the engine's and Srf's tables are empty; return them."""
        with trio.fail_after(within):
            while True:
                stats = await self.stats()
                if tables_empty(stats):
                    print(f"{self.name} drained: {json.dumps(stats, sort_keys=True)}")
                    return stats
                await trio.sleep(0.4)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    return env


@asynccontextmanager
async def example(script: str, *args: str, transports: int = 2) -> AsyncIterator[Example]:
    """Run ``examples/<script>`` until the block ends, then Ctrl-C it and expect exit 0."""
    argv = [sys.executable, str(EXAMPLES / script), *args]
    process = await trio.lowlevel.open_process(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=_env()
    )
    ex = Example(script, process)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ex._read)
            with trio.fail_after(15):
                while sum(s.startswith("listening on ") for s in ex.lines) < transports:
                    await ex.wait_line(lambda s: s.startswith("listening on "), len(ex.lines))
            yield ex
            process.send_signal(signal.SIGINT)  # Ctrl-C
            with trio.fail_after(15):
                await process.wait()
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


@pytest.mark.parametrize("transport", ["u1", "t1"])
async def test_sipp_uac_against_uas_example(transport: str) -> None:
    calls = 20
    with trio.fail_after(60):
        async with example("uas.py", "--listen", LISTEN, "--t1", T1) as uas:
            tname = "udp" if transport == "u1" else "tcp"
            result = await run_sipp(
                scenario="uac",
                remote=uas.address(tname),
                transport=transport,
                calls=calls,
                rate=20,
                timeout_s=30,
            )
            show(f"sipp uac -> uas.py ({tname})", result)
            assert_sipp_ok(result, calls)
            stats = await uas.wait_drained()
            assert stats["outcomes"] == {"200 remote_hangup": calls}
            assert stats["srf"]["handler_errors"] == stats["srf"]["unanswered"] == 0
            logged = uas.calls()
            assert len(logged) == calls
            assert {outcome for _, _, outcome, _ in logged} == {"200 remote_hangup"}
            assert len({call_id for call_id, _, _, _ in logged}) == calls


async def test_far_end_reinvite_is_a_modify_event_of_uas_example() -> None:
    calls = 5
    with trio.fail_after(60):
        async with example("uas.py", "--listen", LISTEN, "--t1", T1) as uas:
            result = await run_sipp(
                scenario=scenario("uac_reinvite.xml"),
                remote=uas.address(),
                calls=calls,
                rate=10,
                timeout_s=30,
            )
            show("uac_reinvite -> uas.py", result)
            assert_sipp_ok(result, calls)
            stats = await uas.wait_drained()
            assert stats["events"] == {"modify": calls}
            assert stats["outcomes"] == {"200 remote_hangup": calls}
            logged = uas.calls()
            assert [(peer, outcome, modify) for _, peer, outcome, modify in logged] == [
                ("modifier", "200 remote_hangup", "1")
            ] * calls


async def test_uas_example_rejects_with_the_status_given() -> None:
    calls = 3
    with trio.fail_after(60):
        async with example("uas.py", "--listen", LISTEN, "--t1", T1, "--reject", "486") as uas:
            result = await run_sipp(
                scenario=scenario("uac_expect_486.xml"),
                remote=uas.address(),
                calls=calls,
                rate=10,
                timeout_s=30,
            )
            show("uac_expect_486 -> uas.py --reject 486", result)
            assert_sipp_ok(result, calls)
            stats = await uas.wait_drained()
            assert stats["outcomes"] == {"486": calls}


# --------------------------------------------------------------------------- uac.py


async def run_uac_example(*args: str) -> tuple[int, list[str]]:
    argv = [sys.executable, str(EXAMPLES / "uac.py"), "--listen", LISTEN, "--t1", T1, *args]
    done = await trio.run_process(
        argv, capture_stdout=True, stderr=subprocess.STDOUT, check=False, env=_env()
    )
    text = done.stdout.decode("utf-8", "replace")
    print(f"--- uac.py output (exit {done.returncode}) ---\n{text}")
    assert "Traceback" not in text
    return done.returncode, text.splitlines()


def final_stats(lines: list[str]) -> dict[str, Any]:
    stats = [line for line in lines if line.startswith("stats ")]
    assert len(stats) == 1
    return dict(json.loads(stats[0][len("stats ") :]))


async def test_uac_example_against_sipp_uas() -> None:
    calls = 10
    with trio.fail_after(60):
        async with start_sipp(scenario="uas", timeout_s=30) as uas:
            rc, lines = await run_uac_example(
                "--to", f"sip:service@{uas.address}", "--calls", str(calls), "--rate", "20",
                "--hold-ms", "100", "--drain", "8",
            )  # fmt: skip
        assert uas.result is not None
        show("uac.py -> sipp uas", uas.result)
        assert rc == 0
        assert f"summary: calls={calls} ok={calls} failed=0" in "\n".join(lines)
        stats = final_stats(lines)
        assert stats["outcomes"] == {"200 local_hangup": calls}
        assert tables_empty(stats)
        assert_uas_ok(uas.result, calls)


async def test_uac_example_answers_a_digest_challenge() -> None:
    calls = 5
    with trio.fail_after(60):
        async with start_sipp(scenario=scenario("uas_401_challenge.xml"), timeout_s=30) as uas:
            rc, lines = await run_uac_example(
                "--to", f"sip:service@{uas.address}", "--calls", str(calls), "--rate", "10",
                "--hold-ms", "50", "--auth", "trio:secret", "--drain", "8",
            )  # fmt: skip
        assert uas.result is not None
        show("uac.py --auth -> uas_401_challenge", uas.result)
        assert rc == 0
        stats = final_stats(lines)
        assert stats["outcomes"] == {"200 local_hangup": calls}
        assert tables_empty(stats)
        assert_uas_ok(uas.result, calls)


async def test_uac_example_exits_1_when_a_call_fails() -> None:
    with trio.fail_after(60):
        async with start_sipp(scenario=scenario("uas_401_challenge.xml"), timeout_s=30) as uas:
            rc, lines = await run_uac_example(
                "--to", f"sip:service@{uas.address}", "--calls", "1", "--rate", "10",
                "--auth", "trio:wrong", "--drain", "8",
            )  # fmt: skip
        assert uas.result is not None
        show("uac.py --auth (wrong password) -> uas_401_challenge", uas.result)
        assert rc == 1
        assert "summary: calls=1 ok=0 failed=1" in "\n".join(lines)
        stats = final_stats(lines)
        assert stats["outcomes"] == {"403": 1}
        assert tables_empty(stats)


# --------------------------------------------------------------------------- b2bua.py


async def test_sipp_uac_through_b2bua_example_to_sipp_uas() -> None:
    calls = 20
    with trio.fail_after(60):
        async with start_sipp(scenario="uas", timeout_s=30) as callee:
            target = f"sip:service@{callee.address}"
            async with example(
                "b2bua.py", "--listen", LISTEN, "--t1", T1, "--target", target
            ) as b2b:
                result = await run_sipp(
                    scenario="uac", remote=b2b.address(), calls=calls, rate=20, timeout_s=30
                )
                show("sipp uac -> b2bua.py", result)
                assert_sipp_ok(result, calls)
                stats = await b2b.wait_drained()
                assert stats["outcomes"] == {"200 a=remote_hangup b=local_hangup": calls}
                assert len(b2b.calls()) == calls
        show("b2bua.py -> sipp uas", callee.result)  # type: ignore[arg-type]
        assert_uas_ok(callee.result, calls)


# (caller scenario, callee scenario, the B2BUA's logged outcome, relayed in-dialog events)
B2BUA_CASES = [
    pytest.param("uac_cancel.xml", "uas_ring_wait.xml", "487 cancelled", {}, id="cancel"),
    pytest.param(
        "uac_wait_bye.xml",
        "uas_bye_first.xml",
        "200 a=local_hangup b=remote_hangup",
        {},
        id="bye-from-b",
    ),
    pytest.param("uac_expect_486.xml", "uas_486.xml", "486 relayed", {}, id="486-relayed"),
    pytest.param(
        "uac_reinvite.xml",
        "uas_accept_reinvite.xml",
        "200 a=remote_hangup b=local_hangup",
        {"invite a->b": 5},
        id="reinvite-relayed",
    ),
]


@pytest.mark.parametrize(("caller", "callee_name", "outcome", "events"), B2BUA_CASES)
async def test_scenario_through_b2bua_example(
    caller: str, callee_name: str, outcome: str, events: dict[str, int]
) -> None:
    calls = 5
    with trio.fail_after(60):
        async with start_sipp(scenario=scenario(callee_name), timeout_s=30) as callee:
            target = f"sip:service@{callee.address}"
            async with example(
                "b2bua.py", "--listen", LISTEN, "--t1", T1, "--target", target
            ) as b2b:
                result = await run_sipp(
                    scenario=scenario(caller), remote=b2b.address(), calls=calls, rate=10,
                    timeout_s=30,
                )  # fmt: skip
                show(f"{caller} -> b2bua.py", result)
                assert_sipp_ok(result, calls)
                stats = await b2b.wait_drained()
                assert stats["outcomes"] == {outcome: calls}
                assert stats["events"] == events
                assert [o for _, _, o, _ in b2b.calls()] == [outcome] * calls
        show(f"b2bua.py -> {callee_name}", callee.result)  # type: ignore[arg-type]
        assert_uas_ok(callee.result, calls)


# --------------------------------------------------------------------------- proxy.py


@pytest.mark.skipif(not (EXAMPLES / "proxy.py").exists(), reason="examples/proxy.py not written")
async def test_sipp_uac_through_proxy_example_fails_over_after_503() -> None:
    # Two targets: a SIPp answering 503, then one answering the call. The proxy
    # record-routes, so uac_plain's ACK and BYE (sent through [routes]) pass through it.
    # proxy.py (another module's example) prints no stats: only SIPp's side is judged.
    calls = 10
    with trio.fail_after(60):
        async with (
            start_sipp(scenario=scenario("uas_503.xml"), timeout_s=30) as busy,
            start_sipp(scenario=scenario("uas_plain.xml"), timeout_s=30) as callee,
        ):
            targets = [f"sip:service@{busy.address}", f"sip:service@{callee.address}"]
            args = ["--listen", LISTEN, "--target", targets[0], "--target", targets[1]]
            async with example("proxy.py", *args) as proxy:
                result = await run_sipp(
                    scenario=scenario("uac_plain.xml"), remote=proxy.address(), calls=calls,
                    rate=10, timeout_s=30,
                )  # fmt: skip
                show("uac_plain -> proxy.py", result)
                assert_sipp_ok(result, calls)
        show("proxy.py -> uas_503", busy.result)  # type: ignore[arg-type]
        show("proxy.py -> uas_plain", callee.result)  # type: ignore[arg-type]
        assert_uas_ok(busy.result, calls)
        assert_uas_ok(callee.result, calls)
