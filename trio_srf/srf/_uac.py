"""create_uac and srf.request: requests we originate, with digest retry and CANCEL.

Rules this module keeps:

* The INVITE is ours to build (RFC 3261 §8.1.1): From with a fresh tag
  (``calling_number`` as the user), To = the target, a fresh Call-ID, CSeq 1;
  the agent adds Via, Max-Forwards, Contact and resolves the next hop.
  Headers the app gives replace ours (a From without tag gets one).
* A 401/407 is answered once when credentials are given (drachtio-srf P1):
  same Call-ID, From tag and body, CSeq + 1, new branch, and an
  (Proxy-)Authorization built by :class:`~trio_srf.sip.DigestClient`.
* Provisional responses go to ``on_provisional`` in order; a 2xx confirms
  the dialog and is ACKed at once (§13.2.2.4); any other final status raises
  :class:`~trio_srf.errors.SipError` carrying the response.
* Cancellation is CANCEL (ARCHITECTURE §5). If the awaiting task is cancelled
  while the INVITE is pending, a CANCEL goes out in a shielded scope and we
  wait up to ``cancel_timeout`` for the final response; a 2xx that raced the
  CANCEL is ACKed and hung up with BYE (§9.1, §15), then ``Cancelled`` goes on.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import trio

from ..agent import ClientTransactionHandle
from ..errors import AgentLost, LocalProtocolError, ProtocolError, SipError
from ..sip import DigestClient, Request, Response, new_call_id, new_tag, parse_challenge
from ._dialog import Dialog, Party
from ._response import HeadersArg, apply_headers, as_body, content_type_for

if TYPE_CHECKING:
    from ._srf import Srf

__all__ = ["AuthArg", "build_request", "normalise_uri", "send_with_auth", "uac_connect"]

#: ``(username, password)`` or ``async def auth(request, response) -> (username, password)``.
AuthArg = (
    tuple[str, str]
    | Callable[[Request, Response], Awaitable[tuple[str, str]] | tuple[str, str]]
    | None
)
#: ``async def on_provisional(response)``.
ProvisionalHandler = Callable[[Response], Awaitable[None]]


def normalise_uri(uri: str, called_number: str | None = None) -> str:
    """drachtio-srf F2: add ``sip:`` when missing; a bare host gets ``called_number@``."""
    text = uri.strip()
    if text.startswith("<") and text.endswith(">"):
        text = text[1:-1]
    if not text.lower().startswith(("sip:", "sips:", "tel:")):
        text = f"sip:{text}"
    if called_number and "@" not in text and not text.lower().startswith("tel:"):
        scheme, rest = text.split(":", 1)
        text = f"{scheme}:{called_number}@{rest}"
    return text


def build_request(
    srf: Srf,
    method: str,
    uri: str,
    *,
    headers: HeadersArg | None = None,
    body: bytes | str | None = None,
    calling_number: str | None = None,
    calling_name: str | None = None,
) -> Request:
    """A new out-of-dialog request (§8.1.1) with From/To/Call-ID/CSeq filled in."""
    contact = srf.agent.contact_uri("udp")
    host = contact.split(":", 1)[1].split(";", 1)[0]
    user = calling_number or "anonymous"
    display = f'"{calling_name}" ' if calling_name else ""
    payload = as_body(body)
    request = Request(
        method,
        uri,
        [
            ("From", f"{display}<sip:{user}@{host}>;tag={new_tag()}"),
            ("To", f"<{uri}>"),
            ("Call-ID", new_call_id()),
            ("CSeq", f"1 {method}"),
        ],
        payload,
    )
    apply_headers(request.headers, headers)
    if request.from_.tag is None:
        request.headers.set("From", str(request.from_.with_tag(new_tag())))
    if payload and not request.headers.has("content-type"):
        ctype = content_type_for(payload)
        if ctype is not None:
            request.headers.add("Content-Type", ctype)
    return request


async def _credentials(auth: AuthArg, request: Request, response: Response) -> tuple[str, str]:
    assert auth is not None
    if isinstance(auth, tuple):
        return auth
    result = auth(request, response)
    if inspect.isawaitable(result):
        return await result
    return result


async def _authorized_retry(auth: AuthArg, request: Request, response: Response) -> Request | None:
    """The retry for a 401/407 (drachtio-srf P3), or ``None`` if it cannot be answered."""
    header = "www-authenticate" if response.status == 401 else "proxy-authenticate"
    value = response.get(header)
    if value is None:
        return None
    try:
        challenge = parse_challenge(value)
        username, password = await _credentials(auth, request, response)
        client = DigestClient(username, password)
        if not client.update(challenge):
            return None
        creds = client.authorize(request.method, request.uri, request.body)
    except ProtocolError:
        return None
    if creds is None:
        return None
    retry = Request(request.method, request.uri, request.headers.copy(), request.body)
    retry.headers.remove("via")
    retry.headers.set("CSeq", f"{request.cseq.seq + 1} {request.method}")
    name = "Authorization" if response.status == 401 else "Proxy-Authorization"
    retry.headers.set(name, str(creds))
    return retry


async def send_with_auth(
    srf: Srf,
    request: Request,
    *,
    auth: AuthArg = None,
    proxy: str | None = None,
    on_provisional: ProvisionalHandler | None = None,
    on_handle: Callable[[ClientTransactionHandle | None], None] | None = None,
) -> tuple[ClientTransactionHandle, Response]:
    """Send ``request``; retry once with digest credentials; return (handle, final)."""
    agent = srf.agent
    retried = False
    while True:
        handle = await agent.request(request, next_hop=proxy)
        if on_handle is not None:
            on_handle(handle)
        final: Response | None = None
        async for response in handle:
            if response.status < 200:
                if on_provisional is not None and response.status > 100:
                    await on_provisional(response)
                continue
            final = response
        assert final is not None
        if final.status in (401, 407) and auth is not None and not retried:
            retry = await _authorized_retry(auth, request, final)
            if retry is not None:
                retried = True
                request = retry
                continue
        return handle, final


async def _cancel_and_clean(srf: Srf, handle: ClientTransactionHandle | None) -> None:
    """Shielded: CANCEL a pending INVITE; ACK + BYE a 2xx that raced it."""
    if handle is None:
        return
    with trio.CancelScope(shield=True) as scope:
        scope.deadline = trio.current_time() + srf.cancel_timeout
        handle.cancel()
        with contextlib.suppress(SipError, AgentLost, LocalProtocolError):
            async for response in handle:
                if response.is_success:
                    did = srf.agent.dialog_id_for(response, uac=True)
                    if did is not None:
                        await srf.agent.ack(did)
                        bye = await srf.agent.request_in_dialog(did, "BYE")
                        await bye.final()


async def uac_connect(
    srf: Srf,
    uri: str,
    *,
    local_sdp: str | bytes | None = None,
    headers: HeadersArg | None = None,
    auth: AuthArg = None,
    proxy: str | None = None,
    on_provisional: ProvisionalHandler | None = None,
    calling_number: str | None = None,
    calling_name: str | None = None,
    called_number: str | None = None,
    handlers: dict[str, Callable[..., Awaitable[None]]] | None = None,
) -> Dialog:
    """Place a call and return the confirmed (registered, unentered) dialog."""
    target = normalise_uri(uri, called_number)
    request = build_request(
        srf,
        "INVITE",
        target,
        headers=headers,
        body=local_sdp,
        calling_number=calling_number,
        calling_name=calling_name,
    )
    current: list[ClientTransactionHandle | None] = [None]

    def remember(handle: ClientTransactionHandle | None) -> None:
        current[0] = handle

    try:
        handle, final = await send_with_auth(
            srf,
            request,
            auth=auth,
            proxy=proxy,
            on_provisional=on_provisional,
            on_handle=remember,
        )
    except trio.Cancelled:
        await _cancel_and_clean(srf, current[0])
        raise
    if not final.is_success:
        raise SipError(final.status, final.reason, final)
    did = srf.agent.dialog_id_for(final, uac=True)
    if did is None:
        raise SipError(500, "No dialog for the 2xx (missing Contact?)", final)
    sent = handle.request
    dialog = Dialog(
        srf,
        did,
        type="uac",
        call_id=final.call_id,
        # Made on first access (Dialog.local/remote): the tags were parsed by dialog_id_for,
        # the Contacts need parsing and most calls never look at them.
        local=lambda: Party(
            _contact_of(sent) or "",
            sent.from_.tag or "",
            as_body(local_sdp).decode("utf-8", "replace"),
        ),
        remote=lambda: Party(
            _contact_of(final) or target,
            final.to.tag or "",
            final.body.decode("utf-8", "replace"),
        ),
        request=sent,
        response=final,
        handlers=handlers,
    )
    srf._register(dialog)
    try:
        await srf.agent.ack(did)
    except BaseException:
        with trio.CancelScope(shield=True):
            await dialog.destroy()
        raise
    return dialog


def _contact_of(message: Request | Response) -> str | None:
    try:
        for contact in message.contact:
            if contact.uri is not None:
                return str(contact.uri)
    except ProtocolError:
        return None
    return None
