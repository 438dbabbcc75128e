"""Outbound-connection mode (spec §10): our server connects to our client's ``serve_drachtio``.

Every test runs real peers in one Trio run over 127.0.0.1: an app listening
with :func:`serve_drachtio`, an embedded engine ``S`` served by
:func:`serve_drachtio_apps` with request handlers pointing at that app, and an
embedded engine ``P`` as the caller. Each new request makes ``S``'s server open
a connection to the app, wait for the app's ``authenticate``, and deliver the
request on it; the app ends the session by closing it.
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import attrs
import pytest
import trio
import trustme

from trio_srf.agent import AckReceived, DialogEnded, IncomingRequest, Notice, RequestCancelled
from trio_srf.core import TimerConfig
from trio_srf.drachtio._client import DrachtioAgent, open_drachtio, serve_drachtio
from trio_srf.drachtio._server import DrachtioServer, main, serve_drachtio_apps
from trio_srf.drachtio._server_outbound import (
    OutboundConfig,
    OutboundTarget,
    TagTarget,
    parse_outbound,
    parse_target,
)
from trio_srf.engine import Engine, EngineConfig, open_engine
from trio_srf.sip import Request, Response, new_call_id, new_tag
from trio_srf.srf import Srf
from trio_srf.testing import pick_free_port

FAST = TimerConfig(t1=0.02, t2=0.08, t4=0.05, timer_d=0.1, trying_delay=0.0)
SECRET = "cymru"
SDP = (
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 4000 RTP/AVP 0\r\n"
)

Handler = Callable[[DrachtioAgent], Awaitable[None]]


def invite(uri: str, method: str = "INVITE") -> Request:
    return Request(
        method,
        uri,
        [
            ("From", f"<sip:alice@127.0.0.1>;tag={new_tag()}"),
            ("To", f"<{uri}>"),
            ("Call-ID", new_call_id()),
            ("CSeq", f"1 {method}"),
            ("Content-Type", "application/sdp"),
        ],
        SDP.encode(),
    )


@attrs.define
class Rig:
    """The running peers of one test."""

    server: DrachtioServer
    engine: Engine
    peer: Engine
    app_port: int
    sessions: list[DrachtioAgent]
    ended: list[DrachtioAgent]

    def uri(self, user: str = "bob") -> str:
        return self.engine.contact_uri("udp").replace("sip:", f"sip:{user}@", 1)

    async def drained(self, within: float = 5.0) -> None:
        with trio.fail_after(within):
            while True:
                st = self.server.statistics()
                assert self.server.outbound is not None
                ob = self.server.outbound.statistics()
                if (st.apps, st.pending_requests, st.dialogs, st.client_requests) == (
                    0,
                    0,
                    0,
                    0,
                ) and (ob.connecting, ob.sessions) == (0, 0):
                    return
                await trio.sleep(0.02)


@asynccontextmanager
async def rig(
    handler: Handler,
    *,
    secret: str = SECRET,
    handlers: dict[str, OutboundTarget] | None = None,
    rule: Any = None,
    auth_timeout: float = 5.0,
    tls: tuple[ssl.SSLContext, ssl.SSLContext | None] | None = None,
) -> AsyncIterator[Rig]:
    sessions: list[DrachtioAgent] = []
    ended: list[DrachtioAgent] = []

    async def session(agent: DrachtioAgent) -> None:
        sessions.append(agent)
        try:
            await handler(agent)
        finally:
            ended.append(agent)

    config = EngineConfig(timers=FAST)
    async with (
        open_engine(["sip:127.0.0.1:0;transport=udp"], config=config) as engine,
        open_engine(["sip:127.0.0.1:0;transport=udp"], config=config) as peer,
        trio.open_nursery() as nursery,
    ):
        listeners = await nursery.start(
            functools.partial(serve_drachtio, tls=tls[0] if tls else None), 0, secret, session
        )
        app_port = listeners[0].socket.getsockname()[1]
        target = OutboundTarget("127.0.0.1", app_port, tls=tls is not None)
        outbound = OutboundConfig(
            handlers={"invite": target} if handlers is None else handlers,
            rule=rule,
            auth_timeout=auth_timeout,
            tls=tls[1] if tls else None,
        )
        server: DrachtioServer = await nursery.start(
            lambda task_status: serve_drachtio_apps(
                engine, "127.0.0.1", 0, SECRET, outbound=outbound, task_status=task_status
            )
        )
        yield Rig(server, engine, peer, app_port, sessions, ended)
        nursery.cancel_scope.cancel()


async def next_request(channel: trio.abc.ReceiveChannel[Notice]) -> IncomingRequest:
    while True:
        notice = await channel.receive()
        if isinstance(notice, IncomingRequest):
            return notice


async def next_of(channel: trio.abc.ReceiveChannel[Notice], kind: type[Any]) -> Any:
    while True:
        notice = await channel.receive()
        if isinstance(notice, kind):
            return notice


async def answer_and_wait_bye(agent: DrachtioAgent) -> None:
    """UAS: answer 200, take the ACK, answer the caller's BYE, end the session."""
    inv = await next_request(agent.incoming)
    assert inv.request.method == "INVITE"
    assert inv.dialog_id is None
    ok = await agent.respond(inv.server_txn, inv.request.make_response(200, body=SDP.encode()))
    assert ok.to.tag is not None and ok.contact
    did = f"{inv.request.call_id};from-tag={inv.request.from_.tag}"
    ack = await next_of(agent.incoming, AckReceived)
    assert ack.dialog_id == did
    bye = await next_request(agent.incoming)
    assert (bye.request.method, bye.dialog_id) == ("BYE", did)
    await agent.respond(bye.server_txn, bye.request.make_response(200))
    ended = await next_of(agent.incoming, DialogEnded)
    assert (ended.dialog_id, ended.reason) == (did, "bye")
    agent.end_session()


async def call_and_hang_up(peer: Engine, uri: str) -> Response:
    handle = await peer.request(invite(uri))
    final = await handle.final()
    assert final.status == 200
    key = peer.dialog_id_for(final, uac=True)
    assert key is not None
    await peer.ack(key)
    await trio.sleep(0.05)
    bye = await peer.request_in_dialog(key, "BYE")
    assert (await bye.final()).status == 200
    return final


async def test_call_over_an_outbound_connection_caller_hangs_up() -> None:
    with trio.fail_after(10):
        async with rig(answer_and_wait_bye) as r:
            final = await call_and_hang_up(r.peer, r.uri())
            assert final.body == SDP.encode()
            assert len(r.sessions) == 1
            await r.drained()
            assert r.ended == r.sessions
            assert r.server.outbound is not None
            st = r.server.outbound.statistics()
            assert (st.delivered, st.rejected, st.by_tag, st.cancelled) == (1, 0, 0, 0)
            # The session authenticated without routes; nothing was rejected 503.
            assert r.server.statistics().rejected_503 == 0
            assert r.server.statistics().routes == {}


async def test_app_hangs_up_then_ends_the_session() -> None:
    async def handler(agent: DrachtioAgent) -> None:
        inv = await next_request(agent.incoming)
        await agent.respond(inv.server_txn, inv.request.make_response(200, body=SDP.encode()))
        did = f"{inv.request.call_id};from-tag={inv.request.from_.tag}"
        await next_of(agent.incoming, AckReceived)
        bye = await agent.request_in_dialog(did, "BYE")
        assert (await bye.final()).status == 200
        # Returning ends the session (the socket closes).

    with trio.fail_after(10):
        async with rig(handler) as r:
            handle = await r.peer.request(invite(r.uri()))
            final = await handle.final()
            assert final.status == 200
            key = r.peer.dialog_id_for(final, uac=True)
            assert key is not None
            await r.peer.ack(key)
            bye = await next_request(r.peer.incoming)
            assert bye.request.method == "BYE"
            await r.peer.respond(bye.server_txn, bye.request.make_response(200))
            await r.drained()
            assert len(r.ended) == 1


@pytest.mark.parametrize("verify", [True, False])
async def test_call_over_an_outbound_tls_connection(verify: bool) -> None:
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    client_ctx: ssl.SSLContext | None = None
    if verify:
        client_ctx = ssl.create_default_context()
        ca.configure_trust(client_ctx)
    streams: list[str] = []

    async def handler(agent: DrachtioAgent) -> None:
        assert agent._link is not None
        streams.append(type(agent._link.stream).__name__)
        await answer_and_wait_bye(agent)

    with trio.fail_after(10):
        async with rig(handler, tls=(server_ctx, client_ctx)) as r:
            await call_and_hang_up(r.peer, r.uri())
            await r.drained()
            assert streams == ["SSLStream"]
            assert r.ended == r.sessions


async def test_concurrent_calls_each_get_their_own_connection() -> None:
    peers: list[tuple[str, int]] = []

    async def handler(agent: DrachtioAgent) -> None:
        link = agent._link
        assert link is not None
        sock: Any = getattr(link.stream, "socket", None)
        peers.append(sock.getpeername()[:2])
        await answer_and_wait_bye(agent)

    with trio.fail_after(15):
        async with rig(handler) as r:
            async with trio.open_nursery() as nursery:
                for _ in range(5):
                    nursery.start_soon(call_and_hang_up, r.peer, r.uri())
            await r.drained()
            assert len(r.sessions) == 5 and len(r.ended) == 5
            assert len(set(peers)) == 5  # five server-side sockets
            assert r.server.outbound is not None
            assert r.server.outbound.statistics().delivered == 5


async def test_srf_app_over_outbound_connections() -> None:
    events: list[str] = []

    async def handler(agent: DrachtioAgent) -> None:
        srf = Srf()

        @srf.invite  # type: ignore[untyped-decorator]
        async def on_invite(req: Any, res: Any) -> None:
            async with srf.create_uas(req, res, local_sdp=SDP) as dialog:
                events.append("dialog")
                await dialog.wait_ended()  # the block is left when the caller hangs up
            assert dialog.termination is not None
            events.append(dialog.termination.value)
            agent.end_session()

        await srf.serve(agent)

    with trio.fail_after(10):
        async with rig(handler) as r:
            for _ in range(2):
                await call_and_hang_up(r.peer, r.uri())
            await r.drained()
            assert events == ["dialog", "remote_hangup"] * 2
            assert len(r.ended) == 2


async def test_unreachable_app_gets_480() -> None:
    dead = OutboundTarget("127.0.0.1", pick_free_port())
    with trio.fail_after(10):
        async with rig(answer_and_wait_bye, handlers={"*": dead}) as r:
            handle = await r.peer.request(invite(r.uri()))
            assert (await handle.final()).status == 480
            await r.drained()
            assert r.sessions == []
            assert r.server.outbound is not None
            assert r.server.outbound.statistics().rejected == 1


async def test_wrong_secret_gets_480_and_no_session() -> None:
    with trio.fail_after(10):
        async with rig(answer_and_wait_bye, secret="wrong") as r:
            handle = await r.peer.request(invite(r.uri()))
            assert (await handle.final()).status == 480
            await r.drained()
            assert r.sessions == []


async def test_app_that_never_authenticates_gets_480() -> None:
    async def silent(stream: trio.SocketStream) -> None:
        await trio.sleep_forever()

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(trio.serve_tcp, silent, 0)
            port = listeners[0].socket.getsockname()[1]
            handlers = {"invite": OutboundTarget("127.0.0.1", port)}
            async with rig(answer_and_wait_bye, handlers=handlers, auth_timeout=0.3) as r:
                handle = await r.peer.request(invite(r.uri()))
                assert (await handle.final()).status == 480
                await r.drained()
            nursery.cancel_scope.cancel()


async def test_caller_cancel_reaches_the_outbound_app() -> None:
    async def handler(agent: DrachtioAgent) -> None:
        inv = await next_request(agent.incoming)
        await agent.respond(inv.server_txn, inv.request.make_response(180))
        cancelled = await next_of(agent.incoming, RequestCancelled)
        assert cancelled.server_txn == inv.server_txn
        agent.end_session()

    with trio.fail_after(10):
        async with rig(handler) as r:
            handle = await r.peer.request(invite(r.uri()))
            async for response in handle:
                if response.status == 180:
                    handle.cancel()
                if response.status >= 200:
                    assert response.status == 487
                    break
            await r.drained()
            assert len(r.ended) == 1


async def test_app_disconnect_mid_call_tears_the_call_down() -> None:
    async def handler(agent: DrachtioAgent) -> None:
        inv = await next_request(agent.incoming)
        await agent.respond(inv.server_txn, inv.request.make_response(200, body=SDP.encode()))
        await next_of(agent.incoming, AckReceived)
        agent.end_session()  # mid-call: the server must hang up for us

    with trio.fail_after(10):
        async with rig(handler) as r:
            handle = await r.peer.request(invite(r.uri()))
            final = await handle.final()
            key = r.peer.dialog_id_for(final, uac=True)
            assert key is not None
            await r.peer.ack(key)
            bye = await next_request(r.peer.incoming)
            assert bye.request.method == "BYE"
            assert "drachtio application disconnected" in (bye.request.get("Reason") or "")
            await r.peer.respond(bye.server_txn, bye.request.make_response(200))
            await r.drained()


async def test_rule_rejects_routes_by_tag_and_falls_back_to_inbound() -> None:
    def rule(request: Request) -> OutboundTarget | TagTarget | int | None:
        user = request.uri.split("@")[0].removeprefix("sip:")
        decisions: dict[str, OutboundTarget | TagTarget | int | None] = {
            "busy": 486,
            "tagged": TagTarget("conf"),
        }
        return decisions.get(user)  # "inbound": no decision, the inbound path

    async def inbound_app(agent: DrachtioAgent, seen: list[str]) -> None:
        while True:
            inv = await next_request(agent.incoming)
            seen.append(inv.request.uri.split("@")[0])
            await agent.respond(inv.server_txn, inv.request.make_response(603))

    with trio.fail_after(10):
        async with rig(answer_and_wait_bye, handlers={}, rule=rule) as r:
            port = r.server.admin_address
            assert port is not None
            seen_tagged: list[str] = []
            seen_plain: list[str] = []
            async with (
                open_drachtio("127.0.0.1", port[1], SECRET, tags=("conf",)) as tagged,
                open_drachtio("127.0.0.1", port[1], SECRET) as plain,
                trio.open_nursery() as nursery,
            ):
                nursery.start_soon(inbound_app, tagged, seen_tagged)
                nursery.start_soon(inbound_app, plain, seen_plain)
                busy = await r.peer.request(invite(r.uri("busy")))
                assert (await busy.final()).status == 486
                for _ in range(2):
                    h = await r.peer.request(invite(r.uri("tagged")))
                    assert (await h.final()).status == 603
                statuses = []
                for _ in range(2):
                    h = await r.peer.request(invite(r.uri("inbound")))
                    statuses.append((await h.final()).status)
                assert statuses == [603, 603]
                assert seen_tagged.count("sip:tagged") == 2
                assert "sip:tagged" not in seen_plain
                assert len(seen_plain) + len(seen_tagged) == 4  # round-robin for the fallback
                nursery.cancel_scope.cancel()
            assert r.server.outbound is not None
            st = r.server.outbound.statistics()
            assert (st.by_tag, st.rejected, st.delivered) == (2, 1, 0)
            assert r.sessions == []


async def test_rule_failure_gets_500_and_unknown_tag_480() -> None:
    def rule(request: Request) -> TagTarget:
        if "boom" in request.uri:
            raise RuntimeError("routing service down")
        return TagTarget("nobody")

    with trio.fail_after(10):
        async with rig(answer_and_wait_bye, handlers={}, rule=rule) as r:
            h = await r.peer.request(invite(r.uri("boom")))
            assert (await h.final()).status == 500
            h = await r.peer.request(invite(r.uri("x")))
            assert (await h.final()).status == 480


def test_parse_outbound_specs() -> None:
    cfg = parse_outbound(["invite,options=127.0.0.1:4000", "*=tls://[::1]:4001"])
    assert cfg.handlers == {
        "invite": OutboundTarget("127.0.0.1", 4000),
        "options": OutboundTarget("127.0.0.1", 4000),
        "*": OutboundTarget("::1", 4001, tls=True),
    }
    assert cfg.static_target("INVITE") == OutboundTarget("127.0.0.1", 4000)
    assert cfg.static_target("MESSAGE") == OutboundTarget("::1", 4001, tls=True)
    assert parse_target("tcp://10.0.0.1:5000/") == OutboundTarget("10.0.0.1", 5000)
    assert parse_target("10.0.0.1:5000;transport=tls") == OutboundTarget("10.0.0.1", 5000, True)
    assert str(OutboundTarget("::1", 4001, tls=True)) == "tls://[::1]:4001"
    for bad in ["invite", "invite=host", "invite=http://h:1", "=h:1", "in vite=h:1", "x=h:0"]:
        with pytest.raises(ValueError):
            parse_outbound([bad])
    with pytest.raises(ValueError, match="twice"):
        parse_outbound(["invite=h:1", "INVITE=h:2"])


def test_cli_rejects_a_bad_outbound_spec(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--secret", "s", "--admin", "127.0.0.1:0", "--outbound", "invite"])
    assert "--outbound" in str(exc.value)


async def test_untrusted_app_certificate_gets_480() -> None:
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    trustme.CA().issue_cert("127.0.0.1").configure_cert(server_ctx)
    strict = ssl.create_default_context()  # does not trust that CA
    with trio.fail_after(10):
        async with rig(answer_and_wait_bye, tls=(server_ctx, strict)) as r:
            handle = await r.peer.request(invite(r.uri()))
            assert (await handle.final()).status == 480
            await r.drained()
            assert r.sessions == []


async def test_cancel_while_the_app_is_being_chosen_aborts_the_attempt() -> None:
    deciding = trio.Event()

    async def slow_rule(request: Request) -> OutboundTarget:
        deciding.set()
        await trio.sleep_forever()  # e.g. a routing service that hangs
        raise AssertionError("unreachable")  # pragma: no cover

    with trio.fail_after(10):
        async with rig(answer_and_wait_bye, handlers={}, rule=slow_rule) as r:
            handle = await r.peer.request(invite(r.uri()))
            await deciding.wait()
            handle.cancel()
            assert (await handle.final()).status == 487
            await r.drained()
            assert r.server.outbound is not None
            st = r.server.outbound.statistics()
            assert (st.cancelled, st.delivered, st.rejected) == (1, 0, 0)
            assert r.sessions == []
