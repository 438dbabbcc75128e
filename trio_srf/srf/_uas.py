"""create_uas: answer an incoming INVITE and hold the dialog as a scope.

Rules this module keeps:

* ``__aenter__`` sends the 2xx (with the local SDP) and returns once the ACK
  arrived (ARCHITECTURE §6 step 5; drachtio-srf resolves on the 200, which
  leaves apps racing the ACK). No ACK within 64*T1: the agent sends BYE and
  ``__aenter__`` raises :class:`~trio_srf.errors.DialogError`.
* If the caller CANCELs before the 2xx went out, the handler's scope is
  cancelled by Srf and so is ``__aenter__``: there is nothing to undo.
* Leaving the block hangs up (BYE, shielded and bounded); a remote BYE ends
  the block normally with ``dialog.termination`` set.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import trio

from ..errors import DialogError, ProtocolError
from ._dialog import Dialog, Party, leave_scope
from ._request import Request
from ._response import HeadersArg, Response, as_body, header_pairs

if TYPE_CHECKING:
    from ._srf import Srf

__all__ = ["UasContext", "uas_answer"]


def _contact(message: Any) -> str:
    """The first Contact URI, or empty (called lazily, so it must not raise)."""
    try:
        for contact in message.contact:
            if contact.uri is not None:
                return str(contact.uri)
    except ProtocolError:
        pass
    return ""


async def uas_answer(
    srf: Srf,
    req: Request,
    res: Response,
    *,
    local_sdp: str | bytes | None,
    headers: HeadersArg | None = None,
    handlers: dict[str, Callable[..., Awaitable[None]]] | None = None,
    status: int = 200,
) -> Dialog:
    """Send the 2xx, register the dialog and wait for the ACK."""
    if req.method != "INVITE":
        raise DialogError(f"create_uas needs an INVITE, not {req.method}")
    body = as_body(local_sdp)
    pairs = header_pairs(headers)
    if body and not any(n.lower() in ("content-type", "c") for n, _ in pairs):
        pairs.append(("Content-Type", "application/sdp"))
    sent = await res.send(status, headers=pairs, body=body)
    did = srf.agent.dialog_id_for(sent, uac=False)
    if did is None:
        raise DialogError("the agent made no dialog for the 2xx")
    msg = req.msg
    # The Parties are made on first access (Dialog.local/remote): the tags were parsed by
    # dialog_id_for, the Contacts need parsing and most calls never look at them.
    dialog = Dialog(
        srf,
        did,
        type="uas",
        call_id=msg.call_id,
        local=lambda: Party(_contact(sent), sent.to.tag or "", body.decode("utf-8", "replace")),
        remote=lambda: Party(_contact(msg), msg.from_.tag or "", req.text),
        request=msg,
        response=sent,
        handlers=handlers,
    )
    srf._register(dialog)
    try:
        await dialog.wait_acked()
    except BaseException:
        with trio.CancelScope(shield=True) as scope:
            scope.deadline = trio.current_time() + srf.teardown_timeout
            await dialog.destroy()
        raise
    return dialog


class UasContext:
    """``async with srf.create_uas(req, res, local_sdp=...) as dialog:``."""

    def __init__(self, srf: Srf, req: Request, res: Response, **kwargs: Any) -> None:
        self._srf = srf
        self._req = req
        self._res = res
        self._kwargs = kwargs
        self._dialog: Dialog | None = None
        self._scope = trio.CancelScope()

    async def __aenter__(self) -> Dialog:
        dialog = await uas_answer(self._srf, self._req, self._res, **self._kwargs)
        self._dialog = dialog
        dialog._enter_scope(self._scope)
        return dialog

    async def __aexit__(self, etype: Any, exc: BaseException | None, tb: Any) -> bool:
        assert self._dialog is not None
        return await leave_scope(self._scope, [self._dialog], etype, exc, tb)
