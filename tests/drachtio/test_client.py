"""The drachtio client against our real drachtio server, over 127.0.0.1.

Every test runs three real things in one Trio run: an embedded engine ``S``
served to drachtio apps by ``serve_drachtio_apps`` (the ``trio-srf-server``
API), a :class:`DrachtioAgent` app connected to its admin port, and an
embedded engine ``P`` as the SIP peer the calls go to or come from. Timers
are shortened so transaction tables drain quickly; every test runs under
``trio.fail_after``.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
import trio
import trustme

from trio_srf.agent import AckReceived, DialogEnded, IncomingRequest, Notice, RequestCancelled
from trio_srf.core import TimerConfig
from trio_srf.drachtio import CdrAttempt, CdrStart, CdrStop
from trio_srf.drachtio._client import (
    CDR_VERBS,
    DrachtioAgent,
    DrachtioConfig,
    ReconnectPolicy,
    open_drachtio,
)
from trio_srf.drachtio._server import DrachtioServer, serve_drachtio_apps
from trio_srf.engine import Engine, EngineConfig, open_engine
from trio_srf.errors import AgentLost, AuthenticationFailed, LocalProtocolError
from trio_srf.sip import Request, new_call_id, new_tag

FAST = TimerConfig(t1=0.02, t2=0.08, t4=0.05, timer_d=0.1, trying_delay=0.0)
SECRET = "cymru"
QUICK = ReconnectPolicy(initial=0.05, factor=1.7, max_delay=0.2)


def invite(uri: str, method: str = "INVITE") -> Request:
    return Request(
        method,
        uri,
        [
            ("From", f"<sip:alice@127.0.0.1>;tag={new_tag()}"),
            ("To", f"<{uri}>"),
            ("Call-ID", new_call_id()),
            ("CSeq", f"1 {method}"),
        ],
    )


class SipServer:
    """Engine ``S`` plus a (re)startable drachtio server for it."""

    def __init__(self, engine: Engine, nursery: trio.Nursery, tls: ssl.SSLContext | None) -> None:
        self.engine = engine
        self.nursery = nursery
        self.tls = tls
        self.port = 0
        self.scope = trio.CancelScope()
        self.server: DrachtioServer | None = None

    async def start(self) -> DrachtioServer:
        scope = self.scope = trio.CancelScope()

        async def run(task_status: trio.TaskStatus[DrachtioServer]) -> None:
            with scope:
                await serve_drachtio_apps(
                    self.engine,
                    "127.0.0.1",
                    self.port,
                    SECRET,
                    tls=self.tls,
                    task_status=task_status,
                )

        server: DrachtioServer = await self.nursery.start(run)
        assert server.admin_address is not None
        self.port = server.admin_address[1]
        self.server = server
        return server

    def stop(self) -> None:
        self.scope.cancel()

    def uri(self, user: str = "bob") -> str:
        return self.engine.contact_uri("udp").replace("sip:", f"sip:{user}@", 1)


@asynccontextmanager
async def sip_server(tls: ssl.SSLContext | None = None) -> AsyncIterator[SipServer]:
    async with (
        open_engine(["sip:127.0.0.1:0;transport=udp"], config=EngineConfig(timers=FAST)) as eng,
        trio.open_nursery() as nursery,
    ):
        running = SipServer(eng, nursery, tls)
        await running.start()
        try:
            yield running
        finally:
            nursery.cancel_scope.cancel()


@asynccontextmanager
async def peer_engine() -> AsyncIterator[Engine]:
    async with open_engine(
        ["sip:127.0.0.1:0;transport=udp"], config=EngineConfig(timers=FAST)
    ) as p:
        yield p


def peer_uri(peer: Engine, user: str = "carol") -> str:
    return peer.contact_uri("udp").replace("sip:", f"sip:{user}@", 1)


async def next_request(channel: trio.abc.ReceiveChannel[Notice]) -> IncomingRequest:
    """The next IncomingRequest, skipping other notices."""
    while True:
        notice = await channel.receive()
        if isinstance(notice, IncomingRequest):
            return notice


async def wait_until(predicate: Callable[[], bool], within: float = 3.0) -> None:
    with trio.fail_after(within):
        while True:
            if predicate():
                return
            await trio.sleep(0.01)


async def drained(srv: SipServer, *agents: DrachtioAgent, within: float = 3.0) -> None:
    with trio.fail_after(within):
        while True:
            assert srv.server is not None
            st = srv.server.statistics()
            ok = not (st.pending_requests or st.dialogs or st.client_requests)
            for agent in agents:
                a = agent.statistics()
                ok = ok and not (a.client_transactions or a.server_transactions or a.dialogs)
            if ok:
                return
            await trio.sleep(0.02)


async def test_handshake_routes_and_pings() -> None:
    with trio.fail_after(10):
        async with sip_server() as srv:
            config = DrachtioConfig(ping_interval=0.05)
            async with open_drachtio(
                "127.0.0.1", srv.port, SECRET, methods=("INVITE", "options"), config=config
            ) as agent:
                assert agent.connected
                assert agent.routes == ("invite", "options")
                assert srv.server is not None
                assert srv.server.statistics().routes == {"invite": 1, "options": 1}
                assert agent.server_version is not None
                assert agent.server_version.startswith("v")
                udp = srv.engine.listening[0]
                assert [(p.transport, p.host, p.port) for p in agent.listening] == [
                    ("udp", udp.host, udp.port)
                ]
                assert agent.contact_uri("udp") == f"sip:{udp.host}:{udp.port}"
                await agent.route("options", "info")  # only info is new
                assert srv.server.statistics().routes == {"invite": 1, "options": 1, "info": 1}
                await trio.sleep(0.3)
                stats = agent.statistics()
                assert stats.pings >= 3
                assert stats.connected and stats.lost == 0 and stats.failures == 0


async def test_wrong_secret_raises_authentication_failed() -> None:
    with trio.fail_after(10):
        async with sip_server() as srv:
            with pytest.raises(AuthenticationFailed):
                async with open_drachtio("127.0.0.1", srv.port, "not-the-secret"):
                    pytest.fail("must not get here")  # pragma: no cover


async def test_unreachable_server_raises_agent_lost() -> None:
    with trio.fail_after(10):
        probe = trio.socket.socket()
        await probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
        probe.close()
        with pytest.raises(AgentLost):
            async with open_drachtio("127.0.0.1", dead, SECRET):
                pytest.fail("must not get here")  # pragma: no cover


async def test_engine_caller_drachtio_callee_info_and_bye_from_callee() -> None:
    with trio.fail_after(10):
        async with sip_server() as srv, peer_engine() as peer:
            async with open_drachtio("127.0.0.1", srv.port, SECRET, methods=["invite"]) as agent:
                handle = await peer.request(invite(srv.uri()))
                notice = await agent.incoming.receive()
                assert isinstance(notice, IncomingRequest)
                assert notice.dialog_id is None
                assert notice.request.method == "INVITE"
                assert notice.flow.remote == ("127.0.0.1", peer.listening[0].port)
                assert notice.flow.local == ("127.0.0.1", srv.engine.listening[0].port)
                ringing = await agent.respond(notice.server_txn, notice.request.make_response(180))
                assert ringing.status == 180
                sent = await agent.respond(notice.server_txn, notice.request.make_response(200))
                assert sent.status == 200 and sent.to.tag is not None
                assert sent.contact, "the server adds a Contact to a 2xx to INVITE"
                did = agent.dialog_id_for(sent, uac=False)
                assert did == f"{sent.call_id};from-tag={sent.from_.tag}"
                channel = agent.attach_dialog(did)
                statuses = [r.status async for r in handle]
                assert statuses[-2:] == [180, 200]
                assert handle.dialog_id is not None
                await peer.ack(handle.dialog_id)
                ack = await channel.receive()
                assert isinstance(ack, AckReceived) and ack.dialog_id == did
                info = await peer.request_in_dialog(
                    handle.dialog_id, "INFO", headers=[("Content-Type", "text/plain")], body=b"hi"
                )
                got = await channel.receive()
                assert isinstance(got, IncomingRequest) and got.request.method == "INFO"
                assert got.request.body == b"hi" and got.dialog_id == did
                await agent.respond(got.server_txn, got.request.make_response(200))
                assert (await info.final()).status == 200
                # The drachtio app hangs up.
                bye = await agent.request_in_dialog(did, "BYE")
                assert bye.request.method == "BYE" and bye.id
                got_bye = await next_request(peer.incoming)
                assert got_bye.request.method == "BYE"
                await peer.respond(got_bye.server_txn, got_bye.request.make_response(200))
                assert (await bye.final()).status == 200
                ended = await channel.receive()
                assert ended == DialogEnded(did, "bye")
                assert agent.dialog_id_for(sent, uac=False) is None
                await drained(srv, agent)


async def test_drachtio_caller_engine_callee_info_and_bye_from_callee() -> None:
    with trio.fail_after(10):
        async with sip_server() as srv, peer_engine() as peer:
            async with open_drachtio("127.0.0.1", srv.port, SECRET, methods=()) as agent:
                handle = await agent.request(invite(peer_uri(peer)))
                assert handle.id and handle.request.headers.has("via")
                notice = await next_request(peer.incoming)
                assert notice.request.method == "INVITE"
                await peer.respond(notice.server_txn, notice.request.make_response(180))
                await peer.respond(notice.server_txn, notice.request.make_response(200))
                statuses = [r.status async for r in handle]
                assert statuses[-2:] == [180, 200]
                did = handle.dialog_id
                assert did is not None
                assert did.endswith(f";from-tag={handle.request.from_.tag}")
                ack = await agent.ack(did)
                assert ack.method == "ACK"
                channel = agent.attach_dialog(did)
                info = await agent.request_in_dialog(
                    did, "INFO", headers=[("Content-Type", "application/dtmf-relay")], body=b"5"
                )
                got = await next_request(peer.incoming)
                assert got.request.method == "INFO" and got.request.body == b"5"
                await peer.respond(got.server_txn, got.request.make_response(200))
                assert [r.status async for r in info] == [200]
                # The engine app hangs up.
                assert got.dialog_id is not None
                bye = await peer.request_in_dialog(got.dialog_id, "BYE")
                got_bye = await channel.receive()
                assert isinstance(got_bye, IncomingRequest) and got_bye.request.method == "BYE"
                await agent.respond(got_bye.server_txn, got_bye.request.make_response(200))
                assert (await bye.final()).status == 200
                assert await channel.receive() == DialogEnded(did, "bye")
                await drained(srv, agent)


async def test_caller_cancel_reaches_the_drachtio_app() -> None:
    with trio.fail_after(10):
        async with sip_server() as srv, peer_engine() as peer:
            async with open_drachtio("127.0.0.1", srv.port, SECRET) as agent:
                handle = await peer.request(invite(srv.uri()))
                notice = await agent.incoming.receive()
                assert isinstance(notice, IncomingRequest)
                await agent.respond(notice.server_txn, notice.request.make_response(180))
                seen = []
                async for response in handle:
                    seen.append(response.status)
                    if response.status == 180:
                        handle.cancel()
                assert seen[-1] == 487 and 180 in seen
                cancelled = await agent.incoming.receive()
                assert isinstance(cancelled, RequestCancelled)
                assert cancelled.server_txn == notice.server_txn
                assert cancelled.request.method == "CANCEL"
                with pytest.raises(LocalProtocolError):
                    await agent.respond(notice.server_txn, notice.request.make_response(200))
                await drained(srv, agent)


async def test_drachtio_app_cancels_its_invite() -> None:
    with trio.fail_after(10):
        async with sip_server() as srv, peer_engine() as peer:
            async with open_drachtio("127.0.0.1", srv.port, SECRET, methods=()) as agent:
                handle = await agent.request(invite(peer_uri(peer)))
                notice = await next_request(peer.incoming)
                await peer.respond(notice.server_txn, notice.request.make_response(180))
                seen = []
                async for response in handle:
                    seen.append(response.status)
                    if response.status == 180:
                        handle.cancel()
                assert seen[-1] == 487 and 180 in seen
                cancelled = await peer.incoming.receive()
                assert isinstance(cancelled, RequestCancelled)
                assert cancelled.server_txn == notice.server_txn
                await drained(srv, agent)


async def test_full_incoming_channel_answers_503() -> None:
    with trio.fail_after(10):
        async with sip_server() as srv, peer_engine() as peer:
            config = DrachtioConfig(incoming_size=1, retry_after=7)
            async with open_drachtio("127.0.0.1", srv.port, SECRET, config=config) as agent:
                first = await peer.request(invite(srv.uri(), "OPTIONS"))
                await trio.sleep(0.2)  # the first fills incoming; nobody reads it
                second = await peer.request(invite(srv.uri(), "OPTIONS"))
                response = await second.final()
                assert response.status == 503
                assert response.get("Retry-After") == "7"
                assert agent.statistics().overload_503 == 1
                notice = await agent.incoming.receive()
                assert isinstance(notice, IncomingRequest)
                await agent.respond(notice.server_txn, notice.request.make_response(200))
                assert (await first.final()).status == 200


def tls_contexts() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    return server_ctx, client_ctx


@pytest.mark.parametrize("use_tls", [False, True], ids=["tcp", "tls"])
async def test_reconnect_after_server_restart_resends_routes(use_tls: bool) -> None:
    server_ctx, client_ctx = tls_contexts() if use_tls else (None, None)
    with trio.fail_after(15):
        async with sip_server(tls=server_ctx) as srv, peer_engine() as peer:
            async with open_drachtio(
                "127.0.0.1",
                srv.port,
                SECRET,
                tls=client_ctx,
                methods=("options",),
                reconnect=QUICK,
            ) as agent:
                srv.stop()
                await wait_until(lambda: not agent.connected)
                with pytest.raises(AgentLost):
                    await agent.request(invite(peer_uri(peer), "OPTIONS"))
                await trio.sleep(0.3)  # a few failed attempts while the server is down
                server = await srv.start()
                await agent.wait_connected()
                stats = agent.statistics()
                assert stats.connects == 2 and stats.lost == 1
                assert stats.reconnect_attempts >= 1
                await wait_until(lambda: server.statistics().routes == {"options": 1})
                # The re-sent route works: a request reaches the app again.
                handle = await peer.request(invite(srv.uri(), "OPTIONS"))
                notice = await agent.incoming.receive()
                assert isinstance(notice, IncomingRequest)
                await agent.respond(notice.server_txn, notice.request.make_response(200))
                assert (await handle.final()).status == 200


async def test_connection_loss_ends_dialogs_and_fails_pending_calls() -> None:
    with trio.fail_after(10):
        async with sip_server() as srv, peer_engine() as peer:
            async with open_drachtio(
                "127.0.0.1", srv.port, SECRET, methods=["invite"], reconnect=False
            ) as agent:
                # A confirmed UAS dialog, attached.
                caller = await peer.request(invite(srv.uri()))
                notice = await agent.incoming.receive()
                assert isinstance(notice, IncomingRequest)
                sent = await agent.respond(notice.server_txn, notice.request.make_response(200))
                uas_did = agent.dialog_id_for(sent, uac=False)
                assert uas_did is not None
                channel = agent.attach_dialog(uas_did)
                assert (await caller.final()).status == 200
                # A confirmed UAC dialog, not attached (its end goes to incoming).
                uac = await agent.request(invite(peer_uri(peer)))
                inc = await next_request(peer.incoming)
                await peer.respond(inc.server_txn, inc.request.make_response(200))
                assert (await uac.final()).status == 200
                uac_did = uac.dialog_id
                assert uac_did is not None
                await agent.ack(uac_did)
                # A pending UAC INVITE that nobody answers.
                pending = await agent.request(invite(peer_uri(peer, "dave")))
                await next_request(peer.incoming)
                assert agent.statistics().dialogs == 2

                srv.stop()
                assert await channel.receive() == DialogEnded(uas_did, "agent_lost")
                with pytest.raises(AgentLost):
                    async for _ in pending:
                        pass
                rest = [n async for n in agent.incoming]  # closes: no reconnection
                assert DialogEnded(uac_did, "agent_lost") in rest
                assert not agent.connected
                with pytest.raises(AgentLost):
                    await agent.respond(notice.server_txn, notice.request.make_response(200))
                with pytest.raises(AgentLost):
                    await agent.request_in_dialog(uac_did, "BYE")
                assert agent.statistics().lost == 1


async def test_cdrs_are_iterated() -> None:
    with trio.fail_after(10):
        async with sip_server() as srv, peer_engine() as peer:
            async with open_drachtio(
                "127.0.0.1", srv.port, SECRET, methods=["invite"], cdrs=True
            ) as agent:
                assert agent.routes == ("invite", *CDR_VERBS)
                handle = await peer.request(invite(srv.uri()))
                notice = await agent.incoming.receive()
                assert isinstance(notice, IncomingRequest)
                sent = await agent.respond(notice.server_txn, notice.request.make_response(200))
                assert (await handle.final()).status == 200
                assert handle.dialog_id is not None
                await peer.ack(handle.dialog_id)
                bye = await peer.request_in_dialog(handle.dialog_id, "BYE")
                got = await next_request(agent.incoming)
                await agent.respond(got.server_txn, got.request.make_response(200))
                assert (await bye.final()).status == 200
                records = []
                async for cdr in agent.cdrs():
                    records.append(cdr)
                    if isinstance(cdr, CdrStop):
                        break
                kinds = [type(c) for c in records]
                assert kinds == [CdrAttempt, CdrStart, CdrStop]
                assert all(c.message.call_id == sent.call_id for c in records)
                assert records[0].source == "network"
                assert agent.statistics().cdrs == 3


async def test_cdrs_iteration_routes_lazily() -> None:
    with trio.fail_after(10):
        async with sip_server() as srv:
            async with open_drachtio("127.0.0.1", srv.port, SECRET, methods=()) as agent:
                stream = agent.cdrs()
                with trio.move_on_after(0.2):
                    await stream.__anext__()  # routes, then waits for a CDR
                assert agent.routes == CDR_VERBS
                assert srv.server is not None
                assert srv.server.statistics().routes == dict.fromkeys(CDR_VERBS, 1)


def test_backoff_is_srfs_but_capped() -> None:
    delays = ReconnectPolicy(max_delay=1.0).delays()
    assert delays[:5] == pytest.approx([0.15, 0.255, 0.4335, 0.73695, 1.0])
    assert delays[5:] == [1.0] * 5


def test_hostports_and_versions() -> None:
    from trio_srf.drachtio._client_txn import parse_hostports, version_at_least

    assert parse_hostports(["tcp/203.0.113.5:5060", "udp/[::1]:5080", "junk", "tls/h:x"]) == [
        ("tcp", "203.0.113.5", 5060),
        ("udp", "::1", 5080),
    ]
    assert version_at_least("v0.9.10-1-g9c2dd4cb6a", (0, 8, 2))
    assert not version_at_least("v0.8.1", (0, 8, 2))
    assert not version_at_least("unknown", (0, 8, 2))
