"""Message model: header access, Headers editing, serialization, make_response (§8.2.6)."""

from __future__ import annotations

import pytest

from trio_srf.errors import LocalProtocolError
from trio_srf.sip import Headers, Request, Response, parse

INVITE = (
    b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
    b"v: SIP/2.0/UDP bigbox3.site3.atlanta.example.com;branch=z9hG4bK77ef4c2312983.1"
    b", SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKnashds8;received=192.0.2.1\r\n"
    b"Max-Forwards: 69\r\n"
    b"Record-Route: <sip:bigbox3.site3.atlanta.example.com;lr>\r\n"
    b"To: Bob <sip:bob@biloxi.example.com>\r\n"
    b"f: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n"
    b"Record-Route: <sip:p2.example.com;lr>\r\n"
    b"i: a84b4c76e66710@pc33.atlanta.example.com\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"Timestamp: 54\r\n"
    b"Contact: <sip:alice@pc33.atlanta.example.com>\r\n"
    b"X-Custom: one\r\n"
    b"x-custom: two\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 4\r\n"
    b"\r\n"
    b"v=0\n"
)

VIA_LINE = (
    "SIP/2.0/UDP bigbox3.site3.atlanta.example.com;branch=z9hG4bK77ef4c2312983.1"
    ", SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKnashds8;received=192.0.2.1"
)
FROM = "Alice <sip:alice@atlanta.example.com>;tag=1928301774"
TO = "Bob <sip:bob@biloxi.example.com>"
CALL_ID = "a84b4c76e66710@pc33.atlanta.example.com"


def invite() -> Request:
    m = parse(INVITE)
    assert isinstance(m, Request)
    return m


# -- header access -------------------------------------------------------------


def test_header_lookup_is_case_insensitive_and_compact_aware() -> None:
    m = invite()
    for name in ("Call-ID", "call-id", "CALL-ID", "i", "I"):
        assert m.get(name) == CALL_ID
        assert m.has(name)
    for name in ("Via", "via", "v", "V"):
        assert m.headers.get_all(name) == [VIA_LINE]
    for name in ("From", "f", "FROM"):
        assert m.get(name) == FROM
    assert m.get("Subject") is None
    assert m.get("s", "dflt") == "dflt"
    assert not m.has("s")


def test_content_length_is_derived_from_the_body() -> None:
    m = invite()
    assert m.get("Content-Length") == "4"
    assert m.get("l") == "4"
    assert m.has("content-length")
    assert "content-length" not in m.headers
    m.body = b"longer body"
    assert m.get("Content-Length") == "11"
    assert m.content_length == 11


def test_repeated_headers_keep_order_and_spelling() -> None:
    m = invite()
    assert m.headers.get_all("X-Custom") == ["one", "two"]
    assert m.headers.get_all("record-route") == [
        "<sip:bigbox3.site3.atlanta.example.com;lr>",
        "<sip:p2.example.com;lr>",
    ]
    names = [n for n, _ in m.headers.items()]
    assert names == [
        "v",
        "Max-Forwards",
        "Record-Route",
        "To",
        "f",
        "Record-Route",
        "i",
        "CSeq",
        "Timestamp",
        "Contact",
        "X-Custom",
        "x-custom",
        "Content-Type",
    ]


def test_typed_views() -> None:
    m = invite()
    assert [v.branch for v in m.via] == ["z9hG4bK77ef4c2312983.1", "z9hG4bKnashds8"]
    assert m.via[1].received == "192.0.2.1"
    assert m.top_via.host == "bigbox3.site3.atlanta.example.com"
    assert m.from_.tag == "1928301774"
    assert m.from_.display_name == "Alice"
    assert m.to.tag is None
    assert (m.cseq.seq, m.cseq.method) == (314159, "INVITE")
    assert m.max_forwards == 69
    assert [str(r.uri) for r in m.record_route] == [
        "sip:bigbox3.site3.atlanta.example.com;lr",
        "sip:p2.example.com;lr",
    ]
    assert m.get_parsed("i") == CALL_ID
    assert m.get_parsed("X-Custom") == ["one", "two"]


def test_mutating_headers_drops_cached_views() -> None:
    m = invite()
    assert m.top_via.branch == "z9hG4bK77ef4c2312983.1"
    m.headers.prepend("Via", "SIP/2.0/TCP proxy.example.com;branch=z9hG4bKnew")
    assert m.top_via.branch == "z9hG4bKnew"
    assert len(m.via) == 3
    m.headers.set("CSeq", "315000 INVITE")
    assert m.cseq.seq == 315000


def test_changing_one_header_keeps_the_other_headers_views() -> None:
    m = invite()
    from_ = m.from_
    m.headers.add("X-Extra", "1")
    m.headers.set("To", "<sip:carol@chicago.example.com>;tag=9")
    assert m.from_ is from_  # From's view survived the edits of other headers
    assert (m.to.uri.host, m.to.tag) == ("chicago.example.com", "9")
    m.headers.remove("From")
    with pytest.raises(LocalProtocolError):
        m.from_  # noqa: B018


def test_make_response_starts_with_the_requests_views() -> None:
    m = invite()
    vias, from_, cseq, to = m.via, m.from_, m.cseq, m.to
    r = m.make_response(200, to_tag="a6c85cf", headers=[("Contact", "<sip:bob@192.0.2.4>")])
    # The unchanged lines share the request's parsed values; To got a tag, so it is new.
    assert r.from_ is from_ and r.cseq is cseq
    assert r.via == vias and r.via is not vias
    assert r.to is not to and r.to.tag == "a6c85cf"
    # A Via edit on the response leaves the request's view alone.
    r.headers.prepend("Via", "SIP/2.0/UDP p.example.com;branch=z9hG4bKp")
    assert len(r.via) == 3 and len(m.via) == 2
    assert m.make_response(100).to is to  # no tag on a 100: To unchanged, view shared


# -- Headers editing -------------------------------------------------------------


def test_headers_add_prepend_set_remove_pop_first() -> None:
    h = Headers([("Route", "<sip:a;lr>"), ("To", "<sip:b@x>"), ("Route", "<sip:c;lr>")])
    h.add("Route", "<sip:d;lr>")
    assert h.get_all("route") == ["<sip:a;lr>", "<sip:c;lr>", "<sip:d;lr>"]
    h.prepend("Route", "<sip:first;lr>")
    assert h.items()[0] == ("Route", "<sip:first;lr>")
    h.prepend("Via", "SIP/2.0/UDP h;branch=z9hG4bK1")  # absent: goes first
    assert h.items()[0] == ("Via", "SIP/2.0/UDP h;branch=z9hG4bK1")
    assert h.pop_first("Route") == "<sip:first;lr>"
    assert h.pop_first("route") == "<sip:a;lr>"
    assert h.pop_first("Subject") is None
    h.set("route", "<sip:only;lr>")
    assert h.items() == [
        ("Via", "SIP/2.0/UDP h;branch=z9hG4bK1"),
        ("To", "<sip:b@x>"),
        ("route", "<sip:only;lr>"),
    ]
    h.set("Subject", "new")  # absent: appended
    assert h.items()[-1] == ("Subject", "new")
    assert h.remove("ROUTE") == 1
    assert h.remove("Route") == 0
    assert len(h) == 3


def test_headers_prepend_goes_before_the_first_of_its_name() -> None:
    h = Headers([("To", "<sip:b@x>"), ("Via", "SIP/2.0/UDP a"), ("Via", "SIP/2.0/UDP b")])
    h.prepend("v", "SIP/2.0/UDP top")
    assert h.items() == [
        ("To", "<sip:b@x>"),
        ("v", "SIP/2.0/UDP top"),
        ("Via", "SIP/2.0/UDP a"),
        ("Via", "SIP/2.0/UDP b"),
    ]


def test_headers_equality_ignores_spelling_not_order() -> None:
    assert Headers([("i", "x"), ("f", "<sip:a@b>")]) == Headers(
        [("Call-ID", "x"), ("FROM", "<sip:a@b>")]
    )
    assert Headers([("i", "x"), ("f", "<sip:a@b>")]) != Headers([("f", "<sip:a@b>"), ("i", "x")])
    assert Headers([("X-A", "1")]) != Headers([("X-A", "2")])


def test_headers_reject_injection_and_bad_names() -> None:
    h = Headers()
    with pytest.raises(LocalProtocolError):
        h.add("Subject", "hi\r\nVia: SIP/2.0/UDP evil")
    with pytest.raises(LocalProtocolError):
        h.add("Subject", "nul\x00")
    with pytest.raises(LocalProtocolError):
        h.set("Bad Name", "x")
    with pytest.raises(LocalProtocolError):
        h.prepend("Bad:Name", "x")
    with pytest.raises(LocalProtocolError):
        Headers([("", "x")])
    assert len(h) == 0


def test_headers_copy_is_independent() -> None:
    h = Headers([("X-A", "1")])
    c = h.copy()
    c.add("X-A", "2")
    assert h.get_all("X-A") == ["1"]
    assert c.get_all("X-A") == ["1", "2"]


def test_content_length_header_is_never_stored() -> None:
    h = Headers([("Content-Length", "99"), ("l", "5")])
    h.add("Content-Length", "7")
    h.set("l", "8")
    assert len(h) == 0


# -- serialization -----------------------------------------------------------------


def test_serialize_computes_content_length() -> None:
    req = Request(
        "MESSAGE",
        "sip:bob@biloxi.example.com",
        [
            ("Via", "SIP/2.0/TCP pc33.atlanta.example.com;branch=z9hG4bKser"),
            ("To", "<sip:bob@biloxi.example.com>"),
            ("From", "<sip:alice@atlanta.example.com>;tag=s1"),
            ("Call-ID", "ser-1"),
            ("CSeq", "1 MESSAGE"),
            ("Content-Length", "999"),
        ],
        body=b"\x00\r\n\r\nhi",
    )
    wire = req.serialize()
    assert wire == (
        b"MESSAGE sip:bob@biloxi.example.com SIP/2.0\r\n"
        b"Via: SIP/2.0/TCP pc33.atlanta.example.com;branch=z9hG4bKser\r\n"
        b"To: <sip:bob@biloxi.example.com>\r\n"
        b"From: <sip:alice@atlanta.example.com>;tag=s1\r\n"
        b"Call-ID: ser-1\r\n"
        b"CSeq: 1 MESSAGE\r\n"
        b"Content-Length: 7\r\n"
        b"\r\n"
        b"\x00\r\n\r\nhi"
    )
    assert bytes(req) == wire
    assert parse(wire) == req


def test_serialize_keeps_names_as_written_and_round_trips() -> None:
    m = invite()
    wire = m.serialize()
    assert wire.startswith(b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\nv: SIP/2.0/UDP ")
    assert b"\r\ni: a84b4c76e66710@pc33.atlanta.example.com\r\n" in wire
    assert wire.endswith(b"Content-Length: 4\r\n\r\nv=0\n")
    assert wire.count(b"Content-Length") == 1
    assert parse(wire) == m


def test_response_serialization() -> None:
    r = Response(
        404,
        None,
        [
            ("Via", "SIP/2.0/UDP a.example.com;branch=z9hG4bKr"),
            ("To", "<sip:b@example.com>;tag=t"),
            ("From", "<sip:a@example.com>;tag=f"),
            ("Call-ID", "resp-1"),
            ("CSeq", "7 OPTIONS"),
        ],
    )
    assert r.reason == "Not Found"
    wire = r.serialize()
    assert wire.startswith(b"SIP/2.0 404 Not Found\r\n")
    assert wire.endswith(b"CSeq: 7 OPTIONS\r\nContent-Length: 0\r\n\r\n")
    assert parse(wire) == r
    assert not r.is_provisional and r.is_final and not r.is_success


def test_copy_is_independent() -> None:
    m = invite()
    c = m.copy()
    assert c == m
    c.headers.prepend("Via", "SIP/2.0/UDP proxy.example.com;branch=z9hG4bKcopy")
    assert c != m
    assert m.top_via.host == "bigbox3.site3.atlanta.example.com"


# -- make_response (RFC 3261 §8.2.6.2, §12.1.1) ------------------------------------------


COPIED = [
    ("v", VIA_LINE),
    ("To", TO),
    ("f", FROM),
    ("i", CALL_ID),
    ("CSeq", "314159 INVITE"),
]
RR = [
    ("Record-Route", "<sip:bigbox3.site3.atlanta.example.com;lr>"),
    ("Record-Route", "<sip:p2.example.com;lr>"),
]


def test_make_response_100_copies_mandatory_headers_and_timestamp() -> None:
    r = invite().make_response(100, to_tag="ignored-on-100")
    assert (r.status, r.reason) == (100, "Trying")
    # §8.2.6.1: Timestamp is copied into 100 Trying; no tag, no Record-Route.
    assert r.headers.items() == [*COPIED, ("Timestamp", "54")]
    assert r.body == b""


def test_make_response_180_adds_to_tag_and_record_route() -> None:
    r = invite().make_response(180, to_tag="a6c85cf")
    assert (r.status, r.reason) == (180, "Ringing")
    assert r.headers.items() == [
        ("v", VIA_LINE),
        RR[0],
        ("To", TO + ";tag=a6c85cf"),
        ("f", FROM),
        RR[1],
        ("i", CALL_ID),
        ("CSeq", "314159 INVITE"),
    ]
    assert r.to.tag == "a6c85cf"
    assert r.from_.tag == "1928301774"
    assert [v.branch for v in r.via] == ["z9hG4bK77ef4c2312983.1", "z9hG4bKnashds8"]


def test_make_response_200_with_extra_headers_and_body() -> None:
    r = invite().make_response(
        200,
        "Fine",
        to_tag="t2",
        headers=[("Contact", "<sip:bob@192.0.2.4>"), ("Content-Type", "application/sdp")],
        body=b"v=0\r\n",
    )
    assert (r.status, r.reason) == (200, "Fine")
    assert r.headers.get_all("Record-Route") == [v for _, v in RR]
    assert r.headers.items()[-2:] == [
        ("Contact", "<sip:bob@192.0.2.4>"),
        ("Content-Type", "application/sdp"),
    ]
    assert r.to.tag == "t2"
    wire = r.serialize()
    assert b"Content-Length: 5\r\n\r\nv=0\r\n" in wire
    assert parse(wire) == r


@pytest.mark.parametrize("status", [300, 404, 486, 500, 603])
def test_make_response_non_2xx_has_no_record_route(status: int) -> None:
    r = invite().make_response(status, to_tag="t3")
    assert not r.headers.has("Record-Route")
    assert r.to.tag == "t3"
    assert not r.headers.has("Contact")
    assert not r.headers.has("Timestamp")
    assert not r.headers.has("Max-Forwards")


def test_make_response_keeps_an_existing_to_tag() -> None:
    m = invite()
    m.headers.set("To", "Bob <sip:bob@biloxi.example.com>;tag=already")
    r = m.make_response(200, to_tag="other")
    assert r.get("To") == "Bob <sip:bob@biloxi.example.com>;tag=already"
    assert r.to.tag == "already"


def test_make_response_without_to_tag_leaves_to_alone() -> None:
    r = invite().make_response(180)
    assert r.get("To") == TO
    assert r.to.tag is None


@pytest.mark.parametrize(
    ("method", "copies"),
    [
        ("INVITE", True),
        ("SUBSCRIBE", True),
        ("REFER", True),
        ("NOTIFY", True),
        ("OPTIONS", False),
        ("MESSAGE", False),
        ("BYE", False),
        ("REGISTER", False),
    ],
)
def test_record_route_only_for_dialog_creating_requests(method: str, copies: bool) -> None:
    m = invite()
    m.method = method
    m.headers.set("CSeq", f"314159 {method}")
    r = m.make_response(200, to_tag="t")
    assert r.headers.has("Record-Route") is copies
    assert r.cseq.method == method


@pytest.mark.parametrize("status", [99, 700, 0, -1])
def test_make_response_rejects_bad_status(status: int) -> None:
    with pytest.raises(LocalProtocolError):
        invite().make_response(status)


def test_make_response_does_not_share_headers_with_the_request() -> None:
    m = invite()
    r = m.make_response(200, to_tag="t")
    r.headers.prepend("Via", "SIP/2.0/UDP other;branch=z9hG4bKx")
    assert len(m.via) == 2
    assert m.to.tag is None
