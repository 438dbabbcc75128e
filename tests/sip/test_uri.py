"""Tests for trio_srf.sip._uri: RFC 3261 §19/§25, RFC 3966, RFC 5118, RFC 4475 URIs."""

from __future__ import annotations

import attrs
import pytest
from hypothesis import given, strategies as st

from trio_srf.errors import LocalProtocolError, ProtocolError
from trio_srf.sip._uri import (
    AbsoluteURI,
    SipURI,
    TelURI,
    is_valid_host,
    parse_uri,
    unescape,
)

# -- parsing into fields -----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "scheme", "user", "password", "host", "port", "params", "headers"),
    [
        (
            "sip:alice@10.0.0.1:5060;transport=udp",
            "sip",
            "alice",
            None,
            "10.0.0.1",
            5060,
            (("transport", "udp"),),
            (),
        ),
        ("sip:atlanta.com", "sip", None, None, "atlanta.com", None, (), ()),
        ("SIPS:Bob@Biloxi.COM", "sips", "Bob", None, "Biloxi.COM", None, (), ()),
        (
            "sip:alice:secretword@atlanta.com;transport=tcp",
            "sip",
            "alice",
            "secretword",
            "atlanta.com",
            None,
            (("transport", "tcp"),),
            (),
        ),
        ("sip:alice:@atlanta.com", "sip", "alice", "", "atlanta.com", None, (), ()),
        (
            "sip:+1-212-555-1212:1234@gateway.com;user=phone",
            "sip",
            "+1-212-555-1212",
            "1234",
            "gateway.com",
            None,
            (("user", "phone"),),
            (),
        ),
        ("sip:alice@192.0.2.4", "sip", "alice", None, "192.0.2.4", None, (), ()),
        (
            "sip:atlanta.com;method=REGISTER?to=alice%40atlanta.com",
            "sip",
            None,
            None,
            "atlanta.com",
            None,
            (("method", "REGISTER"),),
            (("to", "alice%40atlanta.com"),),
        ),
        (
            "sip:alice;day=tuesday@atlanta.com",
            "sip",
            "alice;day=tuesday",
            None,
            "atlanta.com",
            None,
            (),
            (),
        ),
        (
            "sip:proxy.example.com;lr",
            "sip",
            None,
            None,
            "proxy.example.com",
            None,
            (("lr", None),),
            (),
        ),
        ("sip:example.com.:0", "sip", None, None, "example.com.", 0, (), ()),
        ("sip:h:65535", "sip", None, None, "h", 65535, (), ()),
        (
            "sip:a@b;x=1;x=2;y",
            "sip",
            "a",
            None,
            "b",
            None,
            (("x", "1"), ("x", "2"), ("y", None)),
            (),
        ),
        ("sip:a@b?h1=&h2=v%20w", "sip", "a", None, "b", None, (), (("h1", ""), ("h2", "v%20w"))),
        (
            "sip:a@b;maddr=[2001:db8::1]",
            "sip",
            "a",
            None,
            "b",
            None,
            (("maddr", "[2001:db8::1]"),),
            (),
        ),
        # RFC 4475 §3.1.1.13 "semiuri": the user part holds ';' and an escaped '@'.
        (
            "sip:user;par=u%40example.net@example.com",
            "sip",
            "user;par=u%40example.net",
            None,
            "example.com",
            None,
            (),
            (),
        ),
        # RFC 4475 §3.1.1.1 "wsinv" Request-URI and Route.
        (
            "sip:vivekg@chair-dnrc.example.com;unknownparam",
            "sip",
            "vivekg",
            None,
            "chair-dnrc.example.com",
            None,
            (("unknownparam", None),),
            (),
        ),
        (
            "sip:services.example.com;lr;unknownwith=value;unknown-no-value",
            "sip",
            None,
            None,
            "services.example.com",
            None,
            (("lr", None), ("unknownwith", "value"), ("unknown-no-value", None)),
            (),
        ),
    ],
)
def test_parse_sip_fields(
    text: str,
    scheme: str,
    user: str | None,
    password: str | None,
    host: str,
    port: int | None,
    params: tuple[tuple[str, str | None], ...],
    headers: tuple[tuple[str, str], ...],
) -> None:
    uri = parse_uri(text)
    assert isinstance(uri, SipURI)
    assert (uri.scheme, uri.user, uri.password, uri.host, uri.port) == (
        scheme,
        user,
        password,
        host,
        port,
    )
    assert uri.params == params
    assert uri.headers == headers
    assert str(uri) == text  # exact round trip, escapes and case as written


def test_serialize_from_fields() -> None:
    uri = SipURI("sip", "bob", None, "[2001:db8::1]", 5070, (("lr", None), ("transport", "tcp")))
    assert str(uri) == "sip:bob@[2001:db8::1]:5070;lr;transport=tcp"
    uri = SipURI("sips", "a", "pw", "h", None, (), (("subject", "x"), ("p", "")))
    assert str(uri) == "sips:a:pw@h?subject=x&p="
    # evolve() drops the remembered text: the result is rebuilt from fields.
    parsed = parse_uri("SIP:alice@Example.com:05060")
    assert isinstance(parsed, SipURI)
    assert str(parsed) == "SIP:alice@Example.com:05060"
    assert str(attrs.evolve(parsed, port=5070)) == "sip:alice@Example.com:5070"
    assert str(attrs.evolve(parsed)) == "sip:alice@Example.com:5060"


def test_accessors() -> None:
    uri = parse_uri(
        "sip:bob@Host.Example.com:5062;Transport=TCP;LR;maddr=239.255.255.1;ttl=15"
        ";user=Phone;method=INVITE"
    )
    assert isinstance(uri, SipURI)
    assert uri.transport == "tcp"
    assert uri.lr is True
    assert uri.maddr == "239.255.255.1"
    assert uri.ttl == 15
    assert uri.user_param == "phone"
    assert uri.method_param == "INVITE"
    assert uri.host_port == "Host.Example.com:5062"
    assert uri.get_param("transport") == "TCP"
    assert uri.get_param("TRANSPORT") == "TCP"
    assert uri.get_param("lr") is None
    assert uri.has_param("lr") and uri.has_param("Lr")
    assert not uri.has_param("foo")
    bare = parse_uri("sip:h")
    assert isinstance(bare, SipURI)
    assert (bare.transport, bare.lr, bare.maddr, bare.ttl, bare.user_param) == (
        None,
        False,
        None,
        None,
        None,
    )
    assert bare.host_port == "h"


def test_with_and_without_param() -> None:
    uri = parse_uri("sip:alice@atlanta.com;transport=udp;foo")
    assert isinstance(uri, SipURI)
    changed = uri.with_param("Transport", "tcp")
    assert str(changed) == "sip:alice@atlanta.com;transport=tcp;foo"
    assert str(uri) == "sip:alice@atlanta.com;transport=udp;foo"  # original untouched
    assert str(uri.with_param("lr")) == "sip:alice@atlanta.com;transport=udp;foo;lr"
    assert str(uri.with_params(lr=None, maddr="10.0.0.1")) == (
        "sip:alice@atlanta.com;transport=udp;foo;lr;maddr=10.0.0.1"
    )
    assert str(uri.without_param("TRANSPORT")) == "sip:alice@atlanta.com;foo"
    assert str(uri.without_param("absent")) == "sip:alice@atlanta.com;transport=udp;foo"
    hdr = parse_uri("sip:a@b?subject=x")
    assert isinstance(hdr, SipURI)
    assert str(hdr.without_headers()) == "sip:a@b"
    for name, value in [
        ("a;b", "1"),
        ("a", "x y"),
        ("", "1"),
        ("a", ""),
        ("a", "%zz"),
        ("a=", None),
    ]:
        with pytest.raises(LocalProtocolError):
            uri.with_param(name, value)


# -- RFC 3261 §19.1.4 comparison -----------------------------------------------------

# Every "equivalent" and "not equivalent" example of §19.1.4, as the RFC lists them.
RFC3261_EQUAL = [
    ("sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com;security=on"),
    ("sip:carol@chicago.com;newparam=5", "sip:carol@chicago.com;security=on"),
    (
        "sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
        "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com",
    ),
    (
        "sip:alice@atlanta.com?subject=project%20x&priority=urgent",
        "sip:alice@atlanta.com?priority=urgent&subject=project%20x",
    ),
]
RFC3261_NOT_EQUAL = [
    ("SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting"),
    ("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"),
    # "equality is not transitive": both equal sip:carol@chicago.com, not each other.
    ("sip:carol@chicago.com;security=on", "sip:carol@chicago.com;security=off"),
]
MORE_EQUAL = [
    ("sip:a@b;lr", "sip:a@B;LR"),
    ("sip:a@b;%6C%72", "sip:a@b;lr"),  # RFC 4475 esc01: escaped parameter name
    ("sip:a@b;x=%41", "sip:a@b;x=a"),
    ("sip:a@b?x=1&y=2", "sip:a@b?Y=2&X=1"),
    ("sip:a:pw@b", "sip:a:%70w@b"),
    ("sip:a@b;maddr=10.0.0.1", "sip:a@b;MADDR=10.0.0.1;foo=bar"),
    ("sip:[2001:db8::10]", "sip:[2001:DB8:0:0:0:0:0:10]"),
    ("sip:[::ffff:192.0.2.10]", "sip:[::FFFF:c000:20a]"),
    ("sips:a@b", "SIPS:a@b"),
]
MORE_NOT_EQUAL = [
    ("sip:a@b", "sips:a@b"),  # different schemes never match
    ("sip:a@b", "sip:A@b"),  # userinfo is case-sensitive
    ("sip:a@b", "sip:b"),  # user present on one side only
    ("sip:a@b", "sip:a:@b"),  # password present on one side only
    ("sip:a:x@b", "sip:a:X@b"),
    ("sip:a@b", "sip:a@b;user=ip"),  # user/ttl/method/maddr: present on one side only
    ("sip:a@b", "sip:a@b;ttl=1"),
    ("sip:a@b", "sip:a@b;method=INVITE"),
    ("sip:a@b", "sip:a@b;maddr=b"),
    ("sip:a@b;lr", "sip:a@b;lr=on"),
    ("sip:a@b;x=1", "sip:a@b;x=2"),
    ("sip:a@b?x=1", "sip:a@b?x=1&y=2"),
    ("sip:a%3Bb@h", "sip:a;b@h"),  # an escaped reserved character is not the character
    ("sip:[::ffff:192.0.2.10]", "sip:192.0.2.10"),
    ("sip:a@b:5060", "sip:a@b:5061"),
    ("sip:a@example.com", "sip:a@example.com."),
]


@pytest.mark.parametrize(("a", "b"), RFC3261_EQUAL + MORE_EQUAL)
def test_uri_equal(a: str, b: str) -> None:
    ua, ub = parse_uri(a), parse_uri(b)
    assert ua == ub
    assert ub == ua
    assert hash(ua) == hash(ub)
    assert (ua != ub) is False


@pytest.mark.parametrize(("a", "b"), RFC3261_NOT_EQUAL + MORE_NOT_EQUAL)
def test_uri_not_equal(a: str, b: str) -> None:
    ua, ub = parse_uri(a), parse_uri(b)
    assert ua != ub
    assert ub != ua


def test_equality_with_other_types() -> None:
    uri = parse_uri("sip:a@b")
    assert uri != "sip:a@b"
    assert uri != parse_uri("tel:+1234")
    assert {parse_uri("sip:a@B"), parse_uri("sip:a@b")} == {parse_uri("sip:a@b")}


# -- escapes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("alice", "alice"),
        ("%61lice", "alice"),
        ("I%20have%20spaces", "I have spaces"),
        ("sips%3Auser%40example.com", "sips:user@example.com"),
        ("null-%00-null", "null-\x00-null"),
        ("%C3%A9t%C3%A9", "été"),
        ("v%61lue%25%34%31", "value%41"),
        ("%ff", "\udcff"),  # not UTF-8: kept losslessly
    ],
)
def test_unescape(text: str, expected: str) -> None:
    assert unescape(text) == expected


def test_rfc4475_escaped_uris() -> None:
    # §3.1.1.10 "esc01"
    ruri = parse_uri("sip:sips%3Auser%40example.com@example.net")
    assert isinstance(ruri, SipURI)
    assert ruri.user == "sips%3Auser%40example.com"
    assert unescape(ruri.user) == "sips:user@example.com"
    assert ruri.host == "example.net"
    frm = parse_uri("sip:I%20have%20spaces@example.net")
    assert isinstance(frm, SipURI) and frm.user is not None
    assert unescape(frm.user) == "I have spaces"
    contact = parse_uri("sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31")
    assert isinstance(contact, SipURI)
    assert contact.lr is True
    assert contact.get_param("name") == "v%61lue%25%34%31"
    assert contact == parse_uri("sip:caller@host5.example.net;lr;name=value%2541")
    assert contact != parse_uri("sip:caller@host5.example.net;lr;name=valueA")
    # §3.1.1.11 "escnull"
    null = parse_uri("sip:null-%00-null@example.com")
    assert isinstance(null, SipURI)
    assert null.user == "null-%00-null"


# -- RFC 5118 IPv6 -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [
        ("sip:[2001:db8::10]", "[2001:db8::10]", None),  # §4.1
        ("sip:[2001:db8::10:5070]", "[2001:db8::10:5070]", None),  # §4.3: no port here
        ("sip:[2001:db8::10]:5070", "[2001:db8::10]", 5070),  # §4.4
        ("sip:user@[::ffff:192.0.2.10]", "[::ffff:192.0.2.10]", None),  # §4.9
        ("sip:caller@[2001:db8::1]", "[2001:db8::1]", None),
        ("sip:[2001:db8::192.0.2.1]", "[2001:db8::192.0.2.1]", None),  # §4.11
        ("sip:[::1]:5060;transport=tcp", "[::1]", 5060),
        ("sip:[::]", "[::]", None),
    ],
)
def test_ipv6_references(text: str, host: str, port: int | None) -> None:
    uri = parse_uri(text)
    assert isinstance(uri, SipURI)
    assert (uri.host, uri.port) == (host, port)
    assert str(uri) == text


# -- invalid input -------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "",
        ":",
        "alice",
        ":alice@atlanta.com",
        "1sip:alice@atlanta.com",
        "sip:",
        "sip:@atlanta.com",
        "sip:alice@",
        "sip:alice@atlanta.com:",
        "sip:alice@atlanta.com:65536",
        "sip:alice@atlanta.com:99999999999999999999",
        "sip:alice@atlanta.com:5o60",
        "sip:alice@atlanta .com",
        "sip:al ice@atlanta.com",
        " sip:alice@atlanta.com",
        "sip:alice@atlanta.com ",
        "sip:alice@exa_mple.com",
        "sip:alice@-atlanta.com",
        "sip:alice@atlanta-.com",
        "sip:alice@atlanta..com",
        "sip:alice@1host.2com",
        "sip:alice@192.0.2.256",
        "sip:alice@192.0.2",
        "sip:a@b@atlanta.com",
        "sip:a:b:c@atlanta.com",
        'sip:a"b@atlanta.com',
        "sip:a<b@atlanta.com",
        "sip:a#b@atlanta.com",
        "sip:a%4@atlanta.com",
        "sip:a%zz@atlanta.com",
        "sip:a@atlanta.com;",
        "sip:a@atlanta.com;;lr",
        "sip:a@atlanta.com;=x",
        "sip:a@atlanta.com;x=",
        "sip:a@atlanta.com;x=a=b",
        "sip:a@atlanta.com;x=%g0",
        "sip:a@atlanta.com?",
        "sip:a@atlanta.com?x",
        "sip:a@atlanta.com?=x",
        "sip:a@atlanta.com?x=1&",
        "sip:a@atlanta.com?x=a@b",
        "sip:a@h\r\n",
        "sip:a@h\x00",
        "sip:a@h\u00e9.com",
        # RFC 5118 §4.2 / §4.10 and friends
        "sip:[2001:db8::10",
        "sip:2001:db8::10",
        "sip:[2001:db8::10]5070",
        "sip:[2001:db8::10]:",
        "sip:[2001:db8:::192.0.2.1]",
        "sip:[1:2:3:4:5:6:7:8:9]",
        "sip:[2001:db8::g]",
        "sip:[]",
        "sip:[192.0.2.1]",
        "sip:[fe80::1%25eth0]",  # zone ids: not in the SIP grammar
        "sip:[fe80::1%eth0]",
        "sip:user@[2001:db8::10]]",
        # tel (RFC 3966)
        "tel:",
        "tel:+",
        "tel:+-",
        "tel:7042",  # local number without phone-context
        "tel:+1234;phone-context=+1",  # global number with phone-context
        "tel:+12 34",
        "tel:12g4;phone-context=example.com",
        "tel:+1234;a=%zz",
        # other schemes
        "foo:",
        "foo:a b",
        "foo:<x>",
        "foo:a%2",
        "f_o:x",
    ],
)
def test_invalid_uris(text: str) -> None:
    with pytest.raises(LocalProtocolError) as info:
        parse_uri(text)
    assert info.value.status_hint == 400


def test_huge_numbers() -> None:
    with pytest.raises(LocalProtocolError):
        parse_uri("sip:a@b:" + "9" * 5000)
    uri = parse_uri("sip:a@b:" + "0" * 5000 + "5060;ttl=" + "9" * 5000)
    assert isinstance(uri, SipURI)
    assert uri.port == 5060
    assert uri.ttl is None  # out of range: reported as absent, never raised


def test_is_valid_host() -> None:
    for good in [
        "a",
        "a.b",
        "example.com.",
        "a-b.c-d",
        "x1.y2z",
        "10.0.0.1",
        "255.255.255.255",
        "010.0.0.1",
        "[::1]",
        "[2001:db8::1]",
    ]:
        assert is_valid_host(good), good
    for bad in [
        "",
        ".",
        "a..b",
        "-a",
        "a-",
        "1.2.3.256",
        "1.2.3",
        "1a.2b",
        "[::1",
        "::1",
        "[::g]",
        "a_b",
        "a b",
        "[fe80::1%eth0]",
    ]:
        assert not is_valid_host(bad), bad


# -- tel and other schemes ---------------------------------------------------------------


def test_tel_uri() -> None:
    uri = parse_uri("tel:+1-201-555-0123")
    assert isinstance(uri, TelURI)
    assert uri.number == "+1-201-555-0123"
    assert uri.is_global
    assert uri.digits == "+12015550123"
    assert uri.scheme == "tel"
    assert str(uri) == "tel:+1-201-555-0123"
    local = parse_uri("tel:7042;phone-context=example.com")
    assert isinstance(local, TelURI)
    assert not local.is_global
    assert local.phone_context == "example.com"
    assert local.params == (("phone-context", "example.com"),)
    assert str(local) == "tel:7042;phone-context=example.com"
    ext = parse_uri("TEL:863-1234;phone-context=+1-914-555;ext=22;isub=a%20b")
    assert isinstance(ext, TelURI)
    assert ext.get_param("EXT") == "22"
    assert str(ext) == "tel:863-1234;phone-context=+1-914-555;ext=22;isub=a%20b"
    star = parse_uri("tel:*67#;phone-context=example.com")
    assert isinstance(star, TelURI)
    assert star.number == "*67#"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("tel:+1-201-555-0123", "tel:+1.201.555.0123"),
        ("tel:+1-201-555-0123", "tel:+1(201)5550123"),
        ("tel:7042;phone-context=example.com", "tel:7042;Phone-Context=EXAMPLE.com"),
        ("tel:863-1234;phone-context=+1-914-555", "tel:8631234;phone-context=+1914555"),
        ("tel:+1234;ext=1-2;isub=x", "tel:+1234;isub=X;ext=12"),
        ("tel:12ab;phone-context=a.b", "tel:12AB;phone-context=a.b"),
        ("tel:+1234;foo=%61", "tel:+1234;foo=a"),
    ],
)
def test_tel_equal(a: str, b: str) -> None:
    assert parse_uri(a) == parse_uri(b)
    assert hash(parse_uri(a)) == hash(parse_uri(b))


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("tel:+1234", "tel:+12345"),
        ("tel:+1234", "tel:+1234;ext=1"),  # a parameter on one side only
        ("tel:+1234;ext=1", "tel:+1234;ext=2"),
        ("tel:1234;phone-context=a.com", "tel:1234;phone-context=b.com"),
        ("tel:+1234", "sip:+1234@example.com;user=phone"),
    ],
)
def test_tel_not_equal(a: str, b: str) -> None:
    assert parse_uri(a) != parse_uri(b)


@pytest.mark.parametrize(
    ("text", "scheme", "rest"),
    [
        (
            "nobodyknowsthisscheme:totallyopaquecontent",
            "nobodyknowsthisscheme",
            "totallyopaquecontent",
        ),  # RFC 4475 §3.3.4 "unksm"
        ("isbn:2983792873", "isbn", "2983792873"),  # RFC 4475 §3.3.5 "unksm2"
        ("soap.beep://192.0.2.103:3002", "soap.beep", "//192.0.2.103:3002"),  # "novelsc"
        (
            "mailto:alice@example.com?subject=hi%20there",
            "mailto",
            "alice@example.com?subject=hi%20there",
        ),
        (
            "urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6",
            "urn",
            "uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6",
        ),
        ("HTTP://[2001:db8::1]/x", "http", "//[2001:db8::1]/x"),
    ],
)
def test_absolute_uri(text: str, scheme: str, rest: str) -> None:
    uri = parse_uri(text)
    assert uri == AbsoluteURI(scheme, rest)
    assert str(uri) == f"{scheme}:{rest}"


# -- properties ------------------------------------------------------------------------

_ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_label = st.text(_ALNUM + "-", min_size=1, max_size=8).filter(
    lambda s: s[0] != "-" and s[-1] != "-"
)
_toplabel = _label.filter(lambda s: s[0].isalpha())
_hostname = st.builds(lambda ls, t: ".".join([*ls, t]), st.lists(_label, max_size=3), _toplabel)
_ipv4 = st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t)))
_ipv6 = st.ip_addresses(v=6).map(lambda a: f"[{a}]")
_host = st.one_of(_hostname, _ipv4, _ipv6)


def _escaped(chars: str, min_size: int = 1) -> st.SearchStrategy[str]:
    piece = st.one_of(
        st.sampled_from(list(chars)),
        st.integers(0, 255).map(lambda b: f"%{b:02X}"),
    )
    return st.lists(piece, min_size=min_size, max_size=10).map("".join)


_UNRES = _ALNUM + "-_.!~*'()"
_user = _escaped(_UNRES + "&=+$,;?/")
_password = _escaped(_UNRES + "&=+$,", 0)
_pchar = _escaped(_UNRES + "[]/:&+$")
_hchar = _escaped(_UNRES + "[]/?:+$")
_sip_uris = st.builds(
    SipURI,
    scheme=st.sampled_from(["sip", "sips"]),
    user=st.none() | _user,
    password=st.none() | _password,
    host=_host,
    port=st.none() | st.integers(0, 65535),
    params=st.lists(st.tuples(_pchar, st.none() | _pchar), max_size=4).map(tuple),
    headers=st.lists(st.tuples(_hchar, _hchar | st.just("")), max_size=3).map(tuple),
).filter(lambda u: u.user is not None or u.password is None)


def _fields(uri: SipURI) -> tuple[object, ...]:
    return (uri.scheme, uri.user, uri.password, uri.host, uri.port, uri.params, uri.headers)


@given(_sip_uris)
def test_sip_uri_round_trip(uri: SipURI) -> None:
    text = str(uri)
    parsed = parse_uri(text)
    assert isinstance(parsed, SipURI)
    assert _fields(parsed) == _fields(uri)
    assert str(parsed) == text
    assert parsed == uri
    assert hash(parsed) == hash(uri)


@given(st.text(max_size=60))
def test_random_text_raises_only_protocol_errors(text: str) -> None:
    try:
        uri = parse_uri(text)
    except ProtocolError as exc:
        assert isinstance(exc, LocalProtocolError)
        assert exc.status_hint == 400
    else:
        assert isinstance(uri, SipURI | TelURI | AbsoluteURI)


@given(st.text(alphabet="sip:@[]%;?=&.-+1aA:/ ", max_size=40).map(lambda s: "sip:" + s))
def test_random_sip_text_raises_only_protocol_errors(text: str) -> None:
    try:
        uri = parse_uri(text)
    except LocalProtocolError:
        return
    assert isinstance(uri, SipURI)
    assert parse_uri(str(attrs.evolve(uri))) == uri
