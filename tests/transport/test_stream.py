"""TCP transport over real loopback sockets: framing, reuse, keep-alives, hostile peers."""

from __future__ import annotations

import pytest
import trio

from trio_srf.errors import RemoteProtocolError, TransportFailure
from trio_srf.sip import ParserLimits, Request
from trio_srf.transport import Flow, Inbound, TransportConfig, open_transports

from .conftest import Connect
from .helpers import (
    call_id,
    have_ipv6,
    receive_until_closed,
    sip_request,
    sip_response,
    wait_until,
)

TCP = "sip:127.0.0.1:0;transport=tcp"


async def test_pipelined_and_partial_writes(connect: Connect) -> None:
    inbox, out = trio.open_memory_channel[Inbound](100)
    with trio.fail_after(5):
        async with open_transports([TCP], inbox=inbox) as tm:
            port = tm.listening[0].port
            peer = await connect(port)
            # Three messages in one write, then one split into 1-byte writes.
            await peer.send_all(
                sip_request(1, transport="TCP")
                + sip_request(2, b"v=0\r\n", transport="TCP")
                + sip_request(3, transport="TCP")
            )
            for byte in sip_request(4, b"hello", transport="TCP"):
                await peer.send_all(bytes([byte]))
            items = [await out.receive() for _ in range(4)]
            assert [call_id(i) for i in items] == ["call-1", "call-2", "call-3", "call-4"]
            assert all(isinstance(i.message, Request) and i.data is None for i in items)
            assert items[1].message is not None and items[1].message.body == b"v=0\r\n"
            assert items[3].message is not None and items[3].message.body == b"hello"
            flow = items[0].flow
            assert flow.transport == "tcp" and flow.conn_id is not None
            assert flow.remote == peer.socket.getsockname()[:2]
            assert {i.flow for i in items} == {flow}
            # A response goes back on the same connection (RFC 3261 §18.2.2).
            assert await tm.send(sip_response(1), flow) == flow
            got = b""
            while len(got) < len(sip_response(1)):
                got += await peer.receive_some(65536)
            assert got == sip_response(1)
            stats = tm.statistics()
            assert stats.connections == 1 and stats.messages_in == 4 and stats.messages_out == 1
            await peer.aclose()
            await wait_until(lambda: tm.statistics().connections == 0)


async def _tm_to_tm(host: str) -> None:
    spec = f"sip:[{host}]:0;transport=tcp" if ":" in host else f"sip:{host}:0;transport=tcp"
    a_in, a_out = trio.open_memory_channel[Inbound](10)
    b_in, b_out = trio.open_memory_channel[Inbound](10)
    with trio.fail_after(5):
        async with (
            open_transports([], inbox=a_in) as a,
            open_transports([spec], inbox=b_in) as b,
        ):
            port = b.listening[0].port
            target = Flow("tcp", (host, port))
            f1 = await a.send(sip_request(1, transport="TCP"), target)
            assert f1.conn_id is not None and f1.remote == (host, port)
            # A second send without conn_id reuses the connection.
            f2 = await a.send(sip_request(2, transport="TCP"), target)
            assert f2 == f1
            assert a.lookup(target) == f1
            first, second = await b_out.receive(), await b_out.receive()
            assert [call_id(first), call_id(second)] == ["call-1", "call-2"]
            assert first.flow.remote == f1.local and first.flow.local == f1.remote
            await b.send(sip_response(1), first.flow)
            back = await a_out.receive()
            assert back.flow == f1
            assert back.message is not None and back.message.call_id == "call-1"
            assert a.statistics().connections == 1 and b.statistics().connections == 1


async def test_tcp_connect_and_reuse_ipv4() -> None:
    await _tm_to_tm("127.0.0.1")


@pytest.mark.skipif(not have_ipv6(), reason="::1 unavailable")
async def test_tcp_connect_and_reuse_ipv6() -> None:
    await _tm_to_tm("::1")


async def test_connect_refused_is_transport_failure() -> None:
    with trio.socket.socket() as s:
        await s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound but not listening: refused
        inbox, _ = trio.open_memory_channel[Inbound](10)
        async with open_transports([], inbox=inbox) as tm:
            with pytest.raises(TransportFailure) as info:
                await tm.send(sip_request(1), Flow("tcp", ("127.0.0.1", port)))
            assert info.value.status == 503
            stats = tm.statistics()
            assert (stats.send_errors, stats.connections) == (1, 0)


async def test_keepalive_ping_answered(connect: Connect) -> None:
    inbox, out = trio.open_memory_channel[Inbound](10)
    with trio.fail_after(5):
        async with open_transports([TCP], inbox=inbox) as tm:
            peer = await connect(tm.listening[0].port)
            await peer.send_all(b"\r\n\r\n")  # RFC 5626 ping
            assert await peer.receive_some(10) == b"\r\n"
            await peer.send_all(b"\r\n" + sip_request(5, transport="TCP"))  # pong, then a message
            assert call_id(await out.receive()) == "call-5"
            assert tm.statistics().keepalives == 1


async def _hostile(
    connect: Connect, payload: bytes, config: TransportConfig, *, answer: bool = False
) -> bytes:
    """Send ``payload`` on one connection while another keeps working; return what came back."""
    inbox, out = trio.open_memory_channel[Inbound](10)
    with trio.fail_after(10):
        async with open_transports([TCP], config, inbox=inbox) as tm:
            port = tm.listening[0].port
            good = await connect(port)
            await good.send_all(sip_request(1, transport="TCP"))
            first = await out.receive()
            bad = await connect(port)
            await bad.send_all(payload)
            if answer:
                notice = await out.receive()
                assert isinstance(notice.error, RemoteProtocolError)
                assert notice.flow.conn_id != first.flow.conn_id
                await tm.send(b"SIP/2.0 400 Bad Request\r\n\r\n", notice.flow)
            received = await receive_until_closed(bad)
            await wait_until(lambda: tm.statistics().connections == 1)
            # The well-behaved connection is unaffected.
            await good.send_all(sip_request(2, transport="TCP"))
            item = await out.receive()
            while item.flow != first.flow:  # notices or messages from the bad connection
                item = await out.receive()
            assert call_id(item) == "call-2" and item.flow == first.flow
            assert tm.statistics().connection_errors == 1
            await good.aclose()
    return received


async def test_garbage_loses_only_its_connection(connect: Connect) -> None:
    got = await _hostile(connect, b"\x00\x01 this is not SIP at all\r\n\r\n", TransportConfig())
    assert got == b""


async def test_framing_error_can_be_answered_before_close(connect: Connect) -> None:
    # No Content-Length on a stream: 400, and enough survived to answer it.
    msg = sip_request(9, transport="TCP").replace(b"Content-Length: 0\r\n", b"")
    got = await _hostile(connect, msg, TransportConfig(), answer=True)
    assert got == b"SIP/2.0 400 Bad Request\r\n\r\n"


async def test_oversize_message_loses_only_its_connection(connect: Connect) -> None:
    config = TransportConfig(limits=ParserLimits(max_message_size=2000))
    got = await _hostile(connect, sip_request(3, b"x" * 5000, transport="TCP"), config)
    assert got == b""


async def test_content_length_lie_then_stall(connect: Connect) -> None:
    # Claims 500 body bytes, sends 10 and stops: the read timeout drops it.
    lie = sip_request(4, b"0123456789", transport="TCP").replace(
        b"Content-Length: 10", b"Content-Length: 500"
    )
    got = await _hostile(connect, lie, TransportConfig(read_timeout=0.3))
    assert got == b""


async def test_content_length_too_short_desynchronises(connect: Connect) -> None:
    # Claims 2 bytes of a 40-byte body: the rest is garbage framing.
    body = b"a" * 40
    lie = sip_request(4, body, transport="TCP").replace(b"Content-Length: 40", b"Content-Length: 2")
    got = await _hostile(connect, lie, TransportConfig(read_timeout=0.3))
    assert got == b""


async def test_trickling_peer_is_dropped_by_read_timeout(connect: Connect) -> None:
    inbox, out = trio.open_memory_channel[Inbound](10)
    config = TransportConfig(read_timeout=0.5, idle_timeout=60)
    with trio.fail_after(5):
        async with open_transports([TCP], config, inbox=inbox) as tm:
            peer = await connect(tm.listening[0].port)
            start = trio.current_time()
            data = sip_request(6, transport="TCP")
            # One byte every 0.1 s keeps the connection busy but never finishes.
            with trio.move_on_after(3):
                try:
                    for byte in data:
                        await peer.send_all(bytes([byte]))
                        await trio.sleep(0.1)
                except trio.BrokenResourceError:
                    pass  # closed by the transport, as wanted
            await wait_until(lambda: tm.statistics().connections == 0)
            assert 0.5 <= trio.current_time() - start < 3
            assert tm.statistics().connection_errors == 1
            with pytest.raises(trio.WouldBlock):
                out.receive_nowait()


async def test_idle_connections_are_reaped(connect: Connect) -> None:
    inbox, out = trio.open_memory_channel[Inbound](10)
    config = TransportConfig(idle_timeout=0.3)
    with trio.fail_after(5):
        async with open_transports([TCP], config, inbox=inbox) as tm:
            peer = await connect(tm.listening[0].port)
            await peer.send_all(sip_request(1, transport="TCP"))
            item = await out.receive()
            await trio.sleep(0.2)
            # Outbound traffic counts as activity too.
            await tm.send(sip_response(1), item.flow)
            await trio.sleep(0.2)
            assert tm.statistics().connections == 1
            assert await receive_until_closed(peer) == sip_response(1)
            stats = tm.statistics()
            assert (stats.connections, stats.connections_reaped) == (0, 1)
            with pytest.raises(TransportFailure):
                # The flow's connection is gone and its ephemeral port is not listening.
                await tm.send(sip_response(1), item.flow)


async def test_connection_cap(connect: Connect) -> None:
    inbox, out = trio.open_memory_channel[Inbound](10)
    config = TransportConfig(max_connections=1)
    with trio.fail_after(5):
        async with open_transports([TCP], config, inbox=inbox) as tm:
            port = tm.listening[0].port
            first = await connect(port)
            await first.send_all(sip_request(1, transport="TCP"))
            await out.receive()
            second = await connect(port)
            assert await receive_until_closed(second) == b""
            assert tm.statistics().connections_rejected == 1
            with pytest.raises(TransportFailure):
                await tm.send(sip_request(2), Flow("tcp", ("127.0.0.1", 9)))
            await first.aclose()


async def test_backpressure_off_drops_when_inbox_full(connect: Connect) -> None:
    inbox, out = trio.open_memory_channel[Inbound](1)
    config = TransportConfig(stream_backpressure=False)
    with trio.fail_after(5):
        async with open_transports([TCP], config, inbox=inbox) as tm:
            peer = await connect(tm.listening[0].port)
            await peer.send_all(b"".join(sip_request(n, transport="TCP") for n in range(3)))
            await wait_until(lambda: tm.statistics().inbox_drops == 2)
            assert call_id(out.receive_nowait()) == "call-0"
            assert tm.statistics().messages_in == 1


async def test_backpressure_on_delivers_everything(connect: Connect) -> None:
    inbox, out = trio.open_memory_channel[Inbound](1)
    with trio.fail_after(5):
        async with open_transports([TCP], inbox=inbox) as tm:
            peer = await connect(tm.listening[0].port)
            await peer.send_all(b"".join(sip_request(n, transport="TCP") for n in range(5)))
            got = [call_id(await out.receive()) for _ in range(5)]
            assert got == [f"call-{n}" for n in range(5)]
            assert tm.statistics().inbox_drops == 0


async def test_body_exception_is_not_wrapped() -> None:
    inbox, _ = trio.open_memory_channel[Inbound](1)
    with pytest.raises(KeyError):
        async with open_transports([TCP], inbox=inbox):
            raise KeyError("mine")


async def test_peer_that_stops_reading_fails_the_write(connect: Connect) -> None:
    inbox, out = trio.open_memory_channel[Inbound](10)
    config = TransportConfig(write_timeout=0.3)
    with trio.fail_after(20):
        async with open_transports([TCP], config, inbox=inbox) as tm:
            peer = await connect(tm.listening[0].port)
            await peer.send_all(sip_request(1, transport="TCP"))
            flow = (await out.receive()).flow
            big = b"x" * (1 << 20)
            with pytest.raises(TransportFailure):
                for _ in range(200):  # the peer never reads: the buffers fill up
                    await tm.send(big, flow)
            await wait_until(lambda: tm.statistics().connections == 0)
            assert tm.statistics().send_errors == 1


async def test_silent_peer_times_out_in_handshake(connect: Connect) -> None:
    import ssl

    import trustme

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    trustme.CA().issue_cert("127.0.0.1").configure_cert(ctx)
    inbox, _ = trio.open_memory_channel[Inbound](10)
    config = TransportConfig(tls_server_context=ctx, handshake_timeout=0.3, max_connections=1)
    with trio.fail_after(5):
        async with open_transports(["sips:127.0.0.1:0"], config, inbox=inbox) as tm:
            port = tm.listening[0].port
            silent = await connect(port)
            # While the silent peer holds the only slot, another connection is refused.
            await wait_until(lambda: tm._streams._handshaking == 1)
            assert await receive_until_closed(await connect(port)) == b""
            assert tm.statistics().connections_rejected == 1
            assert await receive_until_closed(silent) == b""
            await wait_until(lambda: tm._streams._handshaking == 0)
            assert tm.statistics().connection_errors == 1


async def test_cancelled_connect_leaks_nothing() -> None:
    # A listener that never accepts: connect succeeds at the TCP level (backlog),
    # the WebSocket handshake then waits; cancelling the send must close the socket.
    with trio.socket.socket() as sock:
        await sock.bind(("127.0.0.1", 0))
        sock.listen(5)
        inbox, _ = trio.open_memory_channel[Inbound](1)
        async with open_transports([], inbox=inbox) as tm:
            with trio.move_on_after(0.3) as scope:
                await tm.send(sip_request(1), Flow("ws", ("127.0.0.1", sock.getsockname()[1])))
            assert scope.cancelled_caught
            assert tm.statistics().connections == 0
            assert tm._streams._connecting == {}
