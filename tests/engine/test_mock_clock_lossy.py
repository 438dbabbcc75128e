"""The engine's Trio drivers over a seeded lossy in-memory network, under a mock clock.

``LoopbackNetwork`` drops, duplicates and delays (so reorders) datagrams from one
seeded generator; ``MockClock(autojump_threshold=0)`` (pytest-trio's
``autojump_clock`` fixture) makes RFC 3261's real timers (T1 = 500 ms, Timer B =
32 s) run in milliseconds. The invariants checked for every seed:

* every request reaches the far application exactly once;
* the caller's application sees exactly one final response per request;
* both engines' transaction and dialog tables are empty after 64*T1 + margin.
"""

from __future__ import annotations

import pytest
import trio

from trio_srf.agent import AckReceived, DialogEnded, IncomingRequest, RequestCancelled
from trio_srf.engine import Engine, open_engine
from trio_srf.errors import RequestTimeout
from trio_srf.sip import Request, new_call_id, new_tag
from trio_srf.testing import LoopbackNetwork

A = ("127.0.0.1", 5060)
B = ("127.0.0.2", 5060)


def make_request(method: str, call_id: str | None = None) -> Request:
    return Request(
        method,
        f"sip:bob@{B[0]}:{B[1]}",
        [
            ("From", f"<sip:alice@{A[0]}>;tag={new_tag()}"),
            ("To", f"<sip:bob@{B[0]}>"),
            ("Call-ID", call_id or new_call_id()),
            ("CSeq", f"1 {method}"),
        ],
    )


async def callee(engine: Engine, seen: list[tuple[str, str]]) -> None:
    """Answers INVITE 200 (or 486 when the Call-ID says so), everything else 200."""
    async for notice in engine.incoming:
        if isinstance(notice, IncomingRequest):
            request = notice.request
            seen.append((request.method, request.call_id))
            status = 486 if request.method == "INVITE" and "busy" in request.call_id else 200
            await engine.respond(notice.server_txn, request.make_response(status))
        elif isinstance(notice, AckReceived | DialogEnded | RequestCancelled):
            pass


async def transact(engine: Engine, request: Request) -> tuple[list[int], str | None]:
    """Send ``request``; return the final statuses its handle yielded and its dialog."""
    handle = await engine.request(request)
    finals: list[int] = []
    try:
        async for response in handle:
            if response.status >= 200:
                finals.append(response.status)
    except RequestTimeout:
        finals.append(408)
    return finals, handle.dialog_id


def tables_empty(engine: Engine) -> bool:
    stats = engine.statistics()
    stack = stats.stack
    return (
        stack.client_transactions == 0
        and stack.server_transactions == 0
        and stack.dialogs == 0
        and stats.client_handles == 0
    )


@pytest.mark.parametrize("seed", range(12))
async def test_exactly_one_final_response_over_a_terrible_network(
    seed: int, autojump_clock: trio.testing.MockClock
) -> None:
    net = LoopbackNetwork(
        seed=seed, drop=0.25, duplicate=0.15, max_delay=0.4, max_consecutive_drops=4
    )
    seen: list[tuple[str, str]] = []
    async with (
        open_engine(transports=net.transports(*A)) as a,
        open_engine(transports=net.transports(*B)) as b,
        trio.open_nursery() as nursery,
    ):
        nursery.start_soon(callee, b, seen)
        sent: list[tuple[str, str]] = []
        for i in range(4):
            # A call: INVITE, ACK, BYE. Retransmitted 2xx are re-ACKed by the stack.
            invite = make_request("INVITE")
            finals, dialog_id = await transact(a, invite)
            sent.append(("INVITE", invite.call_id))
            assert finals == [200], (seed, i, finals)
            assert dialog_id is not None
            await a.ack(dialog_id)
            bye = await a.request_in_dialog(dialog_id, "BYE")
            bye_finals = [r.status async for r in bye if r.status >= 200]
            sent.append(("BYE", invite.call_id))
            assert bye_finals == [200], (seed, i, bye_finals)
            # A rejected call: the 486 is ACKed by the client transaction.
            busy = make_request("INVITE", call_id=f"busy-{seed}-{i}")
            assert (await transact(a, busy))[0] == [486]
            sent.append(("INVITE", busy.call_id))
            # A non-INVITE transaction.
            message = make_request("MESSAGE")
            assert (await transact(a, message))[0] == [200]
            sent.append(("MESSAGE", message.call_id))
        await trio.sleep(40)  # > 64*T1: Timers D, H, I, J, K, L, M all fire
        assert sorted(seen) == sorted(sent), "each request reached the callee exactly once"
        assert tables_empty(a) and tables_empty(b)
        assert net.stats.dropped > 0 and net.stats.duplicated > 0 and net.stats.delayed > 0
        nursery.cancel_scope.cancel()


async def test_timer_b_fires_at_64_t1_when_every_datagram_is_lost(
    autojump_clock: trio.testing.MockClock,
) -> None:
    net = LoopbackNetwork(seed=1, drop=1.0)
    async with (
        open_engine(transports=net.transports(*A)) as a,
        open_engine(transports=net.transports(*B)),
    ):
        start = trio.current_time()
        finals, _ = await transact(a, make_request("INVITE"))
        assert finals == [408]
        assert trio.current_time() - start == pytest.approx(32.0, abs=0.01)
        # Timer A retransmitted at 0.5, 1.5, 3.5, 7.5, 15.5 and 31.5 s: 7 sends in all.
        assert net.stats.sent == 7
        await trio.sleep(1)
        assert tables_empty(a)
