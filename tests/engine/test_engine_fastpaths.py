"""The engine's per-call fast paths keep their behaviour: no needless core-loop wake-ups.

The core loop sleeps until its earliest timer plus ``timer_slack``. A message
handled inline (UDP fast path, ``respond``, ``request``) wakes it only when
the stack's next deadline moved before that: a bug compared without the
slack and woke the loop for every message while any timer was armed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import trio

from trio_srf.agent import IncomingRequest
from trio_srf.core import TimerConfig
from trio_srf.engine import Engine, EngineConfig, open_engine

from .test_engine import call_and_hang_up, drained, fast_config, invite, port_of

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))
from engine_uas import run_uas

# Timer K (T4 = 0.6 s) of the first call's BYE is the earliest live deadline while later
# calls arm only later ones (Timer A and E at T1 = 1 s, their own K): none of them may kick.
SLOW = TimerConfig(t1=1.0, t2=4.0, t4=0.6, trying_delay=0.0)


def _count_kicks(engine: Engine) -> list[int]:
    count = [0]
    real = engine._kick

    def counting() -> None:
        count[0] += 1
        real()

    engine._kick = counting  # type: ignore[method-assign]
    return count


async def test_calls_do_not_wake_the_core_loop_per_message() -> None:
    config = EngineConfig(timers=SLOW)
    with trio.fail_after(10):
        async with (
            open_engine(["sip:127.0.0.1:0;transport=udp"], config=config) as a,
            open_engine(["sip:127.0.0.1:0;transport=udp"], config=config) as b,
            trio.open_nursery() as nursery,
        ):
            await nursery.start(run_uas, b)
            uri = f"sip:bob@127.0.0.1:{port_of(b, 'udp')}"
            assert await call_and_hang_up(a, uri) == [100, 200]
            await trio.sleep(0.01)
            # a's loop sleeps until the first call's Timer K (plus the slack), a live timer.
            deadline = a.stack.next_deadline()
            assert deadline is not None
            assert a._sleep_until == deadline + config.timer_slack
            kicks = _count_kicks(a)
            for _ in range(4):
                assert await call_and_hang_up(a, uri) == [100, 200]
            assert a.stack.next_deadline() == deadline
            assert kicks[0] == 0
            nursery.cancel_scope.cancel()


async def test_an_earlier_deadline_still_wakes_the_core_loop() -> None:
    """A timer earlier than the loop's wake-up (beyond the slack) must still kick it."""
    fast = TimerConfig(t1=0.02, t2=0.08, t4=0.05, timer_d=0.1, trying_delay=0.0)
    with trio.fail_after(10):
        async with (
            open_engine(["sip:127.0.0.1:0;transport=udp"], config=EngineConfig(timers=fast)) as a,
            open_engine(["sip:127.0.0.1:0;transport=udp"], config=EngineConfig(timers=fast)) as b,
            trio.open_nursery() as nursery,
        ):
            await nursery.start(run_uas, b)
            await trio.sleep(0.05)  # nothing armed: a's loop sleeps until forever
            kicks = _count_kicks(a)
            uri = f"sip:bob@127.0.0.1:{port_of(b, 'udp')}"
            assert await call_and_hang_up(a, uri) == [100, 200]
            assert kicks[0] >= 1
            # The wake-ups ran the timers: every transaction ends on time.
            await drained(a, b)
            nursery.cancel_scope.cancel()


async def _answer_later(b: Engine, delay: float) -> None:
    """Answer one INVITE 180 then, ``delay`` later, 200."""
    notice = await b.incoming.receive()
    assert isinstance(notice, IncomingRequest)
    await b.respond(notice.server_txn, notice.request.make_response(180))
    await trio.sleep(delay)
    await b.respond(notice.server_txn, notice.request.make_response(200))


async def test_a_handle_survives_a_cancelled_read_and_keeps_the_order() -> None:
    with trio.fail_after(10):
        async with (
            open_engine(["sip:127.0.0.1:0;transport=udp"], config=fast_config()) as a,
            open_engine(["sip:127.0.0.1:0;transport=udp"], config=fast_config()) as b,
            trio.open_nursery() as nursery,
        ):
            nursery.start_soon(_answer_later, b, 0.3)
            handle = await a.request(invite(f"sip:bob@127.0.0.1:{port_of(b, 'udp')}"))
            seen = []
            with trio.move_on_after(0.15):  # cancelled while parked, waiting for the 200
                async for response in handle:
                    seen.append(response.status)
            assert seen == [100, 180]
            final = await handle.final()
            assert final.status == 200
            # dialog_id_for answers for the response the engine just handled, both sides.
            assert handle.dialog_id is not None
            assert a.dialog_id_for(final, uac=True) == handle.dialog_id
            assert a.dialog_id_for(final, uac=False) is None
            await a.ack(handle.dialog_id)
            bye = await a.request_in_dialog(handle.dialog_id, "BYE")
            notice = await b.incoming.receive()
            while not (isinstance(notice, IncomingRequest) and notice.request.method == "BYE"):
                notice = await b.incoming.receive()
            await b.respond(notice.server_txn, notice.request.make_response(200))
            assert (await bye.final()).status == 200
            await drained(a, b)
            # The dialog is gone, key included: the 2xx to our BYE (which follows the
            # stack's DialogTerminated) once keyed it again, one leaked key per call.
            assert a.dialog_id_for(final, uac=True) is None
            assert a._dialog_ids == {}


async def test_responses_queued_before_reading_come_in_order() -> None:
    with trio.fail_after(10):
        async with (
            open_engine(["sip:127.0.0.1:0;transport=udp"], config=fast_config()) as a,
            open_engine(["sip:127.0.0.1:0;transport=udp"], config=fast_config()) as b,
            trio.open_nursery() as nursery,
        ):
            nursery.start_soon(_answer_later, b, 0.0)
            handle = await a.request(invite(f"sip:bob@127.0.0.1:{port_of(b, 'udp')}"))
            await trio.sleep(0.2)  # 100, 180 and 200 all arrive before the first read
            assert [r.status async for r in handle] == [100, 180, 200]
            assert handle.dialog_id is not None
            await a.ack(handle.dialog_id)


async def test_an_ip_literal_next_hop_is_resolved_once() -> None:
    with trio.fail_after(10):
        async with (
            open_engine(["sip:127.0.0.1:0;transport=udp"], config=fast_config()) as a,
            open_engine(["sip:127.0.0.1:0;transport=udp"], config=fast_config()) as b,
            trio.open_nursery() as nursery,
        ):
            await nursery.start(run_uas, b)
            uri = f"sip:bob@127.0.0.1:{port_of(b, 'udp')}"
            for _ in range(2):  # the second call takes its targets from the table
                assert await call_and_hang_up(a, uri) == [100, 200]
            targets = a._hop_targets[uri]
            assert [(t.transport, t.host, t.port) for t in targets] == [
                ("udp", "127.0.0.1", port_of(b, "udp"))
            ]
            nursery.cancel_scope.cancel()
