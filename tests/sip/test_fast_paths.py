"""Differential tests: every strict fast path gives exactly what the careful parser gives.

The fast paths (``_VIA_FASTEST_RE``, ``_NAME_ADDR_FASTEST_RE``,
``_CSEQ_FAST_RE``, ``_SIP_FAST_RE`` and the parser's Request-URI check) must
accept only a subset of what the careful parsers accept and must build
identical values: same type, same field values (including a URI's remembered
text), same ``str()``. Where the careful parser raises, the public function
must raise too. Inputs: generated near-miss values (hypothesis) and every
relevant header value and Request-URI of the torture corpus.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import attrs
import pytest
from hypothesis import given, settings, strategies as st

from trio_srf.errors import LocalProtocolError
from trio_srf.sip._parsed import (
    _CSEQ_FAST_RE,
    _NAME_ADDR_FASTEST_RE,
    _VIA_FASTEST_RE,
    parse_cseq,
    parse_cseq_careful,
    parse_name_addr,
    parse_name_addr_careful,
    parse_via_list,
    parse_via_list_careful,
)
from trio_srf.sip._uri import _SIP_FAST_RE, SipURI, parse_uri, parse_uri_careful

from .torture_corpus import INVALID, VALID


def _fields(value: Any) -> Any:
    """Everything that makes up a parsed value, recursively, for exact comparison."""
    if isinstance(value, list):
        return [_fields(v) for v in value]
    if attrs.has(type(value)):
        out: list[Any] = [type(value).__name__, str(value)]
        for field in attrs.fields(type(value)):
            if field.name == "_key":  # the lazily computed comparison key
                continue
            out.append((field.name, _fields(getattr(value, field.name))))
        return out
    return value


def _outcome(parse: Callable[[str], Any], text: str) -> Any:
    try:
        return ("ok", _fields(parse(text)))
    except LocalProtocolError as err:
        return ("error", err.status_hint)


def _check(
    fast_re: re.Pattern[str], public: Callable[[str], Any], careful: Callable[[str], Any], text: str
) -> bool:
    """Assert the public (fast-first) parser agrees with the careful one; return fast hit."""
    assert _outcome(public, text) == _outcome(careful, text), text
    return fast_re.match(text) is not None


# -- generated near misses ----------------------------------------------------------

_hosts = st.sampled_from(
    [
        "example.com",
        "a.b.example.com",
        "EXAMPLE.com",
        "192.0.2.1",
        "255.255.255.255",
        "1.2.3.256",
        "-bad.example.com",
        "a..b",
        "a.b.",
        "123",
        "1.2.3",
        "x-",
        "[2001:db8::1]",
        "host_name",
    ]
)
_ports = st.sampled_from(
    [None, "5060", "0", "00005060", "59999", "60000", "65535", "65536", "99999", "1" * 30]
)
_tokens = st.sampled_from(["z9hG4bK776", "abc", "x.y-z", "a%41", "1", "!", "~'`"])
_via_param_names = st.sampled_from(
    ["branch", "Branch", "BRANCH", "received", "rport", "RPORT", "ttl", "maddr", "x", "branchx"]
)
_via_param_values = st.one_of(
    st.none(),
    _tokens,
    st.sampled_from(["192.0.2.10", "300.1.1.1", "01.2.3.4", "5060", "70000", "example.com", ""]),
)
_via_params = st.lists(st.tuples(_via_param_names, _via_param_values), max_size=4).map(
    lambda ps: "".join(f";{n}" if v is None else f";{n}={v}" for n, v in ps)
)
_transports = st.sampled_from(["UDP", "TCP", "TLS", "SCTP", "WS", "WSS", "udp", "Tcp", "XYZ"])
_protocols = st.sampled_from(["SIP/2.0/", "sip/2.0/", "SIP/3.0/", "SIP /2.0/", "SIP/2.0 /"])
_seps = st.sampled_from([" ", "  ", "\t", ""])


@st.composite
def _via_values(draw: st.DrawFn) -> str:
    port = draw(_ports)
    text = (
        draw(_protocols)
        + draw(_transports)
        + draw(_seps)
        + draw(_hosts)
        + ("" if port is None else ":" + port)
        + draw(_via_params)
    )
    if draw(st.booleans()):
        text += draw(st.sampled_from([" ", ",SIP/2.0/UDP x.com", "?", " ;x"]))
    return text


_users = st.sampled_from(
    [None, "alice", "alice.001", "a%40b", "a;b", "a:pw", "(x)&=+$,", "", "a b"]
)
_uri_params = st.lists(
    st.sampled_from([";transport=udp", ";lr", ";maddr=1.2.3.4", ";x=%41", ";a=[b]", ";=x", ";"]),
    max_size=3,
).map("".join)


@st.composite
def _sip_uris(draw: st.DrawFn) -> str:
    user = draw(_users)
    port = draw(_ports)
    return (
        draw(st.sampled_from(["sip:", "sips:", "SIP:", "tel:", "http:"]))
        + ("" if user is None else user + "@")
        + draw(_hosts)
        + ("" if port is None else ":" + port)
        + draw(_uri_params)
        + draw(st.sampled_from(["", "", "?subject=x", "?"]))
    )


_displays = st.sampled_from(
    ["", '"Alice" ', '"Alice Liddell"', '"a\\"b" ', '"" ', "Alice ", "Alice  Liddell ", '"\x07" ']
)
_header_params = st.lists(
    st.sampled_from([";tag=1928301774", ";tag", ";x=y", ';x="q"', " ;tag=1", ";tag=a b", ";"]),
    max_size=3,
).map("".join)


@st.composite
def _name_addrs(draw: st.DrawFn) -> str:
    uri = draw(_sip_uris())
    inner = f"<{uri}>" if draw(st.integers(0, 4)) else uri
    return draw(_displays) + inner + draw(_header_params)


_cseqs = st.builds(
    lambda n, sep, method, tail: f"{n}{sep}{method}{tail}",
    st.sampled_from(["1", "0", "000000001", "999999999", "2147483647", "2147483648", "", "1" * 50]),
    _seps,
    st.sampled_from(["INVITE", "ACK", "!meth~od", "", "IN VITE", "INV:ITE"]),
    st.sampled_from(["", " ", "\t"]),
)


@settings(max_examples=3000, deadline=None)
@given(_via_values())
def test_via_fast_path_matches_careful(text: str) -> None:
    _check(_VIA_FASTEST_RE, parse_via_list, parse_via_list_careful, text)


@settings(max_examples=3000, deadline=None)
@given(_name_addrs())
def test_name_addr_fast_path_matches_careful(text: str) -> None:
    _check(_NAME_ADDR_FASTEST_RE, parse_name_addr, parse_name_addr_careful, text)


@settings(max_examples=2000, deadline=None)
@given(_sip_uris())
def test_uri_fast_path_matches_careful(text: str) -> None:
    _check(_SIP_FAST_RE, parse_uri, parse_uri_careful, text)


@settings(max_examples=1000, deadline=None)
@given(_cseqs)
def test_cseq_fast_path_matches_careful(text: str) -> None:
    _check(_CSEQ_FAST_RE, parse_cseq, parse_cseq_careful, text)


@settings(max_examples=500, deadline=None)
@given(st.text(st.sampled_from('SIP/2.0UDP abc.1:5;=branchreceivedrport<>"@sip'), max_size=60))
def test_fast_paths_on_random_text(text: str) -> None:
    _check(_VIA_FASTEST_RE, parse_via_list, parse_via_list_careful, text)
    _check(_NAME_ADDR_FASTEST_RE, parse_name_addr, parse_name_addr_careful, text)
    _check(_SIP_FAST_RE, parse_uri, parse_uri_careful, text)


def test_generators_reach_the_fast_paths() -> None:
    """The fast paths are really taken for typical values (else the tests prove nothing)."""
    via = "SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bK776;received=192.0.2.1;rport"
    assert _check(_VIA_FASTEST_RE, parse_via_list, parse_via_list_careful, via)
    na = '"Alice Liddell" <sip:alice@atlanta.example.com:5060;transport=udp>;tag=1928301774'
    assert _check(_NAME_ADDR_FASTEST_RE, parse_name_addr, parse_name_addr_careful, na)
    assert _check(_SIP_FAST_RE, parse_uri, parse_uri_careful, "sips:bob@biloxi.example.com")
    assert _check(_CSEQ_FAST_RE, parse_cseq, parse_cseq_careful, "314159 INVITE")
    uri = parse_name_addr(na).uri
    assert isinstance(uri, SipURI)
    assert (uri.scheme, uri.user, uri.password, uri.host, uri.port) == (
        "sip",
        "alice",
        None,
        "atlanta.example.com",
        5060,
    )
    assert uri.params == (("transport", "udp"),)
    assert str(uri) == "sip:alice@atlanta.example.com:5060;transport=udp"
    # Values outside the fast paths still parse, by the careful parser.
    for text in ("SIP/2.0/UDP h.com:65535;BRANCH=z9hG4bK1", "SIP/2.0/UDP h.com;ttl=5"):
        assert _VIA_FASTEST_RE.match(text) is None
        assert parse_via_list(text) == parse_via_list_careful(text)


# -- the torture corpus -------------------------------------------------------------

_KEYS = {"via": "via", "v": "via", "from": "na", "f": "na", "to": "na", "t": "na", "cseq": "cseq"}


def _corpus_values() -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for case in [*VALID, *INVALID]:
        head = case.data.split(b"\r\n\r\n", 1)[0].decode("utf-8", "surrogateescape")
        lines = head.replace("\r\n", "\n").split("\n")
        parts = lines[0].split(" ")
        if len(parts) == 3:
            out.append(("uri", parts[1]))
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            kind = _KEYS.get(name.strip().lower())
            if sep and kind is not None:
                out.append((kind, value.strip(" \t")))
    return out


_PARSERS: dict[str, tuple[re.Pattern[str], Callable[[str], Any], Callable[[str], Any]]] = {
    "via": (_VIA_FASTEST_RE, parse_via_list, parse_via_list_careful),
    "na": (_NAME_ADDR_FASTEST_RE, parse_name_addr, parse_name_addr_careful),
    "cseq": (_CSEQ_FAST_RE, parse_cseq, parse_cseq_careful),
    "uri": (_SIP_FAST_RE, parse_uri, parse_uri_careful),
}


def test_corpus_values_agree() -> None:
    values = _corpus_values()
    hits = {kind: 0 for kind in _PARSERS}
    for kind, text in values:
        fast_re, public, careful = _PARSERS[kind]
        hits[kind] += _check(fast_re, public, careful, text)
    # The corpus exercises every fast path, and also leaves it many times.
    assert all(n >= 10 for n in hits.values()), hits
    assert len(values) - sum(hits.values()) >= 50


@pytest.mark.parametrize("case", VALID, ids=lambda c: c.name)
def test_valid_corpus_views_are_the_careful_ones(case: Any) -> None:
    from trio_srf.sip import Request, parse

    msg = parse(case.data)
    assert _fields(msg.via) == _fields(
        [v for value in msg.headers.get_all("via") for v in parse_via_list_careful(value)]
    )
    assert _fields(msg.from_) == _fields(parse_name_addr_careful(msg.headers.get("from") or ""))
    assert _fields(msg.to) == _fields(parse_name_addr_careful(msg.headers.get("to") or ""))
    assert _fields(msg.cseq) == _fields(parse_cseq_careful(msg.headers.get("cseq") or ""))
    if isinstance(msg, Request):
        assert _fields(msg.request_uri) == _fields(parse_uri_careful(msg.uri))
