"""Tests for trio_srf.sip._digest: RFC 2617/7616 vectors, parsing, client and server sides."""

from __future__ import annotations

import hashlib
from functools import partial

import attrs
import pytest
from hypothesis import given, settings, strategies as st

from trio_srf.errors import LocalProtocolError
from trio_srf.sip._digest import (
    SUPPORTED_ALGORITHMS,
    Challenge,
    Credentials,
    DigestClient,
    DigestServer,
    VerifyResult,
    answer_challenge,
    compute_ha1,
    compute_response,
    parse_challenge,
    parse_credentials,
    select_challenge,
)

# ----------------------------------------------------------------------------- RFC vectors

# RFC 2617 §3.5, folded the way the RFC prints it (CRLF + white space is LWS).
RFC2617_CHALLENGE = (
    "Digest\r\n"
    '        realm="testrealm@host.com",\r\n'
    '        qop="auth,auth-int",\r\n'
    '        nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",\r\n'
    '        opaque="5ccc069c403ebaf9f0171e9517f40e41"'
)
RFC2617_CREDENTIALS = (
    'Digest username="Mufasa",\r\n'
    '        realm="testrealm@host.com",\r\n'
    '        nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",\r\n'
    '        uri="/dir/index.html",\r\n'
    "        qop=auth,\r\n"
    "        nc=00000001,\r\n"
    '        cnonce="0a4f113b",\r\n'
    '        response="6629fae49393a05397450978507c4ef1",\r\n'
    '        opaque="5ccc069c403ebaf9f0171e9517f40e41"'
)

RFC7616_NONCE = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
RFC7616_OPAQUE = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"
RFC7616_CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
RFC7616_RESPONSES = {
    "MD5": "8ca523f5e9506fed4657c9700eebdbec",
    "SHA-256": "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
}


def rfc7616_challenge(algorithm: str) -> str:
    # RFC 7616 §3.9.1, one WWW-Authenticate value per algorithm.
    return (
        "Digest\r\n"
        '    realm="http-auth@example.org",\r\n'
        '    qop="auth, auth-int",\r\n'
        f"    algorithm={algorithm},\r\n"
        f'    nonce="{RFC7616_NONCE}",\r\n'
        f'    opaque="{RFC7616_OPAQUE}"'
    )


def rfc7616_credentials(algorithm: str) -> str:
    return (
        'Digest username="Mufasa",\r\n'
        '    realm="http-auth@example.org",\r\n'
        '    uri="/dir/index.html",\r\n'
        f"    algorithm={algorithm},\r\n"
        f'    nonce="{RFC7616_NONCE}",\r\n'
        "    nc=00000001,\r\n"
        f'    cnonce="{RFC7616_CNONCE}",\r\n'
        "    qop=auth,\r\n"
        f'    response="{RFC7616_RESPONSES[algorithm]}",\r\n'
        f'    opaque="{RFC7616_OPAQUE}"'
    )


def test_rfc2617_example() -> None:
    challenge = parse_challenge(RFC2617_CHALLENGE)
    assert challenge == Challenge(
        realm="testrealm@host.com",
        nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
        opaque="5ccc069c403ebaf9f0171e9517f40e41",
        qop=("auth", "auth-int"),
    )
    creds = answer_challenge(
        challenge,
        username="Mufasa",
        password="Circle Of Life",
        method="GET",
        uri="/dir/index.html",
        cnonce="0a4f113b",
    )
    assert creds.response == "6629fae49393a05397450978507c4ef1"
    assert creds == parse_credentials(RFC2617_CREDENTIALS)
    assert str(creds) == (
        'Digest username="Mufasa", realm="testrealm@host.com", '
        'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", '
        'response="6629fae49393a05397450978507c4ef1", cnonce="0a4f113b", '
        'opaque="5ccc069c403ebaf9f0171e9517f40e41", qop=auth, nc=00000001'
    )


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256"])
def test_rfc7616_example(algorithm: str) -> None:
    challenge = parse_challenge(rfc7616_challenge(algorithm))
    assert challenge == Challenge(
        realm="http-auth@example.org",
        nonce=RFC7616_NONCE,
        opaque=RFC7616_OPAQUE,
        algorithm=algorithm,
        qop=("auth", "auth-int"),
    )
    creds = answer_challenge(
        challenge,
        username="Mufasa",
        password="Circle of Life",
        method="GET",
        uri="/dir/index.html",
        cnonce=RFC7616_CNONCE,
    )
    assert creds.response == RFC7616_RESPONSES[algorithm]
    parsed = parse_credentials(rfc7616_credentials(algorithm))
    assert parsed == creds
    assert parsed.nc == 1
    assert parsed.qop == "auth"
    assert parsed.algorithm == algorithm


def test_rfc7616_userhash_example_per_erratum_4897() -> None:
    # RFC 7616 §3.9.2 (SHA-512-256, UTF-8 user name, userhash). The RFC's printed username and
    # response do not follow from its inputs; erratum 4897 gives the values below.
    challenge = parse_challenge(
        'Digest realm="api@example.org", qop="auth", algorithm=SHA-512-256, '
        'nonce="5TsQWLVdgBdmrQ0XsxbDODV+57QdFR34I9HAbC/RVvkK", '
        'opaque="HRPCssKJSGjCrkzDg8OhwpzCiGPChXYjwrI2QmXDnsOS", charset=UTF-8, userhash=true'
    )
    assert challenge.userhash is True
    assert challenge.charset == "UTF-8"
    creds = answer_challenge(
        challenge,
        username="J\u00e4s\u00f8n Doe",
        password="Secret, or not?",
        method="GET",
        uri="/doe.json",
        cnonce="NTg6RKcb9boFIAS3KrFK9BGeh+iDa/sm6jUMp2wds69v",
    )
    assert creds.username == "793263caabb707a56211940d90411ea4a575adeccb7e360aeb624ed06ece9b0b"
    assert creds.response == "3798d4131c277846293534c3edc11bd8a5e4cdcbff78b05db9d95eeb1cec68a5"
    assert creds.userhash is True
    assert "userhash=true" in str(creds)


# ------------------------------------------------------------- independent hashlib computations

HASHLIB_NAMES = {"MD5": "md5", "SHA-256": "sha256", "SHA-512-256": "sha512_256"}


def hx(name: str, text: bytes) -> str:
    return hashlib.new(name, text).hexdigest()


def test_sha512_256_is_the_fips_180_4_function() -> None:
    # FIPS 180-4 / NIST example: SHA-512/256("abc"); proves "sha512_256" is not plain truncation.
    assert hx("sha512_256", b"abc") == (
        "53048e2681941ef99b2e29b76b4c7dabe4c2d0c634fc6d46e0e2f13107e7af23"
    )


@pytest.mark.parametrize("base", ["MD5", "SHA-256", "SHA-512-256"])
@pytest.mark.parametrize("sess", [False, True])
@pytest.mark.parametrize("qop", ["auth", "auth-int"])
def test_algorithms_against_step_by_step_hashlib(base: str, sess: bool, qop: str) -> None:
    algorithm = base + ("-sess" if sess else "")
    name = HASHLIB_NAMES[base]
    user, realm, password = "alice", "atlanta.example.com", "s3cr\u00e9t"
    nonce, cnonce, nc = "abcdef0123", "c0ffee", 7
    method, uri, body = "INVITE", "sip:bob@biloxi.example.com", b"v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\n"

    # RFC 7616 §3.4.2: A1, with the -sess extension.
    ha1 = hx(name, f"{user}:{realm}:{password}".encode())
    if sess:
        ha1 = hx(name, f"{ha1}:{nonce}:{cnonce}".encode())
    # RFC 7616 §3.4.3: A2, with H(body) for auth-int.
    a2 = f"{method}:{uri}"
    if qop == "auth-int":
        a2 += ":" + hx(name, body)
    ha2 = hx(name, a2.encode())
    # RFC 7616 §3.4.1: KD(H(A1), nonce:nc:cnonce:qop:H(A2)).
    expected = hx(name, f"{ha1}:{nonce}:00000007:{cnonce}:{qop}:{ha2}".encode())

    challenge = Challenge(realm=realm, nonce=nonce, algorithm=algorithm, qop=(qop,))
    creds = answer_challenge(
        challenge,
        username=user,
        password=password,
        method=method,
        uri=uri,
        body=body,
        cnonce=cnonce,
        nc=nc,
    )
    assert creds.qop == qop
    assert creds.response == expected
    assert compute_ha1(user, realm, password, algorithm) == hx(
        name, f"{user}:{realm}:{password}".encode()
    )


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256"])
def test_rfc2069_form_without_qop(algorithm: str) -> None:
    name = HASHLIB_NAMES[algorithm]
    challenge = Challenge(realm="r", nonce="n0nce", algorithm=algorithm)
    creds = answer_challenge(
        challenge, username="u", password="p", method="REGISTER", uri="sip:r", cnonce="ignored"
    )
    ha1 = hx(name, b"u:r:p")
    ha2 = hx(name, b"REGISTER:sip:r")
    assert creds.response == hx(name, f"{ha1}:n0nce:{ha2}".encode())
    assert (creds.qop, creds.nc, creds.cnonce) == (None, None, None)
    text = str(creds)
    assert "qop" not in text and "nc=" not in text and "cnonce" not in text


def test_md5_sess_without_qop_still_sends_cnonce() -> None:
    challenge = Challenge(realm="r", nonce="n", algorithm="MD5-sess")
    creds = answer_challenge(
        challenge, username="u", password="p", method="BYE", uri="sip:x", cnonce="cn"
    )
    ha1 = hx("md5", (hx("md5", b"u:r:p") + ":n:cn").encode())
    assert creds.response == hx("md5", f"{ha1}:n:{hx('md5', b'BYE:sip:x')}".encode())
    assert creds.cnonce == "cn"
    assert creds.nc is None


def test_missing_algorithm_means_md5() -> None:
    challenge = Challenge(realm="r", nonce="n", qop=("auth",))
    creds = answer_challenge(
        challenge, username="u", password="p", method="OPTIONS", uri="sip:r", cnonce="c"
    )
    assert creds.algorithm is None
    assert "algorithm" not in str(creds)
    ha2 = hx("md5", b"OPTIONS:sip:r")
    assert creds.response == hx("md5", f"{hx('md5', b'u:r:p')}:n:00000001:c:auth:{ha2}".encode())


# ------------------------------------------------------------------------------- auth-int


def test_auth_int_hashes_the_body() -> None:
    both = Challenge(realm="r", nonce="n", algorithm="SHA-256", qop=("auth", "auth-int"))
    only_int = attrs.evolve(both, qop=("auth-int",))
    answer = partial(
        answer_challenge, username="u", password="p", method="MESSAGE", uri="sip:r", cnonce="c"
    )
    assert answer(both, body=b"hi").qop == "auth"
    assert answer(only_int, body=b"hi").qop == "auth-int"
    a = answer(both, body=b"hello", prefer_auth_int=True)
    b = answer(both, body=b"hellO", prefer_auth_int=True)
    empty = answer(both, body=b"", prefer_auth_int=True)
    assert a.qop == "auth-int"
    assert a.response != b.response
    ha1 = hx("sha256", b"u:r:p")
    # RFC 3261 §22.4: an empty body hashes as H("").
    ha2 = hx("sha256", f"MESSAGE:sip:r:{hx('sha256', b'')}".encode())
    assert empty.response == hx("sha256", f"{ha1}:n:00000001:c:auth-int:{ha2}".encode())


def test_unanswerable_challenges() -> None:
    answer = partial(answer_challenge, username="u", password="p", method="INVITE", uri="sip:r")
    with pytest.raises(LocalProtocolError):
        answer(Challenge(realm="r", nonce="n", algorithm="SHA-1"))
    with pytest.raises(LocalProtocolError):
        answer(Challenge(realm="r", nonce="n", qop=("auth-conf",)))
    with pytest.raises(LocalProtocolError):
        answer(Challenge(realm="r", nonce="n", qop=("auth",)), nc=0)


def test_select_challenge_takes_first_supported() -> None:
    sha1 = Challenge(realm="r", nonce="1", algorithm="SHA-1")
    conf = Challenge(realm="r", nonce="2", qop=("auth-conf",))
    sha256 = Challenge(realm="r", nonce="3", algorithm="SHA-256", qop=("auth",))
    md5 = Challenge(realm="r", nonce="4")
    assert select_challenge([sha1, conf, sha256, md5]) is sha256
    assert select_challenge([sha1, conf]) is None


# -------------------------------------------------------------------------------- parsing


def test_parse_is_tolerant() -> None:
    challenge = parse_challenge(
        'DIGEST  REALM = "a \\"quoted\\" \\\\ realm" ,, NONCE=abc/def+=  ,\tQop="AUTH , auth-int,"'
        ', Stale=TRUE, algorithm=md5-SESS, domain="sip:a sip:b", foo=bar, baz="x y",'
    )
    assert challenge == Challenge(
        realm='a "quoted" \\ realm',
        nonce="abc/def+=",
        qop=("auth", "auth-int"),
        stale=True,
        algorithm="MD5-sess",
        domain="sip:a sip:b",
        params=(("foo", "bar"), ("baz", "x y")),
    )
    assert str(challenge) == (
        'Digest realm="a \\"quoted\\" \\\\ realm", domain="sip:a sip:b", nonce="abc/def+=", '
        'stale=true, algorithm=MD5-sess, qop="auth,auth-int", foo=bar, baz="x y"'
    )
    assert parse_challenge(str(challenge)) == challenge


def test_parse_credentials_accepts_quoted_tokens() -> None:
    creds = parse_credentials(
        'digest Username="bob", REALM="biloxi.com", nonce="n", uri="sip:bob@biloxi.com", '
        'response="ABCDEF", qop="auth", nc="0000000a", cnonce="c", algorithm="sha-256", '
        'opaque="", userhash=FALSE, x-ext="1"'
    )
    assert creds == Credentials(
        username="bob",
        realm="biloxi.com",
        nonce="n",
        uri="sip:bob@biloxi.com",
        response="ABCDEF",
        qop="auth",
        nc=10,
        cnonce="c",
        algorithm="SHA-256",
        opaque="",
        params=(("x-ext", "1"),),
    )
    assert str(creds) == (
        'Digest username="bob", realm="biloxi.com", nonce="n", uri="sip:bob@biloxi.com", '
        'response="ABCDEF", algorithm=SHA-256, cnonce="c", opaque="", qop=auth, nc=0000000a, '
        "x-ext=1"
    )


def test_parse_username_star() -> None:
    creds = parse_credentials(
        'Digest username*=UTF-8\'\'J%C3%A4s%C3%B8n%20Doe, realm="r", nonce="n", uri="u", '
        'response="0"'
    )
    assert creds.username == "J\u00e4s\u00f8n Doe"


def test_nc_is_eight_hex_digits() -> None:
    creds = Credentials(
        username="u", realm="r", nonce="n", uri="x", response="0", qop="auth", cnonce="c", nc=255
    )
    assert "nc=000000ff" in str(creds)
    with pytest.raises(LocalProtocolError):
        str(attrs.evolve(creds, nc=2**32))


BAD_VALUES = [
    "",
    "   ",
    "Digest",
    'Basic realm="x"',
    'Digest realm="x"',  # no nonce
    'Digest nonce="x"',  # no realm
    'Digest realm="x", nonce="y',  # unterminated
    'Digest realm="x", nonce="y" z',
    'Digest realm="x", nonce="y", realm="z"',  # duplicate
    'Digest realm="x", nonce=',
    'Digest realm="x", =y, nonce="n"',
    'Digestrealm="x", nonce="y"',
    'Digest realm="x\ny", nonce="n"',
    'Digest realm="x", nonce="n"\r\n',
    'Digest realm="x", nonce="n\\',
    'Digest realm="x\x00", nonce="n"',
    'Digest realm="x", nonce="\ud800"',
]


@pytest.mark.parametrize("value", BAD_VALUES)
def test_bad_challenges(value: str) -> None:
    with pytest.raises(LocalProtocolError) as info:
        parse_challenge(value)
    assert info.value.status_hint == 400


CREDS_OK = 'Digest username="u", realm="r", nonce="n", uri="sip:r", response="00"'


@pytest.mark.parametrize(
    "value",
    [
        CREDS_OK.replace('username="u", ', ""),
        CREDS_OK.replace(', response="00"', ""),
        CREDS_OK.replace(', uri="sip:r"', ""),
        CREDS_OK + ", qop=auth",  # qop without nc/cnonce
        CREDS_OK + ', qop=auth, nc=1, cnonce=""' + ", nc=2",
        CREDS_OK + ', qop=auth, nc=00000000g, cnonce="c"',
        CREDS_OK + ', qop=auth, nc=000000001, cnonce="c"',
        CREDS_OK + ", username*=UTF-8''x",
        CREDS_OK.replace('username="u"', "username*=latin-1''x"),
        CREDS_OK.replace('username="u"', "username*=UTF-8''%FF"),
        42,
    ],
)
def test_bad_credentials(value: str) -> None:
    with pytest.raises(LocalProtocolError) as info:
        parse_credentials(value)
    assert info.value.status_hint == 400


def test_serialising_unsafe_values_raises() -> None:
    with pytest.raises(LocalProtocolError):
        str(Challenge(realm="a\r\nVia: evil", nonce="n"))
    with pytest.raises(LocalProtocolError):
        str(Challenge(realm="a", nonce="n", algorithm="MD5, evil=1"))


# Header-shaped soup: pieces of real headers glued in random order.
_SOUP = st.lists(
    st.sampled_from(
        [
            *'"\\,= \t\r\n',
            *["Digest ", "realm", "nonce", "qop", "nc", "uri", "username", "response", "cnonce"],
            *["username*", "UTF-8''", "%C3", "auth", "0000000a", "x", "\x00", "\u00e4", "\ud800"],
        ]
    ),
    max_size=40,
).map("".join)


@settings(max_examples=300)
@given(st.one_of(st.text(max_size=80), _SOUP))
def test_garbage_raises_only_local_protocol_error(value: str) -> None:
    for parse in (parse_challenge, parse_credentials):
        try:
            parsed = parse(value)
        except LocalProtocolError as exc:
            assert exc.status_hint == 400
        else:
            # Whatever parses must serialise and parse back to the same value.
            assert parse(str(parsed)) == parsed


_TEXT = st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=12)
_TOKEN = st.text("abcXYZ019-.!%*_+`'~", min_size=1, max_size=8)


@given(
    realm=_TEXT,
    nonce=_TEXT,
    opaque=st.none() | _TEXT,
    algorithm=st.none() | st.sampled_from(SUPPORTED_ALGORITHMS),
    qop=st.lists(st.sampled_from(["auth", "auth-int"]), unique=True).map(tuple),
    stale=st.booleans(),
    userhash=st.booleans(),
    extra=st.lists(st.tuples(_TOKEN.map(lambda t: "x" + t.lower()), _TEXT), max_size=2),
)
def test_challenge_round_trip(
    realm: str,
    nonce: str,
    opaque: str | None,
    algorithm: str | None,
    qop: tuple[str, ...],
    stale: bool,
    userhash: bool,
    extra: list[tuple[str, str]],
) -> None:
    names = [name for name, _ in extra]
    if len(set(names)) != len(names):
        return
    extra = [(n, v) for n, v in extra if v]  # an empty unquoted value cannot be written
    challenge = Challenge(
        realm=realm,
        nonce=nonce,
        opaque=opaque,
        algorithm=algorithm,
        qop=qop,
        stale=stale,
        userhash=userhash,
        params=tuple(extra),
    )
    assert parse_challenge(str(challenge)) == challenge


# ---------------------------------------------------------------------------- server side

ALL_QOPS: list[tuple[str, ...]] = [("auth",), ("auth-int",), ()]


def roundtrip(server: DigestServer, now: float, *, nc: int = 1, password: str = "pw") -> str:
    challenge = server.challenge(now)
    return str(
        answer_challenge(
            parse_challenge(str(challenge)),
            username="alice",
            password=password,
            method="INVITE",
            uri="sip:bob@example.com",
            body=b"sdp",
            nc=nc,
        )
    )


@pytest.mark.parametrize("algorithm", SUPPORTED_ALGORITHMS)
@pytest.mark.parametrize("qop", ALL_QOPS)
def test_server_round_trip(algorithm: str, qop: tuple[str, ...]) -> None:
    server = DigestServer("example.com", algorithm=algorithm, qop=qop)
    challenge = server.challenge(1000.0)
    assert challenge.algorithm == algorithm and challenge.qop == qop
    header = roundtrip(server, 1000.0)
    creds = parse_credentials(header)
    assert creds.qop == (qop[0] if qop else None)
    ha1 = compute_ha1("alice", "example.com", "pw", algorithm)
    verify = partial(server.verify, method="INVITE", body=b"sdp", now=1010.0)
    assert verify(creds, password="pw") is VerifyResult.OK
    fresh = parse_credentials(roundtrip(server, 1000.0))
    assert verify(fresh, ha1=ha1.upper()) is VerifyResult.OK
    other = parse_credentials(roundtrip(server, 1000.0))
    assert verify(other, password="PW") is VerifyResult.INVALID
    if qop == ("auth-int",):
        assert verify(other, password="pw", body=b"SDP") is VerifyResult.INVALID
    assert verify(other, password="pw") is VerifyResult.OK


def test_server_stale_after_ttl() -> None:
    server = DigestServer("example.com", nonce_ttl=30.0)
    creds = parse_credentials(roundtrip(server, 100.0))
    assert server.verify(creds, method="INVITE", password="pw", body=b"sdp", now=131.0) is (
        VerifyResult.STALE
    )
    # An expired nonce with the wrong password is INVALID: STALE never confirms a guess.
    assert server.verify(creds, method="INVITE", password="x", body=b"sdp", now=131.0) is (
        VerifyResult.INVALID
    )
    assert server.verify(creds, method="INVITE", password="pw", body=b"sdp", now=130.0) is (
        VerifyResult.OK
    )
    again = server.challenge(131.0, stale=True)
    assert again.stale is True
    assert "stale=true" in str(again)


def test_server_replay() -> None:
    server = DigestServer("example.com")
    challenge = server.challenge(0.0)

    def creds(nc: int) -> Credentials:
        return answer_challenge(
            challenge, username="a", password="pw", method="REGISTER", uri="sip:r", nc=nc
        )

    def check(c: Credentials) -> VerifyResult:
        return server.verify(c, method="REGISTER", password="pw", now=1.0)

    first = creds(1)
    assert check(first) is VerifyResult.OK
    assert check(first) is VerifyResult.REPLAY
    assert check(creds(3)) is VerifyResult.OK
    assert check(creds(2)) is VerifyResult.REPLAY
    assert check(creds(4)) is VerifyResult.OK
    # A different nonce has its own count.
    other = answer_challenge(
        server.challenge(0.0), username="a", password="pw", method="REGISTER", uri="sip:r"
    )
    assert check(other) is VerifyResult.OK


def test_server_tracks_a_bounded_number_of_nonces() -> None:
    server = DigestServer("r", max_tracked_nonces=2)
    challenges = [server.challenge(0.0) for _ in range(3)]

    def use(i: int) -> VerifyResult:
        c = answer_challenge(challenges[i], username="a", password="p", method="X", uri="u")
        return server.verify(c, method="X", password="p", now=0.0)

    assert [use(0), use(1), use(0)] == [VerifyResult.OK, VerifyResult.OK, VerifyResult.REPLAY]
    assert use(2) is VerifyResult.OK  # evicts nonce 1, the least recently used
    assert use(0) is VerifyResult.REPLAY  # still tracked
    assert use(1) is VerifyResult.OK  # forgotten: its nc=1 is accepted again


def test_server_rejects_forged_and_foreign_nonces() -> None:
    secret = b"k" * 32
    server = DigestServer("example.com", secret=secret)
    good = parse_credentials(roundtrip(server, 5.0))
    check = partial(server.verify, method="INVITE", password="pw", body=b"sdp", now=6.0)

    def forged(nonce: str) -> Credentials:
        # A correct response over a nonce we did not issue must still be refused.
        challenge = Challenge(realm="example.com", nonce=nonce, algorithm="MD5", qop=("auth",))
        return answer_challenge(
            challenge,
            username="alice",
            password="pw",
            method="INVITE",
            uri="sip:bob@example.com",
            body=b"sdp",
        )

    flipped = good.nonce[:-1] + ("A" if good.nonce[-1] != "A" else "B")
    other_secret = DigestServer("example.com", secret=b"j" * 32).challenge(5.0).nonce
    other_realm = DigestServer("other.com", secret=secret).challenge(5.0).nonce
    for nonce in [flipped, other_secret, other_realm, "deadbeef", good.nonce + "=", "\u00e4" * 64]:
        assert check(forged(nonce)) is VerifyResult.INVALID
    # The same secret in another process accepts the nonce (stateless nonces).
    twin = DigestServer("example.com", secret=secret)
    assert twin.verify(good, method="INVITE", password="pw", body=b"sdp", now=6.0) is (
        VerifyResult.OK
    )
    assert check(good) is VerifyResult.OK


def test_server_rejects_mismatches() -> None:
    server = DigestServer("example.com", algorithm="SHA-256", qop=("auth",))
    check = partial(server.verify, method="INVITE", password="pw", body=b"sdp", now=0.0)
    creds = parse_credentials(roundtrip(server, 0.0))
    assert check(attrs.evolve(creds, realm="x")) is VerifyResult.INVALID
    assert check(attrs.evolve(creds, algorithm="MD5")) is VerifyResult.INVALID
    assert check(attrs.evolve(creds, response="\u00e4")) is VerifyResult.INVALID
    assert check(attrs.evolve(creds, cnonce="other")) is VerifyResult.INVALID
    assert check(attrs.evolve(creds, nc=2)) is VerifyResult.INVALID
    assert check(attrs.evolve(creds, nc=-1)) is VerifyResult.INVALID
    assert check(attrs.evolve(creds, nc=None)) is VerifyResult.INVALID
    assert check(creds, method="BYE") is VerifyResult.INVALID
    assert check(creds, uri="sip:carol@example.com") is VerifyResult.INVALID
    # qop downgrade to the RFC 2069 form is refused when we offered qop.
    challenge = attrs.evolve(server.challenge(0.0), qop=())
    legacy = answer_challenge(
        challenge, username="alice", password="pw", method="INVITE", uri="sip:x", body=b"sdp"
    )
    assert check(legacy) is VerifyResult.INVALID
    assert check(creds, uri="sip:bob@example.com") is VerifyResult.OK


def test_server_userhash_and_argument_errors() -> None:
    server = DigestServer("api.example.org", algorithm="SHA-512-256")
    challenge = attrs.evolve(server.challenge(0.0), userhash=True)
    creds = answer_challenge(
        challenge, username="J\u00e4s\u00f8n Doe", password="pw", method="GET", uri="/doe.json"
    )
    assert creds.username == hx("sha512_256", "J\u00e4s\u00f8n Doe:api.example.org".encode())
    check = partial(server.verify, creds, method="GET", now=0.0)
    assert check(password="pw", username="Jason Doe") is VerifyResult.INVALID
    assert check(password="pw", username="J\u00e4s\u00f8n Doe") is VerifyResult.OK
    with pytest.raises(LocalProtocolError):
        check(password="pw")
    with pytest.raises(LocalProtocolError):
        check()
    with pytest.raises(LocalProtocolError):
        check(password="pw", ha1="00")
    with pytest.raises(LocalProtocolError):
        DigestServer("r", algorithm="SHA-1")
    with pytest.raises(LocalProtocolError):
        DigestServer("r", qop=("auth-conf",))


def test_server_nonces_are_unique_and_url_safe() -> None:
    server = DigestServer("r")
    nonces = {server.challenge(7.0).nonce for _ in range(50)}
    assert len(nonces) == 50
    assert all(len(n) == 64 and "+" not in n and "/" not in n for n in nonces)


# ---------------------------------------------------------------------------- client side


def test_client_reuses_nonce_with_increasing_nc() -> None:
    server = DigestServer("example.com", qop=("auth",))
    client = DigestClient("alice", "pw")
    assert client.authorize("REGISTER", "sip:example.com") is None
    assert client.update(parse_challenge(str(server.challenge(0.0)))) is True
    first = client.authorize("REGISTER", "sip:example.com")
    second = client.authorize("REGISTER", "sip:example.com")
    assert first is not None and second is not None
    assert (first.nc, second.nc) == (1, 2)
    assert first.cnonce == second.cnonce
    for creds in (first, second):
        result = server.verify(
            parse_credentials(str(creds)), method="REGISTER", password="pw", now=1.0
        )
        assert result is VerifyResult.OK
    # Re-sending the first credentials is a replay.
    assert server.verify(first, method="REGISTER", password="pw", now=1.0) is VerifyResult.REPLAY
    # The same nonce challenged again, not stale: the password was refused, do not retry.
    assert client.update(server.challenge(0.0)) is True  # new nonce
    third = client.authorize("REGISTER", "sip:example.com")
    assert third is not None and third.nc == 1
    assert client.update(attrs.evolve(server.challenge(0.0), nonce=third.nonce)) is False
    assert client.update(attrs.evolve(server.challenge(0.0), nonce=third.nonce, stale=True))


def test_client_stale_flow_and_realms() -> None:
    server = DigestServer("example.com", nonce_ttl=10.0)
    proxy = DigestServer("proxy.example.com", algorithm="SHA-256")
    client = DigestClient("alice", "pw")
    assert client.update(server.challenge(0.0))
    creds = client.authorize("INVITE", "sip:b@example.com")
    assert creds is not None
    assert server.verify(creds, method="INVITE", password="pw", now=20.0) is VerifyResult.STALE
    assert client.update(server.challenge(20.0, stale=True)) is True
    creds = client.authorize("INVITE", "sip:b@example.com")
    assert creds is not None and creds.nc == 1
    assert server.verify(creds, method="INVITE", password="pw", now=21.0) is VerifyResult.OK
    # Two realms (proxy and UAS) are remembered separately.
    assert client.update(proxy.challenge(21.0))
    proxy_creds = client.authorize("INVITE", "sip:b@example.com")
    uas_creds = client.authorize("INVITE", "sip:b@example.com", realm="example.com")
    assert proxy_creds is not None and uas_creds is not None
    assert proxy_creds.realm == "proxy.example.com" and proxy_creds.algorithm == "SHA-256"
    assert uas_creds.realm == "example.com" and uas_creds.nc == 2
    assert proxy.verify(proxy_creds, method="INVITE", password="pw", now=22.0) is VerifyResult.OK
    assert server.verify(uas_creds, method="INVITE", password="pw", now=22.0) is VerifyResult.OK
    assert client.update(Challenge(realm="x", nonce="n", algorithm="SHA-1")) is False
    assert client.authorize("INVITE", "sip:b", realm="x") is None


def test_compute_response_requires_nc_and_cnonce_with_qop() -> None:
    with pytest.raises(LocalProtocolError):
        compute_response(algorithm="MD5", ha1="00", nonce="n", method="M", uri="u", qop="auth")
    with pytest.raises(LocalProtocolError):
        compute_response(algorithm="MD5-sess", ha1="00", nonce="n", method="M", uri="u")


@given(
    username=_TEXT,
    realm=_TEXT,
    nonce=_TEXT,
    uri=_TEXT,
    response=_TEXT,
    algorithm=st.none() | st.sampled_from(SUPPORTED_ALGORITHMS),
    qop=st.none() | st.sampled_from(["auth", "auth-int"]),
    nc=st.integers(0, 2**32 - 1),
    cnonce=_TEXT,
    opaque=st.none() | _TEXT,
    userhash=st.booleans(),
)
def test_credentials_round_trip(
    username: str,
    realm: str,
    nonce: str,
    uri: str,
    response: str,
    algorithm: str | None,
    qop: str | None,
    nc: int,
    cnonce: str,
    opaque: str | None,
    userhash: bool,
) -> None:
    creds = Credentials(
        username=username,
        realm=realm,
        nonce=nonce,
        uri=uri,
        response=response,
        algorithm=algorithm,
        qop=qop,
        nc=nc if qop else None,
        cnonce=cnonce if qop else None,
        opaque=opaque,
        userhash=userhash,
    )
    assert parse_credentials(str(creds)) == creds
