"""TLS transport with trustme certificates over real loopback sockets."""

from __future__ import annotations

import ssl

import pytest
import trio
import trustme

from trio_srf.errors import TransportFailure
from trio_srf.transport import Flow, Inbound, TransportConfig, open_transports

from .conftest import Connect
from .helpers import call_id, have_ipv6, sip_request, sip_response, wait_until


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def server_config(ca: trustme.CA) -> TransportConfig:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "::1", "sip.example.test").configure_cert(ctx)
    return TransportConfig(tls_server_context=ctx)


@pytest.fixture(scope="module")
def client_config(ca: trustme.CA) -> TransportConfig:
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    return TransportConfig(tls_client_context=ctx)


async def _round_trip(
    server_config: TransportConfig,
    client_config: TransportConfig,
    host: str,
    server_hostname: str | None = None,
) -> None:
    spec = f"sips:[{host}]:0" if ":" in host else f"sips:{host}:0"
    a_in, a_out = trio.open_memory_channel[Inbound](10)
    b_in, b_out = trio.open_memory_channel[Inbound](10)
    with trio.fail_after(10):
        async with (
            open_transports([], client_config, inbox=a_in) as a,
            open_transports([spec], server_config, inbox=b_in) as b,
        ):
            (listening,) = b.listening
            assert listening.transport == "tls"
            flow = await a.send(
                sip_request(1, transport="TLS"),
                Flow("tls", (host, listening.port)),
                server_hostname=server_hostname,
            )
            assert flow.transport == "tls" and flow.conn_id is not None
            got = await b_out.receive()
            assert got.message is not None and got.message.call_id == "call-1"
            assert got.flow.transport == "tls" and got.flow.remote == flow.local
            assert got.flow.secure
            await b.send(sip_response(1), got.flow)
            back = await a_out.receive()
            assert call_id(back) == "call-1" and back.flow == flow


async def test_tls_round_trip(
    server_config: TransportConfig, client_config: TransportConfig
) -> None:
    await _round_trip(server_config, client_config, "127.0.0.1")


async def test_tls_server_name_verified(
    server_config: TransportConfig, client_config: TransportConfig
) -> None:
    await _round_trip(server_config, client_config, "127.0.0.1", "sip.example.test")


@pytest.mark.skipif(not have_ipv6(), reason="::1 unavailable")
async def test_tls_round_trip_ipv6(
    server_config: TransportConfig, client_config: TransportConfig
) -> None:
    await _round_trip(server_config, client_config, "::1")


async def test_untrusted_or_wrong_name_is_transport_failure(
    server_config: TransportConfig, client_config: TransportConfig
) -> None:
    inbox, _ = trio.open_memory_channel[Inbound](10)
    with trio.fail_after(10):
        async with (
            open_transports(["sips:127.0.0.1:0"], server_config, inbox=inbox) as server,
            open_transports([], client_config, inbox=inbox) as good_ca,
            open_transports([], TransportConfig(), inbox=inbox) as system_ca,
        ):
            target = Flow("tls", ("127.0.0.1", server.listening[0].port))
            with pytest.raises(TransportFailure):
                await system_ca.send(sip_request(1), target)  # unknown CA
            with pytest.raises(TransportFailure):
                await good_ca.send(sip_request(1), target, server_hostname="other.test")
            assert good_ca.statistics().connections == 0
            assert system_ca.statistics().send_errors == 1
            await wait_until(lambda: server.statistics().connection_errors == 2)
            assert server.statistics().connections == 0


async def test_plain_tcp_to_tls_listener_loses_only_itself(
    server_config: TransportConfig, client_config: TransportConfig, connect: Connect
) -> None:
    a_in, _ = trio.open_memory_channel[Inbound](10)
    b_in, b_out = trio.open_memory_channel[Inbound](10)
    with trio.fail_after(10):
        async with (
            open_transports(["sips:127.0.0.1:0"], server_config, inbox=b_in) as server,
            open_transports([], client_config, inbox=a_in) as client,
        ):
            port = server.listening[0].port
            flow = await client.send(sip_request(1), Flow("tls", ("127.0.0.1", port)))
            assert call_id(await b_out.receive()) == "call-1"
            raw = await connect(port)
            await raw.send_all(sip_request(2, transport="TCP"))  # not a TLS ClientHello
            await wait_until(lambda: server.statistics().connection_errors == 1)
            assert await client.send(sip_request(3), flow) == flow
            assert call_id(await b_out.receive()) == "call-3"


async def test_tls_listener_needs_context() -> None:
    inbox, _ = trio.open_memory_channel[Inbound](1)
    with pytest.raises(ValueError, match="tls_server_context"):
        async with open_transports(["sips:127.0.0.1:0"], inbox=inbox):
            pass  # pragma: no cover
