"""Property tests for the parser (hypothesis).

* Round trip: a valid Request/Response built from generated parts serializes
  to bytes that parse back equal (``parse(m.serialize()) == m``), through
  both :func:`parse` and :class:`StreamFramer`.
* Robustness: serialized messages with bytes flipped, cut, duplicated or
  inserted, and plain random bytes, never raise anything but
  :class:`RemoteProtocolError`. Whatever does parse must round-trip too.

The two robustness tests run 5000 examples each (10,000 together).
"""

from __future__ import annotations

import string

from hypothesis import HealthCheck, example, given, settings, strategies as st

from trio_srf.errors import RemoteProtocolError
from trio_srf.sip import KeepAlive, ParserLimits, Request, Response, StreamFramer, parse
from trio_srf.sip._parsed import quote

from .torture_corpus import VALID

TOKEN_CHARS = string.ascii_letters + string.digits + "-.!%*_+`'~"
ALNUM = string.ascii_lowercase + string.digits
USER_CHARS = string.ascii_letters + string.digits + "-_.!~*'()&=+$,;?/"
WORD_CHARS = string.ascii_letters + string.digits + "-.!%*_+`'~()<>:\\\"/[]?{}"
METHODS = [
    "INVITE",
    "ACK",
    "BYE",
    "CANCEL",
    "OPTIONS",
    "REGISTER",
    "SUBSCRIBE",
    "NOTIFY",
    "REFER",
    "MESSAGE",
    "INFO",
    "PRACK",
    "UPDATE",
    "PUBLISH",
]

token = st.text(TOKEN_CHARS, min_size=1, max_size=10)
label = st.builds(
    lambda a, b: a + b,
    st.sampled_from(string.ascii_lowercase),
    st.text(ALNUM, max_size=7),
)
hostname = st.lists(label, min_size=1, max_size=4).map(".".join)
ipv4 = st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t)))
ipv6 = st.ip_addresses(v=6).map(lambda a: f"[{a}]")
host = st.one_of(hostname, ipv4, ipv6)
port = st.one_of(st.none(), st.integers(1, 65535))
user = st.one_of(
    st.text(USER_CHARS, min_size=1, max_size=12),
    st.text(string.ascii_lowercase, min_size=1, max_size=5).map(lambda s: s + "%40x"),
)
uri_param = st.one_of(
    st.sampled_from(["lr", "transport=tcp", "transport=udp", "user=phone", "ob"]),
    st.builds(
        lambda n, v: f"{n}={v}",
        st.text(ALNUM, min_size=1, max_size=6),
        st.text(ALNUM + "-_.!~*'", min_size=1, max_size=6),
    ),
)


@st.composite
def sip_uris(draw: st.DrawFn) -> str:
    scheme = draw(st.sampled_from(["sip", "sips"]))
    u = draw(st.one_of(st.none(), user))
    h = draw(host)
    p = draw(port)
    params = draw(st.lists(uri_param, max_size=3))
    text = f"{scheme}:"
    if u is not None:
        text += f"{u}@"
    text += h
    if p is not None:
        text += f":{p}"
    return text + "".join(f";{x}" for x in params)


display = st.one_of(
    st.none(),
    st.lists(token, min_size=1, max_size=3).map(" ".join),
    st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=0, max_size=20).map(quote),
)


@st.composite
def name_addrs(draw: st.DrawFn, tag: bool) -> str:
    d = draw(display)
    text = f"<{draw(sip_uris())}>"
    if d is not None:
        text = f"{d} {text}"
    if tag:
        text += f";tag={draw(token)}"
    return text + "".join(f";{p}" for p in draw(st.lists(uri_param, max_size=2)))


@st.composite
def vias(draw: st.DrawFn) -> str:
    transport = draw(st.sampled_from(["UDP", "TCP", "TLS", "SCTP", "WS", "WSS"]))
    text = f"SIP/2.0/{transport} {draw(host)}"
    p = draw(port)
    if p is not None:
        text += f":{p}"
    text += f";branch=z9hG4bK{draw(token)}"
    if draw(st.booleans()):
        text += ";rport"
    if draw(st.booleans()):
        text += f";received={draw(ipv4)}"
    return text


call_ids = st.builds(
    lambda w, h: w if h is None else f"{w}@{h}",
    st.text(WORD_CHARS, min_size=1, max_size=20),
    st.one_of(st.none(), hostname),
)
header_text = st.text(
    st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="\x7f"), max_size=30
)
extra_headers = st.lists(
    st.one_of(
        st.tuples(token.map(lambda t: "X-" + t), header_text),
        st.tuples(st.just("Max-Forwards"), st.integers(0, 255).map(str)),
        st.tuples(st.sampled_from(["Contact", "m"]), sip_uris().map(lambda u: f"<{u}>")),
        st.tuples(st.just("Route"), sip_uris().map(lambda u: f"<{u};lr>")),
        st.tuples(st.sampled_from(["Supported", "k"]), st.lists(token, max_size=3).map(", ".join)),
        st.tuples(st.sampled_from(["Subject", "s"]), header_text),
    ),
    max_size=6,
)
bodies = st.one_of(st.just(b""), st.binary(max_size=300))


@st.composite
def common_headers(draw: st.DrawFn, method: str, to_tag: bool) -> list[tuple[str, str]]:
    headers = [
        (draw(st.sampled_from(["Via", "v"])), draw(vias())) for _ in range(draw(st.integers(1, 3)))
    ]
    headers += [
        (draw(st.sampled_from(["From", "f"])), draw(name_addrs(tag=True))),
        (draw(st.sampled_from(["To", "t"])), draw(name_addrs(tag=to_tag))),
        (draw(st.sampled_from(["Call-ID", "i", "call-id"])), draw(call_ids)),
        ("CSeq", f"{draw(st.integers(0, 2**31 - 1))} {method}"),
    ]
    headers += draw(extra_headers)
    return draw(st.permutations(headers))


method_names = st.one_of(st.sampled_from(METHODS), token)


@st.composite
def requests(draw: st.DrawFn) -> Request:
    method = draw(method_names)
    headers = draw(common_headers(method, to_tag=draw(st.booleans())))
    return Request(method, draw(sip_uris()), headers, draw(bodies))


@st.composite
def responses(draw: st.DrawFn) -> Response:
    method = draw(method_names)
    headers = draw(common_headers(method, to_tag=True))
    reason = draw(header_text)
    return Response(draw(st.integers(100, 699)), reason, headers, draw(bodies))


messages = st.one_of(requests(), responses())


def _frame(data: bytes) -> list[Request | Response]:
    framer = StreamFramer()
    framer.feed(data)
    return [e for e in framer.events() if not isinstance(e, KeepAlive)]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages)
def test_round_trip(m: Request | Response) -> None:
    wire = m.serialize()
    parsed = parse(wire)
    assert parsed == m
    assert _frame(wire) == [m]
    # The typed views agree with what was generated.
    assert parsed.call_id == m.headers.get("call-id")
    assert str(parsed.cseq) == m.headers.get("cseq")
    assert len(parsed.via) == len(m.headers.get_all("via"))
    assert parsed.body == m.body


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(messages, min_size=1, max_size=4), st.data())
def test_pipelined_round_trip(ms: list[Request | Response], data: st.DataObject) -> None:
    wire = b"".join(m.serialize() for m in ms)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=10)))
    framer = StreamFramer()
    got: list[Request | Response | KeepAlive] = []
    for a, b in zip([0, *cuts], [*cuts, len(wire)], strict=True):
        framer.feed(wire[a:b])
        got += framer.events()
    assert got == ms


# -- robustness ----------------------------------------------------------------------

SEEDS = [c.data for c in VALID if c.stream]
SIP_SOUP = [
    b"INVITE ",
    b"SIP/2.0",
    b"sip/2.0 ",
    b"SIP/2.0 200 OK",
    b"\r\n",
    b"\r\n\r\n",
    b"\n",
    b" ",
    b"\t",
    b"Via: ",
    b"v:",
    b"SIP/2.0/UDP ",
    b"sip:",
    b"tel:+1",
    b"@",
    b"[2001:db8::1]",
    b"[",
    b"]",
    b":5060",
    b";branch=z9hG4bK",
    b";tag=",
    b";received=",
    b";rport",
    b"Content-Length: ",
    b"l: ",
    b"CSeq: ",
    b"Call-ID: ",
    b"From: ",
    b"To: ",
    b"Max-Forwards: ",
    b"Contact: ",
    b"Route: ",
    b"0",
    b"1",
    b"4294967296",
    b"99999999999999999999",
    b"-1",
    b"<",
    b">",
    b'"',
    b"\\",
    b",",
    b";",
    b"=",
    b"%",
    b"%00",
    b"\x00",
    b"\x7f",
    b"\xff",
    b"\xc3\xa9",
]

mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10**6), st.integers(0, 255)),
    st.tuples(st.just("delete"), st.integers(0, 10**6), st.integers(1, 40)),
    st.tuples(st.just("insert"), st.integers(0, 10**6), st.sampled_from(SIP_SOUP)),
    st.tuples(st.just("insert"), st.integers(0, 10**6), st.binary(min_size=1, max_size=8)),
    st.tuples(st.just("truncate"), st.integers(0, 10**6), st.just(0)),
    st.tuples(st.just("duplicate"), st.integers(0, 10**6), st.integers(1, 60)),
)


def mutate(data: bytes, ops: list[tuple[str, int, object]]) -> bytes:
    buf = bytearray(data)
    for op, where, arg in ops:
        pos = where % (len(buf) + 1)
        if op == "flip" and buf:
            buf[pos % len(buf)] = arg  # type: ignore[call-overload]
        elif op == "delete":
            del buf[pos : pos + arg]  # type: ignore[operator]
        elif op == "insert":
            buf[pos:pos] = arg  # type: ignore[call-overload]
        elif op == "truncate":
            del buf[pos:]
        elif op == "duplicate":
            buf[pos:pos] = buf[pos : pos + arg]  # type: ignore[operator]
    return bytes(buf)


SMALL = ParserLimits(max_message_size=4096, max_headers=40, max_line_length=1024)


def check_robust(data: bytes) -> None:
    """Feed ``data`` every way; only RemoteProtocolError may come out."""
    for limits in (None, SMALL):
        try:
            m = parse(data) if limits is None else parse(data, limits=limits)
        except RemoteProtocolError as err:
            assert 400 <= err.status_hint <= 599
            if err.can_answer:
                assert err.is_request and err.via and err.call_id is not None
        else:
            assert isinstance(m, Request | Response)
            # Whatever parses re-serializes to the same message.
            assert parse(m.serialize()) == m
    framer = StreamFramer(SMALL)
    try:
        for i in range(0, len(data), 97):
            framer.feed(data[i : i + 97])
            framer.events()
    except RemoteProtocolError:
        pass


@settings(
    max_examples=5000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.sampled_from(SEEDS), st.lists(mutation, min_size=1, max_size=5))
@example(SEEDS[0], [("flip", 0, 0)])
def test_mutated_messages_raise_only_remote_protocol_error(
    seed: bytes, ops: list[tuple[str, int, object]]
) -> None:
    check_robust(mutate(seed, ops))


@settings(
    max_examples=5000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    st.one_of(
        st.binary(max_size=600),
        st.lists(st.sampled_from(SIP_SOUP), max_size=80).map(b"".join),
        st.lists(st.one_of(st.sampled_from(SIP_SOUP), st.binary(max_size=4)), max_size=60).map(
            b"".join
        ),
    )
)
@example(b"")
@example(b"\r\n\r\n")
@example(b"SIP/2.0 200 OK\r\n\r\n")
def test_random_bytes_raise_only_remote_protocol_error(data: bytes) -> None:
    check_robust(data)
