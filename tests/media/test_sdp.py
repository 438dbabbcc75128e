"""Tests for trio_srf.media: lossless SDP parse/serialize, accessors, hold/unhold, build."""

from __future__ import annotations

import ast
import pathlib

import attrs
import pytest
from hypothesis import example, given, settings, strategies as st

import trio_srf.media._sdp as sdp_module
from trio_srf.errors import LocalProtocolError, RemoteProtocolError
from trio_srf.media import (
    DIRECTIONS,
    Connection,
    MediaDescription,
    Origin,
    RtpMap,
    SessionDescription,
)


def crlf(text: str) -> bytes:
    """Join the lines of a triple-quoted literal with CRLF (trailing CRLF kept)."""
    return text.replace("\n", "\r\n").encode()


# SIPp's built-in uac scenario body, with its keywords substituted.
SIPP_OFFER = crlf(
    """v=0
o=user1 53655765 2353687637 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio 6000 RTP/AVP 0
a=rtpmap:0 PCMU/8000
"""
)

FREESWITCH_OFFER = crlf(
    """v=0
o=FreeSWITCH 1700000000 1700000001 IN IP4 192.0.2.10
s=FreeSWITCH
c=IN IP4 192.0.2.10
t=0 0
a=msid-semantic: WMS xyzzy
m=audio 16384 RTP/AVP 102 9 0 8 18 101 13
a=rtpmap:102 opus/48000/2
a=fmtp:102 useinbandfec=1; maxaveragebitrate=30000; maxplaybackrate=48000; ptime=20
a=rtpmap:9 G722/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:18 G729/8000
a=fmtp:18 annexb=no
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=rtpmap:13 CN/8000
a=ptime:20
a=sendrecv
a=rtcp:16385 IN IP4 192.0.2.10
a=x-unknown-flag
x=an unknown line type
"""
)

# Bare-LF endings, no final newline after the last line.
LF_OFFER = (
    b"v=0\n"
    b"o=- 42 7 IN IP4 198.51.100.7\n"
    b"s=call\n"
    b"c=IN IP4 198.51.100.7\n"
    b"t=0 0\n"
    b"m=audio 5004 RTP/AVP 8\n"
    b"a=rtpmap:8 PCMA/8000\n"
    b"a=recvonly"
)

MULTI_OFFER = crlf(
    """v=0
o=alice 2890844526 2890844527 IN IP6 2001:db8::1
s=
i=multi-stream test
c=IN IP6 2001:db8::1
t=0 0
a=inactive
m=audio 49170 RTP/AVP 0 97
c=IN IP4 203.0.113.5
a=rtpmap:97 iLBC/8000
a=sendrecv
m=video 0 RTP/AVP 31
a=rtpmap:31 H261/90000
m=audio 49172/2 RTP/SAVP 0
m=application 9 UDP/BFCP *
"""
)

ALL_SAMPLES = [SIPP_OFFER, FREESWITCH_OFFER, LF_OFFER, MULTI_OFFER]


# -- lossless round trip -------------------------------------------------------------------


@pytest.mark.parametrize("data", ALL_SAMPLES)
def test_round_trip_bytes_and_text(data: bytes) -> None:
    sdp = SessionDescription.parse(data)
    assert sdp.serialize() == data
    assert bytes(sdp) == data
    assert str(sdp) == data.decode()
    assert SessionDescription.parse(data.decode()) == sdp


def test_line_ending_and_final_newline_are_remembered() -> None:
    sdp = SessionDescription.parse(LF_OFFER)
    assert sdp.eol == "\n"
    assert sdp.final_eol is False
    crlf_sdp = SessionDescription.parse(SIPP_OFFER)
    assert crlf_sdp.eol == "\r\n"
    assert crlf_sdp.final_eol is True


def test_unknown_lines_and_blank_lines_survive() -> None:
    data = SIPP_OFFER + b"y=whatever\r\n\r\n"
    sdp = SessionDescription.parse(data)
    assert sdp.media[0].lines[-2:] == (("y", "whatever"), ("", ""))
    assert sdp.serialize() == data


def test_mixed_line_endings_use_the_first_lines_ending() -> None:
    data = b"v=0\r\no=- 1 1 IN IP4 h\ns=-\r\n"
    sdp = SessionDescription.parse(data)
    assert sdp.eol == "\r\n"
    assert sdp.serialize() == b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\n"


def test_non_utf8_bytes_round_trip() -> None:
    data = b"v=0\r\no=- 1 1 IN IP4 h\r\ns=caf\xe9\r\n"
    assert SessionDescription.parse(data).serialize() == data


def test_session_and_media_structure() -> None:
    sdp = SessionDescription.parse(SIPP_OFFER)
    assert sdp.lines == (
        ("v", "0"),
        ("o", "user1 53655765 2353687637 IN IP4 127.0.0.1"),
        ("s", "-"),
        ("c", "IN IP4 127.0.0.1"),
        ("t", "0 0"),
    )
    assert sdp.media == (
        MediaDescription(lines=(("m", "audio 6000 RTP/AVP 0"), ("a", "rtpmap:0 PCMU/8000"))),
    )


# -- accessors -----------------------------------------------------------------------------


def test_sipp_accessors() -> None:
    sdp = SessionDescription.parse(SIPP_OFFER)
    assert sdp.origin == Origin("user1", "53655765", 2353687637, "IN", "IP4", "127.0.0.1")
    assert sdp.session_name == "-"
    assert sdp.connection == Connection("IN", "IP4", "127.0.0.1")
    (audio,) = sdp.media
    assert audio.kind == "audio"
    assert audio.port == 6000
    assert audio.port_count is None
    assert audio.proto == "RTP/AVP"
    assert audio.formats == ["0"]
    assert audio.rtpmap == {0: RtpMap("PCMU", 8000, None)}
    assert audio.fmtp == {}
    assert audio.ptime is None
    assert audio.media_direction is None
    assert audio.direction == "sendrecv"
    assert audio.connection is None
    assert audio.connection_address == "127.0.0.1"
    assert sdp.is_held is False


def test_freeswitch_accessors() -> None:
    sdp = SessionDescription.parse(FREESWITCH_OFFER)
    assert sdp.origin.sess_version == 1700000001
    assert sdp.session_name == "FreeSWITCH"
    assert sdp.attributes == [("msid-semantic", " WMS xyzzy")]
    (audio,) = sdp.media
    assert audio.formats == ["102", "9", "0", "8", "18", "101", "13"]
    assert audio.rtpmap == {
        102: RtpMap("opus", 48000, 2),
        9: RtpMap("G722", 8000),
        0: RtpMap("PCMU", 8000),
        8: RtpMap("PCMA", 8000),
        18: RtpMap("G729", 8000),
        101: RtpMap("telephone-event", 8000),
        13: RtpMap("CN", 8000),
    }
    assert audio.fmtp == {
        102: "useinbandfec=1; maxaveragebitrate=30000; maxplaybackrate=48000; ptime=20",
        18: "annexb=no",
        101: "0-16",
    }
    assert audio.ptime == 20
    assert audio.direction == "sendrecv"
    assert audio.attribute("rtcp") == "16385 IN IP4 192.0.2.10"
    assert audio.attribute("x-unknown-flag") == ""
    assert audio.attribute("nope") is None
    assert audio.attributes[-2:] == [("rtcp", "16385 IN IP4 192.0.2.10"), ("x-unknown-flag", None)]
    assert audio.lines[-1] == ("x", "an unknown line type")


def test_multi_media_accessors() -> None:
    sdp = SessionDescription.parse(MULTI_OFFER)
    assert sdp.origin == Origin("alice", "2890844526", 2890844527, "IN", "IP6", "2001:db8::1")
    assert sdp.session_name == ""
    assert [m.kind for m in sdp.media] == ["audio", "video", "audio", "application"]
    assert [m.port for m in sdp.media] == [49170, 0, 49172, 9]
    assert [m.port_count for m in sdp.media] == [None, None, 2, None]
    assert [m.proto for m in sdp.media] == ["RTP/AVP", "RTP/AVP", "RTP/SAVP", "UDP/BFCP"]
    assert sdp.media[3].formats == ["*"]
    assert sdp.media[0].rtpmap == {97: RtpMap("iLBC", 8000)}
    assert sdp.media[1].rtpmap == {31: RtpMap("H261", 90000)}
    # Media-level c= overrides session-level c= (RFC 8866 §5.7).
    assert sdp.media[0].connection == Connection("IN", "IP4", "203.0.113.5")
    assert sdp.media[0].connection_address == "203.0.113.5"
    assert sdp.media[1].connection_address == "2001:db8::1"


def test_direction_precedence() -> None:
    sdp = SessionDescription.parse(MULTI_OFFER)
    assert sdp.session_direction == "inactive"
    # media-level a=sendrecv wins; the others inherit session-level a=inactive.
    assert sdp.directions == ["sendrecv", "inactive", "inactive", "inactive"]
    assert [m.media_direction for m in sdp.media] == ["sendrecv", None, None, None]
    # Without any attribute, sendrecv is the default.
    assert SessionDescription.parse(SIPP_OFFER).directions == ["sendrecv"]
    # A standalone media section has no session context.
    assert MediaDescription(lines=[("m", "audio 1 RTP/AVP 0")]).direction == "sendrecv"


def test_malformed_attributes_are_skipped_by_accessors() -> None:
    data = crlf(
        """v=0
o=- 1 1 IN IP4 h
s=-
m=audio 1 RTP/AVP 0 8 9
a=rtpmap:x PCMU/8000
a=rtpmap:0 PCMU
a=rtpmap:8 PCMA/8000/two
a=rtpmap:9 G722/8000
a=fmtp:abc foo
a=ptime:twenty
"""
    )
    sdp = SessionDescription.parse(data)
    assert sdp.media[0].rtpmap == {9: RtpMap("G722", 8000)}
    assert sdp.media[0].fmtp == {}
    assert sdp.media[0].ptime is None
    assert sdp.serialize() == data


def test_multicast_connection_host() -> None:
    conn = Connection("IN", "IP4", "224.2.36.42/127/3")
    assert conn.host == "224.2.36.42"


# -- edits ---------------------------------------------------------------------------------


def lines_of(data: bytes) -> list[bytes]:
    return data.split(b"\r\n")


def test_bump_version_changes_only_the_version_field() -> None:
    data = SIPP_OFFER.replace(b"o=user1 53655765", b"o=user1  53655765")
    sdp = SessionDescription.parse(data)
    bumped = sdp.bump_version()
    assert bumped.origin.sess_version == 2353687638
    assert bumped.serialize() == data.replace(b"2353687637", b"2353687638")
    assert sdp.origin.sess_version == 2353687637  # the original is unchanged (immutable)


def test_hold_unhold_round_trip_with_explicit_sendrecv() -> None:
    sdp = SessionDescription.parse(FREESWITCH_OFFER)
    held = sdp.hold()
    assert held.directions == ["sendonly"]
    assert held.is_held is True
    assert held.origin.sess_version == 1700000002
    assert held.serialize() == FREESWITCH_OFFER.replace(b"a=sendrecv", b"a=sendonly").replace(
        b"1700000001 IN", b"1700000002 IN"
    )
    resumed = held.unhold()
    assert resumed.directions == ["sendrecv"]
    assert resumed.is_held is False
    assert resumed.origin.sess_version == 1700000003
    before, after = lines_of(FREESWITCH_OFFER), lines_of(resumed.serialize())
    assert len(before) == len(after)
    changed = [(b, a) for b, a in zip(before, after, strict=True) if b != a]
    assert changed == [
        (
            b"o=FreeSWITCH 1700000000 1700000001 IN IP4 192.0.2.10",
            b"o=FreeSWITCH 1700000000 1700000003 IN IP4 192.0.2.10",
        )
    ]


def test_hold_without_direction_attribute_appends_one() -> None:
    sdp = SessionDescription.parse(SIPP_OFFER)
    held = sdp.hold()
    assert held.serialize() == (
        SIPP_OFFER.replace(b"2353687637", b"2353687638") + b"a=sendonly\r\n"
    )
    # Documented: unhold rewrites the appended line rather than removing it.
    assert held.unhold().serialize() == (
        SIPP_OFFER.replace(b"2353687637", b"2353687639") + b"a=sendrecv\r\n"
    )


def test_hold_rewrites_session_level_direction_in_place() -> None:
    data = SIPP_OFFER.replace(b"t=0 0\r\n", b"t=0 0\r\na=sendrecv\r\n")
    sdp = SessionDescription.parse(data)
    held = sdp.hold()
    assert held.session_direction == "sendonly"
    assert held.media[0].media_direction is None
    assert held.serialize() == data.replace(b"a=sendrecv", b"a=sendonly").replace(
        b"2353687637", b"2353687638"
    )
    assert held.unhold().serialize() == data.replace(b"2353687637", b"2353687639")


def test_hold_maps_each_direction_and_skips_disabled_streams() -> None:
    sdp = SessionDescription.parse(MULTI_OFFER)
    # audio: sendrecv (own); video port 0; audio, application inherit session a=inactive.
    sdp = sdp.with_direction("recvonly", 2)
    assert sdp.directions == ["sendrecv", "inactive", "recvonly", "inactive"]
    held = sdp.hold()
    assert held.directions == ["sendonly", "inactive", "inactive", "inactive"]
    assert held.is_held is True
    assert held.media[1] == sdp.media[1]  # port-0 video untouched
    resumed = held.unhold()
    # The application stream inherits a=inactive, so the session-level line becomes recvonly;
    # the disabled video stream inherits it too (its direction is meaningless at port 0).
    assert resumed.directions == ["sendrecv", "recvonly", "recvonly", "recvonly"]
    assert resumed.session_direction == "recvonly"
    assert resumed.media[1] == sdp.media[1]
    assert resumed.origin.sess_version == sdp.origin.sess_version + 2
    forced = held.unhold("sendrecv")
    assert forced.directions == ["sendrecv"] * 4


def test_hold_on_lf_sdp_keeps_lf_and_unterminated_last_line() -> None:
    held = SessionDescription.parse(LF_OFFER).hold()
    assert held.serialize() == LF_OFFER.replace(b"recvonly", b"inactive").replace(
        b"42 7 IN", b"42 8 IN"
    )
    assert held.unhold().serialize() == LF_OFFER.replace(b"42 7 IN", b"42 9 IN")


def test_with_direction_session_and_media_level() -> None:
    sdp = SessionDescription.parse(SIPP_OFFER)
    inactive = sdp.with_direction("inactive")
    assert inactive.directions == ["inactive"]
    assert inactive.origin == sdp.origin  # with_direction does not bump the version
    assert inactive.serialize() == SIPP_OFFER + b"a=inactive\r\n"
    assert sdp.with_direction("sendrecv") == sdp  # already the effective direction
    multi = SessionDescription.parse(MULTI_OFFER)
    only_first = multi.with_direction("recvonly", 0)
    assert only_first.directions == ["recvonly", "inactive", "inactive", "inactive"]
    assert only_first.serialize() == MULTI_OFFER.replace(b"a=sendrecv", b"a=recvonly")
    # The session-level line is rewritten when all inheriting enabled streams agree.
    everything = multi.with_direction("sendonly")
    assert everything.session_direction == "sendonly"
    assert everything.directions == ["sendonly"] * 4
    assert everything.serialize() == MULTI_OFFER.replace(b"a=sendrecv", b"a=sendonly").replace(
        b"a=inactive", b"a=sendonly"
    )
    with pytest.raises(LocalProtocolError):
        sdp.with_direction("sideways")
    with pytest.raises(IndexError):
        sdp.with_direction("inactive", 1)


def test_media_with_port_and_with_media() -> None:
    sdp = SessionDescription.parse(MULTI_OFFER)
    rejected = sdp.with_media(2, sdp.media[2].with_port(0))
    assert rejected.media[2].port == 0
    assert rejected.media[2].port_count == 2
    assert rejected.serialize() == MULTI_OFFER.replace(b"49172/2", b"0/2")
    assert rejected.media[2].direction == "inactive"  # still bound to session context
    with pytest.raises(LocalProtocolError):
        sdp.media[0].with_port(70000)


def test_legacy_hold_detection() -> None:
    data = SIPP_OFFER.replace(b"c=IN IP4 127.0.0.1", b"c=IN IP4 0.0.0.0")
    sdp = SessionDescription.parse(data)
    assert sdp.directions == ["sendrecv"]
    assert sdp.is_held is True
    # A media-level c= with a real address overrides the session-level 0.0.0.0.
    media_c = data + b"c=IN IP4 10.1.1.1\r\n"
    assert SessionDescription.parse(media_c).is_held is False


def test_is_held_requires_every_enabled_stream() -> None:
    sdp = SessionDescription.parse(MULTI_OFFER)
    assert sdp.is_held is False  # first audio is sendrecv
    assert sdp.with_direction("sendonly", 0).is_held is True
    all_disabled = sdp
    for i in range(len(sdp.media)):
        all_disabled = all_disabled.with_media(i, all_disabled.media[i].with_port(0))
    assert all_disabled.is_held is False


# -- build ---------------------------------------------------------------------------------


def test_build_default_offer() -> None:
    sdp = SessionDescription.build("192.0.2.1", 40000, session_id=1234)
    assert sdp.serialize() == crlf(
        """v=0
o=- 1234 1234 IN IP4 192.0.2.1
s=-
c=IN IP4 192.0.2.1
t=0 0
m=audio 40000 RTP/AVP 0 8 101
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=ptime:20
a=sendrecv
"""
    )
    assert SessionDescription.parse(sdp.serialize()) == sdp
    assert sdp.media[0].rtpmap == {
        0: RtpMap("PCMU", 8000),
        8: RtpMap("PCMA", 8000),
        101: RtpMap("telephone-event", 8000),
    }


def test_build_options() -> None:
    sdp = SessionDescription.build(
        "2001:db8::9",
        5000,
        [96, 0],
        codecs={96: "opus/48000/2"},
        session_id=7,
        session_version=9,
        username="srf",
        session_name="call",
        direction="recvonly",
        ptime=None,
    )
    assert sdp.origin == Origin("srf", "7", 9, "IN", "IP6", "2001:db8::9")
    assert sdp.connection == Connection("IN", "IP6", "2001:db8::9")
    assert sdp.session_name == "call"
    assert sdp.media[0].formats == ["96", "0"]
    assert sdp.media[0].rtpmap[96] == RtpMap("opus", 48000, 2)
    assert sdp.media[0].ptime is None
    assert sdp.directions == ["recvonly"]
    random_id = SessionDescription.build("h", 1).origin
    assert random_id.sess_version == int(random_id.sess_id)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"payload_types": [97]},
        {"port": -1},
        {"port": 65536},
        {"direction": "both"},
    ],
)
def test_build_rejects_bad_arguments(kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {"address": "h", "port": 1, **kwargs}
    with pytest.raises(LocalProtocolError):
        SessionDescription.build(**args)  # type: ignore[arg-type]


# -- errors --------------------------------------------------------------------------------

BASE = "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\n"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\r\n",
        b"o=- 1 1 IN IP4 h\r\ns=-\r\n",  # missing v=
        b"\r\nv=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\n",  # v= not first
        b"v=zero\r\no=- 1 1 IN IP4 h\r\ns=-\r\n",
        b"v=0\r\ns=-\r\n",  # missing o=
        b"v=0\r\no=- 1 1 IN IP4 h\r\n",  # missing s=
        b"v=0\r\no=- 1 1 IN IP4 h\r\no=- 1 1 IN IP4 h\r\ns=-\r\n",  # two o=
        b"v=0\r\no=- 1 1 IN IP4\r\ns=-\r\n",  # o= with 5 fields
        b"v=0\r\no=- 1 one IN IP4 h\r\ns=-\r\n",  # non-numeric sess-version
        b"v=0\r\no=- 1 \xc2\xb2 IN IP4 h\r\ns=-\r\n",  # a Unicode digit is not a digit
        (BASE + "c=IN IP4\r\n").encode(),
        (BASE + "m=audio\r\n").encode(),
        (BASE + "m=audio 5x RTP/AVP 0\r\n").encode(),
        (BASE + "m=audio 65536 RTP/AVP 0\r\n").encode(),
        (BASE + "m=audio 5000/0 RTP/AVP 0\r\n").encode(),
        (BASE + "m=audio 5000/x RTP/AVP 0\r\n").encode(),
        (BASE + "m=audio 1 RTP/AVP 0\r\nc=IN\r\n").encode(),
        (BASE + "m=audio 1 RTP/AVP 0\r\no=- 1 1 IN IP4 h\r\n").encode(),
        (BASE + "m=audio 1 RTP/AVP 0\r\nv=0\r\n").encode(),
        (BASE + "no equals sign\r\n").encode(),
        (BASE + "ab=two-letter type\r\n").encode(),
        (BASE + "1=digit type\r\n").encode(),
        (BASE + "a=lone\rcarriage\r\n").encode(),
        (BASE + "a=nul\x00\r\n").encode(),
        ("v=0\r\no=- 1 " + "9" * 5000 + " IN IP4 h\r\ns=-\r\n").encode(),
    ],
)
def test_malformed_sdp_raises_remote_protocol_error(data: bytes) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        SessionDescription.parse(data)
    assert info.value.status_hint == 488


def test_unencodable_text_raises_remote_protocol_error() -> None:
    with pytest.raises(RemoteProtocolError):
        SessionDescription.parse(BASE + "s=\ud800\r\n")


def test_local_construction_errors_are_local() -> None:
    with pytest.raises(LocalProtocolError):
        SessionDescription(lines=[("o", "- 1 1 IN IP4 h")])
    with pytest.raises(LocalProtocolError):
        MediaDescription(lines=[("a", "sendrecv")])
    with pytest.raises(LocalProtocolError):
        SessionDescription(lines=[("v", "0"), ("o", "- 1 1 IN IP4 h"), ("s", "-")], eol="\r")
    with pytest.raises(LocalProtocolError):  # would not survive a round trip
        SessionDescription(
            lines=[("v", "0"), ("o", "- 1 1 IN IP4 h"), ("s", "-"), ("", "")], final_eol=False
        )


# -- properties ----------------------------------------------------------------------------

_letters = st.sampled_from("abeiklprtuxyzABXZ")
_text = st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters="\r\n\x00"), max_size=30
)
_token = st.text(
    st.characters(blacklist_categories=["Cs", "Z", "C"], blacklist_characters=" \t"),
    min_size=1,
    max_size=12,
)
_other_line = st.one_of(st.tuples(_letters, _text), st.just(("", "")))
_direction_line = st.sampled_from(sorted(DIRECTIONS)).map(lambda d: ("a", d))
_connection_line = st.tuples(_token, _token, _token).map(lambda t: ("c", " ".join(t)))


@st.composite
def _media(draw: st.DrawFn) -> MediaDescription:
    port = draw(st.integers(0, 65535))
    count = draw(st.one_of(st.none(), st.integers(1, 9)))
    port_text = str(port) if count is None else f"{port}/{count}"
    fmts = draw(st.lists(st.integers(0, 127).map(str), max_size=4))
    m = ("m", " ".join([draw(_token), port_text, draw(_token), *fmts]))
    rest = draw(st.lists(st.one_of(_other_line, _direction_line, _connection_line), max_size=6))
    return MediaDescription(lines=[m, *rest])


@st.composite
def _sessions(draw: st.DrawFn) -> SessionDescription:
    origin = (
        "o",
        " ".join([draw(_token), draw(_token), str(draw(st.integers(0, 2**63))), "IN", "IP4", "h"]),
    )
    extra = draw(st.lists(st.one_of(_other_line, _direction_line, _connection_line), max_size=5))
    lines = [("v", "0"), origin, ("s", draw(_text)), *extra]
    media = draw(st.lists(_media(), max_size=3))
    final_eol = draw(st.booleans())
    last = media[-1].lines[-1] if media else lines[-1]
    if last == ("", ""):
        final_eol = True
    return SessionDescription(
        lines=lines, media=media, eol=draw(st.sampled_from(["\r\n", "\n"])), final_eol=final_eol
    )


@given(_sessions())
@settings(max_examples=300)
def test_property_parse_serialize_round_trip(sdp: SessionDescription) -> None:
    data = sdp.serialize()
    parsed = SessionDescription.parse(data)
    assert parsed == sdp
    assert parsed.serialize() == data
    assert SessionDescription.parse(str(sdp)) == sdp
    # Accessors never fail on a valid description, and edits stay parseable.
    assert parsed.directions == [m.direction for m in parsed.media]
    for edited in (parsed.hold(), parsed.unhold(), parsed.with_direction("inactive")):
        assert SessionDescription.parse(edited.serialize()) == edited
    held = parsed.hold()
    assert held.origin.sess_version == parsed.origin.sess_version + 1
    assert all(
        held.directions[i] in ("sendonly", "inactive")
        for i, m in enumerate(held.media)
        if m.port != 0
    )


def _check_garbage(data: bytes | str) -> None:
    try:
        sdp = SessionDescription.parse(data)
    except RemoteProtocolError as exc:
        assert exc.status_hint == 488
        return
    # Anything accepted is stable under another round trip.
    assert SessionDescription.parse(sdp.serialize()) == sdp


@given(st.binary(max_size=200))
@example(b"v=0\no=- 1 1 IN IP4 h\ns=\x85\n")
def test_property_random_bytes_raise_only_remote_protocol_error(data: bytes) -> None:
    _check_garbage(data)


@given(st.text(max_size=200))
@example("v=0\no=- 1 1 IN IP4 h\ns=-\u2028m=audio 1 RTP/AVP 0\n")
def test_property_random_text_raises_only_remote_protocol_error(data: str) -> None:
    _check_garbage(data)


@given(st.data())
@settings(max_examples=300)
def test_property_mutated_sdp_raises_only_remote_protocol_error(data: st.DataObject) -> None:
    base = bytearray(data.draw(st.sampled_from(ALL_SAMPLES)))
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(base) - 1))
        action = data.draw(st.sampled_from(["replace", "delete", "insert"]))
        byte = data.draw(st.sampled_from(b" \t\r\n=/:0aZm\x00\xff"))
        if action == "replace":
            base[pos] = byte
        elif action == "delete":
            del base[pos]
        else:
            base.insert(pos, byte)
    _check_garbage(bytes(base))


def test_descriptions_are_hashable_values() -> None:
    a = SessionDescription.parse(SIPP_OFFER)
    b = SessionDescription.parse(SIPP_OFFER.decode())
    assert a == b
    assert hash(a) == hash(b)
    assert len({a, b}) == 1
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        a.eol = "\n"  # type: ignore[misc]


def test_sdp_module_is_sans_io() -> None:
    tree = ast.parse(pathlib.Path(sdp_module.__file__).read_text())
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert imported == {"__future__", "re", "secrets", "collections", "typing", "attrs", "trio_srf"}
