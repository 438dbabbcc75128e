"""create_b2bua: bridge an incoming INVITE (leg A) to a new outgoing call (leg B).

Rules this module keeps (drachtio-srf G1-G14, with Trio scoping):

* B is tried at each URI in turn (and at 3xx Contacts with
  ``follow_redirects``, at most 4 hops). B's provisional responses above 100
  are relayed to A while A is unanswered (``pass_provisional``), with their
  SDP: that is early media. B's final failure is relayed to A
  (``pass_failure``) and raised as :class:`~trio_srf.errors.SipError`.
* A is answered 200 with B's SDP (or ``local_sdp_a``) only once B answered;
  if answering A fails or is cancelled, B is hung up.
* A CANCEL from A cancels the handler (Srf does that), which cancels the
  pending B INVITE, which sends CANCEL to B: no glue code.
* One cancel scope covers both legs: a BYE on either ends the block; leaving
  the block hangs up whichever leg still lives.
* ``proxy_request_headers`` / ``proxy_response_headers`` name headers copied
  A->B / B->A; ``["all", "-X-Foo"]`` copies all but the listed ones. Headers
  that belong to one hop (Via, From, To, Call-ID, CSeq, Contact, Route,
  Record-Route, Max-Forwards, Content-*) are never copied.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import trio

from ..errors import SipError
from ..sip import COMPACT_FORMS, Response as SipResponse, SipMessage
from ._dialog import Dialog, leave_scope
from ._request import Request
from ._response import HeadersArg, Response, header_pairs
from ._uac import AuthArg, uac_connect
from ._uas import uas_answer

if TYPE_CHECKING:
    from ._srf import Srf

__all__ = ["B2buaContext", "copy_headers"]

_NEVER = frozenset(
    {
        "via",
        "from",
        "to",
        "call-id",
        "cseq",
        "contact",
        "route",
        "record-route",
        "max-forwards",
        "content-length",
        "content-type",
        "content-encoding",
        "content-disposition",
        "authorization",
        "proxy-authorization",
        "www-authenticate",
        "proxy-authenticate",
        "server",
        "user-agent",
    }
)


def _key(name: str) -> str:
    low = name.lower()
    return COMPACT_FORMS.get(low, low) if len(low) == 1 else low


def copy_headers(message: SipMessage, spec: Sequence[str]) -> list[tuple[str, str]]:
    """Headers of ``message`` selected by ``spec`` (names, or ``"all"`` and ``"-Name"``)."""
    if not spec:
        return []
    wanted = {_key(s) for s in spec if not s.startswith("-")}
    excluded = {_key(s[1:]) for s in spec if s.startswith("-")}
    every = "all" in wanted
    out = []
    for name, value in message.headers.items():
        key = _key(name)
        if key in _NEVER or key in excluded:
            continue
        if every or key in wanted:
            out.append((name, value))
    return out


def _redirect_targets(response: SipResponse | None) -> list[str]:
    if response is None:
        return []
    return [str(c.uri) for c in response.contact if c.uri is not None]


async def b2bua_connect(
    srf: Srf,
    req: Request,
    res: Response,
    uri: str | Sequence[str],
    *,
    local_sdp_a: str | bytes | None = None,
    local_sdp_b: str | bytes | None = None,
    headers: HeadersArg | None = None,
    response_headers: HeadersArg | None = None,
    proxy_request_headers: Sequence[str] = (),
    proxy_response_headers: Sequence[str] = (),
    pass_failure: bool = True,
    pass_provisional: bool = True,
    follow_redirects: bool = False,
    auth: AuthArg = None,
    proxy: str | None = None,
    calling_number: str | None = None,
    on_provisional: Callable[[SipResponse], Awaitable[None]] | None = None,
    handlers_a: dict[str, Callable[..., Awaitable[None]]] | None = None,
    handlers_b: dict[str, Callable[..., Awaitable[None]]] | None = None,
) -> tuple[Dialog, Dialog]:
    """Connect B, then answer A; return ``(uas, uac)`` registered but not entered."""
    queue = [uri] if isinstance(uri, str) else list(uri)
    if not queue:
        raise ValueError("create_b2bua needs at least one URI")
    b_headers = [*copy_headers(req.msg, proxy_request_headers), *header_pairs(headers)]

    async def relay(response: SipResponse) -> None:
        if on_provisional is not None:
            await on_provisional(response)
        if not pass_provisional or res.final_sent or response.status <= 100:
            return
        pairs = copy_headers(response, proxy_response_headers)
        ctype = response.get("content-type")
        if response.body and ctype:
            pairs.append(("Content-Type", ctype))
        await res.send(response.status, response.reason, headers=pairs, body=response.body or None)

    error: SipError | None = None
    redirects = 0
    uac: Dialog | None = None
    while queue:
        target = queue.pop(0)
        try:
            uac = await uac_connect(
                srf,
                target,
                local_sdp=req.msg.body if local_sdp_b is None else local_sdp_b,
                headers=b_headers,
                auth=auth,
                proxy=proxy,
                on_provisional=relay,
                calling_number=calling_number or req.calling_number,
                calling_name=req.calling_name,
                handlers=handlers_b,
            )
            break
        except SipError as exc:
            error = exc
            if follow_redirects and 300 <= exc.status < 400 and redirects < 4:
                redirects += 1
                queue[:0] = _redirect_targets(exc.response)
    if uac is None:
        assert error is not None
        if pass_failure and not res.final_sent:
            pairs = copy_headers(error.response, proxy_response_headers) if error.response else []
            await res.send(error.status, error.reason or None, headers=pairs)
        raise error
    try:
        a_headers = [
            *copy_headers(uac.res, proxy_response_headers),
            *header_pairs(response_headers),
        ]
        uas = await uas_answer(
            srf,
            req,
            res,
            local_sdp=uac._remote_sdp() if local_sdp_a is None else local_sdp_a,
            headers=a_headers,
            handlers=handlers_a,
        )
    except BaseException:
        with trio.CancelScope(shield=True) as scope:
            scope.deadline = trio.current_time() + srf.teardown_timeout
            await uac.destroy()
        raise
    uas.other, uac.other = uac, uas
    return uas, uac


class B2buaContext:
    """``async with srf.create_b2bua(req, res, uri) as (uas, uac):``."""

    def __init__(self, srf: Srf, req: Request, res: Response, uri: Any, **kwargs: Any) -> None:
        self._args = (srf, req, res, uri)
        self._kwargs = kwargs
        self._legs: list[Dialog] = []
        self._scope = trio.CancelScope()

    async def __aenter__(self) -> tuple[Dialog, Dialog]:
        uas, uac = await b2bua_connect(*self._args, **self._kwargs)
        self._legs = [uas, uac]
        uas._enter_scope(self._scope)
        uac._scopes.append(self._scope)
        if uac.termination is not None:
            self._scope.cancel()
        return uas, uac

    async def __aexit__(self, etype: Any, exc: BaseException | None, tb: Any) -> bool:
        return await leave_scope(self._scope, self._legs, etype, exc, tb)
