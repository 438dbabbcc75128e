"""srf.proxy_request and examples/proxy.py: caller -> proxy -> callees, Srf apps over loopback."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import trio

from trio_srf.errors import LocalProtocolError, SipError
from trio_srf.media import SessionDescription
from trio_srf.srf import Dialog, Request, Response, Srf, Termination
from trio_srf.srf._proxy import normalise_destinations, parse_duration

from .conftest import AgentFactory, drained, serving, uri_of

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))
from proxy import build_proxy

SDP_A = SessionDescription.build("127.0.0.1", 4000, session_id=1111).serialize().decode()
SDP_B = SessionDescription.build("127.0.0.1", 5000, session_id=2222).serialize().decode()


def answering(dialogs: list[Dialog], cancelled: list[bool], *, delay: float = 0.0) -> Srf:
    """A callee that rings, answers after ``delay`` and holds the call until it ends."""
    b = Srf()

    @b.invite
    async def invite(req: Request, res: Response) -> None:
        try:
            if delay:
                await res.send(180)
                await trio.sleep(delay)
            async with b.create_uas(req, res, local_sdp=SDP_B) as dialog:
                dialogs.append(dialog)
                await trio.sleep_forever()
        finally:
            cancelled.append(req.cancelled)

    return b


async def wait_for(condition: Callable[[], bool]) -> None:
    """Poll ``condition()`` until true (the far side learns of things a hop later)."""
    with trio.fail_after(2):
        while True:
            if condition():
                return
            await trio.sleep(0.01)


def rejecting(status: int, seen: list[str]) -> Srf:
    b = Srf()

    @b.invite
    async def invite(req: Request, res: Response) -> None:
        seen.append(req.uri)
        await res.send(status)

    return b


def test_destinations_and_durations() -> None:
    assert normalise_destinations(None, "sip:bob@x") == ["sip:bob@x"]
    assert normalise_destinations("10.0.0.1:5080", "sip:bob@x") == ["sip:10.0.0.1:5080"]
    assert normalise_destinations(["sips:a@b", " tel:+1 ", ""], "x") == ["sips:a@b", "tel:+1"]
    assert parse_duration("1500ms") == 1.5
    assert parse_duration("2s") == 2.0
    assert parse_duration(3) == 3.0
    assert parse_duration(None) is None
    with pytest.raises(LocalProtocolError):
        parse_duration("soon")


async def test_record_routed_call_through_the_example_proxy(agent_factory: AgentFactory) -> None:
    dialogs: list[Dialog] = []
    cancelled: list[bool] = []
    b = answering(dialogs, cancelled)
    a = Srf()
    with trio.fail_after(10):
        async with serving(agent_factory, a, b) as (_, b_app):
            p = build_proxy([uri_of(b_app)])
            async with serving(agent_factory, p):
                async with a.create_uac(uri_of(p, "anyone"), local_sdp=SDP_A) as call:
                    assert call.remote.sdp == SDP_B
                    await wait_for(lambda: len(dialogs) == 1)
                    (far,) = dialogs
                    assert far.call_id == call.call_id
                assert call.termination is Termination.LOCAL_HANGUP
                await wait_for(lambda: cancelled != [])
                assert dialogs[0].termination is Termination.REMOTE_HANGUP
                (outcome,) = p.locals["outcomes"]
                assert outcome.connected and outcome.target == uri_of(b_app)
                await drained(a, b, p)


async def test_sequential_failover_after_503(agent_factory: AgentFactory) -> None:
    seen: list[str] = []
    dialogs: list[Dialog] = []
    cancelled: list[bool] = []
    b1 = rejecting(503, seen)
    b2 = answering(dialogs, cancelled)
    a = Srf()
    with trio.fail_after(10):
        async with serving(agent_factory, a, b1, b2):
            p = build_proxy([uri_of(b1), uri_of(b2)])
            async with serving(agent_factory, p):
                async with a.create_uac(uri_of(p, "anyone"), local_sdp=SDP_A):
                    assert seen == [uri_of(b1)]
                    await wait_for(lambda: len(dialogs) == 1)
                (outcome,) = p.locals["outcomes"]
                assert [s for _, s in outcome.responses] == [100, 503, 100, 200]
                await drained(a, b1, b2, p)


async def test_simultaneous_first_answer_wins(agent_factory: AgentFactory) -> None:
    slow_dialogs: list[Dialog] = []
    slow_cancelled: list[bool] = []
    fast_dialogs: list[Dialog] = []
    fast_cancelled: list[bool] = []
    slow = answering(slow_dialogs, slow_cancelled, delay=5.0)
    fast = answering(fast_dialogs, fast_cancelled, delay=0.2)
    a = Srf()
    with trio.fail_after(10):
        async with serving(agent_factory, a, slow, fast):
            p = build_proxy([uri_of(slow), uri_of(fast)], simultaneous=True)
            async with serving(agent_factory, p):
                async with a.create_uac(uri_of(p, "anyone"), local_sdp=SDP_A):
                    await wait_for(lambda: slow_cancelled != [] and len(fast_dialogs) == 1)
                    assert slow_cancelled == [True] and slow_dialogs == []
                (outcome,) = p.locals["outcomes"]
                assert outcome.target == uri_of(fast)
                await drained(a, slow, fast, p)


async def test_busy_is_relayed(agent_factory: AgentFactory) -> None:
    seen: list[str] = []
    b = rejecting(486, seen)
    a = Srf()
    with trio.fail_after(10):
        async with serving(agent_factory, a, b):
            p = build_proxy([uri_of(b)])
            async with serving(agent_factory, p):
                with pytest.raises(SipError) as info:
                    async with a.create_uac(uri_of(p, "anyone"), local_sdp=SDP_A):
                        pytest.fail("the call should not connect")
                assert info.value.status == 486
                assert p.locals["outcomes"][0].status == 486
                await drained(a, b, p)


async def test_proxy_request_after_answer_is_refused(agent_factory: AgentFactory) -> None:
    errors: list[Exception] = []
    p = Srf()

    @p.options
    async def options(req: Request, res: Response) -> None:
        await res.send(200)
        try:
            await p.proxy_request(req, ["sip:127.0.0.1:9"])
        except LocalProtocolError as exc:
            errors.append(exc)

    a = Srf()
    with trio.fail_after(10):
        async with serving(agent_factory, a, p):
            assert (await a.request(uri_of(p), method="OPTIONS")).status == 200
            # The 200 can reach A before P's handler resumes after sending it.
            with trio.fail_after(2):
                while not errors:
                    await trio.sleep(0.005)
            assert len(errors) == 1
