"""A -> B2BUA -> C: three Srf instances, each on its own engine."""

from __future__ import annotations

import pytest
import trio

from trio_srf.errors import SipError
from trio_srf.sip import Response as SipResponse
from trio_srf.srf import Dialog, Request, Response, Srf, Termination

from .conftest import AgentFactory, drained, serving, uri_of
from .test_calls import SDP_A, SDP_B


class Callee:
    """C: rings, then answers with SDP_B (or a failure status), and records its dialog."""

    def __init__(self, *, status: int = 200, ring: bool = True, answer: bool = True) -> None:
        self.srf = Srf()
        self.dialogs: list[Dialog] = []
        self.ended = trio.Event()
        self.cancelled: list[bool] = []
        self.headers: list[str | None] = []

        @self.srf.invite
        async def invite(req: Request, res: Response) -> None:
            self.headers.append(req.get("X-Account"))
            if ring:
                await res.send(183, body=SDP_B, headers={"X-Ring": "c"})
            if not answer:
                try:
                    await trio.sleep_forever()
                finally:
                    self.cancelled.append(req.cancelled)
            if status != 200:
                await res.send(status, headers={"X-Why": "c-says-no"})
                return
            async with self.srf.create_uas(req, res, local_sdp=SDP_B) as dialog:
                self.dialogs.append(dialog)
                await trio.sleep_forever()
            self.ended.set()


class Bridge:
    """The B2BUA under test."""

    def __init__(self, target: str) -> None:
        self.srf = Srf()
        self.legs: list[tuple[Dialog, Dialog]] = []
        self.errors: list[int] = []
        self.done = trio.Event()
        self.cancelled = False

        @self.srf.invite
        async def invite(req: Request, res: Response) -> None:
            try:
                async with self.srf.create_b2bua(
                    req,
                    res,
                    target,
                    proxy_request_headers=["X-Account"],
                    proxy_response_headers=["X-Ring", "X-Why"],
                ) as (uas, uac):
                    self.legs.append((uas, uac))
                    await trio.sleep_forever()
            except SipError as exc:
                self.errors.append(exc.status)
            except trio.Cancelled:
                self.cancelled = True
                raise
            finally:
                self.done.set()


@pytest.mark.parametrize("hangup", ["caller", "callee"])
async def test_b2bua_call_and_hangup_from_either_side(
    agent_factory: AgentFactory, hangup: str
) -> None:
    c = Callee()
    a = Srf()
    with trio.fail_after(10):
        async with serving(agent_factory, c.srf) as _:
            bridge = Bridge(uri_of(c.srf, "carol"))
            async with serving(agent_factory, a, bridge.srf):
                early: list[tuple[int, bytes, str | None]] = []

                async def on_provisional(response: SipResponse) -> None:
                    early.append((response.status, response.body, response.get("X-Ring")))

                async with a.create_uac(
                    uri_of(bridge.srf),
                    local_sdp=SDP_A,
                    headers={"X-Account": "42"},
                    on_provisional=on_provisional,
                ) as call:
                    assert call.remote.sdp == SDP_B  # C's answer, passed through
                    assert early == [(183, SDP_B.encode(), "c")]  # early media relayed
                    assert c.headers == ["42"]
                    await trio.sleep(0.05)
                    uas, uac = bridge.legs[0]
                    assert uas.other is uac and uac.other is uas
                    assert uac.remote.sdp == SDP_B and uas.remote.sdp == SDP_A
                    if hangup == "callee":
                        await c.dialogs[0].destroy()
                        await trio.sleep_forever()  # the BYE reaches us through the bridge
                if hangup == "caller":
                    assert call.termination is Termination.LOCAL_HANGUP
                    await c.ended.wait()
                    assert c.dialogs[0].termination is Termination.REMOTE_HANGUP
                    assert (uas.termination, uac.termination) == (
                        Termination.REMOTE_HANGUP,
                        Termination.LOCAL_HANGUP,
                    )
                else:
                    assert call.termination is Termination.REMOTE_HANGUP
                    assert (uas.termination, uac.termination) == (
                        Termination.LOCAL_HANGUP,
                        Termination.REMOTE_HANGUP,
                    )
                await bridge.done.wait()
                await drained(a, bridge.srf, c.srf)


async def test_b2bua_relays_failure(agent_factory: AgentFactory) -> None:
    c = Callee(status=486, ring=False)
    a = Srf()
    with trio.fail_after(10):
        async with serving(agent_factory, c.srf):
            bridge = Bridge(uri_of(c.srf, "carol"))
            async with serving(agent_factory, a, bridge.srf):
                with pytest.raises(SipError) as info:
                    async with a.create_uac(uri_of(bridge.srf), local_sdp=SDP_A):
                        raise AssertionError("not answered")
                assert info.value.status == 486
                assert info.value.response.get("X-Why") == "c-says-no"
                await bridge.done.wait()
                assert bridge.errors == [486]
                await drained(a, bridge.srf, c.srf)


async def test_cancel_propagates_through_the_b2bua(agent_factory: AgentFactory) -> None:
    c = Callee(answer=False)
    a = Srf()
    with trio.fail_after(10):
        async with serving(agent_factory, c.srf):
            bridge = Bridge(uri_of(c.srf, "carol"))
            async with serving(agent_factory, a, bridge.srf):
                ringing = trio.Event()

                async def on_provisional(response: SipResponse) -> None:
                    ringing.set()

                with trio.CancelScope() as scope:
                    async with trio.open_nursery() as nursery:

                        async def cancel_on_ring() -> None:
                            await ringing.wait()
                            scope.cancel()

                        nursery.start_soon(cancel_on_ring)
                        async with a.create_uac(
                            uri_of(bridge.srf), local_sdp=SDP_A, on_provisional=on_provisional
                        ):
                            raise AssertionError("not answered")
                assert scope.cancelled_caught
                await bridge.done.wait()
                assert bridge.cancelled and bridge.errors == []
                await drained(a, bridge.srf, c.srf)
                assert c.cancelled == [True]
