"""Helpers shared by the transport tests: SIP messages and inbox plumbing."""

from __future__ import annotations

import socket

import trio

from trio_srf.transport import Inbound


def sip_request(n: int, body: bytes = b"", *, transport: str = "UDP") -> bytes:
    """An OPTIONS request whose Call-ID and CSeq carry ``n``."""
    head = (
        f"OPTIONS sip:bob@example.com SIP/2.0\r\n"
        f"Via: SIP/2.0/{transport} 192.0.2.1:5060;branch=z9hG4bK-{n}\r\n"
        f"Max-Forwards: 70\r\n"
        f"From: <sip:alice@example.com>;tag=t{n}\r\n"
        f"To: <sip:bob@example.com>\r\n"
        f"Call-ID: call-{n}\r\n"
        f"CSeq: {n} OPTIONS\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def sip_response(n: int) -> bytes:
    """A 200 OK answering :func:`sip_request` ``n``."""
    return (
        f"SIP/2.0 200 OK\r\n"
        f"Via: SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bK-{n}\r\n"
        f"From: <sip:alice@example.com>;tag=t{n}\r\n"
        f"To: <sip:bob@example.com>;tag=b{n}\r\n"
        f"Call-ID: call-{n}\r\n"
        f"CSeq: {n} OPTIONS\r\n"
        f"Content-Length: 0\r\n\r\n"
    ).encode()


def call_id(item: Inbound) -> str:
    """The Call-ID of a delivered item, parsing raw data if needed."""
    from trio_srf.sip import parse

    if item.message is not None:
        return item.message.call_id
    assert item.data is not None
    return parse(item.data).call_id


def have_ipv6() -> bool:
    """Whether ::1 can be bound here."""
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


async def receive_until_closed(stream: trio.abc.ReceiveStream, limit: float = 5.0) -> bytes:
    """Read everything until EOF (or a reset), within ``limit`` seconds."""
    out = bytearray()
    with trio.fail_after(limit):
        while True:
            try:
                chunk = await stream.receive_some(65536)
            except trio.BrokenResourceError:
                break
            if not chunk:
                break
            out += chunk
    return bytes(out)


async def wait_until(predicate: object, limit: float = 5.0) -> None:
    """Poll ``predicate()`` until true (counters have no event to wait on)."""
    assert callable(predicate)
    with trio.fail_after(limit):
        while not predicate():
            await trio.sleep(0.005)
