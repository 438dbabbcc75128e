"""Every frame captured between real drachtio-server v0.9.10 and drachtio-srf 5.0.29.

The transcripts stay in ``../shared/data/drachtio-wire/`` (loaded by
:mod:`tests.drachtio.captures`); each frame must decode to the expected type
and re-encode byte for byte, and each whole conversation must replay through a
:class:`DrachtioConnection` on both sides, fed in one piece and byte by byte.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from trio_srf.drachtio import (
    AppSip,
    Authenticate,
    AuthOk,
    ConnectionClosed,
    ConnectionState,
    DrachtioConnection,
    Failure,
    Message,
    Ok,
    Ping,
    Pong,
    Proxy,
    ProxyDone,
    ProxyResponse,
    Role,
    Route,
    ServerSip,
    SipSent,
    decode_message,
    encode_frame,
)
from trio_srf.sip import Request, Response

from .captures import CAPTURE_DIR, Frame, capture_files, load_capture

pytestmark = pytest.mark.skipif(
    not CAPTURE_DIR.is_dir(), reason=f"drachtio wire captures not found at {CAPTURE_DIR}"
)

FILES = capture_files() if CAPTURE_DIR.is_dir() else []
ALL_FRAMES = [f for p in FILES for f in load_capture(p)]


def _decode(frame: Frame) -> Message:
    return decode_message(frame.payload, sender=Role[frame.sender])


def test_the_whole_capture_set_is_there() -> None:
    assert [p.name for p in FILES] == [
        "01-connect-auth-route-ping.txt",
        "02-uas-invite-200-ack-bye.txt",
        "03-uas-app-sends-bye.txt",
        "04-uas-reject-486.txt",
        "05-uas-cancel.txt",
        "06-createUAC.txt",
        "07-createUAC-cancel.txt",
        "08-b2bua-call.txt",
        "09-b2bua-cancel.txt",
        "10-proxyRequest.txt",
        "11-createUAC-unreachable-503.txt",
        "12-outbound-mode.txt",
    ]
    assert len(ALL_FRAMES) == 132
    # Every app message got exactly one final reply: 28 sip = 23 echoes + 5 NOK;
    # routes only in inbound mode with methods (01-05, 08-10).
    assert Counter(type(_decode(f)).__name__ for f in ALL_FRAMES) == {
        "Authenticate": 12,
        "AuthOk": 12,
        "Route": 8,
        "Ok": 8,
        "Ping": 2,
        "Pong": 2,
        "ServerSip": 29,
        "AppSip": 28,
        "SipSent": 23,
        "Failure": 5,
        "Proxy": 1,
        "ProxyResponse": 1,
        "ProxyDone": 1,
    }


@pytest.mark.parametrize("frame", ALL_FRAMES, ids=lambda f: f.source)
def test_frame_round_trips_byte_exact(frame: Frame) -> None:
    # The prefix counts UTF-8 bytes, CRLF as two (README, spec §3).
    assert frame.prefix == str(len(frame.payload))
    msg = _decode(frame)
    assert msg.encode() == frame.payload
    assert encode_frame(msg.encode()) == frame.wire
    assert decode_message(msg.encode(), sender=Role[frame.sender]) == msg
    sip = getattr(msg, "sip", None)
    if sip is not None:
        parsed = msg.message  # type: ignore[attr-defined]
        start = sip.split("\r\n", 1)[0]
        if isinstance(parsed, Request):
            assert start == f"{parsed.method} {parsed.uri} SIP/2.0"
        else:
            assert isinstance(parsed, Response)
            assert start.startswith(f"SIP/2.0 {parsed.status} ")


def _replay(frames: list[Frame], our_role: Role, *, bytewise: bool) -> list[Message]:
    """Drive one side of a captured conversation; return what it received."""
    conn = DrachtioConnection(our_role, id_factory=lambda: "unused")
    ours = "APP" if our_role is Role.APP else "SERVER"
    received: list[Message] = []
    for frame in frames:
        if frame.sender == ours:
            assert conn.send(_decode(frame)) == frame.wire
            continue
        chunks = (
            [frame.wire[i : i + 1] for i in range(len(frame.wire))] if bytewise else [frame.wire]
        )
        for chunk in chunks:
            conn.receive_data(chunk)
            event = conn.next_event()
            if event is not None:
                assert chunk is chunks[-1]
                assert isinstance(event, Message)
                received.append(event)
        assert conn.next_event() is None
    conn.receive_data(b"")
    assert conn.next_event() == ConnectionClosed()
    assert conn.state is ConnectionState.READY
    # Every app message got its final reply, in every capture.
    assert dict(conn.pending) == {}
    return received


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
@pytest.mark.parametrize("our_role", [Role.APP, Role.SERVER])
@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytewise"])
def test_conversation_replays(path: Path, our_role: Role, bytewise: bool) -> None:
    frames = load_capture(path)
    received = _replay(frames, our_role, bytewise=bytewise)
    theirs = "SERVER" if our_role is Role.APP else "APP"
    assert received == [_decode(f) for f in frames if f.sender == theirs]


def test_conversation_pipelined_in_one_read() -> None:
    # Everything the server said in capture 08, delivered in a single read.
    frames = load_capture(CAPTURE_DIR / "08-b2bua-call.txt")
    conn = DrachtioConnection(Role.APP)
    for f in frames:
        if f.sender == "APP" and isinstance(_decode(f), Authenticate | Route | AppSip):
            conn.send(_decode(f))
            if isinstance(_decode(f), Authenticate):
                break
    conn.receive_data(frames[1].wire)
    assert isinstance(conn.next_event(), AuthOk)
    for f in frames[2:]:
        if f.sender == "APP":
            conn.send(_decode(f))
    conn.receive_data(b"".join(f.wire for f in frames[2:] if f.sender == "SERVER"))
    events = []
    while (event := conn.next_event()) is not None:
        events.append(event)
    assert events == [_decode(f) for f in frames[2:] if f.sender == "SERVER"]


def test_capture_01_handshake_values() -> None:
    frames = [_decode(f) for f in load_capture(CAPTURE_DIR / "01-connect-auth-route-ping.txt")]
    auth, auth_ok, route, route_ok, ping, pong = frames[:6]
    assert auth == Authenticate(
        msg_id="57601fe0-113b-4e37-a94d-90de5fb17e57", secret="cymru", tags=()
    )
    assert auth_ok == AuthOk(
        msg_id="58fc0549-818d-47b3-8441-b515b1400408",
        request_id="57601fe0-113b-4e37-a94d-90de5fb17e57",
        hostports=("tcp/127.0.0.1:5090", "udp/127.0.0.1:5090"),
        version="v0.9.10-1-g9c2dd4cb6a",
        local_hostports=("tcp/127.0.0.1:5090", "udp/127.0.0.1:5090"),
    )
    assert route == Route(msg_id="8555ff22-411d-42ee-850c-252bd7a89822", verb="invite")
    assert route_ok == Ok(
        msg_id="3a302ac9-1b49-492c-9528-238f78b0f07c",
        request_id="8555ff22-411d-42ee-850c-252bd7a89822",
    )
    assert ping == Ping(msg_id="1fc46d83-da68-4e93-8e30-39f752a00cfb")
    assert pong == Pong(
        msg_id="458f33c5-8f37-4daa-8c99-3262851adfc1",
        request_id="1fc46d83-da68-4e93-8e30-39f752a00cfb",
    )


def test_capture_02_meta_and_ids() -> None:
    frames = [_decode(f) for f in load_capture(CAPTURE_DIR / "02-uas-invite-200-ack-bye.txt")]
    invite, answer, echo, ack = frames[4:8]
    assert isinstance(invite, ServerSip)
    assert invite.meta.tokens() == [
        "network", "506", "udp", "127.0.0.1", "5070", "06:26:04.165742",
    ]  # fmt: skip
    assert invite.meta.byte_count == 506
    assert invite.meta.port_number == 5070
    assert invite.transaction_id == "ce7d1f82-e1d1-4bf0-b7ce-be5473acf590"
    assert invite.dialog_id == ""
    assert invite.received_on == "127.0.0.1:5090"
    assert invite.session_token == ""
    assert not invite.is_unsolicited
    parsed = invite.message
    assert isinstance(parsed, Request)
    assert parsed.method == "INVITE"
    assert parsed.call_id == "1-6469@127.0.0.1"
    # The SIP text is kept as carried: odd spacing survives.
    assert "Content-Length:   129\r\n" in invite.sip
    assert len(invite.sip.encode()) == 517  # 506 on the wire + ";rport=5070" (§6.5)

    assert isinstance(answer, AppSip)
    assert (answer.transaction_id, answer.dialog_id, answer.route_uri) == (
        "ce7d1f82-e1d1-4bf0-b7ce-be5473acf590", "", None,
    )  # fmt: skip
    assert answer.purpose == "response"
    skeleton = answer.message  # parsed leniently: no Via in an app skeleton
    assert isinstance(skeleton, Response)
    assert skeleton.status == 200
    assert skeleton.get("Via") is None
    assert skeleton.body.startswith(b"v=0\r\n")

    assert isinstance(echo, SipSent)
    assert echo.is_response_echo
    assert echo.dialog_id == "1-6469@127.0.0.1;from-tag=6469SIPpTag001"
    assert echo.meta.byte_count == len(echo.sip.encode()) == 454
    assert echo.message.to.tag == "2F1pX734K4UUD"  # type: ignore[union-attr]

    assert isinstance(ack, ServerSip)
    assert ack.meta.protocol == ""  # the real server leaves it empty for this ACK
    assert ack.received_on is None
    assert ack.dialog_id == echo.dialog_id


def test_capture_06_request_echo_and_in_dialog_ack() -> None:
    frames = [_decode(f) for f in load_capture(CAPTURE_DIR / "06-createUAC.txt")]
    invite, echo = frames[2], frames[3]
    assert isinstance(invite, AppSip)
    assert invite.purpose == "new"
    assert isinstance(echo, SipSent)
    assert not echo.is_response_echo
    assert echo.dialog_id is None
    assert echo.meta.source == "application"
    assert echo.meta.port == "5090"  # the server's own address in request echoes
    acks = [m for m in frames if isinstance(m, AppSip) and m.sip.startswith("ACK ")]
    assert len(acks) == 1
    assert acks[0].purpose == "in-dialog"
    assert acks[0].transaction_id == ""
    assert acks[0].dialog_id.endswith(";from-tag=" + echo.message.from_.tag)  # type: ignore[operator]


def test_capture_07_cancel_and_nok() -> None:
    frames = [_decode(f) for f in load_capture(CAPTURE_DIR / "07-createUAC-cancel.txt")]
    cancel = next(m for m in frames if isinstance(m, AppSip) and m.sip.startswith("CANCEL "))
    assert cancel.purpose == "cancel"
    nok = next(m for m in frames if isinstance(m, Failure))
    assert (nok.status, nok.reason) == (
        "NOK",
        "Server error: ACK for non-success final response is automatically generated by server",
    )
    assert not nok.ok


def test_capture_10_proxy() -> None:
    frames = [_decode(f) for f in load_capture(CAPTURE_DIR / "10-proxyRequest.txt")]
    proxy, report, done = frames[5:8]
    assert proxy == Proxy(
        msg_id="32057bef-56f2-427f-a85c-accd0b3a8ed5",
        transaction_id="111fb56f-323a-4447-baf5-f2483e2ef86a",
        remain_in_dialog=True,
        full_response=True,
        follow_redirects=False,
        simultaneous=False,
        destinations=("sip:127.0.0.1:5080",),
        sip="INVITE sip:127.0.0.1:5080 SIP/2.0\r\nContent-Length: 0\r\n\r\n",
    )
    assert isinstance(report, ProxyResponse)
    assert not report.is_final
    assert report.meta.tokens()[:5] == ["network", "599", "udp", "127.0.0.1", "5080"]
    assert isinstance(done, ProxyDone)
    assert done.request_id == proxy.msg_id


def test_capture_11_server_generated_503() -> None:
    frames = [_decode(f) for f in load_capture(CAPTURE_DIR / "11-createUAC-unreachable-503.txt")]
    resp = frames[4]
    assert isinstance(resp, ServerSip)
    assert resp.meta.tokens()[:5] == ["network", "0", "udp", "", "0"]
    assert resp.meta.byte_count == 0
    assert resp.message.status == 503  # type: ignore[union-attr]
