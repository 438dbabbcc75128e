"""Interop: the embedded engine against the real SIPp over 127.0.0.1 (issue 3, item 6).

Each test runs an engine in this process (ephemeral ports) and SIPp as a child process,
prints the SIPp statistics it judged (``SippResult.summary()``) and the engine's counters,
asserts exact call counts with zero failures, and then waits until the engine's transaction
and dialog tables are empty again (issue 3, item 5).

Timers: the engine's T1 is shortened so its tables drain within seconds, but SIPp keeps its
own T1 of 500 ms (``retrans="500"`` in its scenarios; RFC 3261 §17.1.1.2 doubling). Windows
that absorb the peer's retransmissions (Timer J = 64*T1 for a BYE, Timer L = 64*T1 for an
accepted INVITE, RFC 6026) must therefore outlast SIPp's retransmission schedule (0.5, 1.5,
3.5, 7.5 s...) in the lossy test, which uses a larger engine T1 than the others.

This SIPp build has no TLS; TLS and WebSocket calls run between two engines in
``tests/engine/test_engine.py``.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio

from trio_srf.agent import IncomingRequest, RequestCancelled
from trio_srf.core import TimerConfig
from trio_srf.engine import Engine, EngineConfig, open_engine
from trio_srf.sip import Request, new_call_id, new_tag
from trio_srf.testing import SippResult, requires_sipp, run_sipp, start_sipp

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))
from engine_uas import run_uas

pytestmark = [pytest.mark.interop, requires_sipp()]

SCENARIOS = Path(__file__).resolve().parents[1] / "sipp"

#: Short engine timers: 64*T1 = 3.2 s, Timer D 0.2 s, Timer K/I 0.1 s.
QUICK = TimerConfig(t1=0.05, t2=0.2, t4=0.1, timer_d=0.2)
#: For the lossy run: 64*T1 = 16 s outlasts SIPp's BYE retransmissions up to the one at 15.5 s
#: (0.5, 1.5, 3.5, 7.5, 15.5 s); with 10% loss each way a round trip fails ~19% of the time, so a
#: BYE outliving that window (five failed round trips) is a 2e-4 chance per call.
LOSSY = TimerConfig(t1=0.25, t2=1.0, t4=0.5, timer_d=1.0)

Handler = Callable[..., Awaitable[None]]


def show(label: str, result: SippResult, engine: Engine | None = None) -> None:
    """Print the statistics a test judges (SIPp's, then the engine's)."""
    print(f"{label}: {result.summary()}")
    if result.errors:
        print(f"{label} SIPp errors tail:\n{result.errors[-1500:]}")
    if engine is not None:
        s = engine.statistics()
        st = s.stack
        print(
            f"{label}: engine in={st.messages_in} out={st.messages_out} "
            f"retrans_out={st.retransmissions_out} retrans_in={st.retransmissions_in} "
            f"parse_errors={st.parse_errors} error_responses={st.error_responses} "
            f"stray_responses={st.stray_responses} stray_acks={st.stray_acks} "
            f"inbox_drops={s.inbox_drops} overload_503={s.overload_503} "
            f"internal_errors={s.internal_errors} client_txns={st.client_transactions} "
            f"server_txns={st.server_transactions} dialogs={st.dialogs} "
            f"connections={s.transport.connections}"
        )


def port_of(engine: Engine, transport: str) -> int:
    return next(lst.port for lst in engine.listening if lst.transport == transport)


async def drained(engine: Engine, within: float) -> float:
    """Wait until the engine's transaction and dialog tables are empty; return the wait."""
    start = trio.current_time()
    with trio.fail_after(within):
        while True:
            s = engine.statistics()
            st = s.stack
            if (
                st.client_transactions == 0
                and st.server_transactions == 0
                and st.dialogs == 0
                and s.client_handles == 0
            ):
                return trio.current_time() - start
            await trio.sleep(0.05)


@asynccontextmanager
async def serving(
    handler: Handler = run_uas, timers: TimerConfig = QUICK, transports: str = "udp,tcp"
) -> AsyncIterator[Engine]:
    """An engine on ephemeral ports with ``handler(engine)`` answering its requests."""
    config = EngineConfig(timers=timers)
    async with open_engine([f"sip:127.0.0.1:0;transport={transports}"], config=config) as engine:
        async with trio.open_nursery() as nursery:
            await nursery.start(handler, engine)
            yield engine
            nursery.cancel_scope.cancel()


def assert_all_ok(result: SippResult, calls: int) -> None:
    assert result.failure_reasons() == {}
    assert (result.returncode, result.successful, result.failed) == (0, calls, 0)
    assert result.counter("FailedUnexpectedMessage") == 0


# --------------------------------------------------------------------------- SIPp as UAC


@pytest.mark.parametrize("transport", ["u1", "t1"])
async def test_sipp_uac_against_engine_uas(transport: str) -> None:
    calls = 50
    with trio.fail_after(40):
        async with serving() as engine:
            port = port_of(engine, "udp" if transport == "u1" else "tcp")
            result = await run_sipp(
                scenario="uac",
                remote=f"127.0.0.1:{port}",
                transport=transport,
                calls=calls,
                rate=25,
                timeout_s=25,
            )
            waited = await drained(engine, within=10)
            show(f"sipp uac {transport}", result, engine)
            print(f"engine tables drained {waited:.2f}s after SIPp exited")
            assert_all_ok(result, calls)
            assert result.counter("OutgoingCall") == calls
            stats = engine.statistics()
            # INVITE and BYE per call reach the application; ACKs stay in the stack.
            assert stats.stack.requests_in >= 3 * calls
            assert stats.stack.parse_errors == 0
            assert stats.internal_errors == 0
            assert stats.overload_503 == 0
            if transport == "t1":
                # SIPp closed its connection when it exited; the engine noticed.
                with trio.fail_after(5):
                    while True:
                        if engine.statistics().transport.connections == 0:
                            break
                        await trio.sleep(0.05)


async def test_sipp_uac_with_ten_percent_loss_has_no_failed_calls() -> None:
    calls = 30
    with trio.fail_after(80):
        async with serving(timers=LOSSY, transports="udp") as engine:
            result = await run_sipp(
                scenario="uac",
                remote=f"127.0.0.1:{port_of(engine, 'udp')}",
                calls=calls,
                rate=15,
                lost_percent=10,
                timeout_s=40,
            )
            show("sipp uac -lost 10", result, engine)
            assert_all_ok(result, calls)
            assert result.counter("FailedMaxUDPRetrans") == 0
            # 10% of SIPp's messages (sent and received) vanish: someone had to resend.
            stack = engine.statistics().stack
            assert result.retransmissions + stack.retransmissions_out > 0
            waited = await drained(engine, within=40)
            print(f"engine tables drained {waited:.2f}s after SIPp exited")
            assert engine.statistics().internal_errors == 0


# --------------------------------------------------------------------------- SIPp as UAS


def make_invite(uri: str) -> Request:
    return Request(
        "INVITE",
        uri,
        [
            ("From", f"<sip:engine@127.0.0.1>;tag={new_tag()}"),
            ("To", f"<{uri}>"),
            ("Call-ID", new_call_id()),
            ("CSeq", "1 INVITE"),
            ("Content-Type", "application/sdp"),
        ],
        body=(
            b"v=0\r\no=engine 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
            b"t=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
        ),
    )


async def engine_call(engine: Engine, uri: str, statuses: list[int]) -> None:
    """INVITE, ACK the 2xx, BYE: one call placed by the engine."""
    handle = await engine.request(make_invite(uri))
    final = await handle.final()
    assert final.status == 200, final.status
    assert handle.dialog_id is not None
    await engine.ack(handle.dialog_id)
    bye = await engine.request_in_dialog(handle.dialog_id, "BYE")
    statuses.append((await bye.final()).status)


async def test_engine_uac_against_sipp_uas() -> None:
    calls = 20
    statuses: list[int] = []
    with trio.fail_after(40):
        async with open_engine(
            ["sip:127.0.0.1:0;transport=udp"], config=EngineConfig(timers=QUICK)
        ) as engine:
            async with start_sipp(scenario="uas", timeout_s=30) as uas:
                uri = f"sip:service@{uas.address}"
                limit = trio.CapacityLimiter(5)

                async def one() -> None:
                    async with limit:
                        await engine_call(engine, uri, statuses)

                async with trio.open_nursery() as nursery:
                    for _ in range(calls):
                        nursery.start_soon(one)
                        await trio.sleep(0.02)
            assert uas.result is not None
            show("sipp uas", uas.result, engine)
            assert statuses == [200] * calls
            assert_all_ok(uas.result, calls)
            assert uas.result.counter("IncomingCall") == calls
            waited = await drained(engine, within=10)
            print(f"engine tables drained {waited:.2f}s after the last call")


# --------------------------------------------------------------------------- CANCEL


async def test_engine_cancels_a_ringing_sipp_uas() -> None:
    calls = 5
    with trio.fail_after(40):
        async with open_engine(
            ["sip:127.0.0.1:0;transport=udp"], config=EngineConfig(timers=QUICK)
        ) as engine:
            async with start_sipp(scenario=SCENARIOS / "uas_ring_wait.xml", timeout_s=30) as uas:
                for _ in range(calls):
                    handle = await engine.request(make_invite(f"sip:service@{uas.address}"))
                    seen: list[int] = []
                    async for response in handle:
                        seen.append(response.status)
                        if response.status == 180:
                            handle.cancel()
                    assert seen[-1] == 487
                    assert 180 in seen
            assert uas.result is not None
            show("sipp uas_ring_wait", uas.result, engine)
            assert_all_ok(uas.result, calls)
            waited = await drained(engine, within=10)
            print(f"engine tables drained {waited:.2f}s after the last call")


async def test_sipp_cancels_a_ringing_engine_uas() -> None:
    calls = 10
    cancelled: list[str] = []
    rung: list[str] = []

    async def ring_and_wait(
        engine: Engine, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Answer INVITE with 180 only; never answer finally (the caller must CANCEL)."""
        task_status.started()
        async for notice in engine.incoming:
            if isinstance(notice, IncomingRequest) and notice.request.method == "INVITE":
                await engine.respond(notice.server_txn, notice.request.make_response(180))
                rung.append(notice.server_txn)
            elif isinstance(notice, RequestCancelled):
                cancelled.append(notice.server_txn)

    with trio.fail_after(40):
        async with serving(ring_and_wait, transports="udp") as engine:
            result = await run_sipp(
                scenario=SCENARIOS / "uac_cancel.xml",
                remote=f"127.0.0.1:{port_of(engine, 'udp')}",
                calls=calls,
                rate=10,
                timeout_s=20,
            )
            show("sipp uac_cancel", result, engine)
            # uac_cancel.xml checks the 200 answers the CANCEL and the 487 follows.
            assert_all_ok(result, calls)
            assert len(rung) == calls
            assert sorted(cancelled) == sorted(rung)
            waited = await drained(engine, within=10)
            print(f"engine tables drained {waited:.2f}s after SIPp exited")


# --------------------------------------------------------------------------- malformed


GARBAGE = [
    b"\x00\xff\xfe this is not SIP at all\r\n\r\n",
    b"INVITE\r\n\r\n",
    b"SIP/2.0 200\r\nVia: nonsense\r\n\r\n",
    b"OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nContent-Length: 99999\r\n\r\n",
]


async def test_malformed_datagrams_interleaved_with_a_sipp_run() -> None:
    calls = 40
    with trio.fail_after(40):
        async with serving(transports="udp") as engine:
            port = port_of(engine, "udp")
            sent = 0
            sock = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            await sock.bind(("127.0.0.1", 0))
            result: SippResult | None = None

            async def sipp() -> None:
                nonlocal result
                result = await run_sipp(
                    scenario="uac",
                    remote=f"127.0.0.1:{port}",
                    calls=calls,
                    rate=20,
                    timeout_s=25,
                )
                nursery.cancel_scope.cancel()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(sipp)
                while True:
                    await sock.sendto(GARBAGE[sent % len(GARBAGE)], ("127.0.0.1", port))
                    sent += 1
                    await trio.sleep(0.05)
            sock.close()
            assert result is not None
            show("sipp uac + garbage", result, engine)
            print(f"garbage datagrams sent during the run: {sent}")
            assert_all_ok(result, calls)
            assert sent >= 20
            stats = engine.statistics()
            assert stats.stack.parse_errors == sent
            assert stats.internal_errors == 0
            waited = await drained(engine, within=10)
            print(f"engine tables drained {waited:.2f}s after SIPp exited")
