"""Run the RFC 4475 / RFC 5118 torture corpus three ways (h11 ``test_io.py`` style).

Every message in :mod:`torture_corpus` is

1. fed whole to :func:`trio_srf.sip.parse` (a datagram),
2. fed byte by byte to a :class:`StreamFramer`, pulling events after every byte,
3. fed with trailing garbage: ``parse`` must truncate the body to
   Content-Length (RFC 3261 §18.3) and the framer must return the same message
   and keep the garbage buffered as the start of the next one.

Valid cases check the exact typed views; invalid cases check the exact
``status_hint``, ``can_answer``, recovered Call-ID and ``is_request``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest

from trio_srf.errors import RemoteProtocolError
from trio_srf.sip import KeepAlive, Request, Response, StreamFramer, parse

from .torture_corpus import INVALID, VALID, Invalid, Valid

GARBAGE = b"XYZZY \x00\xff trailing garbage"


def _params(cases: Iterable[Valid | Invalid]) -> list[Any]:
    out = []
    for case in cases:
        marks = [pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else []
        out.append(pytest.param(case, id=case.name, marks=marks))
    return out


VIEWS: dict[str, Callable[[Any], Any]] = {
    "max_forwards": lambda m: m.max_forwards,
    "version": lambda m: m.version,
    "from_display": lambda m: m.from_.display_name,
    "to_display": lambda m: m.to.display_name,
    "from_uri": lambda m: str(m.from_.uri),
    "route_uris": lambda m: tuple(str(r.uri) for r in m.route),
    "record_route_uris": lambda m: tuple(str(r.uri) for r in m.record_route),
    "contact_uris": lambda m: tuple(str(c.uri) for c in m.contact),
    "contact_display": lambda m: m.contact[0].display_name,
    "contact_q": lambda m: m.contact[0].q,
    "request_uri_scheme": lambda m: m.request_uri.scheme,
    "request_uri_user": lambda m: m.request_uri.user,
    "request_uri_host": lambda m: m.request_uri.host,
    "request_uri_port": lambda m: m.request_uri.port,
    "request_uri_params": lambda m: m.request_uri.params,
    "content_type": lambda m: m.content_type.mime,
    "supported": lambda m: m.supported,
    "top_via_received": lambda m: m.top_via.received,
    "top_via_rport": lambda m: m.top_via.rport,
    "top_via_rport_flag": lambda m: m.top_via.has_rport,
}


def _view(m: Any, key: str) -> Any:
    if key.startswith("from_param:"):
        return m.from_.get_param(key.partition(":")[2])
    return VIEWS[key](m)


def check_valid(m: Request | Response, case: Valid) -> None:
    """Assert every expectation of ``case`` on the parsed message ``m``."""
    if case.method is not None:
        assert isinstance(m, Request)
        assert m.method == case.method
        assert m.uri == case.uri
        assert str(m.request_uri) == case.uri
    else:
        assert isinstance(m, Response)
        assert m.status == case.status
        assert m.reason == case.reason
    assert m.call_id == case.call_id
    assert (m.cseq.seq, m.cseq.method) == case.cseq
    assert [(v.transport, v.host, v.port, v.branch) for v in m.via] == list(case.vias)
    assert m.top_via.branch == case.vias[0][3]
    assert m.from_.tag == case.from_tag
    assert str(m.to.uri) == case.to_uri
    assert m.to.tag == case.to_tag
    assert m.body == case.body
    assert m.content_length == len(case.body)
    for name, values in case.headers.items():
        assert m.headers.get_all(name) == list(values), name
    for key, expected in case.views.items():
        assert _view(m, key) == expected, key


def feed_bytewise(framer: StreamFramer, data: bytes) -> list[Request | Response | KeepAlive]:
    """Feed one byte at a time, pulling every event after each byte."""
    events: list[Request | Response | KeepAlive] = []
    for i in range(len(data)):
        framer.feed(data[i : i + 1])
        events += framer.events()
    return events


def messages(events: list[Request | Response | KeepAlive]) -> list[Request | Response]:
    return [e for e in events if not isinstance(e, KeepAlive)]


# -- valid messages --------------------------------------------------------------


def test_corpus_size() -> None:
    assert len(VALID) >= 30
    assert len(INVALID) >= 30
    assert len({c.name for c in VALID}) == len(VALID)
    assert len({c.name for c in INVALID}) == len(INVALID)


@pytest.mark.parametrize("case", _params(VALID))
def test_valid_whole(case: Valid) -> None:
    m = parse(case.data)
    check_valid(m, case)
    # What the parser produced serializes to something that parses back equal.
    assert parse(m.serialize()) == m


@pytest.mark.parametrize("case", _params(VALID))
def test_valid_bytewise_stream(case: Valid) -> None:
    framer = StreamFramer()
    if not case.stream:
        # RFC 3261 §18.3: on a stream Content-Length is the only framing there is.
        with pytest.raises(RemoteProtocolError) as info:
            feed_bytewise(framer, case.data)
        assert info.value.status_hint == 400
        return
    events = feed_bytewise(framer, case.data)
    msgs = messages(events)
    assert len(msgs) == case.stream_messages
    assert msgs[0] == parse(case.data)
    check_valid(msgs[0], case)
    assert framer.next_event() is None
    assert framer.buffered == 0


@pytest.mark.parametrize("case", _params(VALID))
def test_valid_trailing_garbage(case: Valid) -> None:
    m = parse(case.data + GARBAGE)
    if case.stream:
        # The body is cut at Content-Length; the rest of the datagram is ignored.
        assert m == parse(case.data)
        check_valid(m, case)
    else:
        # Without Content-Length the body runs to the end of the datagram.
        assert m.body == case.body + GARBAGE
        return
    framer = StreamFramer()
    framer.feed(case.data + GARBAGE)
    msgs = messages(framer.events())
    assert len(msgs) == case.stream_messages
    assert msgs[0] == m
    assert framer.next_event() is None
    assert framer.buffered == len(GARBAGE)


# -- invalid messages ------------------------------------------------------------


def check_error(err: RemoteProtocolError, case: Invalid, status: int) -> None:
    assert type(err) is RemoteProtocolError
    assert err.status_hint == status
    assert err.can_answer is case.can_answer
    assert err.call_id == case.call_id
    if case.is_request is not None:
        assert err.is_request is case.is_request


@pytest.mark.parametrize("case", _params(INVALID))
def test_invalid_whole(case: Invalid) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        parse(case.data)
    check_error(info.value, case, case.status_hint)


def _expect_stream(case: Invalid, framer: StreamFramer, feed: Callable[[], list[Any]]) -> None:
    if case.stream == "incomplete":
        events = feed()
        assert messages(events) == []
        assert framer.next_event() is None
        return
    assert case.stream == "error"
    with pytest.raises(RemoteProtocolError) as info:
        feed()
    check_error(info.value, case, case.stream_status or case.status_hint)
    # Framing is lost: the framer stays broken and says so every time.
    with pytest.raises(RemoteProtocolError) as again:
        framer.next_event()
    assert again.value is info.value
    with pytest.raises(RemoteProtocolError):
        framer.feed(b"OPTIONS sip:x SIP/2.0\r\n")


@pytest.mark.parametrize("case", _params(INVALID))
def test_invalid_bytewise_stream(case: Invalid) -> None:
    framer = StreamFramer()
    _expect_stream(case, framer, lambda: feed_bytewise(framer, case.data))
    if case.stream == "incomplete":
        assert framer.buffered == len(case.data)


@pytest.mark.parametrize("case", _params(INVALID))
def test_invalid_trailing_garbage(case: Invalid) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        parse(case.data + GARBAGE)
    check_error(info.value, case, case.status_hint)
    framer = StreamFramer()

    def feed() -> list[Any]:
        framer.feed(case.data + GARBAGE)
        return framer.events()

    _expect_stream(case, framer, feed)
