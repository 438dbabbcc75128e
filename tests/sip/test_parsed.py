"""Tests for trio_srf.sip._parsed: Via, name-addr, Contact, CSeq, Content-Type, lists."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, strategies as st

from trio_srf.errors import LocalProtocolError, ProtocolError
from trio_srf.sip._parsed import (
    Contact,
    ContentType,
    CSeq,
    NameAddr,
    Via,
    format_params,
    get_param,
    has_param,
    parse_contact_list,
    parse_content_type,
    parse_cseq,
    parse_int_header,
    parse_name_addr,
    parse_name_addr_list,
    parse_params,
    parse_token_list,
    parse_via_list,
    quote,
    split_header_values,
    unquote,
)
from trio_srf.sip._uri import AbsoluteURI, SipURI, TelURI, parse_uri

# -- split_header_values ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a, b ,c", ["a", "b", "c"]),
        ("  a  ", ["a"]),
        ("", []),
        (" , a,,b, ", ["a", "b"]),
        ('"Doe, John" <sip:j@x>, <sip:k@y>', ['"Doe, John" <sip:j@x>', "<sip:k@y>"]),
        ('"a \\" , b" <sip:x>, c', ['"a \\" , b" <sip:x>', "c"]),
        ('"a \\\\", <sip:x>', ['"a \\\\"', "<sip:x>"]),
        ("<sip:a,b@x>;lr, <sip:c@y>", ["<sip:a,b@x>;lr", "<sip:c@y>"]),
        ('<sip:x>;p="1,2", <sip:y>', ['<sip:x>;p="1,2"', "<sip:y>"]),
        ("a,\r\n b", ["a", "b"]),
    ],
)
def test_split_header_values(text: str, expected: list[str]) -> None:
    assert split_header_values(text) == expected


@pytest.mark.parametrize("text", ['"abc, <sip:x>', "<sip:x, y", '"a\\"'])
def test_split_header_values_unterminated(text: str) -> None:
    with pytest.raises(LocalProtocolError):
        split_header_values(text)


# -- params and quoting ---------------------------------------------------------------------


def test_params_helpers() -> None:
    params = parse_params(' ;Tag=abc ; lr;q = 0.5;x="a;b"')
    assert params == (("Tag", "abc"), ("lr", None), ("q", "0.5"), ("x", '"a;b"'))
    assert get_param(params, "tag") == "abc"
    assert get_param(params, "lr") is None
    assert has_param(params, "LR")
    assert not has_param(params, "foo")
    assert unquote(get_param(params, "x") or "") == "a;b"
    assert format_params(params) == ';Tag=abc;lr;q=0.5;x="a;b"'
    assert parse_params("") == ()
    for bad in [";", ";=1", ";a=", ";a=b c", "a", ";a=<x>", ';a="x', ";a;;b"]:
        with pytest.raises(LocalProtocolError):
            parse_params(bad)


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        ('"abc"', "abc"),
        ('""', ""),
        ('"a\\"b"', 'a"b'),
        ('"a\\\\b"', "a\\b"),
        ('"\\x"', "x"),
        ("token", "token"),
        ('"a\r\n b"', "a b"),
    ],
)
def test_unquote(raw: str, text: str) -> None:
    assert unquote(raw) == text


def test_quote() -> None:
    assert quote("abc") == '"abc"'
    assert quote('a"b\\c') == '"a\\"b\\\\c"'
    assert quote("a\x01b\tc") == '"a\\\x01b\tc"'
    for bad in ["a\rb", "a\nb"]:
        with pytest.raises(LocalProtocolError):
            quote(bad)


# -- name-addr -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "display", "uri", "params"),
    [
        (
            '"Alice" <sip:alice@example.com>;tag=1928301774',
            "Alice",
            "sip:alice@example.com",
            (("tag", "1928301774"),),
        ),
        ("<sip:x@y>", None, "sip:x@y", ()),
        ("Bob <sip:bob@biloxi.com>", "Bob", "sip:bob@biloxi.com", ()),
        ("Bob Smith  <sip:bob@biloxi.com>", "Bob Smith", "sip:bob@biloxi.com", ()),
        ('"" <sip:x@y>', "", "sip:x@y", ()),
        ('"Bob"<sip:x@y>', "Bob", "sip:x@y", ()),
        ("Bob<sip:x@y>", "Bob", "sip:x@y", ()),
        ("sip:bob@biloxi.com;tag=1", None, "sip:bob@biloxi.com", (("tag", "1"),)),
        ("sip:bob@biloxi.com", None, "sip:bob@biloxi.com", ()),
        # §20: params after a bare addr-spec belong to the header, not the URI.
        (
            "sip:bob@biloxi.com;lr;transport=tcp",
            None,
            "sip:bob@biloxi.com",
            (("lr", None), ("transport", "tcp")),
        ),
        (
            "<sip:bob@biloxi.com;lr;transport=tcp>;tag=x",
            None,
            "sip:bob@biloxi.com;lr;transport=tcp",
            (("tag", "x"),),
        ),
        ("<tel:+1-201-555-0123>;tag=9", None, "tel:+1-201-555-0123", (("tag", "9"),)),
        ("tel:+12015550123;tag=9", None, "tel:+12015550123", (("tag", "9"),)),
        ("<urn:service:sos>", None, "urn:service:sos", ()),
        ("isbn:2983792873", None, "isbn:2983792873", ()),  # RFC 4475 "unksm2" To
        ('"Caller" <sip:caller@[2001:db8::1]>', "Caller", "sip:caller@[2001:db8::1]", ()),
        # RFC 4475 §3.1.1.1 "wsinv" To and From (folded lines left unfolded).
        (
            "\r\n sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n",
            None,
            "sip:vivekg@chair-dnrc.example.com",
            (("tag", "1918181833n"),),
        ),
        (
            '"J Rosenberg \\\\\\""       <sip:jdrosen@example.com>\r\n  ;\r\n  tag = 98asjd8',
            'J Rosenberg \\"',
            "sip:jdrosen@example.com",
            (("tag", "98asjd8"),),
        ),
        # RFC 4475 §3.1.1.2 "intmeth"-style unusual token characters.
        (
            "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.("
            "doesn't-it)@example.com",
            None,
            None,
            (),
        ),
        (
            '"BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f" <sip:1_unusual.URI~(to-be!sure)&isn\'t+it$/crazy?,/'
            ";;*@example.com>",
            "BEL:\x07 NUL:\x00 DEL:\x7f",
            "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com",
            (),
        ),
        (
            '<sip:x@y>;tag="quoted;value";flag',
            None,
            "sip:x@y",
            (("tag", '"quoted;value"'), ("flag", None)),
        ),
        ("  <sip:x@y>  ;  a = b  ", None, "sip:x@y", (("a", "b"),)),
        ("Ünïcode <sip:x@y>", None, None, ()),
        ('"Ünïcode" <sip:x@y>', "Ünïcode", "sip:x@y", ()),
    ],
)
def test_parse_name_addr(
    text: str, display: str | None, uri: str | None, params: tuple[tuple[str, str | None], ...]
) -> None:
    if uri is None:
        # Inputs that look plausible but break the grammar.
        with pytest.raises(LocalProtocolError):
            parse_name_addr(text)
        return
    na = parse_name_addr(text)
    assert na.display_name == display
    assert str(na.uri) == uri
    assert na.uri == parse_uri(uri)
    assert na.params == params
    assert parse_name_addr(str(na)) == na


def test_name_addr_accessors_and_format() -> None:
    na = parse_name_addr('"Alice" <sip:alice@example.com>;tag=1928301774')
    assert na.tag == "1928301774"
    assert na.get_param("TAG") == "1928301774"
    assert na.has_param("tag")
    assert isinstance(na.uri, SipURI)
    assert na.uri.user == "alice"
    assert str(na) == '"Alice" <sip:alice@example.com>;tag=1928301774'
    no_tag = parse_name_addr("sip:bob@biloxi.com")
    assert no_tag.tag is None
    tagged = no_tag.with_tag("a6c85cf")
    assert str(tagged) == "<sip:bob@biloxi.com>;tag=a6c85cf"
    assert str(tagged.with_tag("b")) == "<sip:bob@biloxi.com>;tag=b"
    assert str(tagged.without_param("tag")) == "<sip:bob@biloxi.com>"
    assert str(NameAddr('Say "hi"', parse_uri("sip:x@y"))) == '"Say \\"hi\\"" <sip:x@y>'
    with pytest.raises(LocalProtocolError):
        no_tag.with_tag("a b")
    with pytest.raises(LocalProtocolError):
        no_tag.with_param("a;b", "1")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "<sip:x@y",  # no closing '>'
        "<>",
        "< sip:x@y>",  # no LWS inside angle brackets
        "<sip:x@y >",
        '"Mr. J. User <sip:j.user@example.com>',  # RFC 4475 "quotbal"
        "Bell, Alexander <sip:a.g.bell@example.com>;tag=43",  # RFC 4475 "baddn"
        '"Bob" sip:bob@x',  # quoted display name needs <...>
        "Bob sip:bob@x",
        "sip:user@example.com?Route=%3Csip:sip.example.com%3E",  # RFC 4475 "regbadct"
        "<sip:x@y>;tag",  # fine: a flag; replaced below
        "<sip:x@y>;",
        "<sip:x@y>;tag=",
        "<sip:x@y>;=x",
        "<sip:x@y> junk",
        "<sip:x@y><sip:z@w>",
        "<sip:x@y>;a=b c",
        "<sip:x@[2001:db8::1>",
        "<sip:x@exa mple.com>",
        "sip:x@y, sip:z@w",
        '<sip:x@y>;a="unterminated',
        '"bad\x01control" <sip:x@y>',
        "<notauri>",
        "<sip:x@y:99999>",
    ],
)
def test_parse_name_addr_invalid(text: str) -> None:
    if text == "<sip:x@y>;tag":
        assert parse_name_addr(text).params == (("tag", None),)
        return
    with pytest.raises(LocalProtocolError):
        parse_name_addr(text)


def test_parse_name_addr_list() -> None:
    routes = parse_name_addr_list(
        "<sip:p1.example.com;lr>,<sip:p2.example.com;lr> , \r\n <sip:[2001:db8::1]:5070;lr>"
    )
    assert [str(r.uri) for r in routes] == [
        "sip:p1.example.com;lr",
        "sip:p2.example.com;lr",
        "sip:[2001:db8::1]:5070;lr",
    ]
    assert all(isinstance(r.uri, SipURI) and r.uri.lr for r in routes)
    # RFC 4475 "wsinv" Route
    (route,) = parse_name_addr_list(
        "\r\n <sip:services.example.com;lr;unknownwith=value;unknown-no-value>"
    )
    assert isinstance(route.uri, SipURI)
    assert route.uri.params == (
        ("lr", None),
        ("unknownwith", "value"),
        ("unknown-no-value", None),
    )
    with pytest.raises(LocalProtocolError):
        parse_name_addr_list("")
    with pytest.raises(LocalProtocolError):
        parse_name_addr_list("<sip:a@b>, <sip:c@>")


# -- Contact ---------------------------------------------------------------------------


def test_parse_contact_list() -> None:
    contacts = parse_contact_list(
        '"Mr. Watson" <sip:watson@worcester.bell-telephone.com>;q=0.7; expires=3600, '
        '"Mr. Watson" <mailto:watson@bell-telephone.com> ;q=0.1'
    )
    assert len(contacts) == 2
    first, second = contacts
    assert first.display_name == "Mr. Watson"
    assert str(first.uri) == "sip:watson@worcester.bell-telephone.com"
    assert first.q == 0.7
    assert first.expires == 3600
    assert not first.is_star
    assert second.q == 0.1
    assert second.expires is None
    assert isinstance(second.uri, AbsoluteURI)
    assert str(first) == (
        '"Mr. Watson" <sip:watson@worcester.bell-telephone.com>;q=0.7;expires=3600'
    )
    assert first.uri is not None
    assert first.to_name_addr() == NameAddr(first.display_name, first.uri, first.params)
    # RFC 4475 "wsinv" Contact ("m:" compact form), folded lines left in.
    (m,) = parse_contact_list(
        '"Quoted string \\"\\"" <sip:jdrosen@example.com> ; newparam =\r\n'
        "      newvalue ;\r\n  secondparam ; q = 0.33"
    )
    assert m.display_name == 'Quoted string ""'
    assert m.params == (("newparam", "newvalue"), ("secondparam", None), ("q", "0.33"))
    assert m.q == 0.33
    # RFC 4475 §3.1.1.12 "cparam01"/"cparam02": params in and out of brackets.
    (c1,) = parse_contact_list("sip:+19725552222@gw1.example.net;unknownparam")
    assert str(c1.uri) == "sip:+19725552222@gw1.example.net"
    assert c1.params == (("unknownparam", None),)
    (c2,) = parse_contact_list("<sip:+19725552222@gw1.example.net;unknownparam>")
    assert isinstance(c2.uri, SipURI)
    assert c2.uri.params == (("unknownparam", None),)
    assert c2.params == ()
    (tel,) = parse_contact_list("<tel:+1-972-555-2222>")
    assert isinstance(tel.uri, TelURI)


@pytest.mark.parametrize("text", ["*", " * ", "\t*\r\n"])
def test_star_contact(text: str) -> None:
    (star,) = parse_contact_list(text)
    assert star.is_star
    assert star.uri is None
    assert str(star) == "*"
    assert star.q is None
    with pytest.raises(LocalProtocolError):
        star.to_name_addr()
    with pytest.raises(LocalProtocolError):
        star.with_param("expires", "0")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "*, <sip:a@b>",
        "<sip:a@b>, *",
        "*;expires=0",
        "<sip:a@b>;q=1.5",
        "<sip:a@b>;q=0.1234",
        "<sip:a@b>;q=abc",
        "<sip:a@b>;q",
        "<sip:a@b>;expires=-1",
        "<sip:a@b>;expires=4294967296",
        "<sip:a@b>;expires",
        "<sip:user@example.com?Route=%3Csip:sip.example.com%3E>, sip:x@y?a=b",
    ],
)
def test_contact_invalid(text: str) -> None:
    with pytest.raises(LocalProtocolError):
        parse_contact_list(text)


@pytest.mark.parametrize(
    ("q", "value"), [("0", 0.0), ("1", 1.0), ("1.000", 1.0), ("0.", 0.0), ("0.001", 0.001)]
)
def test_contact_q_values(q: str, value: float) -> None:
    (c,) = parse_contact_list(f"<sip:a@b>;q={q}")
    assert c.q == value


def test_contact_with_param() -> None:
    (c,) = parse_contact_list("<sip:a@b>;expires=60")
    assert str(c.with_param("expires", "0")) == "<sip:a@b>;expires=0"
    assert str(c.with_param("+sip.instance", '"<urn:uuid:1>"')) == (
        '<sip:a@b>;expires=60;+sip.instance="<urn:uuid:1>"'
    )
    assert isinstance(c, Contact)


# -- Via -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "transport", "host", "port", "params"),
    [
        (
            "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK776asdhds;rport",
            "UDP",
            "10.0.0.1",
            5060,
            (("branch", "z9hG4bK776asdhds"), ("rport", None)),
        ),
        (
            "SIP/2.0/TCP client.atlanta.example.com;branch=z9hG4bK74bf9",
            "TCP",
            "client.atlanta.example.com",
            None,
            (("branch", "z9hG4bK74bf9"),),
        ),
        ("sip/2.0/udp host", "UDP", "host", None, ()),
        (
            "SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bKasudf",
            "WSS",
            "df7jal23ls0d.invalid",
            None,
            (("branch", "z9hG4bKasudf"),),
        ),
        # RFC 4475 "wsinv", folds kept
        (
            "SIP  /   2.0\r\n /UDP\r\n    192.0.2.2;rport;branch=390skdjuw",
            "UDP",
            "192.0.2.2",
            None,
            (("rport", None), ("branch", "390skdjuw")),
        ),
        (
            "SIP/2.0/UDP host : 5070 ; branch = z9hG4bK1 ; received = 1.2.3.4",
            "UDP",
            "host",
            5070,
            (("branch", "z9hG4bK1"), ("received", "1.2.3.4")),
        ),
        # RFC 5118 §4.1, §4.5, §4.6
        (
            "SIP/2.0/UDP [2001:db8::9:1];branch=z9hG4bKas3-111",
            "UDP",
            "[2001:db8::9:1]",
            None,
            (("branch", "z9hG4bKas3-111"),),
        ),
        (
            "SIP/2.0/UDP [2001:db8::9:1]:6050;branch=z9hG4bKas3-111;received=[2001:db8::9:255]",
            "UDP",
            "[2001:db8::9:1]",
            6050,
            (("branch", "z9hG4bKas3-111"), ("received", "[2001:db8::9:255]")),
        ),
        (
            "SIP/2.0/UDP [2001:db8::9:1];received=2001:db8::9:255;branch=z9hG4bKas3",
            "UDP",
            "[2001:db8::9:1]",
            None,
            (("received", "2001:db8::9:255"), ("branch", "z9hG4bKas3")),
        ),
        (
            'SIP/2.0/UDP h;rport=5061;ttl=16;maddr=224.2.0.1;x="q;v"',
            "UDP",
            "h",
            None,
            (("rport", "5061"), ("ttl", "16"), ("maddr", "224.2.0.1"), ("x", '"q;v"')),
        ),
        (
            "SIP/2.0/SCTP h;branch=z9hG4bK-%41*.!_+`'~",
            "SCTP",
            "h",
            None,
            (("branch", "z9hG4bK-%41*.!_+`'~"),),
        ),
    ],
)
def test_parse_via(
    text: str,
    transport: str,
    host: str,
    port: int | None,
    params: tuple[tuple[str, str | None], ...],
) -> None:
    (via,) = parse_via_list(text)
    assert via.protocol == "SIP/2.0"
    assert (via.transport, via.host, via.port, via.params) == (transport, host, port, params)
    assert parse_via_list(str(via)) == [via]


def test_via_accessors() -> None:
    (via,) = parse_via_list(
        "SIP/2.0/UDP pc33.atlanta.com:5066;branch=z9hG4bKnashds8;received=192.0.2.1;rport=5067"
        ";maddr=224.2.0.1;ttl=1"
    )
    assert via.branch == "z9hG4bKnashds8"
    assert via.received == "192.0.2.1"
    assert via.rport == 5067
    assert via.has_rport
    assert via.maddr == "224.2.0.1"
    assert via.ttl == 1
    assert via.sent_by == "pc33.atlanta.com:5066"
    assert via.get_param("BRANCH") == "z9hG4bKnashds8"
    (bare,) = parse_via_list("SIP/2.0/UDP 10.0.0.1;rport")
    assert bare.rport is None
    assert bare.has_rport
    assert (bare.branch, bare.received, bare.maddr, bare.ttl) == (None, None, None, None)
    assert bare.sent_by == "10.0.0.1"
    filled = bare.with_params(rport="5060", received="192.0.2.9")
    assert str(filled) == "SIP/2.0/UDP 10.0.0.1;rport=5060;received=192.0.2.9"
    assert str(filled.without_param("rport")) == "SIP/2.0/UDP 10.0.0.1;received=192.0.2.9"
    assert str(bare.with_param("received", "2001:db8::1")) == (
        "SIP/2.0/UDP 10.0.0.1;rport;received=2001:db8::1"
    )
    built = Via("SIP/2.0", "TLS", "[::1]", 5061, (("branch", "z9hG4bKx"),))
    assert str(built) == "SIP/2.0/TLS [::1]:5061;branch=z9hG4bKx"
    with pytest.raises(LocalProtocolError):
        bare.with_param("branch", "a b")


def test_parse_via_list_many() -> None:
    # RFC 4475 "wsinv" compact "v:" header: two vias on one folded line.
    vias = parse_via_list(
        "SIP  / 2.0  / TCP     spindle.example.com   ;\r\n  branch  =   z9hG4bK9ikj8  ,\r\n"
        " SIP  /    2.0   / UDP  192.168.255.111   ; branch=\r\n z9hG4bK30239"
    )
    assert [(v.transport, v.host, v.branch) for v in vias] == [
        ("TCP", "spindle.example.com", "z9hG4bK9ikj8"),
        ("UDP", "192.168.255.111", "z9hG4bK30239"),
    ]
    vias = parse_via_list("SIP/2.0/UDP a;branch=z9hG4bK1,SIP/2.0/TCP b:5070;branch=z9hG4bK2")
    assert [v.sent_by for v in vias] == ["a", "b:5070"]


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        ",",
        "SIP/2.0/UDP",
        "SIP/2.0/UDP ",
        "SIP/2.0 UDP host",
        "SIP/2.0/UDPhost",
        "SIP//UDP host",
        "SIP/2.0/UDP/X host",
        "SIP/2.0/U(P host",
        "SIP/2.0/UDP host:",
        "SIP/2.0/UDP host:65536",
        "SIP/2.0/UDP host:5o6",
        "SIP/2.0/UDP ho_st",
        "SIP/2.0/UDP 192.0.2.300",
        "SIP/2.0/UDP [2001:db8::10",  # RFC 5118 §4.2 style
        "SIP/2.0/UDP [2001:db8:::1]",
        "SIP/2.0/UDP host;",
        "SIP/2.0/UDP host;branch",
        "SIP/2.0/UDP host;branch=",
        'SIP/2.0/UDP host;branch="z9hG4bK1"',
        "SIP/2.0/UDP host;ttl=256",
        "SIP/2.0/UDP host;ttl=x",
        "SIP/2.0/UDP host;received=host.example.com",
        "SIP/2.0/UDP host;received=999.1.1.1",
        "SIP/2.0/UDP host;received",
        "SIP/2.0/UDP host;maddr=bad_host",
        "SIP/2.0/UDP host;rport=65536",
        "SIP/2.0/UDP host;rport=abc",
        "SIP/2.0/UDP host junk",
        "SIP/2.0/UDP host;branch=z9hG4bK1,",  # a trailing comma is fine ...
        "SIP/2.0/UDP a, junk",
    ],
)
def test_parse_via_invalid(text: str) -> None:
    if text.endswith(",") and text != ",":
        assert len(parse_via_list(text)) == 1  # ... empty list elements are dropped
        return
    with pytest.raises(LocalProtocolError):
        parse_via_list(text)


# -- CSeq, Content-Type, token lists, integers -------------------------------------------


@pytest.mark.parametrize(
    ("text", "seq", "method"),
    [
        ("314159 INVITE", 314159, "INVITE"),
        ("0009\r\n  INVITE", 9, "INVITE"),  # RFC 4475 "wsinv"
        ("  1   REGISTER  ", 1, "REGISTER"),
        ("0 ACK", 0, "ACK"),
        ("2147483647 BYE", 2**31 - 1, "BYE"),
        (
            "1 !interesting-Method0123456789_*+`.%indeed'~",
            1,
            "!interesting-Method0123456789_*+`.%indeed'~",
        ),  # RFC 4475 "intmeth"
        ("1 RE%47IST%45R", 1, "RE%47IST%45R"),  # RFC 4475 "esc02"
    ],
)
def test_parse_cseq(text: str, seq: int, method: str) -> None:
    cseq = parse_cseq(text)
    assert cseq == CSeq(seq, method)
    assert parse_cseq(str(cseq)) == cseq


@pytest.mark.parametrize(
    "text",
    [
        "",
        "INVITE",
        "1",
        "1INVITE",
        "-1 INVITE",
        "1 INVITE x",
        "1 INV ITE",
        "1.0 INVITE",
        "2147483648 INVITE",
        "36893488147419103232 INVITE",  # RFC 4475 "scalar02"
        "1 INVITE;x",
        "1 <INVITE>",
    ],
)
def test_parse_cseq_invalid(text: str) -> None:
    with pytest.raises(LocalProtocolError):
        parse_cseq(text)


def test_parse_content_type() -> None:
    ct = parse_content_type("application/sdp")
    assert (ct.type, ct.subtype, ct.params, ct.mime) == (
        "application",
        "sdp",
        (),
        "application/sdp",
    )
    ct = parse_content_type(' Multipart/Mixed ; boundary = "un;ique" ;charset=UTF-8 ')
    assert ct.mime == "multipart/mixed"
    assert ct.get_param("BOUNDARY") == '"un;ique"'
    assert ct.get_param("charset") == "UTF-8"
    assert str(ct) == 'Multipart/Mixed;boundary="un;ique";charset=UTF-8'
    assert parse_content_type(str(ct)) == ct
    assert str(ContentType("text", "plain")) == "text/plain"
    for bad in [
        "",
        "application",
        "application/",
        "/sdp",
        "application/sdp;charset",
        "application/sdp x",
        "app lication/sdp",
        "application/sdp;a=[::1]",
    ]:
        with pytest.raises(LocalProtocolError):
            parse_content_type(bad)


def test_parse_token_list() -> None:
    assert parse_token_list("INVITE, ACK,OPTIONS ,\tBYE") == ["INVITE", "ACK", "OPTIONS", "BYE"]
    assert parse_token_list("") == []
    assert parse_token_list("   ") == []
    assert parse_token_list("100rel") == ["100rel"]
    assert parse_token_list("timer,\r\n path") == ["timer", "path"]
    for bad in ["a b", "a,b c", "foo;bar", '"x"', "a/b"]:
        with pytest.raises(LocalProtocolError):
            parse_token_list(bad)


@pytest.mark.parametrize(
    ("text", "maximum", "value"),
    [
        ("70", 255, 70),
        ("0068", 255, 68),
        (" 0 ", 255, 0),
        ("255", 255, 255),
        ("4294967295", 2**32 - 1, 2**32 - 1),
        ("3600", 2**32 - 1, 3600),
    ],
)
def test_parse_int_header(text: str, maximum: int, value: int) -> None:
    assert parse_int_header(text, "Max-Forwards", maximum=maximum) == value


@pytest.mark.parametrize(
    ("text", "maximum"),
    [
        ("256", 255),
        ("", 255),
        ("-1", 255),
        ("1.5", 255),
        ("1 2", 255),
        ("0x10", 255),
        ("4294967296", 2**32 - 1),
        ("18446744073709551615", 2**32 - 1),
        ("٣", 255),
        ("+1", 255),
    ],
)
def test_parse_int_header_invalid(text: str, maximum: int) -> None:
    with pytest.raises(LocalProtocolError) as info:
        parse_int_header(text, "Max-Forwards", maximum=maximum)
    assert "Max-Forwards" in info.value.msg


# -- properties ------------------------------------------------------------------------

_ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_TOKEN_CHARS = _ALNUM + "-.!%*_+`'~"
_token = st.text(_TOKEN_CHARS, min_size=1, max_size=8)
_label = st.text(_ALNUM + "-", min_size=1, max_size=6).filter(lambda s: s[0] != "-" != s[-1])
_hostname = st.builds(
    lambda ls, t: ".".join([*ls, t]),
    st.lists(_label, max_size=2),
    _label.filter(lambda s: s[0].isalpha()),
)
_host = st.one_of(
    _hostname,
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(lambda a: f"[{a}]"),
)
_qtext = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\r\n"), max_size=12)
_gen_value = st.one_of(_token, _qtext.map(quote))
_params = st.lists(st.tuples(_token, st.none() | _gen_value), max_size=4).map(tuple)
_sip_uri = st.builds(
    lambda user, host, port: parse_uri(
        f"sip:{user + '@' if user else ''}{host}{'' if port is None else f':{port}'}"
    ),
    st.none() | st.text(_ALNUM, min_size=1, max_size=6),
    _host,
    st.none() | st.integers(0, 65535),
)
_via_reserved = {"branch", "ttl", "received", "maddr", "rport"}
_vias = st.builds(
    Via,
    protocol=st.just("SIP/2.0"),
    transport=st.sampled_from(["UDP", "TCP", "TLS", "SCTP", "WS", "WSS"]),
    host=_host,
    port=st.none() | st.integers(0, 65535),
    params=st.lists(
        st.tuples(_token.filter(lambda t: t.lower() not in _via_reserved), st.none() | _token),
        max_size=3,
    ).map(lambda ps: (("branch", "z9hG4bK" + str(len(ps))), *ps)),
)
_name_addrs = st.builds(NameAddr, st.none() | _qtext, _sip_uri, _params)


@given(_vias)
def test_via_round_trip(via: Via) -> None:
    assert parse_via_list(str(via)) == [via]
    assert parse_via_list(f"{via}, {via}") == [via, via]


@given(_name_addrs)
def test_name_addr_round_trip(na: NameAddr) -> None:
    assert parse_name_addr(str(na)) == na
    assert parse_name_addr_list(f"{na} ,{na}") == [na, na]
    (contact,) = parse_contact_list(str(na.without_param("q").without_param("expires")))
    assert contact.uri == na.uri


_ANY = st.text(max_size=50)
_SIPPY = st.text(alphabet='SIP/2.0UDP sip:@<>";,=\\[]:%\r\n\t*abc1', max_size=50)


@given(st.one_of(_ANY, _SIPPY))
def test_random_text_raises_only_protocol_errors(text: str) -> None:
    for fn in (
        parse_via_list,
        parse_name_addr,
        parse_name_addr_list,
        parse_contact_list,
        parse_cseq,
        parse_content_type,
        parse_token_list,
        parse_params,
        split_header_values,
    ):
        try:
            fn(text)
        except ProtocolError as exc:
            assert isinstance(exc, LocalProtocolError)
            assert exc.status_hint == 400
    with contextlib.suppress(LocalProtocolError):
        parse_int_header(text, "Expires")


def test_huge_numbers_raise_protocol_errors() -> None:
    # int() of a >4300-digit string raises ValueError in CPython; none may leak.
    huge = "9" * 5000
    zeros = "0" * 5000 + "7"
    for fn, text in [
        (parse_cseq, f"{huge} INVITE"),
        (parse_via_list, f"SIP/2.0/UDP h:{huge}"),
        (parse_via_list, f"SIP/2.0/UDP h;rport={huge}"),
        (parse_via_list, f"SIP/2.0/UDP h;ttl={huge}"),
        (parse_contact_list, f"<sip:a@b>;expires={huge}"),
        (parse_name_addr, f"<sip:a@b:{huge}>"),
    ]:
        with pytest.raises(LocalProtocolError):
            fn(text)
    with pytest.raises(LocalProtocolError):
        parse_int_header(huge, "Content-Length")
    assert parse_int_header(zeros, "Content-Length") == 7
    assert parse_cseq(f"{zeros} ACK").seq == 7
    (via,) = parse_via_list(f"SIP/2.0/UDP h:{zeros};rport={zeros}")
    assert (via.port, via.rport) == (7, 7)
