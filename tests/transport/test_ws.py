"""SIP over WebSocket (RFC 7118): our client and server, plus raw wsproto peers."""

from __future__ import annotations

import ssl

import pytest
import trio
import trustme
import wsproto
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    Pong,
    RejectConnection,
    TextMessage,
)

from trio_srf.errors import TransportFailure
from trio_srf.sip import ParserLimits
from trio_srf.transport import Flow, Inbound, TransportConfig, open_transports

from .conftest import Connect
from .helpers import have_ipv6, receive_until_closed, sip_request, sip_response, wait_until


@pytest.fixture(scope="module")
def tls_configs() -> tuple[TransportConfig, TransportConfig]:
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "::1").configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return TransportConfig(tls_server_context=server), TransportConfig(tls_client_context=client)


async def _round_trip(
    transport: str, host: str, server_cfg: TransportConfig, client_cfg: TransportConfig
) -> None:
    scheme = "sips" if transport == "wss" else "sip"
    bracketed = f"[{host}]" if ":" in host else host
    a_in, a_out = trio.open_memory_channel[Inbound](10)
    b_in, b_out = trio.open_memory_channel[Inbound](10)
    with trio.fail_after(10):
        async with (
            open_transports([], client_cfg, inbox=a_in) as a,
            open_transports(
                [f"{scheme}:{bracketed}:0;transport={transport}"], server_cfg, inbox=b_in
            ) as b,
        ):
            (listening,) = b.listening
            assert listening.transport == transport
            target = Flow(transport, (host, listening.port))
            flow = await a.send(sip_request(1, transport=transport.upper()), target)
            assert flow.transport == transport and flow.conn_id is not None
            assert await a.send(sip_request(2, transport=transport.upper()), target) == flow
            got = [await b_out.receive(), await b_out.receive()]
            # One WebSocket message = one SIP message, delivered raw like a datagram.
            assert [g.data for g in got] == [
                sip_request(1, transport=transport.upper()),
                sip_request(2, transport=transport.upper()),
            ]
            assert got[0].flow.transport == transport and got[0].flow.remote == flow.local
            await b.send(sip_response(1), got[0].flow)
            back = await a_out.receive()
            assert back.data == sip_response(1) and back.flow == flow
            assert a.statistics().connections == 1 and b.statistics().connections == 1


async def test_ws_round_trip() -> None:
    await _round_trip("ws", "127.0.0.1", TransportConfig(), TransportConfig())


async def test_wss_round_trip(tls_configs: tuple[TransportConfig, TransportConfig]) -> None:
    await _round_trip("wss", "127.0.0.1", *tls_configs)


@pytest.mark.skipif(not have_ipv6(), reason="::1 unavailable")
async def test_ws_round_trip_ipv6() -> None:
    await _round_trip("ws", "::1", TransportConfig(), TransportConfig())


class RawWsClient:
    """A wsproto client on a raw TCP stream, for poking the server."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.ws = WSConnection(ConnectionType.CLIENT)

    async def handshake(self, subprotocols: list[str]) -> wsproto.events.Event:
        request = wsproto.events.Request(host="localhost", target="/", subprotocols=subprotocols)
        await self.stream.send_all(self.ws.send(request))
        return await self.next_event()

    async def next_event(self) -> wsproto.events.Event:
        while True:
            for event in self.ws.events():
                return event
            data = await self.stream.receive_some(65536)
            self.ws.receive_data(data or None)

    async def send(self, event: wsproto.events.Event) -> None:
        await self.stream.send_all(self.ws.send(event))


async def test_handshake_without_sip_subprotocol_rejected(connect: Connect) -> None:
    inbox, _ = trio.open_memory_channel[Inbound](10)
    with trio.fail_after(5):
        async with open_transports(["sip:127.0.0.1:0;transport=ws"], inbox=inbox) as tm:
            client = RawWsClient(await connect(tm.listening[0].port))
            event = await client.handshake(["chat"])
            assert isinstance(event, RejectConnection) and event.status_code == 400
            await wait_until(lambda: tm.statistics().connection_errors == 1)
            assert tm.statistics().connections == 0


async def test_raw_client_ping_binary_fragments_and_close(connect: Connect) -> None:
    inbox, out = trio.open_memory_channel[Inbound](10)
    with trio.fail_after(5):
        async with open_transports(["sip:127.0.0.1:0;transport=ws"], inbox=inbox) as tm:
            client = RawWsClient(await connect(tm.listening[0].port))
            accepted = await client.handshake(["sip"])
            assert isinstance(accepted, AcceptConnection) and accepted.subprotocol == "sip"
            await client.send(Ping(payload=b"hi"))
            pong = await client.next_event()
            assert isinstance(pong, Pong) and pong.payload == b"hi"
            # A binary message split over two frames is still one SIP message.
            msg = sip_request(3, transport="WS")
            await client.send(BytesMessage(data=msg[:50], message_finished=False))
            await client.send(BytesMessage(data=msg[50:], message_finished=True))
            got = await out.receive()
            assert got.data == msg and got.flow.transport == "ws"
            # The server's sends arrive as text frames.
            await tm.send(sip_response(3), got.flow)
            text = await client.next_event()
            assert isinstance(text, TextMessage) and text.data.encode() == sip_response(3)
            await client.send(CloseConnection(code=1000))
            closing = await client.next_event()
            assert isinstance(closing, CloseConnection) and closing.code == 1000
            assert await receive_until_closed(client.stream) == b""
            assert tm.statistics().connections == 0
            assert tm.statistics().connection_errors == 0


async def test_oversize_ws_message_closes_1009(connect: Connect) -> None:
    inbox, out = trio.open_memory_channel[Inbound](10)
    config = TransportConfig(limits=ParserLimits(max_message_size=1000))
    with trio.fail_after(5):
        async with open_transports(["sip:127.0.0.1:0;transport=ws"], config, inbox=inbox) as tm:
            client = RawWsClient(await connect(tm.listening[0].port))
            assert isinstance(await client.handshake(["sip"]), AcceptConnection)
            await client.send(TextMessage(data=sip_request(4, b"x" * 2000).decode()))
            closing = await client.next_event()
            assert isinstance(closing, CloseConnection) and closing.code == 1009
            with pytest.raises(trio.WouldBlock):
                out.receive_nowait()


async def test_ws_connect_to_non_ws_server_fails(connect: Connect) -> None:
    inbox, _ = trio.open_memory_channel[Inbound](10)
    with trio.fail_after(5):
        async with (
            open_transports(["sip:127.0.0.1:0;transport=tcp"], inbox=inbox) as tcp_server,
            open_transports([], TransportConfig(connect_timeout=1), inbox=inbox) as client,
        ):
            with pytest.raises(TransportFailure):
                # The TCP server sees an HTTP request, not SIP, and closes.
                await client.send(
                    sip_request(1), Flow("ws", ("127.0.0.1", tcp_server.listening[0].port))
                )
            assert client.statistics().connections == 0
