"""Regression tests for L1 defects found by the torture-test author.

* RFC 3261 §25.1 / RFC 4475 §3.1.1.2: a quoted-pair inside a quoted-string may
  escape a control character (not CR/LF); any other control is still refused.
* A start line can never carry CR, LF or NUL (header injection), whether set
  at construction or afterwards.
* An oversized datagram is 513 even when it has no empty line.
* Hostile 5000-digit numbers never reach ``int()`` unbounded: only protocol
  errors come out (CPython limits int/str conversion to 4300 digits).
"""

from __future__ import annotations

import pytest

from trio_srf.errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from trio_srf.sip import ParserLimits, Request, Response, StreamFramer, parse
from trio_srf.sip._parsed import parse_int_header

HUGE = "9" * 5000


def _invite(*, to: str = "<sip:bob@biloxi.example.com>", **over: str) -> bytes:
    headers = {
        "Via": "SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds",
        "Max-Forwards": "70",
        "To": to,
        "From": "<sip:alice@atlanta.example.com>;tag=1928301774",
        "Call-ID": "a84b4c76e66710@pc33.atlanta.example.com",
        "CSeq": "314159 INVITE",
        "Content-Length": "0",
    }
    start = over.pop("start", "INVITE sip:bob@biloxi.example.com SIP/2.0")
    headers.update(over)
    lines = [start] + [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape")


# -- a. escaped control characters in quoted strings -----------------------------


@pytest.mark.parametrize("ctl", ["\x00", "\x07", "\x08", "\x0b", "\x0c", "\x1f", "\x7f"])
def test_escaped_control_in_quoted_display_name_is_valid(ctl: str) -> None:
    msg = parse(_invite(to=f'"a\\{ctl}b" <sip:bob@biloxi.example.com>'))
    assert msg.to.display_name == f"a{ctl}b"
    assert msg.headers.get("to") == f'"a\\{ctl}b" <sip:bob@biloxi.example.com>'
    assert parse(msg.serialize()) == msg


@pytest.mark.parametrize(
    "to",
    [
        '"a\x07b" <sip:bob@biloxi.example.com>',  # unescaped inside quotes
        "a\\\x07b <sip:bob@biloxi.example.com>",  # escaped but not in quotes
        '<sip:bob@biloxi.example.com>;x="\\\x07"\x07',  # one escaped, one not
        '"\\\\"\x07"" <sip:bob@biloxi.example.com>',  # the backslash is escaped itself
        '"a\\\rb" <sip:bob@biloxi.example.com>',  # CR can never be escaped
    ],
)
def test_unescaped_control_in_a_header_is_rejected(to: str) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        parse(_invite(to=to))
    assert info.value.status_hint == 400
    assert info.value.call_id == "a84b4c76e66710@pc33.atlanta.example.com"


def test_escaped_control_through_the_framer() -> None:
    data = _invite(to='"x\\\x00y" <sip:bob@biloxi.example.com>')
    framer = StreamFramer()
    framer.feed(data)
    msg = framer.next_event()
    assert isinstance(msg, Request)
    assert msg.to.display_name == "x\x00y"


# -- b. no CR/LF/NUL in a start line ----------------------------------------------


@pytest.mark.parametrize("bad", ["\r", "\n", "\x00", "\r\nVia: SIP/2.0/UDP evil"])
def test_request_start_line_injection_raises(bad: str) -> None:
    with pytest.raises(LocalProtocolError):
        Request("INVITE" + bad, "sip:bob@example.com")
    with pytest.raises(LocalProtocolError):
        Request("INVITE", "sip:bob@example.com" + bad)
    req = Request("INVITE", "sip:bob@example.com")
    req.uri = "sip:bob@example.com" + bad
    with pytest.raises(LocalProtocolError):
        req.serialize()
    req = Request("INVITE", "sip:bob@example.com")
    req.method = bad + "INVITE"
    with pytest.raises(LocalProtocolError):
        req.serialize()


@pytest.mark.parametrize("bad", ["\r", "\n", "\x00", "OK\r\nX-Evil: 1"])
def test_response_reason_injection_raises(bad: str) -> None:
    with pytest.raises(LocalProtocolError):
        Response(200, "OK" + bad)
    resp = Response(200, "OK")
    resp.reason = bad
    with pytest.raises(LocalProtocolError):
        resp.serialize()
    req = parse(_invite())
    assert isinstance(req, Request)
    with pytest.raises(LocalProtocolError):
        req.make_response(486, "Busy" + bad)


def test_clean_start_lines_still_serialize() -> None:
    assert (
        Request("OPTIONS", "sip:x.example.com")
        .serialize()
        .startswith(b"OPTIONS sip:x.example.com SIP/2.0\r\n")
    )
    assert Response(180, "").serialize().startswith(b"SIP/2.0 180 \r\n")


# -- c. 513 for an oversized datagram, with or without an empty line ---------------


def test_oversized_datagram_without_empty_line_is_513() -> None:
    data = _invite().rstrip(b"\r\n") + b"\r\nX-Pad: " + b"a" * 70000
    assert b"\r\n\r\n" not in data and not data.endswith(b"\n")
    with pytest.raises(RemoteProtocolError) as info:
        parse(data)
    assert info.value.status_hint == 513
    assert info.value.call_id == "a84b4c76e66710@pc33.atlanta.example.com"
    assert info.value.cseq == "314159 INVITE"


def test_oversized_datagram_with_empty_line_is_513() -> None:
    data = _invite().replace(b"Content-Length: 0", b"Content-Length: 70000") + b"v" * 70000
    with pytest.raises(RemoteProtocolError) as info:
        parse(data)
    assert info.value.status_hint == 513
    assert info.value.via == ["SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds"]


def test_small_limit_without_empty_line_is_513_not_400() -> None:
    data = _invite().rstrip(b"\r\n") + b"\r\nX-Pad: abc"
    with pytest.raises(RemoteProtocolError) as info:
        parse(data, limits=ParserLimits(max_message_size=100))
    assert info.value.status_hint == 513
    with pytest.raises(RemoteProtocolError) as info:
        parse(data)
    assert info.value.status_hint == 400


# -- d. 5000-digit numbers --------------------------------------------------------


@pytest.mark.parametrize(
    "over",
    [
        {"CSeq": f"{HUGE} INVITE"},
        {"Max-Forwards": HUGE},
        {"Content-Length": HUGE},
        {"Via": f"SIP/2.0/UDP pc33.atlanta.example.com:{HUGE};branch=z9hG4bK776asdhds"},
        {"Via": f"SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK7;rport={HUGE}"},
        {"start": f"INVITE sip:bob@biloxi.example.com:{HUGE} SIP/2.0"},
        {"To": f"<sip:bob@biloxi.example.com:{HUGE}>"},
    ],
    ids=["cseq", "max-forwards", "content-length", "via-port", "rport", "ruri-port", "to-port"],
)
def test_huge_numbers_are_protocol_errors(over: dict[str, str]) -> None:
    data = _invite(**over)
    with pytest.raises(RemoteProtocolError) as info:
        parse(data)
    assert info.value.status_hint == 400
    framer = StreamFramer()
    with pytest.raises(RemoteProtocolError):
        framer.feed(data)
        framer.next_event()


def test_huge_expires_and_other_numbers_are_protocol_errors() -> None:
    msg = parse(_invite(Expires=HUGE))
    with pytest.raises(LocalProtocolError):
        _ = msg.expires
    with pytest.raises(LocalProtocolError):
        parse_int_header(HUGE, "Expires")
    msg = parse(_invite(Contact=f"<sip:alice@pc33.atlanta.example.com>;expires={HUGE}"))
    with pytest.raises(ProtocolError):
        _ = msg.contact
    with pytest.raises(RemoteProtocolError) as info:
        parse(_invite(Via=f"SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK7;ttl={HUGE}"))
    assert info.value.status_hint == 400


def test_non_ascii_digits_are_not_numbers() -> None:
    # \d would match these and int() would accept them.
    for over in (
        {"Content-Length": "\u0660"},
        {"CSeq": "\u0661 INVITE"},
        {"Max-Forwards": "\u0667"},
    ):
        with pytest.raises(RemoteProtocolError) as info:
            parse(_invite(**over))
        assert info.value.status_hint == 400
    with pytest.raises(RemoteProtocolError):
        parse(b"SIP/2.0 2\xd9\xa0\xd9\xa0 OK\r\n\r\n")


# -- recent From/To values are parsed once ----------------------------------------


def test_a_calls_repeated_from_and_to_share_one_parsed_view() -> None:
    first = parse(_invite(to="<sip:carol@chicago.example.com>"))
    again = parse(_invite(to="<sip:carol@chicago.example.com>"))
    assert again.from_ is first.from_ and again.to is first.to
    assert (again.to.uri.host, again.from_.tag) == ("chicago.example.com", "1928301774")
    other = parse(_invite(to="<sip:dave@chicago.example.com>"))
    assert other.to is not first.to and other.to.uri.user == "dave"


def test_an_invalid_to_is_rejected_every_time_and_never_remembered() -> None:
    from trio_srf.sip import _parser

    bad = "<sip:bob@bad host>"
    for _ in range(2):
        with pytest.raises(RemoteProtocolError) as info:
            parse(_invite(to=bad))
        assert info.value.status_hint == 400
    assert bad not in _parser._NAME_ADDRS


def test_the_recent_values_table_stays_bounded() -> None:
    from trio_srf.sip import _parser

    for i in range(_parser._NAME_ADDRS_MAX + 50):
        parse(_invite(to=f"<sip:user{i}@biloxi.example.com>"))
    assert len(_parser._NAME_ADDRS) <= _parser._NAME_ADDRS_MAX
    # Full, it starts afresh: the newest is there, the oldest is not.
    assert f"<sip:user{_parser._NAME_ADDRS_MAX + 49}@biloxi.example.com>" in _parser._NAME_ADDRS
    assert "<sip:user0@biloxi.example.com>" not in _parser._NAME_ADDRS
