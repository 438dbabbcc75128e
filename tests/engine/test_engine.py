"""The embedded engine end to end: two engines over real loopback sockets.

Timers are shortened (T1 = 20 ms, T4 = 50 ms) so transaction tables drain
within a second after traffic, which each test checks. Every test runs under
``trio.fail_after``.
"""

from __future__ import annotations

import socket
import ssl
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio
import trustme

from trio_srf.agent import AckReceived, DialogEnded, IncomingRequest, RequestCancelled
from trio_srf.core import TimerConfig
from trio_srf.engine import Engine, EngineConfig, open_engine
from trio_srf.errors import TransportFailure
from trio_srf.sip import Request, new_call_id, new_tag
from trio_srf.transport import TransportConfig

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))
from engine_uas import run_uas

FAST = TimerConfig(t1=0.02, t2=0.08, t4=0.05, timer_d=0.1, trying_delay=0.0)


def fast_config(**kw: object) -> EngineConfig:
    transport = kw.pop("transport", TransportConfig())
    return EngineConfig(timers=FAST, transport=transport, **kw)  # type: ignore[arg-type]


def invite(uri: str, method: str = "INVITE") -> Request:
    return Request(
        method,
        uri,
        [
            ("From", f"<sip:alice@127.0.0.1>;tag={new_tag()}"),
            ("To", "<sip:bob@127.0.0.1>"),
            ("Call-ID", new_call_id()),
            ("CSeq", f"1 {method}"),
        ],
    )


def port_of(engine: Engine, transport: str) -> int:
    return next(lst.port for lst in engine.listening if lst.transport == transport)


async def drained(*engines: Engine, within: float = 3.0) -> None:
    """Wait until every engine's transaction and dialog tables are empty."""
    with trio.fail_after(within):
        while True:
            stats = [e.statistics().stack for e in engines]
            if all(
                s.client_transactions == 0 and s.server_transactions == 0 and s.dialogs == 0
                for s in stats
            ):
                return
            await trio.sleep(0.02)


@asynccontextmanager
async def engine_pair(
    spec: str, config_a: EngineConfig | None = None, config_b: EngineConfig | None = None
) -> AsyncIterator[tuple[Engine, Engine]]:
    async with (
        open_engine([spec], config=config_a or fast_config()) as a,
        open_engine([spec], config=config_b or fast_config()) as b,
    ):
        yield a, b


async def call_and_hang_up(a: Engine, uri: str) -> list[int]:
    handle = await a.request(invite(uri))
    statuses = [r.status async for r in handle]
    assert statuses[-1] == 200
    assert handle.dialog_id is not None
    await a.ack(handle.dialog_id)
    bye = await a.request_in_dialog(handle.dialog_id, "BYE")
    assert (await bye.final()).status == 200
    return statuses


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_call_between_two_engines(transport: str) -> None:
    with trio.fail_after(10):
        async with engine_pair("sip:127.0.0.1:0;transport=udp,tcp") as (a, b):
            async with trio.open_nursery() as nursery:
                await nursery.start(run_uas, b)
                uri = f"sip:bob@127.0.0.1:{port_of(b, transport)};transport={transport}"
                statuses = await call_and_hang_up(a, uri)
                assert statuses == [100, 200]  # trying_delay=0: 100 Trying at once
                await drained(a, b)
                nursery.cancel_scope.cancel()


async def test_cancel_before_answer() -> None:
    with trio.fail_after(10):
        async with engine_pair("sip:127.0.0.1:0;transport=udp") as (a, b):
            uri = f"sip:bob@127.0.0.1:{port_of(b, 'udp')}"
            handle = await a.request(invite(uri))
            notice = await b.incoming.receive()
            assert isinstance(notice, IncomingRequest)
            ringing = notice.request.make_response(180)
            await b.respond(notice.server_txn, ringing)
            seen = []
            async for response in handle:
                seen.append(response.status)
                if response.status == 180:
                    handle.cancel()
            assert seen[-1] == 487
            assert 180 in seen
            cancelled = await b.incoming.receive()
            assert isinstance(cancelled, RequestCancelled)
            assert cancelled.server_txn == notice.server_txn
            await drained(a, b)


async def test_tls_call_between_two_engines() -> None:
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    tls = TransportConfig(tls_server_context=server_ctx, tls_client_context=client_ctx)
    with trio.fail_after(10):
        async with engine_pair(
            "sips:127.0.0.1:0", fast_config(transport=tls), fast_config(transport=tls)
        ) as (a, b):
            async with trio.open_nursery() as nursery:
                await nursery.start(run_uas, b)
                uri = f"sips:bob@127.0.0.1:{port_of(b, 'tls')}"
                await call_and_hang_up(a, uri)
                assert b.statistics().transport.connections >= 1
                await drained(a, b)
                nursery.cancel_scope.cancel()


async def test_websocket_call_between_two_engines() -> None:
    with trio.fail_after(10):
        async with engine_pair("sip:127.0.0.1:0;transport=ws") as (a, b):
            async with trio.open_nursery() as nursery:
                await nursery.start(run_uas, b)
                uri = f"sip:bob@127.0.0.1:{port_of(b, 'ws')};transport=ws"
                await call_and_hang_up(a, uri)
                await drained(a, b)
                nursery.cancel_scope.cancel()


async def test_in_dialog_notices_reach_an_attached_dialog() -> None:
    with trio.fail_after(10):
        async with engine_pair("sip:127.0.0.1:0;transport=udp") as (a, b):
            handle = await a.request(invite(f"sip:bob@127.0.0.1:{port_of(b, 'udp')}"))
            notice = await b.incoming.receive()
            assert isinstance(notice, IncomingRequest)
            sent = await b.respond(notice.server_txn, notice.request.make_response(200))
            assert sent.to.tag is not None
            assert sent.contact, "the engine adds a Contact to a 2xx to INVITE"
            assert (await handle.final()).status == 200
            assert handle.dialog_id is not None
            # The UAS side's dialog id mirrors the UAC's (local and remote tags swapped).
            call_id, a_tag, b_tag = handle.dialog_id.split(";")
            b_dialog = f"{call_id};{b_tag};{a_tag}"
            channel = b.attach_dialog(b_dialog)
            await a.ack(handle.dialog_id)
            ack = await channel.receive()
            assert isinstance(ack, AckReceived)
            info = await a.request_in_dialog(
                handle.dialog_id, "INFO", headers=[("Content-Type", "text/plain")], body=b"hi"
            )
            got = await channel.receive()
            assert isinstance(got, IncomingRequest)
            assert got.request.method == "INFO"
            assert got.request.body == b"hi"
            assert got.dialog_id == b_dialog
            await b.respond(got.server_txn, got.request.make_response(200))
            assert (await info.final()).status == 200
            bye = await a.request_in_dialog(handle.dialog_id, "BYE")
            got = await channel.receive()
            assert isinstance(got, IncomingRequest) and got.request.method == "BYE"
            await b.respond(got.server_txn, got.request.make_response(200))
            assert (await bye.final()).status == 200
            ended = await channel.receive()
            assert isinstance(ended, DialogEnded) and ended.reason == "bye"
            await drained(a, b)


async def test_malformed_datagrams_are_answered_or_dropped() -> None:
    with trio.fail_after(10):
        async with open_engine(["sip:127.0.0.1:0;transport=udp"], config=fast_config()) as b:
            port = port_of(b, "udp")
            sock = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            await sock.bind(("127.0.0.1", 0))
            await sock.sendto(b"\x00\xff garbage that is not SIP\r\n\r\n", ("127.0.0.1", port))
            bad = (
                b"INVITE sip:bob@127.0.0.1 SIP/2.0\r\n"
                b"Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKbad1\r\n"
                b"From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:bob@127.0.0.1>\r\n"
                b"Call-ID: bad-1\r\nCSeq: notanumber INVITE\r\nContent-Length: 0\r\n\r\n"
            ) % sock.getsockname()[1]
            await sock.sendto(bad, ("127.0.0.1", port))
            data, _ = await sock.recvfrom(65535)
            # The answer echoes the broken CSeq (§8.2.6.2), so read it as text.
            assert data.startswith(b"SIP/2.0 400 ")
            assert b"\r\nCall-ID: bad-1\r\n" in data
            assert b";tag=" in data.split(b"\r\nTo: ")[1].split(b"\r\n")[0]
            stats = b.statistics().stack
            assert stats.parse_errors == 2
            sock.close()


async def test_overload_is_answered_503_with_retry_after() -> None:
    with trio.fail_after(10):
        async with engine_pair(
            "sip:127.0.0.1:0;transport=udp",
            config_b=fast_config(incoming_size=1, retry_after=7),
        ) as (a, b):
            uri = f"sip:bob@127.0.0.1:{port_of(b, 'udp')}"
            first = await a.request(invite(uri, "OPTIONS"))
            await trio.sleep(0.1)  # the first fills the incoming channel; nobody reads it
            second = await a.request(invite(uri, "OPTIONS"))
            response = await second.final()
            assert response.status == 503
            assert response.get("Retry-After") == "7"
            assert b.statistics().overload_503 == 1
            notice = await b.incoming.receive()
            assert isinstance(notice, IncomingRequest)
            await b.respond(notice.server_txn, notice.request.make_response(200))
            assert (await first.final()).status == 200


async def test_unreachable_tcp_target_fails_fast() -> None:
    with trio.fail_after(10):
        async with open_engine(["sip:127.0.0.1:0;transport=udp,tcp"], config=fast_config()) as a:
            probe = socket.socket()
            probe.bind(("127.0.0.1", 0))
            dead_port = probe.getsockname()[1]
            probe.close()
            with pytest.raises(TransportFailure):
                await a.request(invite(f"sip:bob@127.0.0.1:{dead_port};transport=tcp"))
