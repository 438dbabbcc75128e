"""RFC 3264 offer/answer for PCMU, PCMA and telephone-event."""

from __future__ import annotations

import pytest

from trio_srf.errors import RemoteProtocolError
from trio_srf.media import SessionDescription
from trio_srf.media._offer_answer import (
    MediaCapabilities,
    answer_direction,
    answer_offer,
    build_offer,
    parse_answer,
)


def sdp(text: str) -> SessionDescription:
    return SessionDescription.parse(text.replace("\n", "\r\n"))


OFFER = sdp(
    """v=0
o=alice 2890844526 2890844526 IN IP4 198.51.100.1
s=-
c=IN IP4 198.51.100.1
t=0 0
m=audio 49170 RTP/AVP 8 0 18 96
a=rtpmap:8 PCMA/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:18 G729/8000
a=rtpmap:96 telephone-event/8000
a=fmtp:96 0-16
m=video 51372 RTP/AVP 31
a=rtpmap:31 H261/90000
"""
)


def test_answer_keeps_offerer_order_and_event_pt() -> None:
    answer, neg = answer_offer(OFFER, "192.0.2.5", 40000, origin=(7, 8))
    assert str(answer) == (
        "v=0\r\n"
        "o=- 7 8 IN IP4 192.0.2.5\r\n"
        "s=-\r\n"
        "c=IN IP4 192.0.2.5\r\n"
        "t=0 0\r\n"
        "m=audio 40000 RTP/AVP 8 0 96\r\n"
        "a=rtpmap:8 PCMA/8000\r\n"
        "a=rtpmap:0 PCMU/8000\r\n"
        "a=rtpmap:96 telephone-event/8000\r\n"
        "a=fmtp:96 0-15\r\n"
        "a=ptime:20\r\n"
        "a=sendrecv\r\n"
        "m=video 0 RTP/AVP 31\r\n"
    )
    assert (neg.encoding, neg.payload_type, neg.telephone_event_pt) == ("PCMA", 8, 96)
    assert neg.remote == ("198.51.100.1", 49170)
    assert neg.direction == "sendrecv"
    assert dict(neg.receive_codecs) == {8: "PCMA", 0: "PCMU"}
    assert neg.receive_telephone_event_pts == frozenset({96})
    assert neg.can_send and neg.can_receive


def test_static_types_without_rtpmap_and_no_events() -> None:
    offer = sdp(
        """v=0
o=- 1 1 IN IP4 10.0.0.1
s=-
t=0 0
m=audio 6000 RTP/AVP 0
c=IN IP4 10.0.0.2
"""
    )
    answer, neg = answer_offer(offer, "10.0.0.9", 7000)
    assert answer.media[0].formats == ["0"]
    assert (neg.encoding, neg.telephone_event_pt, neg.remote) == ("PCMU", None, ("10.0.0.2", 6000))


def test_caps_restrict_codecs_and_events() -> None:
    caps = MediaCapabilities(codecs=("PCMU",), telephone_event=False)
    answer, neg = answer_offer(OFFER, "192.0.2.5", 40000, caps)
    assert answer.media[0].formats == ["0"]
    assert (neg.encoding, neg.payload_type, neg.telephone_event_pt) == ("PCMU", 0, None)


def test_second_audio_stream_and_non_avp_are_rejected() -> None:
    offer = sdp(
        """v=0
o=- 1 1 IN IP4 10.0.0.1
s=-
c=IN IP4 10.0.0.1
t=0 0
m=audio 5000 RTP/SAVP 0
m=audio 0 RTP/AVP 0
m=audio 6000 RTP/AVP 9 8
m=audio 7000 RTP/AVP 0
"""
    )
    answer, neg = answer_offer(offer, "10.0.0.9", 8000)
    assert [m.port for m in answer.media] == [0, 0, 8000, 0]
    assert [m.formats for m in answer.media] == [["0"], ["0"], ["8"], ["0"]]
    assert neg.remote == ("10.0.0.1", 6000)


@pytest.mark.parametrize(
    ("offered", "wanted", "expected"),
    [
        ("sendrecv", "sendrecv", "sendrecv"),
        ("sendonly", "sendrecv", "recvonly"),
        ("recvonly", "sendrecv", "sendonly"),
        ("inactive", "sendrecv", "inactive"),
        ("sendrecv", "recvonly", "recvonly"),
        ("sendonly", "sendonly", "inactive"),
    ],
)
def test_direction_rules(offered: str, wanted: str, expected: str) -> None:
    assert answer_direction(offered, wanted) == expected
    offer = build_offer("10.0.0.1", 5000, direction=offered)
    answer, neg = answer_offer(offer, "10.0.0.2", 6000, direction=wanted)
    assert answer.media[0].direction == expected
    assert neg.direction == expected


def test_hold_offer_means_no_sending() -> None:
    offer = build_offer("10.0.0.1", 5000).hold()
    _, neg = answer_offer(offer, "10.0.0.2", 6000)
    assert neg.direction == "recvonly"
    assert not neg.can_send
    legacy = sdp(str(build_offer("0.0.0.0", 5000)).replace("\r\n", "\n"))
    _, neg = answer_offer(legacy, "10.0.0.2", 6000)
    assert neg.remote is None and not neg.can_send


def test_no_common_codec_is_488() -> None:
    offer = sdp(
        """v=0
o=- 1 1 IN IP4 10.0.0.1
s=-
c=IN IP4 10.0.0.1
t=0 0
m=audio 5000 RTP/AVP 18 96
a=rtpmap:96 PCMU/16000
"""
    )
    with pytest.raises(RemoteProtocolError) as info:
        answer_offer(offer, "10.0.0.9", 8000)
    assert info.value.status_hint == 488


def test_offer_then_answer_round_trip() -> None:
    offer = build_offer("127.0.0.1", 5000, origin=(11, 11))
    assert offer.media[0].formats == ["0", "8", "101"]
    assert offer.media[0].fmtp == {101: "0-16"}
    answer, remote_view = answer_offer(offer, "127.0.0.2", 6000)
    neg = parse_answer(offer, answer)
    assert (neg.encoding, neg.payload_type, neg.telephone_event_pt) == ("PCMU", 0, 101)
    assert neg.remote == ("127.0.0.2", 6000)
    assert remote_view.remote == ("127.0.0.1", 5000)
    assert neg.direction == "sendrecv"


def test_parse_answer_with_other_event_pt_and_one_codec() -> None:
    offer = build_offer("127.0.0.1", 5000)
    answer = sdp(
        """v=0
o=- 5 5 IN IP4 192.0.2.7
s=-
c=IN IP4 192.0.2.7
t=0 0
m=audio 30000 RTP/AVP 8 97
a=rtpmap:97 telephone-event/8000
a=sendonly
"""
    )
    neg = parse_answer(offer, answer)
    assert (neg.encoding, neg.payload_type, neg.telephone_event_pt) == ("PCMA", 8, 97)
    # We send with their numbers, and accept ours too (RFC 3264 §5.1).
    assert neg.receive_telephone_event_pts == frozenset({97, 101})
    assert dict(neg.receive_codecs) == {8: "PCMA"}
    assert neg.direction == "recvonly"  # they only send
    assert not neg.can_send


@pytest.mark.parametrize(
    "media",
    [
        "m=audio 0 RTP/AVP 0\n",
        "m=audio 30000 RTP/AVP 18\n",
        "m=audio 30000 RTP/AVP 0\nm=video 0 RTP/AVP 31\n",
    ],
)
def test_parse_answer_rejections(media: str) -> None:
    offer = build_offer("127.0.0.1", 5000)
    answer = sdp("v=0\no=- 5 5 IN IP4 192.0.2.7\ns=-\nc=IN IP4 192.0.2.7\nt=0 0\n" + media)
    with pytest.raises(RemoteProtocolError) as info:
        parse_answer(offer, answer)
    assert info.value.status_hint == 488
