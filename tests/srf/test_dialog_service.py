"""A dialog's service task starts only when a notice needs it; dialogs end the same either way.

Srf starts a dialog's service task with the first notice for it (a BYE, an
in-dialog request, an ACK with an ``ack`` handler, the agent's end notice).
A dialog we hang up ourselves never needs one: ``destroy()`` ends it inline.
A dialog still without one when ``serve`` stops ends as the others do.
"""

from __future__ import annotations

import trio

from trio_srf.agent import AckReceived, DialogEnded
from trio_srf.sip import Request
from trio_srf.srf import Dialog, DialogState, Srf, Termination

from .conftest import AgentFactory, drained, serving, uri_of
from .test_calls import SDP_A, uas_app


async def test_a_dialog_we_hang_up_ends_without_a_service_task(
    agent_factory: AgentFactory,
) -> None:
    b, dialogs_b, ended_b = uas_app()
    a = Srf()
    with trio.fail_after(10):
        async with serving(agent_factory, a, b):
            async with a.create_uac(uri_of(b), local_sdp=SDP_A) as dialog:
                assert not dialog._service_started  # nothing has needed it
                assert a.find_dialog(dialog.id) is dialog
            assert dialog.termination is Termination.LOCAL_HANGUP
            assert dialog.state is DialogState.TERMINATED
            assert await dialog.wait_ended() is Termination.LOCAL_HANGUP
            assert a.find_dialog(dialog.id) is None
            await ended_b.wait()  # B got the BYE (its service task handled it)
            assert dialogs_b[0].termination is Termination.REMOTE_HANGUP
            await drained(a, b)


async def test_a_dialog_without_a_service_task_ends_when_serve_stops(
    agent_factory: AgentFactory,
) -> None:
    b, _, _ = uas_app()
    a = Srf()
    held: list[Dialog] = []
    left = trio.Event()

    async def hold() -> None:
        async with a.create_uac(uri_of(b), local_sdp=SDP_A) as dialog:
            held.append(dialog)
            await trio.sleep_forever()
        left.set()  # the dialog's end ended the block

    with trio.fail_after(10):
        async with (
            serving(agent_factory, b),
            agent_factory("sip:127.0.0.1:0;transport=udp") as agent,
            trio.open_nursery() as nursery,
        ):
            serve_scope = trio.CancelScope()

            async def run_serve(task_status: trio.TaskStatus[None]) -> None:
                with serve_scope:
                    await a.serve(agent, task_status=task_status)

            await nursery.start(run_serve)
            nursery.start_soon(hold)
            while not held:
                await trio.sleep(0.01)
            assert not held[0]._service_started
            serve_scope.cancel()
            assert await held[0].wait_ended() is Termination.AGENT_LOST
            await left.wait()
            assert a.find_dialog(held[0].id) is None


async def test_an_ack_does_not_overtake_the_notice_that_starts_the_service(
    agent_factory: AgentFactory,
) -> None:
    b, dialogs_b, ended_b = uas_app()
    a = Srf()
    with trio.fail_after(10):
        async with serving(agent_factory, a, b):
            async with a.create_uac(uri_of(b), local_sdp=SDP_A) as dialog:
                while not dialogs_b:
                    await trio.sleep(0.01)
                leg = dialogs_b[0]
                await leg.wait_acked()
                assert not leg._service_started  # the ACK was taken inline
                ack = AckReceived(leg.id, Request("ACK", uri_of(a), [("Call-ID", leg.call_id)]))
                # No checkpoint from here to the check: the started task has not run yet.
                await b._deliver(leg, DialogEnded(leg.id, "bye"))
                assert leg._service_started and leg._held_first
                assert not leg._ack_inline(ack)  # queued behind the DialogEnded
                assert await leg.wait_ended() is Termination.REMOTE_HANGUP
                assert not leg._held_first
                await ended_b.wait()
            assert dialog.termination is not None
