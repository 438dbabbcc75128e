"""trio-srf-server with our own sans-IO codec as the app, where a Node app cannot reach.

Real drachtio-srf apps are in tests/interop/test_node_drachtio.py. Here the app side is a
``DrachtioConnection(Role.APP)`` over a TCP stream (or raw bytes for malformed input) and the
SIP peer is a second engine, so the exact frames (§6.5-§6.9, §13) can be asserted: handshake
replies, ``NO`` then close for broken frames while other apps keep being served, ``NOK``
reasons, the ids and meta of delivered requests, echoes, CDRs, round-robin and 503.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio

from trio_srf.core import TimerConfig
from trio_srf.drachtio import (
    AppSip,
    Authenticate,
    AuthOk,
    CdrAttempt,
    CdrStart,
    CdrStop,
    ConnectionClosed,
    DrachtioConnection,
    Failure,
    Message,
    Ok,
    Ping,
    Pong,
    RemoveRoute,
    Role,
    Route,
    ServerSip,
    SipSent,
    encode_frame,
)
from trio_srf.drachtio._server import DrachtioServer, serve_drachtio_apps
from trio_srf.drachtio._server_sip import (
    SkeletonError,
    build_new_request,
    build_response,
    parse_timeout,
)
from trio_srf.engine import Engine, EngineConfig, open_engine
from trio_srf.sip import Request, Response, new_call_id, new_tag

SECRET = "cymru"
#: Streams the apps of a test opened; :func:`served` closes them.
OPEN: list[trio.SocketStream] = []
FAST = TimerConfig(t1=0.02, t2=0.08, t4=0.05, timer_d=0.1)


class App:
    """A drachtio app made of our codec over one TCP connection."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.conn = DrachtioConnection(Role.APP)
        OPEN.append(stream)

    async def send(self, msg: Message) -> None:
        await self.stream.send_all(self.conn.send(msg))

    async def recv(self, within: float = 5) -> Message | ConnectionClosed:
        with trio.fail_after(within):
            while (event := self.conn.next_event()) is None:
                self.conn.receive_data(await self.stream.receive_some(65536))
        return event

    async def call(self, msg: Message) -> Message | ConnectionClosed:
        await self.send(msg)
        return await self.recv()


@asynccontextmanager
async def served() -> AsyncIterator[tuple[DrachtioServer, Engine, Engine]]:
    """The server (engine on UDP) plus a second engine to act as the SIP peer."""
    config = EngineConfig(timers=FAST)
    async with (
        open_engine(["sip:127.0.0.1:0;transport=udp"], config=config) as engine,
        open_engine(["sip:127.0.0.1:0;transport=udp"], config=config) as peer,
        trio.open_nursery() as nursery,
    ):
        server: DrachtioServer = await nursery.start(
            serve_drachtio_apps, engine, "127.0.0.1", 0, SECRET
        )
        try:
            yield server, engine, peer
        finally:
            for stream in OPEN:
                await trio.aclose_forcefully(stream)
            OPEN.clear()
            nursery.cancel_scope.cancel()


async def connect(server: DrachtioServer, *verbs: str, tags: tuple[str, ...] = ()) -> App:
    assert server.admin_address is not None
    app = App(await trio.open_tcp_stream(*server.admin_address))
    reply = await app.call(Authenticate(secret=SECRET, tags=tags))
    assert isinstance(reply, AuthOk)
    for verb in verbs:
        assert isinstance(await app.call(Route(verb=verb)), Ok)
    return app


def sip_port(engine: Engine) -> int:
    return engine.listening[0].port


def invite(port: int, method: str = "INVITE", body: bytes = b"") -> Request:
    headers = [
        ("From", f"<sip:alice@127.0.0.1>;tag={new_tag()}"),
        ("To", f"<sip:bob@127.0.0.1:{port}>"),
        ("Call-ID", new_call_id()),
        ("CSeq", f"1 {method}"),
    ]
    if body:
        headers.append(("Content-Type", "application/sdp"))
    return Request(method, f"sip:bob@127.0.0.1:{port}", headers, body)


SDP = (
    b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
    b"t=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
)


# -- handshake and commands -------------------------------------------------------------


async def test_handshake_route_ping_remove_route() -> None:
    async with served() as (server, engine, _peer):
        assert server.admin_address is not None
        app = App(await trio.open_tcp_stream(*server.admin_address))
        reply = await app.call(Authenticate(secret=SECRET, tags=("a", "b")))
        assert isinstance(reply, AuthOk)
        port = sip_port(engine)
        assert reply.hostports == (f"udp/127.0.0.1:{port}",)
        assert reply.local_hostports == reply.hostports
        assert reply.version.startswith("v0.9.10")
        assert isinstance(await app.call(Route(verb="invite")), Ok)
        assert isinstance(await app.call(Route(verb="invite")), Ok)  # duplicates tolerated
        assert server.statistics().routes == {"invite": 1}
        assert isinstance(await app.call(Ping()), Pong)
        assert isinstance(await app.call(RemoveRoute(verb="invite")), Ok)
        assert server.statistics().routes == {}


async def test_wrong_secret_gets_no_then_close() -> None:
    async with served() as (server, _engine, _peer):
        assert server.admin_address is not None
        app = App(await trio.open_tcp_stream(*server.admin_address))
        reply = await app.call(Authenticate(secret="wrong"))
        assert isinstance(reply, Failure)
        assert (reply.status, reply.reason) == ("NO", "incorrect secret")
        with trio.fail_after(5):
            assert await app.stream.receive_some(100) == b""


async def raw_exchange(server: DrachtioServer, data: bytes) -> bytes:
    """Send raw bytes on a fresh connection; return everything received until close."""
    assert server.admin_address is not None
    stream = await trio.open_tcp_stream(*server.admin_address)
    OPEN.append(stream)
    await stream.send_all(data)
    out = b""
    with trio.fail_after(5):
        while chunk := await stream.receive_some(65536):
            out += chunk
    return out


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        # bad length prefix: closed without a reply (§13)
        (b"12x#abcdefghijkl", b""),
        (b"123456#", b""),
        # a command before authenticate: closed, nothing processed
        (encode_frame(b"id1|route|invite"), b"|response|id1|NO|Invalid message format"),
        # unknown message type after a good authenticate
        (
            encode_frame(b"a1|authenticate|cymru|") + encode_frame(b"id2|bogus|x"),
            b"|response|id2|NO|Unknown message type",
        ),
        # a response without a transaction id: NO, then close (§6.6)
        (
            encode_frame(b"a1|authenticate|cymru|")
            + encode_frame(b"id3|sip||\r\nSIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"),
            b"|response|id3|NO|transaction id missing",
        ),
    ],
)
async def test_broken_app_is_closed_and_others_keep_being_served(
    data: bytes, expected: bytes
) -> None:
    async with served() as (server, _engine, _peer):
        good = await connect(server, "invite")
        received = await raw_exchange(server, data)
        if expected:
            assert expected in received
        else:
            assert received == b""
        assert isinstance(await good.call(Ping()), Pong)
        with trio.fail_after(5):
            while server.statistics().apps != 1:
                await trio.sleep(0.01)
        assert server.statistics().apps_dropped == 1


async def test_nok_reasons_for_unknown_ids() -> None:
    async with served() as (server, _engine, _peer):
        app = await connect(server, "invite")
        cases = [
            (
                AppSip(transaction_id="nope", sip="SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"),
                "Response not sent due to unknown transaction",
            ),
            (
                AppSip(dialog_id="x;from-tag=y", sip="BYE sip:placeholder SIP/2.0\r\n\r\n"),
                "Server error: unable to find dialog for dialog id provided",
            ),
            (
                AppSip(transaction_id="t9", sip="CANCEL sip:a@b SIP/2.0\r\n\r\n"),
                "unable to cancel unknown transaction id: t9",
            ),
            (AppSip(sip="INVITE nonsense SIP/2.0\r\n\r\n"), "invalid request-uri: nonsense"),
            (
                AppSip(sip="MESSAGE sip:a@127.0.0.1 SIP/2.0\r\nContent-Length: 2\r\n\r\nhi"),
                "missing content-type",
            ),
        ]
        for msg, reason in cases:
            reply = await app.call(msg)
            assert isinstance(reply, Failure), reply
            assert (reply.status, reply.reason) == ("NOK", reason)


# -- calls ------------------------------------------------------------------------------


async def test_no_route_is_503_and_round_robin_between_apps() -> None:
    async with served() as (server, engine, peer):
        port = sip_port(engine)
        handle = await peer.request(invite(port, "OPTIONS"))
        assert (await handle.final()).status == 503
        apps = [await connect(server, "options"), await connect(server, "options")]
        seen = []
        for _ in range(4):
            handle = await peer.request(invite(port, "OPTIONS"))
            async with trio.open_nursery() as nursery:
                result: list[Response] = []

                async def final(h=handle, out=result) -> None:
                    out.append(await h.final())

                nursery.start_soon(final)
                with trio.move_on_after(0.3):
                    got = None
                    while got is None:
                        for i, app in enumerate(apps):
                            with trio.move_on_after(0.05):
                                event = await app.recv()
                                assert isinstance(event, ServerSip)
                                got = (i, app, event)
                                break
                assert got is not None
                i, app, event = got
                seen.append(i)
                reply = await app.call(
                    AppSip(
                        transaction_id=event.transaction_id,
                        sip="SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n",
                    )
                )
                assert isinstance(reply, SipSent) and reply.dialog_id == ""
        assert seen in ([0, 1, 0, 1], [1, 0, 1, 0])
        assert server.statistics().rejected_503 == 1


async def test_uas_call_frames_and_cdrs() -> None:
    async with served() as (server, engine, peer):
        port = sip_port(engine)
        app = await connect(server, "invite")
        cdr = await connect(server, "cdr:attempt", "cdr:start", "cdr:stop")
        request = invite(port, body=SDP)
        handle = await peer.request(request)
        new = await app.recv()
        assert isinstance(new, ServerSip)
        assert new.meta.source == "network"
        assert (new.meta.address, new.meta.port_number) == ("127.0.0.1", sip_port(peer))
        assert new.dialog_id == ""
        assert new.received_on == f"127.0.0.1:{port}"
        assert len(new.transaction_id) == 36
        sent_invite = new.message
        assert isinstance(sent_invite, Request) and sent_invite.call_id == request.call_id
        attempt = await cdr.recv()
        assert isinstance(attempt, CdrAttempt) and attempt.source == "network"
        # srf's 200 skeleton: no To tag, no Contact, no Content-Type (capture 02)
        skeleton = (
            f"SIP/2.0 200 OK\r\nCall-ID: {request.call_id}\r\ncseq: 1 INVITE\r\n"
            f"X-App: demo\r\nContent-Length: {len(SDP)}\r\n\r\n"
        ) + SDP.decode()
        echo = await app.call(AppSip(transaction_id=new.transaction_id, sip=skeleton))
        assert isinstance(echo, SipSent)
        did = f"{request.call_id};from-tag={request.from_.tag}"
        assert (echo.transaction_id, echo.dialog_id) == (new.transaction_id, did)
        ok = echo.message
        assert isinstance(ok, Response) and ok.status == 200
        assert ok.to.tag is not None
        assert ok.get("contact") == f"<sip:127.0.0.1:{port}>"
        assert ok.get("content-type") == "application/sdp"
        assert ok.get("x-app") == "demo"
        assert echo.meta.byte_count == len(echo.sip.encode())
        final = await handle.final()
        assert final.status == 200 and final.body == SDP
        start = await cdr.recv()
        assert isinstance(start, CdrStart) and start.role == "uas"
        assert handle.dialog_id is not None
        await peer.ack(handle.dialog_id)
        ack = await app.recv()
        assert isinstance(ack, ServerSip)
        assert (ack.transaction_id, ack.dialog_id) == (new.transaction_id, did)
        # the app hangs up (§9.6): placeholder URI, the server fills the dialog's fields
        bye_echo = await app.call(AppSip(dialog_id=did, sip="BYE sip:placeholder SIP/2.0\r\n\r\n"))
        assert isinstance(bye_echo, SipSent) and bye_echo.dialog_id is None
        bye = bye_echo.message
        assert isinstance(bye, Request) and bye.method == "BYE"
        assert bye.uri == f"sip:127.0.0.1:{sip_port(peer)}"
        incoming = await peer.incoming.receive()
        await peer.respond(incoming.server_txn, incoming.request.make_response(200))
        bye_ok = await app.recv()
        assert isinstance(bye_ok, ServerSip)
        assert (bye_ok.transaction_id, bye_ok.dialog_id) == (bye_echo.transaction_id, did)
        stop = await cdr.recv()
        assert isinstance(stop, CdrStop) and stop.reason == "normal-release"
        with trio.fail_after(5):
            while server.statistics().dialogs:
                await trio.sleep(0.01)


async def test_uac_request_placeholders_ack_nok_and_cancel() -> None:
    async with served() as (server, engine, peer):
        app = await connect(server)
        target = f"sip:bob@127.0.0.1:{sip_port(peer)}"
        skeleton = (
            f"INVITE {target} SIP/2.0\r\nfrom: sip:15551112222@localhost\r\n"
            f"contact: sip:15551112222@localhost\r\nContent-Length: {len(SDP)}\r\n\r\n"
        ) + SDP.decode()
        echo = await app.call(AppSip(sip=skeleton))
        assert isinstance(echo, SipSent) and echo.dialog_id is None
        sent = echo.message
        assert isinstance(sent, Request)
        port = sip_port(engine)
        assert (echo.meta.address, echo.meta.port_number) == ("127.0.0.1", port)
        assert sent.from_.uri is not None and str(sent.from_.uri).endswith(f"@127.0.0.1:{port}")
        assert sent.from_.tag is not None
        assert sent.get("contact") == f"<sip:15551112222@127.0.0.1:{port}>"
        assert sent.get("content-type") == "application/sdp"
        assert sent.get("to") == f"<{target}>"
        did = f"{sent.call_id};from-tag={sent.from_.tag}"
        incoming = await peer.incoming.receive()
        await peer.respond(incoming.server_txn, incoming.request.make_response(486))
        busy = await app.recv()
        assert isinstance(busy, ServerSip)
        assert (busy.transaction_id, busy.dialog_id) == (echo.transaction_id, did)
        assert isinstance(busy.message, Response) and busy.message.status == 486
        nok = await app.call(AppSip(dialog_id=did, sip=f"ACK {target} SIP/2.0\r\n\r\n"))
        assert isinstance(nok, Failure)
        assert nok.reason.startswith("Server error: ACK for non-success final response")
        # CANCEL of a ringing INVITE: echo, then the 487 under the INVITE's id
        echo2 = await app.call(AppSip(sip=f"INVITE {target} SIP/2.0\r\n\r\n"))
        assert isinstance(echo2, SipSent)
        incoming = await peer.incoming.receive()
        await peer.respond(incoming.server_txn, incoming.request.make_response(180))
        ringing = await app.recv()
        assert isinstance(ringing, ServerSip) and ringing.message.status == 180  # type: ignore[union-attr]
        cancel = await app.call(
            AppSip(transaction_id=echo2.transaction_id, sip=f"CANCEL {target} SIP/2.0\r\n\r\n")
        )
        assert isinstance(cancel, SipSent)
        assert isinstance(cancel.message, Request) and cancel.message.method == "CANCEL"
        assert cancel.transaction_id != echo2.transaction_id
        terminated = await app.recv()
        assert isinstance(terminated, ServerSip)
        assert terminated.transaction_id == echo2.transaction_id
        assert terminated.message.status == 487  # type: ignore[union-attr]


async def test_app_disconnect_ends_its_dialog_with_bye_and_unanswered_with_503() -> None:
    async with served() as (server, engine, peer):
        port = sip_port(engine)
        app = await connect(server, "invite")
        handle = await peer.request(invite(port, body=SDP))
        new = await app.recv()
        assert isinstance(new, ServerSip)
        await app.call(AppSip(transaction_id=new.transaction_id, sip="SIP/2.0 200 OK\r\n\r\n"))
        assert (await handle.final()).status == 200
        assert handle.dialog_id is not None
        await peer.ack(handle.dialog_id)
        pending = await peer.request(invite(port, body=SDP))
        assert isinstance(await app.recv(), ServerSip)  # the ACK
        assert isinstance(await app.recv(), ServerSip)  # the second INVITE, never answered
        await app.stream.aclose()
        bye = await peer.incoming.receive()
        assert bye.request.method == "BYE"  # type: ignore[union-attr]
        assert "disconnected" in (bye.request.get("reason") or "")  # type: ignore[union-attr]
        await peer.respond(bye.server_txn, bye.request.make_response(200))  # type: ignore[union-attr]
        assert (await pending.final()).status == 503
        with trio.fail_after(5):
            while server.statistics().apps or server.statistics().dialogs:
                await trio.sleep(0.01)


# -- the pure completion rules (§7) ----------------------------------------------------


def test_build_response_keeps_app_to_tag_and_adds_contact_only_to_2xx() -> None:
    request = invite(5060, body=SDP)
    skeleton = Response(180, "Ringing", [("to", "<sip:bob@x>;tag=mine")])
    ringing = build_response(request, skeleton, contact="sip:127.0.0.1:5090")
    assert ringing.to.tag == "mine"
    assert ringing.get("contact") is None
    ok = build_response(request, Response(200, "OK", [], SDP), contact="sip:127.0.0.1:5090")
    assert ok.get("contact") == "<sip:127.0.0.1:5090>"
    assert ok.get("content-type") == "application/sdp"
    assert ok.get("via") == request.get("via")
    with pytest.raises(SkeletonError, match="missing content-type"):
        build_response(request, Response(200, "OK", [], b"hello"))


def test_build_new_request_defaults() -> None:
    req = build_new_request(
        Request("OPTIONS", "sip:a@192.0.2.1", [("Via", "SIP/2.0/UDP evil"), ("X-A", "1")]),
        hostport="127.0.0.1:5090",
    )
    assert req.get("via") is None
    assert req.get("from", "").startswith("<sip:127.0.0.1:5090>;tag=")
    assert req.get("to") == "<sip:a@192.0.2.1>"
    assert req.cseq.method == "OPTIONS" and req.cseq.seq > 1_000_000
    assert req.get("x-a") == "1"
    kept = build_new_request(
        Request("INVITE", "sip:a@192.0.2.1", [("From", "<sip:x@h>;tag=t1"), ("CSeq", "7 INVITE")]),
        hostport="h:1",
    )
    assert (kept.from_.tag, kept.cseq.seq) == ("t1", 7)


@pytest.mark.parametrize(
    ("token", "seconds"), [("2s", 2.0), ("500ms", 0.5), ("3", 3.0), ("", None), ("x", None)]
)
def test_parse_timeout(token: str, seconds: float | None) -> None:
    assert parse_timeout(token) == seconds
