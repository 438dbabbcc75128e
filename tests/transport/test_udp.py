"""UDP transport over real loopback sockets."""

from __future__ import annotations

import socket

import pytest
import trio

from trio_srf.errors import TransportFailure
from trio_srf.transport import Flow, Inbound, TransportConfig, open_transports
from trio_srf.transport._udp import set_buffer_sizes

from .helpers import call_id, have_ipv6, sip_request, wait_until


async def _round_trip(host: str) -> None:
    a_send, a_recv = trio.open_memory_channel[Inbound](10)
    b_send, b_recv = trio.open_memory_channel[Inbound](10)
    spec = f"sip:[{host}]:0;transport=udp" if ":" in host else f"sip:{host}:0;transport=udp"
    with trio.fail_after(5):
        async with (
            open_transports([spec], inbox=a_send) as a,
            open_transports([spec], inbox=b_send) as b,
        ):
            (la,) = a.listening
            (lb,) = b.listening
            assert (la.transport, la.host) == ("udp", host)
            assert la.port != 0
            sent = await a.send(sip_request(1), Flow("udp", (lb.host, lb.port)))
            assert sent == Flow("udp", (lb.host, lb.port), (la.host, la.port))
            got = await b_recv.receive()
            assert got.data == sip_request(1)
            assert got.message is None and got.error is None
            assert got.flow == Flow("udp", (la.host, la.port), (lb.host, lb.port))
            # Answer on the flow it came from: it reaches a.
            await b.send(sip_request(2), got.flow)
            back = await a_recv.receive()
            assert call_id(back) == "call-2"
            assert back.flow.remote == (lb.host, lb.port)
            sa, sb = a.statistics(), b.statistics()
            assert (sa.messages_out, sa.messages_in, sa.bytes_out) == (1, 1, len(sip_request(1)))
            assert (sb.messages_out, sb.messages_in, sb.bytes_in) == (1, 1, len(sip_request(1)))
            assert sa.connections == 0 and sa.inbox_drops == 0


async def test_udp_round_trip_ipv4() -> None:
    await _round_trip("127.0.0.1")


@pytest.mark.skipif(not have_ipv6(), reason="::1 unavailable")
async def test_udp_round_trip_ipv6() -> None:
    await _round_trip("::1")


async def test_udp_v4_and_v6_same_port_choose_socket_by_family() -> None:
    if not have_ipv6():
        pytest.skip("::1 unavailable")
    inbox, out = trio.open_memory_channel[Inbound](10)
    with trio.fail_after(5):
        async with open_transports(["sip:127.0.0.1:0;transport=udp"], inbox=inbox) as tm:
            port = tm.listening[0].port
            # The same port on ::1 is free because the v6 socket is V6ONLY.
            async with open_transports([f"sip:[::1]:{port};transport=udp"], inbox=inbox) as tm6:
                assert tm6.listening[0].port == port
            with trio.socket.socket(trio.socket.AF_INET6, trio.socket.SOCK_DGRAM) as peer:
                await peer.bind(("::1", 0))
                flow = await tm.send(sip_request(3), Flow("udp", ("::1", peer.getsockname()[1])))
                # No v6 listener in tm: an ephemeral v6 socket was opened for the send.
                assert flow.local[0] == "::"
                data, _ = await peer.recvfrom(65535)
                assert data == sip_request(3)
    del out


async def test_client_only_udp_and_full_inbox_drops() -> None:
    inbox, out = trio.open_memory_channel[Inbound](1)
    with trio.fail_after(5):
        async with open_transports(["sip:127.0.0.1:0;transport=udp"], inbox=inbox) as server:
            port = server.listening[0].port
            client_inbox, _ = trio.open_memory_channel[Inbound](1)
            async with open_transports([], inbox=client_inbox) as client:
                assert client.listening == []
                for n in range(5):
                    await client.send(sip_request(n), Flow("udp", ("127.0.0.1", port)))
                # Wait until all five were read: one queued, four dropped.
                await wait_until(
                    lambda: server.statistics().inbox_drops + server.statistics().messages_in == 5
                )
            stats = server.statistics()
            assert (stats.messages_in, stats.inbox_drops) == (1, 4)
            assert call_id(out.receive_nowait()) == "call-0"


async def test_keepalive_datagrams_are_not_delivered() -> None:
    inbox, out = trio.open_memory_channel[Inbound](10)
    with trio.fail_after(5):
        async with open_transports(["sip:127.0.0.1:0;transport=udp"], inbox=inbox) as tm:
            port = tm.listening[0].port
            with trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM) as peer:
                await peer.sendto(b"\r\n\r\n", ("127.0.0.1", port))
                await peer.sendto(sip_request(7), ("127.0.0.1", port))
                assert call_id(await out.receive()) == "call-7"
            assert tm.statistics().keepalives == 1


async def test_send_error_is_transport_failure() -> None:
    inbox, _ = trio.open_memory_channel[Inbound](10)
    async with open_transports(["sip:127.0.0.1:0;transport=udp"], inbox=inbox) as tm:
        with pytest.raises(TransportFailure) as info:
            # Larger than any UDP datagram: EMSGSIZE.
            await tm.send(b"x" * 70000, Flow("udp", ("127.0.0.1", 9)))
        assert info.value.status == 503
        assert tm.statistics().send_errors == 1
    with pytest.raises(TransportFailure):
        await tm.send(b"x", Flow("udp", ("127.0.0.1", 9)))


def _sysctl(name: str) -> int:
    with open(f"/proc/sys/net/core/{name}") as f:
        return int(f.read())


async def test_udp_buffers_applied() -> None:
    wanted = 3 * 1024 * 1024
    config = TransportConfig(udp_rcvbuf=wanted, udp_sndbuf=wanted)
    inbox, _ = trio.open_memory_channel[Inbound](10)
    async with open_transports(["sip:127.0.0.1:0;transport=udp"], config, inbox=inbox) as tm:
        (endpoint,) = tm._udp
        rcv = endpoint.sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        snd = endpoint.sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
    # Linux reports double the request; without privilege the sysctl caps it.
    try:
        cap_r, cap_w = 2 * _sysctl("rmem_max"), 2 * _sysctl("wmem_max")
    except OSError:
        cap_r = cap_w = 2 * wanted
    import os

    if os.geteuid() == 0:  # SO_*BUFFORCE passes the cap
        assert rcv >= wanted and snd >= wanted
    else:
        assert rcv >= min(wanted, cap_r // 2) and snd >= min(wanted, cap_w // 2)
    assert rcv > 212992 or cap_r <= 212992 * 2


def test_set_buffer_sizes_reports_effective() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        default = s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        rcv, snd = set_buffer_sizes(s, 0, 0)  # type: ignore[arg-type]
        assert rcv == default
        rcv, snd = set_buffer_sizes(s, 1 << 20, 1 << 20)  # type: ignore[arg-type]
        assert rcv == s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        assert snd == s.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
        assert rcv >= 1 << 20 or rcv == 2 * _sysctl("rmem_max")
