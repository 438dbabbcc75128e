"""Decoding payload bytes into typed drachtio messages (spec §5, §6, §13).

Rules kept:

* The type token alone does not say the direction (``sip`` goes both ways),
  so decoding takes the sender's :class:`~trio_srf.drachtio.Role`.
* Lenient where the peers are: missing trailing tokens default to empty and
  extra trailing tokens are ignored (such input re-encodes canonically); a
  message type unknown for its sender, too few tokens for its type, or a
  missing or unexpected SIP part is a
  :class:`~trio_srf.drachtio.DrachtioProtocolError` whose ``reply_reason`` is
  what drachtio-server would answer (§13).
* For every canonical value ``decode(encode(m)) == m``, and for every shape
  the real ends emit ``encode(decode(p)) == p``.
"""

from __future__ import annotations

from ._messages import (
    AppSip,
    Authenticate,
    CdrAttempt,
    CdrStart,
    CdrStop,
    Message,
    Meta,
    Ping,
    Proxy,
    RemoveRoute,
    Route,
    ServerSip,
)
from ._replies import (
    MSG_SENT,
    AuthOk,
    Failure,
    GenericReply,
    Ok,
    Pong,
    ProxyDone,
    ProxyResponse,
    Reply,
    SipSent,
)
from ._wire import DrachtioProtocolError, Role, split_payload

__all__ = ["decode_message"]


def _err(msg: str, tokens: list[str], reason: str = "Invalid message format") -> Exception:
    return DrachtioProtocolError(msg, msg_id=tokens[0], reply_reason=reason)


def _need(tokens: list[str], n: int, what: str, reason: str = "Invalid message format") -> None:
    if len(tokens) < n:
        raise _err(f"{what} message has {len(tokens)} tokens, needs at least {n}", tokens, reason)


def _at(tokens: list[str], i: int) -> str:
    return tokens[i] if i < len(tokens) else ""


def _require_sip(tokens: list[str], sip: str | None) -> str:
    if sip is None:
        raise _err(f"{tokens[1]} message without a SIP part", tokens)
    return sip


def _no_sip(tokens: list[str], sip: str | None) -> None:
    if sip is not None:
        raise _err(f"{tokens[1]} message carries an unexpected SIP part", tokens)


def _decode_app(tokens: list[str], sip: str | None) -> Message:
    kind, mid = tokens[1], tokens[0]
    if kind == "authenticate":
        _need(tokens, 3, kind)
        _no_sip(tokens, sip)
        return Authenticate(msg_id=mid, secret=tokens[2], tags=_at(tokens, 3).split(","))
    if kind in ("route", "remove_route"):
        _need(tokens, 3, kind)
        _no_sip(tokens, sip)
        cls = Route if kind == "route" else RemoveRoute
        return cls(msg_id=mid, verb=tokens[2])
    if kind == "ping":
        _no_sip(tokens, sip)
        return Ping(msg_id=mid)
    if kind == "sip":
        _need(tokens, 3, kind)
        return AppSip(
            msg_id=mid,
            transaction_id=tokens[2],
            dialog_id=_at(tokens, 3),
            route_uri=tokens[4] if len(tokens) > 4 else None,
            sip=_require_sip(tokens, sip),
        )
    if kind == "proxy":
        _need(tokens, 4, kind, "Invalid proxy request: not enough information provided")
        return Proxy(
            msg_id=mid,
            transaction_id=tokens[2],
            remain_in_dialog=tokens[3] == "remainInDialog",
            full_response=_at(tokens, 4) == "fullResponse",
            follow_redirects=_at(tokens, 5) == "followRedirects",
            simultaneous=_at(tokens, 6) == "simultaneous",
            provisional_timeout=_at(tokens, 7),
            final_timeout=_at(tokens, 8),
            destinations=tokens[9:],
            sip=sip,
        )
    raise _err(f"unknown app message type {kind[:40]!r}", tokens, "Unknown message type")


def _decode_reply(tokens: list[str], sip: str | None) -> Reply:
    _need(tokens, 4, "response")
    mid, rid, status, data = tokens[0], tokens[2], tokens[3], tokens[4:]
    n = len(data)
    if status == "OK":
        if sip is None:
            if n == 0:
                return Ok(msg_id=mid, request_id=rid)
            if data == ["pong"]:
                return Pong(msg_id=mid, request_id=rid)
            if data == ["done"]:
                return ProxyDone(msg_id=mid, request_id=rid)
            if n == 3:
                return AuthOk(
                    msg_id=mid,
                    request_id=rid,
                    hostports=data[0].split(","),
                    version=data[1],
                    local_hostports=data[2].split(","),
                )
        else:
            if n == 9 and data[7:] == [MSG_SENT, ""]:
                return SipSent(
                    msg_id=mid,
                    request_id=rid,
                    meta=Meta.from_tokens(data[:6]),
                    transaction_id=data[6],
                    sip=sip,
                )
            if n == 11 and data[8:] == ["", MSG_SENT, ""]:
                return SipSent(
                    msg_id=mid,
                    request_id=rid,
                    meta=Meta.from_tokens(data[:6]),
                    transaction_id=data[6],
                    dialog_id=data[7],
                    sip=sip,
                )
            if n == 9 and data[8] == "continue":
                return ProxyResponse(
                    msg_id=mid,
                    request_id=rid,
                    meta=Meta.from_tokens(data[:6]),
                    transaction_id=data[6],
                    dialog_id=data[7],
                    sip=sip,
                )
    elif status and n == 1 and sip is None:
        return Failure(msg_id=mid, request_id=rid, status=status, reason=data[0])
    return GenericReply(msg_id=mid, request_id=rid, status=status, data=data, sip=sip)


def _decode_server(tokens: list[str], sip: str | None) -> Message:
    kind, mid = tokens[1], tokens[0]
    if kind == "response":
        return _decode_reply(tokens, sip)
    if kind == "sip":
        _need(tokens, 10, kind)
        rest = tokens[10:]
        host = port = token = ""
        if len(rest) >= 2:
            host, port, token = rest[0], rest[1], _at(rest, 2)
        return ServerSip(
            msg_id=mid,
            meta=Meta.from_tokens(tokens[2:8]),
            transaction_id=tokens[8],
            dialog_id=tokens[9],
            received_host=host,
            received_port=port,
            session_token=token,
            sip=_require_sip(tokens, sip),
        )
    if kind == "cdr:attempt":
        _need(tokens, 4, kind)
        return CdrAttempt(
            msg_id=mid, source=tokens[2], time=tokens[3], sip=_require_sip(tokens, sip)
        )
    if kind == "cdr:start":
        _need(tokens, 5, kind)
        return CdrStart(
            msg_id=mid,
            source=tokens[2],
            time=tokens[3],
            role=tokens[4],
            sip=_require_sip(tokens, sip),
        )
    if kind == "cdr:stop":
        _need(tokens, 5, kind)
        return CdrStop(
            msg_id=mid,
            source=tokens[2],
            time=tokens[3],
            reason=tokens[4],
            sip=_require_sip(tokens, sip),
        )
    raise _err(f"unknown server message type {kind[:40]!r}", tokens, "Unknown message type")


def decode_message(payload: bytes, *, sender: Role) -> Message:
    """Decode one frame's payload into a typed message.

    Args:
        payload: The payload bytes (without the length prefix).
        sender: Who sent it; ``sip`` means different things each way.

    Returns:
        The message value.

    Raises:
        DrachtioProtocolError: a malformed leader, an unknown type for that
            sender, too few tokens, or a missing/unexpected SIP part.
    """
    tokens, sip = split_payload(payload)
    if sender is Role.APP:
        return _decode_app(tokens, sip)
    return _decode_server(tokens, sip)
