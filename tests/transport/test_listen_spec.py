"""Listen-spec parsing: the drachtio contact syntax and its defaults."""

from __future__ import annotations

import pytest

from trio_srf.transport import Listening, ListenSpec, needs_congestion_control, parse_listen_spec


@pytest.mark.parametrize(
    ("text", "host", "port", "transports"),
    [
        ("sip:127.0.0.1:5060;transport=udp,tcp", "127.0.0.1", 5060, ("udp", "tcp")),
        ("sip:127.0.0.1:5070", "127.0.0.1", 5070, ("udp", "tcp")),
        ("sip:127.0.0.1", "127.0.0.1", 5060, ("udp", "tcp")),
        ("sips:127.0.0.1:5061", "127.0.0.1", 5061, ("tls",)),
        ("sips:127.0.0.1", "127.0.0.1", 5061, ("tls",)),
        ("sip:[::1]:5060;transport=ws", "::1", 5060, ("ws",)),
        ("sips:[::1]:8443;transport=wss", "::1", 8443, ("wss",)),
        ("sips:10.0.0.1:443;transport=ws", "10.0.0.1", 443, ("wss",)),
        ("sips:10.0.0.1:5061;transport=tcp", "10.0.0.1", 5061, ("tls",)),
        ("sip:0.0.0.0:0;transport=TCP,udp,tcp", "0.0.0.0", 0, ("tcp", "udp")),
        ("SIP:[::]:0;Transport=tls", "::", 0, ("tls",)),
        ("sip:[2001:db8::1]", "2001:db8::1", 5060, ("udp", "tcp")),
    ],
)
def test_parse(text: str, host: str, port: int, transports: tuple[str, ...]) -> None:
    assert parse_listen_spec(text) == ListenSpec(host, port, transports)
    assert ListenSpec.parse(text) == ListenSpec(host, port, transports)


@pytest.mark.parametrize(
    "text",
    [
        "127.0.0.1:5060",
        "tel:+1555",
        "sip:",
        "sip::5060",
        "sip:127.0.0.1:99999",
        "sip:127.0.0.1:50x",
        "sip:::1:5060",
        "sip:[::1:5060",
        "sip:[nothex]:5060",
        "sip:[::1]x",
        "sip:127.0.0.1;transport=sctp",
        "sip:127.0.0.1;lr",
        "sips:127.0.0.1;transport=udp",
    ],
)
def test_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_listen_spec(text)


def test_listening_contact() -> None:
    assert Listening("tcp", "::1", 5070).contact == "sip:[::1]:5070;transport=tcp"
    assert Listening("wss", "127.0.0.1", 443).contact == "sips:127.0.0.1:443;transport=wss"


def test_size_rule() -> None:
    # RFC 3261 §18.1.1: 1300 bytes with an unknown MTU, MTU - 200 otherwise.
    assert not needs_congestion_control(1300)
    assert needs_congestion_control(1301)
    assert not needs_congestion_control(1300, mtu=1500)
    assert needs_congestion_control(1301, mtu=1500)
    assert needs_congestion_control(8801, mtu=9000)
    assert not needs_congestion_control(8800, mtu=9000)
