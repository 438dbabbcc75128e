"""StreamFramer: pipelining, arbitrary chunking, RFC 5626 keep-alives, limits, errors.

RFC 3261 §18.3: on a stream transport Content-Length is the only framing, so it
is mandatory; RFC 5626 §4.4.1: a double CRLF between messages is a keep-alive
ping, a single CRLF is the pong.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings, strategies as st

from trio_srf.errors import RemoteProtocolError
from trio_srf.sip import KeepAlive, ParserLimits, Request, Response, StreamFramer, parse

from .torture_corpus import VALID

STREAM_CASES = [c for c in VALID if c.stream and not c.xfail and c.stream_messages == 1]
PIPELINE = b"".join(c.data for c in STREAM_CASES)
EXPECTED = [parse(c.data) for c in STREAM_CASES]

OPTIONS = (
    b"OPTIONS sip:carol@chicago.example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/TCP pc33.atlanta.example.com;branch=z9hG4bKhjhs8ass877\r\n"
    b"Max-Forwards: 70\r\n"
    b"To: <sip:carol@chicago.example.com>\r\n"
    b"From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n"
    b"Call-ID: a84b4c76e66710\r\n"
    b"CSeq: 63104 OPTIONS\r\n"
    b"Content-Length: 0\r\n"
    b"\r\n"
)


def only_messages(events: list[Request | Response | KeepAlive]) -> list[Request | Response]:
    return [e for e in events if not isinstance(e, KeepAlive)]


def test_pipeline_covers_many_messages() -> None:
    assert len(STREAM_CASES) >= 30


def test_pipelined_messages_in_one_chunk() -> None:
    framer = StreamFramer()
    framer.feed(PIPELINE)
    assert only_messages(framer.events()) == EXPECTED
    assert framer.next_event() is None
    assert framer.buffered == 0


def test_pipelined_bytewise() -> None:
    framer = StreamFramer()
    got: list[Request | Response | KeepAlive] = []
    for i in range(len(PIPELINE)):
        framer.feed(PIPELINE[i : i + 1])
        got += framer.events()
    assert only_messages(got) == EXPECTED


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, len(PIPELINE)), max_size=60))
def test_random_chunk_boundaries(cuts: list[int]) -> None:
    bounds = [0, *sorted(cuts), len(PIPELINE)]
    framer = StreamFramer()
    got: list[Request | Response | KeepAlive] = []
    for a, b in itertools.pairwise(bounds):
        framer.feed(PIPELINE[a:b])
        got += framer.events()
    assert only_messages(got) == EXPECTED
    assert framer.buffered == 0


def test_body_arrives_later() -> None:
    data = OPTIONS.replace(b"Content-Length: 0", b"Content-Length: 10") + b"0123456789"
    head = data[:-10]
    framer = StreamFramer()
    framer.feed(head)
    assert framer.next_event() is None
    assert framer.buffered == len(head)
    framer.feed(b"01234")
    assert framer.next_event() is None
    framer.feed(b"56789" + OPTIONS[:5])
    m = framer.next_event()
    assert isinstance(m, Request)
    assert m.body == b"0123456789"
    assert framer.next_event() is None
    assert framer.buffered == 5


# -- RFC 5626 keep-alives ----------------------------------------------------------


def test_double_crlf_is_a_ping() -> None:
    framer = StreamFramer()
    framer.feed(b"\r\n\r\n")
    assert framer.next_event() == KeepAlive(ping=True)
    assert framer.next_event() is None
    assert framer.buffered == 0


def test_ping_split_across_chunks() -> None:
    framer = StreamFramer()
    for byte in b"\r\n\r":
        framer.feed(bytes([byte]))
        assert framer.next_event() is None
    framer.feed(b"\n")
    assert framer.next_event() == KeepAlive(ping=True)


def test_single_crlf_before_a_message_is_a_pong() -> None:
    framer = StreamFramer()
    framer.feed(b"\r\n" + OPTIONS)
    assert framer.next_event() == KeepAlive(ping=False)
    m = framer.next_event()
    assert isinstance(m, Request)
    assert m.method == "OPTIONS"


def test_keepalives_between_pipelined_messages() -> None:
    framer = StreamFramer()
    framer.feed(OPTIONS + b"\r\n\r\n" + OPTIONS + b"\r\n" + OPTIONS + b"\r\n\r\n\r\n\r\n")
    events = framer.events()
    ping, pong = KeepAlive(ping=True), KeepAlive(ping=False)
    assert [e if isinstance(e, KeepAlive) else "msg" for e in events] == [
        "msg",
        ping,
        "msg",
        pong,
        "msg",
        ping,
        ping,
    ]


def test_ping_flood_does_not_grow_the_buffer() -> None:
    framer = StreamFramer(ParserLimits(max_message_size=1000))
    for _ in range(5000):
        framer.feed(b"\r\n\r\n")
        assert framer.next_event() == KeepAlive(ping=True)
        assert framer.buffered == 0


# -- limits ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "chunk",
    [
        b"X-Endless: " + b"a" * 89,  # one header line that never ends
        b"X-Many: " + b"b" * 90 + b"\r\n",  # header lines that never stop coming
    ],
    ids=["endless-line", "endless-headers"],
)
def test_endless_header_section_hits_513(chunk: bytes) -> None:
    limit = 2000
    framer = StreamFramer(ParserLimits(max_message_size=limit))
    framer.feed(OPTIONS.split(b"\r\n")[0] + b"\r\n")
    with pytest.raises(RemoteProtocolError) as info:
        for _ in range(1000):
            framer.feed(chunk)
            assert framer.next_event() is None
            # Never more than the limit plus the chunk just received.
            assert framer.buffered <= limit + len(chunk)
    assert info.value.status_hint == 513
    assert info.value.is_request is True
    assert not info.value.can_answer


def test_announced_body_over_limit_is_513_before_it_arrives() -> None:
    framer = StreamFramer(ParserLimits(max_message_size=2000))
    framer.feed(OPTIONS.replace(b"Content-Length: 0", b"Content-Length: 5000"))
    with pytest.raises(RemoteProtocolError) as info:
        framer.next_event()
    assert info.value.status_hint == 513
    assert info.value.can_answer
    assert info.value.call_id == "a84b4c76e66710"


def test_message_exactly_at_limit_is_accepted() -> None:
    framer = StreamFramer(ParserLimits(max_message_size=len(OPTIONS)))
    framer.feed(OPTIONS)
    assert isinstance(framer.next_event(), Request)


# -- errors ------------------------------------------------------------------------


def test_missing_content_length_on_a_stream() -> None:
    framer = StreamFramer()
    framer.feed(OPTIONS.replace(b"Content-Length: 0\r\n", b""))
    with pytest.raises(RemoteProtocolError) as info:
        framer.next_event()
    assert info.value.status_hint == 400
    assert info.value.can_answer
    assert info.value.call_id == "a84b4c76e66710"


def test_broken_framer_stays_broken() -> None:
    framer = StreamFramer()
    framer.feed(b"NOT SIP AT ALL\r\n\r\n" + OPTIONS)
    with pytest.raises(RemoteProtocolError) as first:
        framer.next_event()
    for _ in range(3):
        with pytest.raises(RemoteProtocolError) as again:
            framer.next_event()
        assert again.value is first.value
        with pytest.raises(RemoteProtocolError):
            framer.events()
        with pytest.raises(RemoteProtocolError):
            framer.feed(OPTIONS)


def test_error_after_good_messages_keeps_them() -> None:
    framer = StreamFramer()
    framer.feed(OPTIONS + OPTIONS.replace(b"SIP/2.0\r\n", b"SIP/3.0\r\n", 1))
    m = framer.next_event()
    assert isinstance(m, Request)
    with pytest.raises(RemoteProtocolError) as info:
        framer.next_event()
    assert info.value.status_hint == 505
    assert info.value.can_answer


def test_invalid_message_with_complete_body_breaks_framer() -> None:
    bad = OPTIONS.replace(b"CSeq: 63104 OPTIONS", b"CSeq: 63104 INVITE")
    framer = StreamFramer()
    framer.feed(bad + OPTIONS)
    with pytest.raises(RemoteProtocolError) as info:
        framer.next_event()
    assert info.value.status_hint == 400
    assert info.value.can_answer
    with pytest.raises(RemoteProtocolError):
        framer.next_event()
