"""Exact encodings of every message type (spec §6), and decode errors (§13)."""

from __future__ import annotations

import re

import pytest

from trio_srf.drachtio import (
    AppSip,
    Authenticate,
    AuthOk,
    CdrAttempt,
    CdrStart,
    CdrStop,
    DrachtioProtocolError,
    Failure,
    GenericReply,
    Message,
    Meta,
    Ok,
    Ping,
    Pong,
    Proxy,
    ProxyDone,
    ProxyResponse,
    RemoveRoute,
    Role,
    Route,
    ServerSip,
    SipSent,
    decode_message,
    new_message_id,
    parse_sip,
    wire_time,
)
from trio_srf.errors import LocalProtocolError, RemoteProtocolError

SIP_REQ = "OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 0\r\n\r\n"
SIP_RESP = "SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"
META = Meta(source="network", size=42, protocol="", address="192.0.2.1", port=5060, time="t")

CASES: list[tuple[Message, str]] = [
    (Authenticate(msg_id="i", secret="s", tags=()), "i|authenticate|s|"),
    (Authenticate(msg_id="i", secret="s", tags=["a", "b"]), "i|authenticate|s|a,b"),
    (Route(msg_id="i", verb="invite"), "i|route|invite"),
    (RemoveRoute(msg_id="i", verb="cdr:stop"), "i|remove_route|cdr:stop"),
    (Ping(msg_id="i"), "i|ping"),
    (AppSip(msg_id="i", transaction_id="t", sip=SIP_RESP), "i|sip|t|\r\n" + SIP_RESP),
    (AppSip(msg_id="i", sip=SIP_REQ), "i|sip||\r\n" + SIP_REQ),
    (AppSip(msg_id="i", dialog_id="d", sip=SIP_REQ), "i|sip||d\r\n" + SIP_REQ),
    (AppSip(msg_id="i", route_uri="sip:h:1", sip=SIP_REQ), "i|sip|||sip:h:1\r\n" + SIP_REQ),
    (
        Proxy(msg_id="i", transaction_id="t", destinations=["sip:a"], sip=SIP_REQ),
        "i|proxy|t||fullResponse||serial|||sip:a\r\n" + SIP_REQ,
    ),
    (
        Proxy(
            msg_id="i",
            transaction_id="t",
            remain_in_dialog=True,
            full_response=False,
            follow_redirects=True,
            simultaneous=True,
            provisional_timeout="500ms",
            final_timeout="60s",
            destinations=("sip:a", "tel:+1"),
        ),
        "i|proxy|t|remainInDialog||followRedirects|simultaneous|500ms|60s|sip:a|tel:+1",
    ),
    (
        ServerSip(msg_id="i", meta=META, transaction_id="t", sip=SIP_REQ),
        "i|sip|network|42||192.0.2.1|5060|t|t||\r\n" + SIP_REQ,
    ),
    (
        ServerSip(
            msg_id="i",
            meta=META,
            transaction_id="t",
            received_host="10.0.0.1",
            received_port=5060,
            sip=SIP_REQ,
        ),
        "i|sip|network|42||192.0.2.1|5060|t|t||10.0.0.1|5060|\r\n" + SIP_REQ,
    ),
    (
        ServerSip(
            msg_id="i",
            meta=META,
            transaction_id="unsolicited",
            dialog_id="d",
            session_token="tok",
            sip=SIP_REQ,
        ),
        "i|sip|network|42||192.0.2.1|5060|t|unsolicited|d|||tok\r\n" + SIP_REQ,
    ),
    (
        CdrAttempt(msg_id="i", source="network", time="t", sip=SIP_REQ),
        "i|cdr:attempt|network|t\r\n" + SIP_REQ,
    ),
    (
        CdrStart(msg_id="i", source="application", time="t", role="uac", sip=SIP_RESP),
        "i|cdr:start|application|t|uac\r\n" + SIP_RESP,
    ),
    (
        CdrStop(msg_id="i", source="network", time="t", reason="normal-release", sip=SIP_REQ),
        "i|cdr:stop|network|t|normal-release\r\n" + SIP_REQ,
    ),
    (Ok(msg_id="i", request_id="r"), "i|response|r|OK"),
    (Pong(msg_id="i", request_id="r"), "i|response|r|OK|pong"),
    (ProxyDone(msg_id="i", request_id="r"), "i|response|r|OK|done"),
    (
        AuthOk(
            msg_id="i", request_id="r", hostports=["udp/h:1"], version="v1.2.3", local_hostports=[]
        ),
        "i|response|r|OK|udp/h:1|v1.2.3|",
    ),
    (Failure(msg_id="i", request_id="r", reason="a: b c"), "i|response|r|NOK|a: b c"),
    (Failure(msg_id="i", request_id="r", status="NO", reason="x"), "i|response|r|NO|x"),
    (
        SipSent(msg_id="i", request_id="r", meta=META, transaction_id="t", sip=SIP_REQ),
        "i|response|r|OK|network|42||192.0.2.1|5060|t|t|Msg sent:|\r\n" + SIP_REQ,
    ),
    (
        SipSent(
            msg_id="i", request_id="r", meta=META, transaction_id="t", dialog_id="", sip=SIP_RESP
        ),
        "i|response|r|OK|network|42||192.0.2.1|5060|t|t|||Msg sent:|\r\n" + SIP_RESP,
    ),
    (
        ProxyResponse(msg_id="i", request_id="r", meta=META, sip=SIP_RESP),
        "i|response|r|OK|network|42||192.0.2.1|5060|t|||continue\r\n" + SIP_RESP,
    ),
    (
        GenericReply(msg_id="i", request_id="r", status="OK", data=["a", "b"]),
        "i|response|r|OK|a|b",
    ),
    (
        GenericReply(msg_id="i", request_id="r", status="NOK", data=["a", "b"], sip=""),
        "i|response|r|NOK|a|b\r\n",
    ),
]


@pytest.mark.parametrize(("msg", "wire"), CASES, ids=lambda v: type(v).__name__)
def test_exact_encoding_and_decoding(msg: Message, wire: str) -> None:
    assert msg.encode() == wire.encode()
    assert decode_message(wire.encode(), sender=msg.SENDER) == msg


def test_meta_accepts_ints_and_reports_ints() -> None:
    assert META.size == "42"
    assert META.port == "5060"
    assert (META.byte_count, META.port_number) == (42, 5060)
    assert Meta(port="").port_number is None
    assert Meta(size="x").byte_count is None


def test_default_ids_are_uuid4_strings() -> None:
    ids = {Ping().msg_id for _ in range(50)} | {new_message_id()}
    assert len(ids) == 51
    for i in ids:
        assert re.fullmatch(
            r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", i
        )


def test_wire_time_format() -> None:
    from datetime import UTC, datetime, timedelta, timezone

    assert wire_time(datetime(2026, 1, 2, 3, 4, 5, 6)) == "03:04:05.000006"
    east = timezone(timedelta(hours=2))
    assert wire_time(datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=east)) == "01:04:05.123456"
    assert re.fullmatch(r"\d\d:\d\d:\d\d\.\d{6}", wire_time())
    assert wire_time(datetime(2026, 1, 1, tzinfo=UTC)) == "00:00:00.000000"


def test_app_sip_purpose_table() -> None:
    # §6.6: which operation the server picks from the tokens and the start line.
    assert AppSip(transaction_id="t", sip=SIP_RESP).purpose == "response"
    assert AppSip(dialog_id="d", sip=SIP_REQ).purpose == "in-dialog"
    assert AppSip(transaction_id="t", sip="CANCEL sip:x SIP/2.0\r\n\r\n").purpose == "cancel"
    assert AppSip(sip=SIP_REQ).purpose == "new"
    assert AppSip(transaction_id="t", sip=SIP_REQ).purpose == "invalid"


@pytest.mark.parametrize(
    "msg",
    [
        Route(msg_id="i", verb="in|vite"),
        Route(msg_id="i", verb="a\r\nb"),
        Authenticate(msg_id="i", secret="s|t"),
        Authenticate(msg_id="i", secret="s", tags=("a,b",)),
        Failure(msg_id="i", request_id="r", status="OK", reason="x"),
        Ping(msg_id=""),
        AppSip(msg_id="i", transaction_id="t\n", sip=SIP_RESP),
    ],
)
def test_unsendable_values_are_local_errors(msg: Message) -> None:
    with pytest.raises(LocalProtocolError):
        msg.encode()


@pytest.mark.parametrize(
    ("sender", "wire", "reason", "msg_id"),
    [
        (Role.APP, b"i|frobnicate|x", "Unknown message type", "i"),
        (Role.APP, b"i|response|r|OK", "Unknown message type", "i"),
        (Role.SERVER, b"i|authenticate|s|", "Unknown message type", "i"),
        (Role.SERVER, b"i|route|invite", "Unknown message type", "i"),
        (Role.APP, b"i", "Invalid message format", "i"),
        (Role.APP, b"|ping", "Invalid message format", None),
        (Role.APP, b"i|", "Invalid message format", "i"),
        (Role.APP, b"i|route", "Invalid message format", "i"),
        (Role.APP, b"i|authenticate", "Invalid message format", "i"),
        (Role.APP, b"i|proxy|t", "Invalid proxy request: not enough information provided", "i"),
        (Role.APP, b"i|sip|t|", "Invalid message format", "i"),  # no SIP part
        (Role.APP, b"i|ping\r\nOPTIONS x SIP/2.0", "Invalid message format", "i"),
        (Role.APP, b"i|pi\nng", "Invalid message format", "i"),
        (Role.SERVER, b"i|sip|network|1|udp|a|1|t|x", "Invalid message format", "i"),
        (Role.SERVER, b"i|sip|network|1|udp|a|1|t|x|", "Invalid message format", "i"),
        (Role.SERVER, b"i|response|r", "Invalid message format", "i"),
        (
            Role.SERVER,
            b"i|cdr:stop|network|t\r\n" + SIP_REQ.encode(),
            "Invalid message format",
            "i",
        ),
    ],
)
def test_decode_errors(sender: Role, wire: bytes, reason: str, msg_id: str | None) -> None:
    with pytest.raises(DrachtioProtocolError) as info:
        decode_message(wire, sender=sender)
    assert isinstance(info.value, RemoteProtocolError)
    assert info.value.reply_reason == reason
    assert info.value.msg_id == msg_id


@pytest.mark.parametrize(
    ("sender", "wire", "canonical"),
    [
        # srf accepts 10 tokens (no trailing '|'); re-encoded in the server's shape.
        (Role.SERVER, "i|sip|network|1|udp|a|1|t|x|d\r\n", "i|sip|network|1|udp|a|1|t|x|d|\r\n"),
        (Role.APP, "i|authenticate|s", "i|authenticate|s|"),
        (Role.APP, "i|sip|t\r\n", "i|sip|t|\r\n"),
        (Role.APP, "i|ping|extra", "i|ping"),
        (Role.APP, "i|proxy|t|x", "i|proxy|t||||serial||"),
    ],
)
def test_lenient_decoding_re_encodes_canonically(sender: Role, wire: str, canonical: str) -> None:
    msg = decode_message(wire.encode(), sender=sender)
    assert msg.encode() == canonical.encode()


def test_reply_finality_and_ok() -> None:
    assert Ok(request_id="r").ok and Ok(request_id="r").is_final
    assert not Failure(request_id="r", reason="x").ok
    assert not ProxyResponse(request_id="r", sip=SIP_RESP).is_final
    generic = GenericReply(request_id="r", status="OK", data=[""] * 8 + ["continue"], sip="x")
    assert not generic.is_final
    assert GenericReply(request_id="r", status="NOK").ok is False


def test_lazy_parse_strict_for_server_lenient_for_app() -> None:
    skeleton = "SIP/2.0 180 Ringing\r\ncseq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
    app = AppSip(transaction_id="t", sip=skeleton)
    assert app.message.status == 180  # type: ignore[union-attr]
    assert app.message is app.message  # cached
    server = ServerSip(transaction_id="t", sip=skeleton)
    with pytest.raises(RemoteProtocolError, match="Via"):
        server.message  # noqa: B018
    with pytest.raises(RemoteProtocolError):
        AppSip(sip="garbage").message  # noqa: B018
    with pytest.raises(RemoteProtocolError, match="exceeds"):
        parse_sip("SIP/2.0 200 OK\r\nContent-Length: 10\r\n\r\nabc", strict=False)
    with pytest.raises(RemoteProtocolError, match="without a SIP part"):
        Proxy(transaction_id="t").message  # noqa: B018
    with pytest.raises(RemoteProtocolError, match="without a SIP part"):
        GenericReply(request_id="r", status="OK").message  # noqa: B018


def test_invalid_utf8_survives_byte_for_byte() -> None:
    wire = b"i|sip||\r\nMESSAGE sip:a@b SIP/2.0\r\nContent-Length: 2\r\n\r\n\xff\xfe"
    msg = decode_message(wire, sender=Role.APP)
    assert msg.encode() == wire
    assert msg.message.body == b"\xff\xfe"  # type: ignore[attr-defined]
