"""SDP offer/answer (RFC 3264) for one G.711 audio stream with telephone-events (sans-IO).

Rules this module keeps:

* **What we speak.** PCMU (static payload type 0), PCMA (8) and ``telephone-event/8000``
  (RFC 4733, dynamic) over ``RTP/AVP`` at 8000 Hz, described by :class:`MediaCapabilities`.
  Codecs are matched by encoding name (case-insensitive) and clock rate from ``a=rtpmap``;
  static types 0 and 8 match without an rtpmap (RFC 3551 §6, RFC 3264 §5.1).
* **Answering (RFC 3264 §6).** The answer has exactly as many ``m=`` lines as the offer, in
  the same order. The first enabled ``audio``/``RTP/AVP`` stream with at least one codec in
  common is accepted; every other stream is rejected with port 0 and the offer's formats.
  The accepted stream lists the common codecs *in the offerer's order* (§6.1 lets the
  answerer keep it) with the offerer's payload type numbers, then telephone-event with the
  offerer's payload type if it was offered (§6.1: the answer SHOULD use the same numbers).
  The direction follows §6.1: sendonly is answered recvonly, recvonly sendonly, inactive
  inactive, sendrecv with whatever we want; our own wish can only narrow it. The answer
  copies the offer's ``t=`` line (§6). No acceptable stream raises
  :class:`~trio_srf.errors.RemoteProtocolError` with ``status_hint=488``.
* **Reading an answer (§7).** The answer's stream at the index of our audio stream decides:
  port 0 means rejected (488 error); the first format the answer lists that we offered and
  support is what we send; telephone-event is sent with the *answer's* payload type and
  accepted with either number. The send address is the stream's ``c=`` (media, else
  session) and port; ``0.0.0.0`` (RFC 2543 hold) or a recvonly/inactive peer means we must
  not send.
* **Payload types in each direction (§5.1).** The numbers in a description say what its
  author wants to *receive*; we send using the remote description's numbers and accept both.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from trio_srf.errors import LocalProtocolError
from trio_srf.media._g711 import Law
from trio_srf.media._sdp import DIRECTIONS, Direction, MediaDescription, SessionDescription

__all__ = [
    "MediaCapabilities",
    "NegotiatedMedia",
    "answer_direction",
    "answer_offer",
    "build_offer",
    "parse_answer",
]

_STATIC: Mapping[int, tuple[str, int]] = {0: ("PCMU", 8000), 8: ("PCMA", 8000)}
_NOT_ACCEPTABLE = 488  # RFC 3261 §21.4.26
_TELEPHONE_EVENT = "TELEPHONE-EVENT"


def _error(msg: str) -> LocalProtocolError:
    return LocalProtocolError(msg, status_hint=_NOT_ACCEPTABLE)


def _send_recv(direction: str) -> tuple[bool, bool]:
    return direction in ("sendrecv", "sendonly"), direction in ("sendrecv", "recvonly")


def _direction(send: bool, recv: bool) -> Direction:
    if send and recv:
        return "sendrecv"
    if send:
        return "sendonly"
    return "recvonly" if recv else "inactive"


def answer_direction(offered: str, wanted: str = "sendrecv") -> Direction:
    """The direction to answer an offered direction with (RFC 3264 §6.1).

    Args:
        offered: The offer's direction, from the offerer's point of view.
        wanted: What we would like, from ours.

    Returns:
        Ours: we send only if the offerer receives and we want to send, and vice versa.
    """
    they_send, they_recv = _send_recv(offered)
    we_send, we_recv = _send_recv(wanted)
    return _direction(we_send and they_recv, we_recv and they_send)


@attrs.frozen
class MediaCapabilities:
    """What our endpoint can do.

    Attributes:
        codecs: G.711 laws in our preference order (used when we offer).
        telephone_event: Whether we offer/accept RFC 4733 telephone-events.
        telephone_event_pt: The dynamic payload type we offer for telephone-event.
        ptime: Packetization time in ms we send (and announce).
    """

    codecs: tuple[Law, ...] = ("PCMU", "PCMA")
    telephone_event: bool = True
    telephone_event_pt: int = 101
    ptime: int = 20


@attrs.frozen
class NegotiatedMedia:
    """The outcome of one offer/answer exchange, from our side.

    Attributes:
        encoding: The law we send.
        payload_type: The payload type we send it with.
        telephone_event_pt: The payload type we send RFC 4733 events with, or ``None``.
        remote: ``(host, port)`` to send RTP to, or ``None`` when we must not send.
        direction: Our direction: ``sendonly`` means we send and do not receive.
        receive_codecs: Audio payload types we accept, mapped to their law.
        receive_telephone_event_pts: Payload types we accept as telephone-events.
        ptime: Packetization time in ms.
    """

    encoding: Law
    payload_type: int
    telephone_event_pt: int | None
    remote: tuple[str, int] | None
    direction: Direction
    receive_codecs: Mapping[int, Law]
    receive_telephone_event_pts: frozenset[int]
    ptime: int = 20

    @property
    def can_send(self) -> bool:
        """Whether we may send media (direction allows it and there is an address)."""
        return self.remote is not None and _send_recv(self.direction)[0]

    @property
    def can_receive(self) -> bool:
        """Whether the peer may send us media."""
        return _send_recv(self.direction)[1]


def _codecs(media: MediaDescription) -> list[tuple[int, str, int]]:
    """``(pt, ENCODING, rate)`` for each format of ``media`` we can identify, in order."""
    rtpmap = media.rtpmap
    out: list[tuple[int, str, int]] = []
    for fmt in media.formats:
        if not (fmt.isascii() and fmt.isdigit() and len(fmt) <= 3):
            continue
        pt = int(fmt)
        if pt in rtpmap:
            out.append((pt, rtpmap[pt].encoding.upper(), rtpmap[pt].clock_rate))
        elif pt in _STATIC:
            out.append((pt, *_STATIC[pt]))
    return out


def _audio_ok(media: MediaDescription) -> bool:
    return media.kind.lower() == "audio" and media.proto.upper() == "RTP/AVP" and media.port != 0


def _remote(media: MediaDescription) -> tuple[str, int] | None:
    host = media.connection_address
    if host is None or host in ("0.0.0.0", "::") or media.port == 0:
        return None
    return (host, media.port)


def _session_lines(
    address: str, origin: tuple[int, int], t_line: str = "0 0"
) -> list[tuple[str, str]]:
    addrtype = "IP6" if ":" in address else "IP4"
    return [
        ("v", "0"),
        ("o", f"- {origin[0]} {origin[1]} IN {addrtype} {address}"),
        ("s", "-"),
        ("c", f"IN {addrtype} {address}"),
        ("t", t_line),
    ]


def build_offer(
    address: str,
    port: int,
    caps: MediaCapabilities | None = None,
    *,
    direction: str = "sendrecv",
    origin: tuple[int, int] | None = None,
) -> SessionDescription:
    """Our offer: one ``m=audio`` stream with our codecs and telephone-event.

    Args:
        address: Our RTP address (for ``o=`` and ``c=``).
        port: Our RTP port.
        caps: Our capabilities (defaults: PCMU, PCMA, telephone-event 101, 20 ms).
        direction: The offered direction.
        origin: ``(session id, version)`` for ``o=``; random when ``None``.

    Returns:
        The offer.
    """
    caps = caps or MediaCapabilities()
    pts = [0 if law == "PCMU" else 8 for law in caps.codecs]
    if caps.telephone_event:
        pts.append(caps.telephone_event_pt)
    return SessionDescription.build(
        address,
        port,
        pts,
        codecs={caps.telephone_event_pt: "telephone-event/8000"},
        session_id=None if origin is None else origin[0],
        session_version=None if origin is None else origin[1],
        direction=direction,
        ptime=caps.ptime,
    )


def answer_offer(
    offer: SessionDescription,
    address: str,
    port: int,
    caps: MediaCapabilities | None = None,
    *,
    direction: str = "sendrecv",
    origin: tuple[int, int] = (1, 1),
) -> tuple[SessionDescription, NegotiatedMedia]:
    """Answer a remote offer (RFC 3264 §6).

    Args:
        offer: The remote offer.
        address: Our RTP address.
        port: Our RTP port.
        caps: Our capabilities.
        direction: The direction we want; the answer may only narrow the offer's.
        origin: ``(session id, version)`` for our ``o=`` line; bump the version on each
            new answer in a dialog (RFC 3264 §8).

    Returns:
        The answer and what it means for our endpoint.

    Raises:
        RemoteProtocolError: No stream can be accepted (``status_hint`` 488).
    """
    try:
        return _answer(offer, address, port, caps or MediaCapabilities(), direction, origin)
    except LocalProtocolError as exc:
        raise exc._reraise_as_remote_protocol_error() from None


def _answer(
    offer: SessionDescription,
    address: str,
    port: int,
    caps: MediaCapabilities,
    wanted: str,
    origin: tuple[int, int],
) -> tuple[SessionDescription, NegotiatedMedia]:
    if wanted not in DIRECTIONS:
        raise LocalProtocolError(f"unknown direction {wanted!r}")
    sections: list[MediaDescription] = []
    negotiated: NegotiatedMedia | None = None
    for media in offer.media:
        accepted = None if negotiated is not None or not _audio_ok(media) else _accept(media, caps)
        if accepted is None:
            # §6: reject with port 0, keep the m= line's media, proto and formats.
            sections.append(MediaDescription(lines=[media.lines[0]]).with_port(0))
            continue
        codecs, event_pt = accepted
        ours = answer_direction(media.direction, wanted)
        lines: list[tuple[str, str]] = [
            (
                "m",
                f"audio {port} RTP/AVP {' '.join(str(pt) for pt, _ in codecs)}"
                + (f" {event_pt}" if event_pt is not None else ""),
            ),
        ]
        lines += [("a", f"rtpmap:{pt} {law}/8000") for pt, law in codecs]
        if event_pt is not None:
            lines += [("a", f"rtpmap:{event_pt} telephone-event/8000")]
            lines += [("a", f"fmtp:{event_pt} 0-15")]  # we understand the 16 DTMF events
        lines += [("a", f"ptime:{caps.ptime}"), ("a", ours)]
        sections.append(MediaDescription(lines=lines))
        remote = _remote(media)
        negotiated = NegotiatedMedia(
            encoding=codecs[0][1],
            payload_type=codecs[0][0],
            telephone_event_pt=event_pt,
            remote=remote,
            direction=ours,
            receive_codecs=dict(codecs),
            receive_telephone_event_pts=frozenset(() if event_pt is None else (event_pt,)),
            ptime=caps.ptime,
        )
    if negotiated is None:
        raise _error("no acceptable audio stream in the offer")
    t_line = next((value for kind, value in offer.lines if kind == "t"), "0 0")
    answer = SessionDescription(lines=_session_lines(address, origin, t_line), media=sections)
    return answer, negotiated


def _accept(
    media: MediaDescription, caps: MediaCapabilities
) -> tuple[list[tuple[int, Law]], int | None] | None:
    codecs: list[tuple[int, Law]] = []
    event_pt: int | None = None
    for pt, encoding, rate in _codecs(media):
        if rate != 8000:
            continue
        if encoding in caps.codecs and all(pt != p for p, _ in codecs):
            codecs.append((pt, "PCMU" if encoding == "PCMU" else "PCMA"))
        elif encoding == _TELEPHONE_EVENT and caps.telephone_event and event_pt is None:
            event_pt = pt
    return (codecs, event_pt) if codecs else None


def parse_answer(
    offer: SessionDescription,
    answer: SessionDescription,
    caps: MediaCapabilities | None = None,
) -> NegotiatedMedia:
    """Read the answer to our offer (RFC 3264 §7).

    Args:
        offer: The offer we sent (from :func:`build_offer` or similar).
        answer: The remote answer.
        caps: Our capabilities.

    Returns:
        What to send, where, and what to accept.

    Raises:
        RemoteProtocolError: The answer does not match the offer, rejects our audio
            stream, or names no codec we offered (``status_hint`` 488).
    """
    try:
        return _parse_answer(offer, answer, caps or MediaCapabilities())
    except LocalProtocolError as exc:
        raise exc._reraise_as_remote_protocol_error() from None


def _parse_answer(
    offer: SessionDescription, answer: SessionDescription, caps: MediaCapabilities
) -> NegotiatedMedia:
    if len(answer.media) != len(offer.media):
        raise _error(f"answer has {len(answer.media)} m= lines, the offer {len(offer.media)}")
    index = next((i for i, m in enumerate(offer.media) if _audio_ok(m)), None)
    if index is None:
        raise _error("our offer has no audio stream")
    ours, theirs = offer.media[index], answer.media[index]
    if theirs.port == 0:
        raise _error("the answer rejected the audio stream")
    offered = {pt: (enc, rate) for pt, enc, rate in _codecs(ours)}
    send: tuple[int, Law] | None = None
    receive: dict[int, Law] = {}
    events: set[int] = set()
    send_event: int | None = None
    for pt, encoding, rate in _codecs(theirs):
        if rate != 8000:
            continue
        if encoding in caps.codecs and encoding in (enc for enc, _ in offered.values()):
            law: Law = "PCMU" if encoding == "PCMU" else "PCMA"
            receive[pt] = law
            send = send or (pt, law)
        elif encoding == _TELEPHONE_EVENT and caps.telephone_event:
            events.add(pt)
            send_event = pt if send_event is None else send_event
    if send is None:
        raise _error("the answer names no codec we offered")
    for pt, (encoding, _) in offered.items():  # also accept the numbers we offered (§5.1)
        if encoding in ("PCMU", "PCMA") and encoding in {law for law in receive.values()}:
            receive.setdefault(pt, "PCMU" if encoding == "PCMU" else "PCMA")
        elif encoding == _TELEPHONE_EVENT and events:
            events.add(pt)
    they_send, they_recv = _send_recv(theirs.direction)
    we_send, we_recv = _send_recv(ours.direction)
    return NegotiatedMedia(
        encoding=send[1],
        payload_type=send[0],
        telephone_event_pt=send_event,
        remote=_remote(theirs),
        direction=_direction(we_send and they_recv, we_recv and they_send),
        receive_codecs=receive,
        receive_telephone_event_pts=frozenset(events),
        ptime=caps.ptime,
    )
