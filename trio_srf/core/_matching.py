"""Transaction keys: which transaction a message belongs to (RFC 3261 §17.1.3, §17.2.3).

Rules this module keeps:

* Client side (§17.1.3): a response matches the client transaction whose
  request had the same top-Via ``branch`` and the same CSeq method. The
  method matters because a CANCEL carries its INVITE's branch.
* Server side (§17.2.3), RFC 3261 peers (branch starts with ``z9hG4bK``):
  branch + sent-by + method, where an ACK looks for its INVITE and a CANCEL
  has its own key (a separate lookup with method INVITE finds what it
  cancels, §9.2).
* Server side, RFC 2543 peers (no magic cookie): the Request-URI, To tag,
  From tag, Call-ID, CSeq number and top Via must all be equal; an ACK
  matches the INVITE whose *response* carried the ACK's To tag, so the stack
  tries the key with the ACK's tag and then the tagless key (checking the
  transaction's tag); a CANCEL ignores the To tag (§9.2).
* Top-Via equality for the 2543 key ignores ``received`` and ``rport``
  (we add those ourselves on receipt, §18.2.1) and compares sent-by
  case-insensitively.
* Merged requests (§8.2.2.2): an out-of-dialog request (no To tag) with the
  From tag, Call-ID and CSeq of a live server transaction that it does not
  match arrived by another path and is answered 482.

All keys are plain tuples, so lookups are one dict access.
"""

from __future__ import annotations

from ..sip import MAGIC_COOKIE, Request, Response, Via

__all__ = [
    "ClientKey",
    "ServerKey",
    "ack_server_keys",
    "cancel_target_keys",
    "client_key",
    "merge_key",
    "response_key",
    "server_key",
]

ClientKey = tuple[str, str]
ServerKey = tuple[object, ...]


def client_key(branch: str, method: str) -> ClientKey:
    """The key of a client transaction that sent ``method`` with ``branch`` (§17.1.3)."""
    return (branch, method)


def response_key(response: Response) -> ClientKey | None:
    """The client key a response matches, or ``None`` when its top Via has no branch."""
    branch = response.top_via.branch
    if branch is None:
        return None
    return (branch, response.cseq.method)


def _via_identity(via: Via) -> tuple[object, ...]:
    params = tuple(
        sorted(
            (name.lower(), value)
            for name, value in via.params
            if name.lower() not in ("received", "rport")
        )
    )
    return (via.transport, via.sent_by.lower(), params)


def is_rfc3261_branch(branch: str | None) -> bool:
    """Whether ``branch`` carries the RFC 3261 magic cookie (§8.1.1.7)."""
    return branch is not None and branch.startswith(MAGIC_COOKIE)


def _key_2543(request: Request, method: str, to_tag: str | None) -> ServerKey:
    cseq = request.cseq
    return (
        "2543",
        method,
        request.uri,
        to_tag,
        request.from_.tag,
        request.call_id,
        cseq.seq,
        _via_identity(request.top_via),
    )


def server_key(request: Request) -> ServerKey:
    """The server-transaction key of ``request`` (§17.2.3).

    For an ACK this is the key of the INVITE it acknowledges (for RFC 2543
    peers, of a re-INVITE carrying the same To tag; see :func:`ack_server_keys`).
    """
    via = request.top_via
    branch = via.branch
    method = "INVITE" if request.method == "ACK" else request.method
    if branch is not None and branch.startswith(MAGIC_COOKIE):
        return ("3261", branch, via.sent_by.lower(), method)
    return _key_2543(request, method, request.to.tag)


def ack_server_keys(request: Request) -> list[tuple[ServerKey, bool]]:
    """Keys an ACK may match, each with "the To tag must be checked" (§17.2.3).

    RFC 3261 peers: the INVITE's key. RFC 2543 peers: the key with the ACK's
    To tag (a re-INVITE), then the tagless key of an initial INVITE, whose
    transaction's own To tag must then equal the ACK's.
    """
    key = server_key(request)
    if key[0] == "3261":
        return [(key, False)]
    return [(key, False), (_key_2543(request, "INVITE", None), True)]


def cancel_target_keys(request: Request) -> list[ServerKey]:
    """Keys of the INVITE a CANCEL targets (§9.2: as §17.2.3, To tag not compared)."""
    via = request.top_via
    branch = via.branch
    if branch is not None and branch.startswith(MAGIC_COOKIE):
        return [("3261", branch, via.sent_by.lower(), "INVITE")]
    keys = [_key_2543(request, "INVITE", None)]
    tag = request.to.tag
    if tag is not None:
        keys.append(_key_2543(request, "INVITE", tag))
    return keys


def merge_key(request: Request) -> tuple[object, ...] | None:
    """The §8.2.2.2 merge key of an out-of-dialog request, else ``None``.

    ACK and CANCEL never merge (they belong to an existing transaction).
    """
    if request.method in ("ACK", "CANCEL") or request.to.tag is not None:
        return None
    cseq = request.cseq
    return (request.from_.tag, request.call_id, cseq.seq, cseq.method)
