"""Hypothesis properties of the drachtio codec.

* ``decode(encode(m)) == m`` for generated messages of every type, and the
  frame survives any chunking of the byte stream.
* Random bytes, and valid streams cut short, give only a
  :class:`RemoteProtocolError` or a request for more data; never another
  exception, never a hang, and the decoder never buffers more than the
  frame limit allows.
"""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from trio_srf.drachtio import (
    AppSip,
    Authenticate,
    AuthOk,
    CdrAttempt,
    CdrStart,
    CdrStop,
    DrachtioConnection,
    Failure,
    FrameDecoder,
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
    encode_frame,
)
from trio_srf.errors import RemoteProtocolError

# Any text but the three characters a leader token cannot carry (§4).
token = st.text(
    st.characters(blacklist_characters="|\r\n", blacklist_categories=("Cs",)), max_size=12
)
nonempty = token.filter(bool)
tag = st.text(
    st.characters(blacklist_characters="|\r\n,", blacklist_categories=("Cs",)),
    min_size=1,
    max_size=8,
)
sip_text = st.text(max_size=200) | st.sampled_from(
    [
        "INVITE sip:a@b SIP/2.0\r\nContent-Length: 0\r\n\r\n",
        "SIP/2.0 200 OK\r\nContent-Length: 3\r\n\r\nv=0",
        "",
    ]
)
meta = st.builds(
    Meta, source=token, size=token, protocol=token, address=token, port=token, time=token
)
ids = {"msg_id": nonempty}

app_messages: st.SearchStrategy[Message] = st.one_of(
    st.builds(Authenticate, **ids, secret=token, tags=st.lists(tag, max_size=3).map(tuple)),
    st.builds(Route, **ids, verb=token),
    st.builds(RemoveRoute, **ids, verb=token),
    st.builds(Ping, **ids),
    st.builds(
        AppSip,
        **ids,
        transaction_id=token,
        dialog_id=token,
        route_uri=st.none() | token,
        sip=sip_text,
    ),
    st.builds(
        Proxy,
        **ids,
        transaction_id=token,
        remain_in_dialog=st.booleans(),
        full_response=st.booleans(),
        follow_redirects=st.booleans(),
        simultaneous=st.booleans(),
        provisional_timeout=token,
        final_timeout=token,
        destinations=st.lists(token, max_size=3).map(tuple),
        sip=st.none() | sip_text,
    ),
)

received = st.tuples(nonempty, token) | st.just(("", ""))
server_messages: st.SearchStrategy[Message] = st.one_of(
    st.builds(
        lambda mid, m, txn, dlg, recv, tok, sip: ServerSip(
            msg_id=mid,
            meta=m,
            transaction_id=txn,
            dialog_id=dlg,
            received_host=recv[0],
            received_port=recv[1],
            session_token=tok,
            sip=sip,
        ),
        nonempty,
        meta,
        token,
        token,
        received,
        token,
        sip_text,
    ),
    st.builds(CdrAttempt, **ids, source=token, time=token, sip=sip_text),
    st.builds(CdrStart, **ids, source=token, time=token, role=token, sip=sip_text),
    st.builds(CdrStop, **ids, source=token, time=token, reason=token, sip=sip_text),
    st.builds(Ok, **ids, request_id=token),
    st.builds(Pong, **ids, request_id=token),
    st.builds(ProxyDone, **ids, request_id=token),
    st.builds(
        AuthOk,
        **ids,
        request_id=token,
        hostports=st.lists(tag, max_size=3).map(tuple),
        version=token,
        local_hostports=st.lists(tag, max_size=3).map(tuple),
    ),
    st.builds(
        Failure,
        **ids,
        request_id=token,
        status=nonempty.filter(lambda s: s != "OK"),
        reason=token,
    ),
    st.builds(
        SipSent,
        **ids,
        request_id=token,
        meta=meta,
        transaction_id=token,
        dialog_id=st.none() | token,
        sip=sip_text,
    ),
    st.builds(
        ProxyResponse,
        **ids,
        request_id=token,
        meta=meta,
        transaction_id=token,
        dialog_id=token,
        sip=sip_text,
    ),
)


@given(app_messages)
def test_app_messages_round_trip(msg: Message) -> None:
    assert decode_message(msg.encode(), sender=Role.APP) == msg


@given(server_messages)
def test_server_messages_round_trip(msg: Message) -> None:
    assert decode_message(msg.encode(), sender=Role.SERVER) == msg


@given(
    request_id=token,
    status=token,
    data=st.lists(token, max_size=12).map(tuple),
    sip=st.none() | sip_text,
)
def test_any_reply_shape_re_encodes_exactly(
    request_id: str, status: str, data: tuple[str, ...], sip: str | None
) -> None:
    # A generic reply may decode as a more specific type, but the bytes stay.
    wire = GenericReply(msg_id="i", request_id=request_id, status=status, data=data, sip=sip)
    payload = wire.encode()
    assert decode_message(payload, sender=Role.SERVER).encode() == payload


@given(st.lists(app_messages, min_size=1, max_size=5), st.data())
def test_frames_survive_any_chunking(msgs: list[Message], data: st.DataObject) -> None:
    wire = b"".join(encode_frame(m.encode()) for m in msgs)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=8)))
    dec = FrameDecoder(1 << 20)
    got = []
    prev = 0
    for cut in [*cuts, len(wire)]:
        if cut > prev:
            dec.feed(wire[prev:cut])
        prev = max(prev, cut)
        while (frame := dec.next_frame()) is not None:
            got.append(decode_message(frame, sender=Role.APP))
    assert got == msgs


def _pump(conn: DrachtioConnection, chunks: list[bytes]) -> None:
    for chunk in chunks:
        conn.receive_data(chunk)
        # Bounded: each call consumes a frame or returns None; no loops forever.
        for _ in range(len(chunk) + 2):
            if conn.next_event() is None:
                break


@settings(max_examples=300)
@given(st.lists(st.binary(max_size=64), max_size=6), st.sampled_from([Role.APP, Role.SERVER]))
def test_random_bytes_only_raise_remote_protocol_error(chunks: list[bytes], role: Role) -> None:
    conn = DrachtioConnection(role, max_frame_size=1000)
    if role is Role.APP:
        conn.send(Authenticate(msg_id="a", secret="s"))
    try:
        _pump(conn, [c for c in chunks if c])
        conn.receive_data(b"")
        conn.next_event()
    except RemoteProtocolError:
        pass


@settings(max_examples=300)
@given(st.binary(max_size=300), st.integers(1, 500))
def test_decoder_never_buffers_past_its_limit(data: bytes, limit: int) -> None:
    dec = FrameDecoder(limit)
    for i in range(len(data)):
        try:
            dec.feed(data[i : i + 1])
            while (frame := dec.next_frame()) is not None:
                assert 0 < len(frame) <= limit
        except RemoteProtocolError:
            return
        # Waiting for more means: a prefix of at most len(str(limit)) digits,
        # or a payload that will fit.
        assert dec.buffered <= limit + len(str(limit)) + 1


@given(st.lists(app_messages, min_size=1, max_size=3), st.data())
def test_truncated_stream_raises_at_eof(msgs: list[Message], data: st.DataObject) -> None:
    wire = b"".join(encode_frame(m.encode()) for m in msgs)
    boundaries = set()
    pos = 0
    for m in msgs:
        pos += len(encode_frame(m.encode()))
        boundaries.add(pos)
    cut = data.draw(st.integers(1, len(wire) - 1).filter(lambda c: c not in boundaries))
    dec = FrameDecoder(1 << 20)
    dec.feed(wire[:cut])
    dec.feed(b"")
    raised = False
    try:
        while dec.next_frame() is not None:
            pass
    except RemoteProtocolError:
        raised = True
    assert raised
