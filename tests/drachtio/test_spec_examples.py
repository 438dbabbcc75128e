"""The worked examples of §16 of the drachtio wire-protocol spec, byte for byte.

Read from ``../shared/docs/drachtio-wire-protocol.md`` (never copied); every
frame's prefix must equal its UTF-8 byte count, decode, and re-encode exactly.
"""

from __future__ import annotations

import pytest

from trio_srf.drachtio import (
    AppSip,
    Authenticate,
    AuthOk,
    CdrAttempt,
    Failure,
    Meta,
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

from .captures import SPEC, Frame, load_spec_examples

pytestmark = pytest.mark.skipif(not SPEC.is_file(), reason=f"spec not found at {SPEC}")

EXAMPLES = load_spec_examples() if SPEC.is_file() else []
BY_ID = {
    decode_message(f.payload, sender=Role[f.sender]).msg_id[-3:]: f for f in EXAMPLES
}  # ids end in 001..056


def test_example_inventory() -> None:
    assert len(EXAMPLES) == 27
    assert [f.source.split()[1] for f in EXAMPLES] == list("AAAAAAABBBBBCCCCDDDEEFFFFFF")


@pytest.mark.parametrize("frame", EXAMPLES, ids=lambda f: f.source)
def test_example_round_trips(frame: Frame) -> None:
    assert frame.prefix == str(len(frame.payload))
    msg = decode_message(frame.payload, sender=Role[frame.sender])
    assert encode_frame(msg.encode()) == frame.wire


def _msg(suffix: str) -> object:
    f = BY_ID[suffix]
    return decode_message(f.payload, sender=Role[f.sender])


def _id(n: int) -> str:
    return f"0a1b2c3d-0000-4000-8000-{n:012d}"


def test_example_a_values() -> None:
    assert _msg("001") == Authenticate(
        msg_id=_id(1), secret="cymru", tags=("conf-app", "region-east")
    )
    assert _msg("002") == AuthOk(
        msg_id=_id(2),
        request_id=_id(1),
        hostports=("tcp/203.0.113.5:5060", "udp/203.0.113.5:5060"),
        version="v0.9.10",
        local_hostports=("tcp/10.0.0.5:5060", "udp/10.0.0.5:5060"),
    )
    assert _msg("007") == Failure(
        msg_id=_id(7), request_id=_id(1), status="NO", reason="incorrect secret"
    )


def test_example_b_values() -> None:
    invite = _msg("010")
    assert isinstance(invite, ServerSip)
    assert invite.meta == Meta(
        source="network",
        size=459,
        protocol="udp",
        address="198.51.100.7",
        port=5060,
        time="14:03:27.512004",
    )
    assert invite.received_on == "203.0.113.5:5060"
    echo = _msg("013")
    assert isinstance(echo, SipSent)
    assert echo.transaction_id == "7f1c9d2e-5b44-4c1a-9e3f-2a6b8c0d4e11"
    assert echo.dialog_id == "c0ffee01@198.51.100.7;from-tag=a1b2c3"
    assert echo.meta.byte_count == len(echo.sip.encode()) == 441


def test_example_c_to_e_values() -> None:
    invite = _msg("020")
    assert isinstance(invite, AppSip)
    assert invite.purpose == "new"
    assert invite.message.headers.get("from") == "sip:15551112222@localhost"
    ack = _msg("023")
    assert isinstance(ack, AppSip)
    assert (ack.transaction_id, ack.dialog_id) == (
        "",
        "5e7d1c0a-29b4-123d-8f5e-0242ac110002;from-tag=Bg6aZ0r1Nc",
    )
    assert ack.purpose == "in-dialog"
    bye = _msg("030")
    assert isinstance(bye, AppSip)
    assert bye.sip.startswith("BYE sip:placeholder SIP/2.0\r\n")
    cancel = _msg("040")
    assert isinstance(cancel, AppSip)
    assert cancel.purpose == "cancel"
    assert cancel.transaction_id == "3d0e5a77-9c21-4f0b-8d6a-51c2e7f9a0b3"
    network_cancel = _msg("041")
    assert isinstance(network_cancel, ServerSip)
    assert network_cancel.meta.byte_count == 459  # the INVITE's size (quirk, §6.5)


def test_example_f_values() -> None:
    assert _msg("050") == Proxy(
        msg_id=_id(50),
        transaction_id="7f1c9d2e-5b44-4c1a-9e3f-2a6b8c0d4e11",
        remain_in_dialog=True,
        full_response=True,
        provisional_timeout="2s",
        destinations=("sip:10.10.0.11", "sip:10.10.0.12:5080"),
        sip="INVITE sip:10.10.0.11 SIP/2.0\r\nX-Routed-By: lb1\r\nContent-Length: 0\r\n\r\n",
    )
    report = _msg("051")
    assert isinstance(report, ProxyResponse)
    assert report.message.status == 503  # type: ignore[union-attr]
    assert _msg("053") == ProxyDone(msg_id=_id(53), request_id=_id(50))
    assert _msg("055") == Route(msg_id=_id(55), verb="cdr:attempt")
    cdr = _msg("056")
    assert isinstance(cdr, CdrAttempt)
    assert (cdr.source, cdr.time) == ("network", "14:03:27.512110")
    assert cdr.message.method == "INVITE"  # type: ignore[union-attr]
