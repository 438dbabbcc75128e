"""RFC 3263 resolution: selection and ordering from DNS tables, plus the real dnspython path."""

from __future__ import annotations

import random

import dns.asyncresolver
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest
import trio

from trio_srf.sip import SipURI, parse_uri
from trio_srf.transport._resolve import (
    NaptrRecord,
    Resolver,
    SrvRecord,
    StaticDns,
    SystemDns,
    Target,
    order_srv,
    resolve_targets,
)


def uri(text: str) -> SipURI:
    parsed = parse_uri(text)
    assert isinstance(parsed, SipURI)
    return parsed


# RFC 3263 §4.1's example domain, with SRV and A data for each service.
EXAMPLE = StaticDns(
    naptr={
        "example.com": [
            NaptrRecord(90, 50, "s", "SIP+D2T", "_sip._tcp.example.com"),
            NaptrRecord(100, 50, "s", "SIP+D2U", "_sip._udp.example.com"),
            NaptrRecord(50, 50, "s", "SIPS+D2T", "_sips._tcp.example.com"),
            NaptrRecord(60, 50, "s", "SIP+D2X", "_sip._x.example.com"),  # unknown service
            NaptrRecord(70, 50, "u", "SIP+D2T", "!^.*$!sip:x@y!"),  # not an SRV pointer
        ]
    },
    srv={
        "_sips._tcp.example.com": [SrvRecord(0, 0, 5061, "tls.example.com")],
        "_sip._tcp.example.com": [
            SrvRecord(20, 0, 5070, "tcp2.example.com"),
            SrvRecord(10, 0, 5060, "tcp1.example.com"),
        ],
        "_sip._udp.example.com": [SrvRecord(0, 0, 5060, "udp.example.com")],
    },
    addresses={
        "tls.example.com": ["192.0.2.10", "2001:db8::10"],
        "tcp1.example.com": ["192.0.2.21"],
        "tcp2.example.com": ["192.0.2.22"],
        "udp.example.com": ["192.0.2.30"],
        "example.com": ["192.0.2.1"],
    },
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sip:alice@192.0.2.4", Target("udp", "192.0.2.4", 5060)),
        ("sips:alice@192.0.2.4", Target("tls", "192.0.2.4", 5061)),
        ("sip:192.0.2.4:5080;transport=tcp", Target("tcp", "192.0.2.4", 5080)),
        ("sips:192.0.2.4;transport=tcp", Target("tls", "192.0.2.4", 5061)),
        ("sip:[2001:db8::4];transport=ws", Target("ws", "2001:db8::4", 5060)),
        ("sips:[2001:db8::4]:443;transport=ws", Target("wss", "2001:db8::4", 443)),
        ("sip:bob@example.com;maddr=192.0.2.9", Target("udp", "192.0.2.9", 5060)),
    ],
)
async def test_numeric_targets_skip_dns(text: str, expected: Target) -> None:
    source = StaticDns()
    assert await resolve_targets(uri(text), dns=source) == [expected]
    assert source.queries == []


async def test_explicit_port_uses_only_a_records() -> None:
    source = StaticDns(addresses={"example.com": ["192.0.2.1", "2001:db8::1"]})
    got = await resolve_targets(uri("sip:bob@example.com:5099"), dns=source)
    assert got == [
        Target("udp", "192.0.2.1", 5099, "example.com"),
        Target("udp", "2001:db8::1", 5099, "example.com"),
    ]
    assert source.queries == [("A/AAAA", "example.com")]


async def test_naptr_order_then_srv_priority() -> None:
    got = await Resolver(EXAMPLE, rng=random.Random(1)).resolve(uri("sip:bob@example.com"))
    assert got == [
        Target("tls", "192.0.2.10", 5061, "example.com"),
        Target("tls", "2001:db8::10", 5061, "example.com"),
        Target("tcp", "192.0.2.21", 5060, "example.com"),
        Target("tcp", "192.0.2.22", 5070, "example.com"),
        Target("udp", "192.0.2.30", 5060, "example.com"),
    ]


async def test_sips_keeps_only_secure_naptr() -> None:
    got = await resolve_targets(uri("sips:bob@example.com"), dns=EXAMPLE)
    assert got == [
        Target("tls", "192.0.2.10", 5061, "example.com"),
        Target("tls", "2001:db8::10", 5061, "example.com"),
    ]


async def test_unsupported_transports_are_skipped() -> None:
    got = await resolve_targets(uri("sip:bob@example.com"), dns=EXAMPLE, transports=("udp",))
    assert got == [Target("udp", "192.0.2.30", 5060, "example.com")]
    assert (
        await resolve_targets(
            uri("sip:bob@example.com;transport=tcp"), dns=EXAMPLE, transports=("udp",)
        )
        == []
    )


async def test_transport_param_goes_straight_to_srv() -> None:
    source = StaticDns(
        srv={"_sip._tcp.example.net": [SrvRecord(0, 0, 5099, "pbx.example.net")]},
        addresses={"pbx.example.net": ["198.51.100.7"]},
    )
    got = await resolve_targets(uri("sip:bob@example.net;transport=tcp"), dns=source)
    assert got == [Target("tcp", "198.51.100.7", 5099, "example.net")]
    assert source.queries == [("SRV", "_sip._tcp.example.net"), ("A/AAAA", "pbx.example.net")]


async def test_srv_fallback_in_preference_order_then_a_records() -> None:
    source = StaticDns(
        srv={
            "_sip._udp.example.org": [SrvRecord(0, 0, 5060, "u.example.org")],
            "_sips._tcp.example.org": [SrvRecord(0, 0, 5061, "t.example.org")],
        },
        addresses={"u.example.org": ["203.0.113.1"], "t.example.org": ["203.0.113.2"]},
    )
    got = await resolve_targets(
        uri("sip:bob@example.org"), dns=source, transports=("tls", "tcp", "udp")
    )
    assert got == [
        Target("tls", "203.0.113.2", 5061, "example.org"),
        Target("udp", "203.0.113.1", 5060, "example.org"),
    ]
    assert source.queries[:4] == [
        ("NAPTR", "example.org"),
        ("SRV", "_sips._tcp.example.org"),
        ("A/AAAA", "t.example.org"),
        ("SRV", "_sip._tcp.example.org"),
    ]
    bare = StaticDns(addresses={"example.org": ["203.0.113.9"]})
    assert await resolve_targets(uri("sips:bob@example.org"), dns=bare) == [
        Target("tls", "203.0.113.9", 5061, "example.org")
    ]
    assert await resolve_targets(uri("sip:bob@nowhere.invalid"), dns=bare) == []


def test_order_srv_priority_weights_and_dot() -> None:
    records = [
        SrvRecord(20, 0, 1, "c"),
        SrvRecord(10, 0, 1, "zero"),
        SrvRecord(10, 100, 1, "heavy"),
        SrvRecord(5, 0, 1, "."),
    ]
    rng = random.Random(7)
    firsts = {"zero": 0, "heavy": 0}
    for _ in range(2000):
        order = order_srv(records, rng)
        assert [r.target for r in order][2] == "c"  # priority 20 is always last
        assert {r.target for r in order[:2]} == {"zero", "heavy"}
        firsts[order[0].target] += 1
    # RFC 2782: the zero-weight record comes first only when the draw is 0 (1 in 101).
    assert firsts["heavy"] > 1900 and 0 < firsts["zero"] < 100


def test_order_srv_weight_share() -> None:
    records = [SrvRecord(0, 75, 1, "a"), SrvRecord(0, 25, 1, "b")]
    rng = random.Random(3)
    first_a = sum(order_srv(records, rng)[0].target == "a" for _ in range(4000))
    assert 2800 < first_a < 3200  # about 75 %


async def _serve_dns(sock: trio.socket.SocketType, zone: dict[tuple[str, int], list[str]]) -> None:
    """A tiny authoritative DNS server on loopback: a real DNS data source, no network."""
    while True:
        data, addr = await sock.recvfrom(4096)
        query = dns.message.from_wire(data)
        response = dns.message.make_response(query)
        question = query.question[0]
        rdatas = zone.get((question.name.to_text(), question.rdtype))
        if rdatas:
            response.answer.append(
                dns.rrset.from_text(question.name, 60, "IN", question.rdtype, *rdatas)
            )
        else:
            response.set_rcode(dns.rcode.NXDOMAIN)
        await sock.sendto(response.to_wire(), addr)


async def test_real_dnspython_resolver_on_trio_against_local_server() -> None:
    zone = {
        ("example.test.", dns.rdatatype.NAPTR): [
            '10 10 "s" "SIP+D2T" "" _sip._tcp.example.test.',
            '20 10 "s" "SIP+D2U" "" _sip._udp.example.test.',
        ],
        ("_sip._tcp.example.test.", dns.rdatatype.SRV): ["0 0 5070 localhost."],
        ("_sip._udp.example.test.", dns.rdatatype.SRV): ["0 0 5080 localhost."],
    }
    with trio.fail_after(10), trio.socket.socket(type=trio.socket.SOCK_DGRAM) as sock:
        await sock.bind(("127.0.0.1", 0))
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_serve_dns, sock, zone)
            resolver = dns.asyncresolver.Resolver(configure=False)
            resolver.nameservers = ["127.0.0.1"]
            resolver.port = sock.getsockname()[1]
            source = SystemDns(resolver, lifetime=5)
            naptr = await source.naptr("example.test")
            assert sorted(naptr, key=lambda r: r.order) == [
                NaptrRecord(10, 10, "s", "SIP+D2T", "_sip._tcp.example.test"),
                NaptrRecord(20, 10, "s", "SIP+D2U", "_sip._udp.example.test"),
            ]
            assert await source.naptr("missing.example.test") == []
            got = await resolve_targets(uri("sip:bob@example.test"), dns=source)
            # localhost comes from the hosts file through getaddrinfo.
            v4 = [t for t in got if ":" not in t.host]
            assert v4 == [
                Target("tcp", "127.0.0.1", 5070, "example.test"),
                Target("udp", "127.0.0.1", 5080, "example.test"),
            ]
            nursery.cancel_scope.cancel()


async def test_real_path_localhost_and_literal() -> None:
    # Explicit port: no NAPTR/SRV, so no DNS server is consulted; hosts file only.
    with trio.fail_after(10):
        got = await resolve_targets(uri("sip:bob@localhost:5090;transport=tcp"))
        assert Target("tcp", "127.0.0.1", 5090, "localhost") in got
        assert all(t.transport == "tcp" and t.port == 5090 for t in got)
        assert await resolve_targets(uri("sips:[::1]")) == [Target("tls", "::1", 5061)]


def test_resolve_literal_answers_only_what_needs_no_lookup() -> None:
    r = Resolver(StaticDns(), transports=("udp", "tcp", "tls"))
    assert r.resolve_literal(uri("sip:bob@192.0.2.4:5070")) == [Target("udp", "192.0.2.4", 5070)]
    assert r.resolve_literal(uri("sip:[2001:db8::1];transport=tcp")) == [
        Target("tcp", "2001:db8::1", 5060)
    ]
    assert r.resolve_literal(uri("sips:192.0.2.4")) == [Target("tls", "192.0.2.4", 5061)]
    assert r.resolve_literal(uri("sip:host.example.com;maddr=192.0.2.9")) == [
        Target("udp", "192.0.2.9", 5060)
    ]
    assert r.resolve_literal(uri("sip:example.com")) is None  # needs DNS
    assert r.resolve_literal(uri("sips:192.0.2.4;transport=udp")) == []  # no such thing
    assert r.resolve_literal(uri("sip:192.0.2.4;transport=ws")) == []  # not ours


async def test_resolve_gives_the_literal_answer_without_dns() -> None:
    r = Resolver(StaticDns(), transports=("udp",))
    assert await r.resolve(uri("sip:192.0.2.4")) == [Target("udp", "192.0.2.4", 5060)]
