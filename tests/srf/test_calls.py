"""UAC -> UAS calls between two Srf instances over real loopback sockets."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.lowlevel

from trio_srf.errors import SipError
from trio_srf.media import SessionDescription
from trio_srf.sip import DigestServer, Response as SipResponse, VerifyResult, parse_credentials
from trio_srf.srf import (
    Destroyed,
    Dialog,
    DialogEvent,
    InDialogRequest,
    Request,
    Response,
    Srf,
    Termination,
)

from .conftest import AgentFactory, drained, serving, uri_of

SDP_A = SessionDescription.build("127.0.0.1", 4000, session_id=1111).serialize().decode()
SDP_B = SessionDescription.build("127.0.0.1", 5000, session_id=2222).serialize().decode()


def uas_app(*middleware: Any, **dialog_kwargs: object) -> tuple[Srf, list[Dialog], trio.Event]:
    """A Srf answering INVITE with SDP_B and holding the dialog until it ends."""
    b = Srf()
    for mw in middleware:
        b.use("invite", mw)
    dialogs: list[Dialog] = []
    ended = trio.Event()

    @b.invite
    async def invite(req: Request, res: Response) -> None:
        async with b.create_uas(req, res, local_sdp=SDP_B, **dialog_kwargs) as dialog:  # type: ignore[arg-type]
            dialogs.append(dialog)
            await trio.sleep_forever()
        ended.set()

    return b, dialogs, ended


async def test_call_hung_up_by_the_caller(agent_factory: AgentFactory) -> None:
    b, dialogs, ended = uas_app()
    a = Srf()
    provisional: list[int] = []

    async def on_provisional(response: SipResponse) -> None:
        provisional.append(response.status)

    with trio.fail_after(10):
        async with serving(agent_factory, a, b):
            async with a.create_uac(
                uri_of(b), local_sdp=SDP_A, on_provisional=on_provisional, calling_number="100"
            ) as call:
                assert call.remote.sdp == SDP_B and call.local.sdp == SDP_A
                assert call.type == "uac" and call.termination is None
                await trio.sleep(0.05)
                assert len(dialogs) == 1
                far = dialogs[0]
                assert far.remote.sdp == SDP_A and far.call_id == call.call_id
                assert (far.local.tag, far.remote.tag) == (call.remote.tag, call.local.tag)
                assert far.req.from_.uri.user == "100"  # type: ignore[union-attr]
            assert call.termination is Termination.LOCAL_HANGUP
            await ended.wait()
            assert dialogs[0].termination is Termination.REMOTE_HANGUP
            assert provisional == []  # 100 Trying is not passed on
            await drained(a, b)


async def test_call_hung_up_by_the_callee(agent_factory: AgentFactory) -> None:
    b = Srf()

    @b.invite
    async def invite(req: Request, res: Response) -> None:
        await res.send(180)
        async with b.create_uas(req, res, local_sdp=SDP_B) as dialog:
            await trio.sleep(0.05)
            await dialog.destroy(headers={"Reason": "Q.850;cause=16"})
            await trio.sleep_forever()  # the block ends: the dialog is gone
        assert dialog.termination is Termination.LOCAL_HANGUP

    a = Srf()
    events: list[DialogEvent] = []
    destroyed: list[Destroyed] = []

    async def on_destroy(event: Destroyed) -> None:
        destroyed.append(event)

    with trio.fail_after(10):
        async with serving(agent_factory, a, b):
            statuses: list[int] = []

            async def on_provisional(response: SipResponse) -> None:
                statuses.append(response.status)

            async with a.create_uac(
                uri_of(b), local_sdp=SDP_A, on_provisional=on_provisional, on_destroy=on_destroy
            ) as call:
                async for event in call.events():
                    events.append(event)
                raise AssertionError("not reached: the remote BYE cancels the block")
            assert call.termination is Termination.REMOTE_HANGUP
            assert statuses == [180]
            assert events == []  # the hang-up cancels the block, the reader with it
            assert [e async for e in call.events()] == []  # an ended dialog's stream is empty
            assert len(destroyed) == 1 and destroyed[0].request is not None
            assert destroyed[0].request.get("Reason") == "Q.850;cause=16"
            await drained(a, b)


async def test_cancel_before_answer_cancels_the_uas_handler(agent_factory: AgentFactory) -> None:
    b = Srf()
    outcome: list[str] = []

    @b.invite
    async def invite(req: Request, res: Response) -> None:
        await res.send(180)
        try:
            await trio.sleep_forever()
        finally:
            outcome.append(f"cancelled={req.cancelled} final={res.final_sent}")

    a = Srf()
    with trio.fail_after(10):
        async with serving(agent_factory, a, b):
            ringing = trio.Event()

            async def on_provisional(response: SipResponse) -> None:
                ringing.set()

            with trio.CancelScope() as scope:
                async with trio.open_nursery() as nursery:

                    async def hang_up_on_ring() -> None:
                        await ringing.wait()
                        scope.cancel()

                    nursery.start_soon(hang_up_on_ring)
                    async with a.create_uac(
                        uri_of(b), local_sdp=SDP_A, on_provisional=on_provisional
                    ):
                        raise AssertionError("not answered")
            assert scope.cancelled_caught
            await drained(a, b)
    assert outcome == ["cancelled=True final=True"]


async def test_failure_raises_sip_error(agent_factory: AgentFactory) -> None:
    b = Srf()

    @b.invite
    async def invite(req: Request, res: Response) -> None:
        await res.send(486, headers={"X-Why": "busy"})

    a = Srf()
    with trio.fail_after(10):
        async with serving(agent_factory, a, b):
            with pytest.raises(SipError) as info:
                async with a.create_uac(uri_of(b), local_sdp=SDP_A):
                    raise AssertionError("not answered")
            assert (info.value.status, info.value.reason) == (486, "Busy Here")
            assert info.value.response.get("X-Why") == "busy"
            await drained(a, b)


@pytest.mark.parametrize("password", ["secret", "wrong"])
async def test_digest_challenge_is_answered_once(
    agent_factory: AgentFactory, password: str
) -> None:
    server = DigestServer("example.com")
    challenges: list[int] = []

    async def authenticate(req: Request, res: Response, next: object) -> None:
        value = req.get("Authorization")
        if value is not None:
            creds = parse_credentials(value)
            now = trio.current_time()
            verdict = server.verify(creds, method=req.method, password="secret", now=now)
            if verdict is VerifyResult.OK and creds.username == "alice":
                await next()  # type: ignore[operator]
                return
        challenges.append(req.msg.cseq.seq)
        challenge = server.challenge(trio.current_time())
        await res.send(401, headers={"WWW-Authenticate": str(challenge)})

    b, _, _ = uas_app(authenticate)

    a = Srf()
    with trio.fail_after(10):
        async with serving(agent_factory, a, b):
            if password == "secret":
                async with a.create_uac(
                    uri_of(b), local_sdp=SDP_A, auth=("alice", password)
                ) as call:
                    assert call.req.get("Authorization", "").startswith("Digest ")
                    assert call.req.cseq.seq == 2
                assert challenges == [1]
            else:
                with pytest.raises(SipError) as info:
                    async with a.create_uac(uri_of(b), local_sdp=SDP_A, auth=("alice", password)):
                        raise AssertionError("not answered")
                assert info.value.status == 401
                assert challenges == [1, 2]
            await drained(a, b)


async def test_reinvite_modify_hold_unhold_and_info(agent_factory: AgentFactory) -> None:
    modified: list[str] = []

    async def on_modify(req: Request, res: Response) -> None:
        modified.append(req.text)
        await res.send(200, body=SDP_B)

    async def on_info(req: Request, res: Response) -> None:
        await res.send(200, headers={"X-Info": req.text.upper()})

    b, dialogs, ended = uas_app(on_info=on_info)
    a = Srf()
    with trio.fail_after(10):
        async with serving(agent_factory, a, b):
            async with a.create_uac(uri_of(b), local_sdp=SDP_A) as call:
                await trio.sleep(0.05)
                far = dialogs[0]
                far_events: list[DialogEvent] = []

                async def watch() -> None:
                    async for event in far.events():
                        far_events.append(event)

                async with trio.open_nursery() as nursery:
                    nursery.start_soon(watch)
                    await trio.lowlevel.checkpoint()
                    # Default answer: 200 with the current local SDP.
                    answer = await call.modify("hold")
                    assert answer == SDP_B and call.on_hold
                    assert SessionDescription.parse(far.remote.sdp).is_held
                    await call.modify("unhold")
                    assert not SessionDescription.parse(far.remote.sdp).is_held
                    assert not call.on_hold
                    info = await call.request(
                        "INFO", headers={"Content-Type": "text/plain"}, body="dtmf 5"
                    )
                    assert (info.status, info.get("X-Info")) == (200, "DTMF 5")
                    options = await call.request("OPTIONS")
                    assert options.status == 200
                    far.on("modify", on_modify)
                    new_offer = SessionDescription.parse(SDP_A).bump_version().serialize()
                    assert await call.modify(new_offer) == SDP_B
                    assert modified == [new_offer.decode()]
                    await trio.sleep(0.05)
                    nursery.cancel_scope.cancel()
                kinds = [e.kind for e in far_events]
                assert kinds == [
                    "modify",
                    "ack",
                    "modify",
                    "ack",
                    "info",
                    "options",
                    "modify",
                    "ack",
                ]
                first = far_events[0]
                assert isinstance(first, InDialogRequest) and first.response is not None
                assert first.response.status == 200
            await ended.wait()
            await drained(a, b)


async def test_reinvite_glare_gets_491(agent_factory: AgentFactory) -> None:
    results: list[object] = []

    async def on_modify(req: Request, res: Response) -> None:
        # While A's re-INVITE waits for our answer, send one of our own: A answers 491.
        far = dialogs[0]
        try:
            await far.modify(SDP_B)
        except SipError as exc:
            results.append(exc.status)
        await res.send(200, body=SDP_B)

    b, dialogs, ended = uas_app(on_modify=on_modify)
    a = Srf()
    with trio.fail_after(10):
        async with serving(agent_factory, a, b):
            async with a.create_uac(uri_of(b), local_sdp=SDP_A) as call:
                await trio.sleep(0.05)
                offer = SessionDescription.parse(SDP_A).bump_version().serialize()
                await call.modify(offer)
            assert results == [491]
            await ended.wait()
            await drained(a, b)


async def test_ack_timeout_ends_create_uas(agent_factory: AgentFactory) -> None:
    # A peer that never ACKs: the engine sends BYE after 64*T1, create_uas raises.
    from trio_srf.errors import DialogError
    from trio_srf.sip import Request as SipRequest, new_call_id, new_tag

    b = Srf()
    errors: list[str] = []
    failed = trio.Event()

    @b.invite
    async def invite(req: Request, res: Response) -> None:
        try:
            async with b.create_uas(req, res, local_sdp=SDP_B):
                raise AssertionError("never ACKed")
        except DialogError as exc:
            errors.append(str(exc))
            failed.set()

    a = Srf()
    with trio.fail_after(10):
        async with serving(agent_factory, a, b):
            uri = uri_of(b)
            request = SipRequest(
                "INVITE",
                uri,
                [
                    ("From", f"<sip:a@127.0.0.1>;tag={new_tag()}"),
                    ("To", f"<{uri}>"),
                    ("Call-ID", new_call_id()),
                    ("CSeq", "1 INVITE"),
                ],
            )
            handle = await a.agent.request(request)
            assert (await handle.final()).status == 200  # and no ACK from us
            await failed.wait()
            assert "ack_timeout" in errors[0]
    # (the engine that skipped the ACK keeps its half of the dialog; no drain check)
