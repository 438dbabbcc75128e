"""DrachtioConnection: the handshake, pending requests by id, EOF and error states."""

from __future__ import annotations

import itertools

import pytest

from trio_srf.drachtio import (
    AppSip,
    Authenticate,
    AuthOk,
    CdrAttempt,
    ConnectionClosed,
    ConnectionState,
    DrachtioConnection,
    DrachtioProtocolError,
    Failure,
    Ok,
    Ping,
    Pong,
    Proxy,
    ProxyDone,
    ProxyResponse,
    Role,
    Route,
    ServerSip,
    encode_frame,
)
from trio_srf.errors import LocalProtocolError

SIP = "SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"


def pair() -> tuple[DrachtioConnection, DrachtioConnection]:
    counter = itertools.count(1)
    app = DrachtioConnection(Role.APP, id_factory=lambda: f"app-{next(counter)}")
    server = DrachtioConnection(Role.SERVER)
    return app, server


def deliver(data: bytes, to: DrachtioConnection) -> object:
    to.receive_data(data)
    event = to.next_event()
    assert to.next_event() is None
    return event


def handshake(app: DrachtioConnection, server: DrachtioConnection) -> None:
    auth = Authenticate(msg_id=app.new_id(), secret="cymru", tags=("t1",))
    assert deliver(app.send(auth), server) == auth
    assert server.state is ConnectionState.AUTHENTICATING
    ok = AuthOk(request_id=auth.msg_id, hostports=("udp/127.0.0.1:5060",), version="v0.9.10")
    assert deliver(server.send(ok), app) == ok
    assert app.state is server.state is ConnectionState.READY


def test_defaults_follow_the_roles() -> None:
    app, server = pair()
    assert (app.our_role, app.their_role) == (Role.APP, Role.SERVER)
    assert (app.max_frame_size, app.max_send_size) == (1_048_576, 99_999)
    assert (server.max_frame_size, server.max_send_size) == (99_999, 1_048_576)
    assert app.new_id() == "app-1"


def test_full_exchange_tracks_pending_by_id() -> None:
    app, server = pair()
    handshake(app, server)
    route = Route(msg_id=app.new_id(), verb="invite")
    ping = Ping(msg_id=app.new_id())
    wire = app.send(route) + app.send(ping)
    assert set(app.pending) == {route.msg_id, ping.msg_id}
    server.receive_data(wire)
    assert [server.next_event(), server.next_event(), server.next_event()] == [route, ping, None]
    assert set(server.pending) == {route.msg_id, ping.msg_id}
    # Replies in any order.
    pong = Pong(msg_id="s-1", request_id=ping.msg_id)
    assert deliver(server.send(pong), app) == pong
    assert set(app.pending) == {route.msg_id}
    deliver(server.send(Ok(request_id=route.msg_id)), app)
    assert dict(app.pending) == dict(server.pending) == {}


def test_proxy_continue_keeps_the_request_pending() -> None:
    app, server = pair()
    handshake(app, server)
    proxy = Proxy(msg_id=app.new_id(), transaction_id="t", destinations=("sip:a",))
    deliver(app.send(proxy), server)
    for _ in range(2):
        deliver(server.send(ProxyResponse(request_id=proxy.msg_id, sip=SIP)), app)
        assert set(app.pending) == set(server.pending) == {proxy.msg_id}
    deliver(server.send(ProxyDone(request_id=proxy.msg_id)), app)
    assert dict(app.pending) == dict(server.pending) == {}


def test_server_messages_flow_after_ready() -> None:
    app, server = pair()
    with pytest.raises(LocalProtocolError, match="while new"):
        server.send(ServerSip(transaction_id="t", sip=SIP))
    handshake(app, server)
    sip = ServerSip(transaction_id="t", sip=SIP)
    cdr = CdrAttempt(sip=SIP)
    assert deliver(server.send(sip), app) == sip
    assert deliver(server.send(cdr), app) == cdr
    answer = AppSip(msg_id=app.new_id(), transaction_id="t", sip=SIP)
    assert deliver(app.send(answer), server) == answer


def test_rejected_secret() -> None:
    app, server = pair()
    auth = Authenticate(msg_id="a1", secret="wrong")
    deliver(app.send(auth), server)
    no = Failure(request_id="a1", status="NO", reason="incorrect secret")
    assert deliver(server.send(no), app) == no
    assert app.state is server.state is ConnectionState.REJECTED
    with pytest.raises(LocalProtocolError, match="rejected"):
        app.send(Route(verb="invite"))
    with pytest.raises(LocalProtocolError, match="rejected"):
        server.send(ServerSip(transaction_id="t", sip=SIP))


def test_app_must_authenticate_first_and_once() -> None:
    app, _ = pair()
    with pytest.raises(LocalProtocolError, match="first message must be authenticate"):
        app.send(Route(verb="invite"))
    assert app.state is ConnectionState.NEW
    app.send(Authenticate(msg_id="a1", secret="s"))
    with pytest.raises(LocalProtocolError, match="authenticating"):
        app.send(Route(verb="invite"))  # §15.1: wait for the OK
    handshake_app_only(app)
    with pytest.raises(LocalProtocolError, match="already sent"):
        app.send(Authenticate(secret="s"))


def handshake_app_only(app: DrachtioConnection) -> None:
    app.receive_data(encode_frame(AuthOk(request_id="a1").encode()))
    assert isinstance(app.next_event(), AuthOk)


def test_server_refuses_commands_before_authenticate() -> None:
    _, server = pair()
    server.receive_data(encode_frame(Route(msg_id="r1", verb="invite").encode()))
    with pytest.raises(DrachtioProtocolError, match="before authenticate") as info:
        server.next_event()
    assert info.value.msg_id == "r1"
    assert server.state is ConnectionState.ERROR
    with pytest.raises(DrachtioProtocolError) as again:
        server.next_event()
    assert again.value is info.value
    with pytest.raises(LocalProtocolError, match="protocol error"):
        server.send(Ok(request_id="r1"))


def test_server_refuses_pipelined_commands_during_authentication() -> None:
    _, server = pair()
    server.receive_data(
        encode_frame(Authenticate(msg_id="a", secret="s").encode())
        + encode_frame(Route(msg_id="r", verb="invite").encode())
    )
    assert isinstance(server.next_event(), Authenticate)
    with pytest.raises(DrachtioProtocolError, match="authenticating"):
        server.next_event()


def test_reply_to_unknown_id_is_an_error_both_ways() -> None:
    app, server = pair()
    handshake(app, server)
    with pytest.raises(LocalProtocolError, match="no pending message"):
        server.send(Ok(request_id="nope"))
    app.receive_data(encode_frame(Ok(msg_id="x", request_id="nope").encode()))
    with pytest.raises(DrachtioProtocolError, match="unknown message id 'nope'"):
        app.next_event()


def test_reused_ids_are_refused() -> None:
    app, server = pair()
    handshake(app, server)
    app.send(Route(msg_id="dup", verb="invite"))
    with pytest.raises(LocalProtocolError, match="already pending"):
        app.send(Ping(msg_id="dup"))
    wire = encode_frame(Ping(msg_id="dup").encode())
    server.receive_data(wire + wire)
    assert isinstance(server.next_event(), Ping)
    with pytest.raises(DrachtioProtocolError, match="reused"):
        server.next_event()


def test_wrong_direction_and_size_limits_are_local_errors() -> None:
    app, server = pair()
    with pytest.raises(LocalProtocolError, match="sent by the server"):
        app.send(Ok(request_id="x"))
    with pytest.raises(LocalProtocolError, match="sent by the app"):
        server.send(Ping())
    small = DrachtioConnection(Role.APP, max_send_size=40)
    with pytest.raises(LocalProtocolError, match="exceeds the limit of 40"):
        small.send(Authenticate(msg_id="a" * 30, secret="s"))
    assert small.state is ConnectionState.NEW
    assert dict(small.pending) == {}


def test_server_before_ready_from_the_app_side() -> None:
    app, _ = pair()
    app.send(Authenticate(msg_id="a1", secret="s"))
    app.receive_data(encode_frame(ServerSip(msg_id="s", transaction_id="t", sip=SIP).encode()))
    with pytest.raises(DrachtioProtocolError, match="authenticating"):
        app.next_event()


def test_eof_between_and_inside_frames() -> None:
    app, server = pair()
    server.receive_data(b"")
    assert server.their_eof
    assert server.next_event() == ConnectionClosed()
    assert server.next_event() == ConnectionClosed()
    with pytest.raises(LocalProtocolError):
        server.receive_data(b"1#")
    app.send(Authenticate(msg_id="a1", secret="s"))
    app.receive_data(encode_frame(AuthOk(request_id="a1").encode())[:-3])
    assert app.next_event() is None
    app.receive_data(b"")
    with pytest.raises(DrachtioProtocolError, match="stream ended"):
        app.next_event()


def test_oversized_frame_from_an_app() -> None:
    _, server = pair()
    server.receive_data(b"100000#")
    with pytest.raises(DrachtioProtocolError, match="longer than 5 digits"):
        server.next_event()
