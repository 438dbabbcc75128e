"""Dialog: an INVITE dialog the application holds, as a Trio cancel scope.

Rules this module keeps (ARCHITECTURE §5):

* A dialog is a scope. ``async with dialog:`` (or the ``create_*`` context
  managers, which do it for you) enters a :class:`trio.CancelScope` in the
  caller's task. A remote BYE, an ACK timeout, a 481/408 to an in-dialog
  request or the loss of the agent cancels that scope: the block ends
  normally and :attr:`Dialog.termination` says why. Leaving the block by any
  other route sends BYE in a shielded scope bounded by ``teardown_timeout``.
* One service task per dialog, in the Srf's dialog nursery, reads the
  dialog's notices in order. A BYE is answered at once (RFC 3261 §15.1.2);
  every other request gets its own task so a slow handler never delays a
  hang-up. Each request is answered exactly once: by the app's handler, by
  drachtio-srf's default (200; a re-INVITE gets 200 with the current local
  SDP; SUBSCRIBE 489; unknown methods 501), or 500 if a handler fails or
  returns without answering.
* Re-INVITE glare (RFC 3261 §14.2): an incoming re-INVITE while ours is
  pending is answered 491; one arriving while another incoming one is still
  being answered gets 500 with Retry-After. Our own re-INVITEs are serialised.
* ``events()`` is an observation stream of what already happened (answered
  requests, ACK, end); it is bounded and drops (counting) when nobody reads.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

import attrs
import trio

from ..agent import AckReceived, DialogEnded, IncomingRequest, Notice
from ..errors import AgentLost, DialogError, LocalProtocolError, SipError
from ..media import SessionDescription
from ..sip import Request as SipRequest, Response as SipResponse
from ._events import Acked, Destroyed, DialogEvent, InDialogRequest, Termination
from ._request import Request
from ._response import HeadersArg, Response, as_body, content_type_for, header_pairs

if TYPE_CHECKING:
    from ._srf import Srf

__all__ = ["Dialog", "DialogState", "Party"]

log = logging.getLogger("trio_srf.srf")

#: ``async def handler(req, res)`` for requests the app answers.
RequestHandler = Callable[[Request, Response], Awaitable[None]]

# In-dialog method -> event name (drachtio-srf's Dialog events).
_EVENT_OF = {
    "INVITE": "modify",
    "INFO": "info",
    "NOTIFY": "notify",
    "REFER": "refer",
    "UPDATE": "update",
    "MESSAGE": "message",
    "OPTIONS": "options",
    "SUBSCRIBE": "subscribe",
    "PUBLISH": "publish",
    "PRACK": "prack",
}
_EVENTS = frozenset({*_EVENT_OF.values(), "refresh", "ack", "destroy"})

_REASONS = {
    "bye": Termination.REMOTE_HANGUP,
    "ack_timeout": Termination.ACK_TIMEOUT,
    "481": Termination.REQUEST_FAILED,
    "408": Termination.REQUEST_FAILED,
    "rejected": Termination.REQUEST_FAILED,
    "session_expired": Termination.SESSION_EXPIRED,
    "agent_closed": Termination.AGENT_LOST,
    "agent_lost": Termination.AGENT_LOST,
}


class DialogState(enum.Enum):
    """Where a dialog is in its life (RFC 4235 names)."""

    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


@attrs.define
class Party:
    """One side of a dialog.

    Attributes:
        uri: The Contact URI (where in-dialog requests go / come from).
        tag: The From/To tag.
        sdp: The current session description (text; empty if none).
    """

    uri: str
    tag: str
    sdp: str = ""


def _party_or_factory(
    given: Party | Callable[[], Party],
) -> tuple[Party | None, Callable[[], Party] | None]:
    return (given, None) if isinstance(given, Party) else (None, given)


def _same_session(old: str, new: str) -> bool:
    """Whether ``new`` repeats ``old``'s o= session id and version (a refresh, RFC 3264 §8)."""
    if not new.strip():
        return True
    try:
        a, b = SessionDescription.parse(old).origin, SessionDescription.parse(new).origin
    except Exception:  # unparsable SDP is simply "not a refresh"
        return False
    return (a.sess_id, a.sess_version) == (b.sess_id, b.sess_version)


class _EventStream:
    """``async for event in dialog.events()``: ends when the dialog has ended."""

    def __init__(self, recv: trio.MemoryReceiveChannel[DialogEvent]) -> None:
        self._recv = recv

    def __aiter__(self) -> _EventStream:
        return self

    async def __anext__(self) -> DialogEvent:
        try:
            return await self._recv.receive()
        except trio.EndOfChannel:
            raise StopAsyncIteration from None


class Dialog:
    """A confirmed INVITE dialog (made by ``create_uas``/``create_uac``/``create_b2bua``).

    Attributes:
        id: The agent's dialog id (opaque).
        type: ``"uas"`` or ``"uac"``.
        call_id: The Call-ID.
        local: Our side (Contact URI, tag, current SDP).
        remote: The peer's side.
        state: Confirmed until it ends, then terminated.
        termination: Why it ended, or ``None`` while it lives.
        on_hold: Whether we put the call on hold with ``modify("hold")``.
        other: The other leg of a B2BUA pair, if any.
        req: The request that created the dialog (SIP message).
        res: The 2xx that confirmed it (SIP message).
        events_dropped: Events dropped because an ``events()`` reader lagged.
    """

    def __init__(
        self,
        srf: Srf,
        dialog_id: str,
        *,
        type: str,
        call_id: str,
        local: Party | Callable[[], Party],
        remote: Party | Callable[[], Party],
        request: SipRequest,
        response: SipResponse,
        handlers: dict[str, Callable[..., Awaitable[None]]] | None = None,
    ) -> None:
        self.srf = srf
        self.id = dialog_id
        self.type = type
        self.call_id = call_id
        # A callable makes the Party on first access: most dialogs never read the Contact
        # URIs, and parsing them is a good part of what setting a dialog up costs.
        self._local, self._make_local = _party_or_factory(local)
        self._remote, self._make_remote = _party_or_factory(remote)
        self.req = request
        self.res = response
        self.state = DialogState.CONFIRMED
        self.termination: Termination | None = None
        self.on_hold = False
        self.other: Dialog | None = None
        self.events_dropped = 0
        self._handlers: dict[str, Callable[..., Awaitable[None]]] = {}
        for name, fn in (handlers or {}).items():
            self.on(name, fn)
        # Typed by annotation: subscripting open_memory_channel costs a typing lookup per call.
        self._inbox_send: trio.MemorySendChannel[Notice]
        self._inbox: trio.MemoryReceiveChannel[Notice]
        self._inbox_send, self._inbox = trio.open_memory_channel(srf.dialog_queue)
        self._scopes: list[trio.CancelScope] = []
        self._subscribers: list[trio.MemorySendChannel[DialogEvent]] = []
        self._acked = trio.Event()
        self._done = trio.Event()
        self._settled = trio.Event()  # acked or ended: what wait_acked() waits for
        self._service_scope = trio.CancelScope()
        # The service task starts with the first notice that reaches the dialog's inbox
        # (Srf._start_service): a B2BUA's B leg, hung up by us, never needs one.
        self._service_started = False
        # Set while the notice that started the service task waits for it to run: that
        # notice is queued as surely as one in the inbox (an ACK must not overtake it).
        self._held_first = False
        self._reinvite_lock = trio.Lock()
        self._reinvite_pending = False
        self._incoming_reinvite = False

    def __repr__(self) -> str:
        return f"<Dialog {self.type} {self.id} {self.state.value}>"

    @property
    def local(self) -> Party:
        """Our side (Contact URI, tag, current SDP)."""
        if self._local is None:
            assert self._make_local is not None
            self._local, self._make_local = self._make_local(), None
        return self._local

    @local.setter
    def local(self, party: Party) -> None:
        self._local, self._make_local = party, None

    @property
    def remote(self) -> Party:
        """The peer's side (Contact URI, tag, current SDP)."""
        if self._remote is None:
            assert self._make_remote is not None
            self._remote, self._make_remote = self._make_remote(), None
        return self._remote

    @remote.setter
    def remote(self, party: Party) -> None:
        self._remote, self._make_remote = party, None

    def _remote_sdp(self) -> str:
        """``remote.sdp`` without making the Party (a B2BUA needs only B's SDP for A)."""
        if self._remote is None:  # what the factories of _uac/_uas would put there
            message = self.res if self.type == "uac" else self.req
            return message.body.decode("utf-8", "replace")
        return self._remote.sdp

    @property
    def connected(self) -> bool:
        """Whether the dialog still lives."""
        return self.termination is None

    # -- handlers and events ---------------------------------------------------------

    def on(self, event: str, handler: Callable[..., Awaitable[None]]) -> None:
        """Set the handler for ``event``.

        Request events (``modify``, ``info``, ``notify``, ``refer``, ``update``,
        ``message``, ``options``, ``subscribe``, ``publish``) take ``(req, res)``
        and must answer with ``res.send``; ``refresh`` and ``ack`` take the SIP
        request; ``destroy`` takes a :class:`Destroyed` event.

        Raises:
            ValueError: unknown event name.
        """
        name = event.lower()
        if name not in _EVENTS:
            raise ValueError(f"unknown dialog event {event!r}")
        self._handlers[name] = handler

    def events(self) -> AsyncIterator[DialogEvent]:
        """Iterate over this dialog's events from now on; ends when the dialog ends."""
        send, recv = trio.open_memory_channel[DialogEvent](64)
        if self.termination is not None and self._done.is_set():
            send.close()
        else:
            self._subscribers.append(send)
        return _EventStream(recv)

    def _emit(self, event: DialogEvent) -> None:
        for chan in self._subscribers:
            try:
                chan.send_nowait(event)
            except trio.WouldBlock:
                self.events_dropped += 1
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass

    # -- scope -------------------------------------------------------------------------

    async def __aenter__(self) -> Dialog:
        self._enter_scope(trio.CancelScope())
        return self

    async def __aexit__(self, etype: Any, exc: BaseException | None, tb: Any) -> bool:
        return await leave_scope(self._scopes[-1], [self], etype, exc, tb)

    def _enter_scope(self, scope: trio.CancelScope) -> None:
        scope.__enter__()
        self._scopes.append(scope)
        if self.termination is not None:
            scope.cancel()

    def _cancel_scopes(self) -> None:
        for scope in self._scopes:
            scope.cancel()

    # -- requests we send ------------------------------------------------------------

    async def destroy(self, *, headers: HeadersArg | None = None) -> None:
        """Hang up: send BYE (e.g. with ``headers={"Reason": "Q.850;cause=16"}``).

        Does nothing if the dialog already ended. The dialog's block ends at its
        next checkpoint.
        """
        if self.termination is not None:
            return
        self.termination = Termination.LOCAL_HANGUP
        agent = self.srf.agent
        try:
            handle = await agent.request_in_dialog(self.id, "BYE", headers=header_pairs(headers))
            await handle.final()
        except (SipError, LocalProtocolError, AgentLost) as exc:
            log.debug("BYE on %s: %r", self.id, exc)
        finally:
            self._service_scope.cancel()
            self._cancel_scopes()
            if not self._service_started:
                # No notice ever needed the service task: the dialog ends here, as the
                # task would have ended it once cancelled (no handler to await).
                self._service_started = True
                await self._finish(None)

    async def request(
        self,
        method: str,
        *,
        headers: HeadersArg | None = None,
        body: bytes | str | None = None,
    ) -> SipResponse:
        """Send an in-dialog request (INFO, NOTIFY, REFER, OPTIONS, MESSAGE, UPDATE...).

        Returns:
            The final response (whatever its status).

        Raises:
            DialogError: the dialog has ended.
        """
        method = method.upper()
        if method == "BYE":
            await self.destroy(headers=headers)
            raise DialogError("use destroy() to hang up")  # pragma: no cover
        if method in ("INVITE", "ACK", "CANCEL"):
            raise LocalProtocolError(f"send {method} with modify()")
        if self.termination is not None:
            raise DialogError(f"dialog {self.id} has ended")
        payload = as_body(body)
        pairs = header_pairs(headers)
        ctype = content_type_for(payload)
        if payload and ctype and not any(n.lower() in ("content-type", "c") for n, _ in pairs):
            pairs.append(("Content-Type", ctype))
        try:
            handle = await self.srf.agent.request_in_dialog(
                self.id, method, headers=pairs, body=payload
            )
        except LocalProtocolError as exc:
            raise DialogError(str(exc)) from exc
        return await handle.final()

    async def modify(self, sdp: str | bytes, *, headers: HeadersArg | None = None) -> str:
        """Send a re-INVITE with a new local SDP, or ``"hold"`` / ``"unhold"``.

        Returns:
            The peer's SDP from the 2xx.

        Raises:
            SipError: the re-INVITE failed (491 on glare: retry later, §14.1).
            DialogError: the dialog has ended.
        """
        if self.termination is not None:
            raise DialogError(f"dialog {self.id} has ended")
        async with self._reinvite_lock:
            hold = None
            if sdp == "hold":
                offer = SessionDescription.parse(self.local.sdp).hold().serialize()
                hold = True
            elif sdp == "unhold":
                if not self.on_hold:
                    raise LocalProtocolError("the call is not on hold")
                offer = SessionDescription.parse(self.local.sdp).unhold().serialize()
                hold = False
            else:
                offer = as_body(sdp)
            pairs = [("Content-Type", "application/sdp"), *header_pairs(headers)]
            self._reinvite_pending = True
            try:
                handle = await self.srf.agent.request_in_dialog(
                    self.id, "INVITE", headers=pairs, body=offer
                )
                response = await handle.final()
            except LocalProtocolError as exc:
                raise DialogError(str(exc)) from exc
            finally:
                self._reinvite_pending = False
            if not response.is_success:
                raise SipError(response.status, response.reason, response)
            await self.srf.agent.ack(self.id)
            self.local.sdp = offer.decode("utf-8", "replace")
            if response.body:
                self.remote.sdp = response.body.decode("utf-8", "replace")
            if hold is not None:
                self.on_hold = hold
            return self.remote.sdp

    # -- waiting ---------------------------------------------------------------------

    async def wait_acked(self) -> None:
        """Wait until the ACK for our 2xx arrived (UAS side).

        Raises:
            DialogError: the dialog ended first (e.g. ACK timeout).
        """
        await self._settled.wait()
        if not self._acked.is_set():
            why = self.termination.value if self.termination else "unknown"
            raise DialogError(f"dialog {self.id} ended before the ACK ({why})")

    async def wait_ended(self) -> Termination:
        """Wait until the dialog has ended; return why."""
        await self._done.wait()
        assert self.termination is not None
        return self.termination

    # -- service task ----------------------------------------------------------------

    async def _service(self, first: Notice | None = None) -> None:
        """Serve the inbox until the dialog ends; ``first`` is the notice that started us."""
        ended_by: Destroyed | None = None
        self._held_first = False
        try:
            with self._service_scope:
                # Most dialogs only ever see an ACK and a BYE, which need no task of their
                # own: the nursery for request handlers is opened on the first one needed.
                ended, ended_by, pending = await self._serve(None, first)
                if not ended:
                    async with trio.open_nursery() as nursery:
                        _, ended_by, _ = await self._serve(nursery, pending)
                        nursery.cancel_scope.cancel()
        finally:
            if self.termination is None:
                self.termination = Termination.AGENT_LOST
                ended_by = Destroyed(self.termination)
            await self._finish(ended_by)

    async def _serve(
        self, nursery: trio.Nursery | None, pending: Notice | None
    ) -> tuple[bool, Destroyed | None, Notice | None]:
        """Handle the inbox in order, starting with ``pending``.

        Returns ``(True, ended_by, None)`` once the dialog ended (or the inbox closed),
        or ``(False, None, notice)`` for the first notice that needs a task while
        ``nursery`` is ``None``.
        """
        if pending is not None:
            if nursery is None and self._needs_task(pending):
                return False, None, pending
            ended, ended_by = await self._handle(pending, nursery)
            if ended:
                return True, ended_by, None
        async for notice in self._inbox:
            if nursery is None and self._needs_task(notice):
                return False, None, notice
            ended, ended_by = await self._handle(notice, nursery)
            if ended:
                return True, ended_by, None
        return True, None, None

    def _needs_task(self, notice: Notice) -> bool:
        if isinstance(notice, IncomingRequest):
            return notice.request.method != "BYE"
        return isinstance(notice, AckReceived) and "ack" in self._handlers

    async def _handle(
        self, notice: Notice, nursery: trio.Nursery | None
    ) -> tuple[bool, Destroyed | None]:
        """One notice; ``(True, ended_by)`` when it ended the dialog."""
        if isinstance(notice, IncomingRequest):
            if notice.request.method == "BYE":
                return True, await self._on_bye(notice)
            assert nursery is not None
            nursery.start_soon(self._on_request, notice)
        elif isinstance(notice, AckReceived):
            self._on_ack(notice, nursery)
        elif isinstance(notice, DialogEnded):
            ended_by = None
            if self.termination is None:
                self.termination = _REASONS.get(notice.reason, Termination.REQUEST_FAILED)
                ended_by = Destroyed(self.termination)
            return True, ended_by
        return False, None

    async def _finish(self, ended_by: Destroyed | None) -> None:
        self.state = DialogState.TERMINATED
        self.srf._unregister(self)
        self._cancel_scopes()
        event = ended_by or Destroyed(self.termination or Termination.LOCAL_HANGUP)
        self._emit(event)
        for chan in self._subscribers:
            chan.close()
        self._subscribers.clear()
        self._done.set()
        self._settled.set()
        handler = self._handlers.get("destroy")
        if handler is not None and ended_by is not None:
            try:
                await handler(event)
            except Exception:
                log.exception("on_destroy handler of %s failed", self.id)

    async def _on_bye(self, notice: IncomingRequest) -> Destroyed:
        if self.termination is None:
            self.termination = Termination.REMOTE_HANGUP
        req = Request(notice)
        res = Response(req, self.srf.agent)
        with contextlib.suppress(LocalProtocolError, AgentLost):
            await res.send(200)
        return Destroyed(Termination.REMOTE_HANGUP, notice.request)

    def _ack_inline(self, notice: AckReceived) -> bool:
        """Take an ACK straight from the dispatcher when that keeps the order.

        The ACK needs no task unless the app has an ``ack`` handler; with the inbox
        empty nothing it could overtake is queued, so the service task's round trip
        (a channel hop and a wake-up per call) is skipped.
        """
        if (
            "ack" in self._handlers
            or self._held_first
            or self._inbox_send.statistics().current_buffer_used
        ):
            return False
        self._on_ack(notice, None)
        return True

    def _on_ack(self, notice: AckReceived, nursery: trio.Nursery | None) -> None:
        if notice.request.body:
            self.remote.sdp = notice.request.body.decode("utf-8", "replace")
        self._acked.set()
        self._settled.set()
        if self._subscribers:
            self._emit(Acked(notice.request))
        handler = self._handlers.get("ack")
        if handler is not None:
            assert nursery is not None
            nursery.start_soon(self._call_quietly, handler, notice.request)

    async def _call_quietly(self, handler: Callable[..., Awaitable[None]], *args: Any) -> None:
        try:
            await handler(*args)
        except Exception:
            log.exception("dialog %s handler failed", self.id)

    async def _on_request(self, notice: IncomingRequest) -> None:
        req = Request(notice)
        res = Response(req, self.srf.agent)
        method = req.method
        kind = _EVENT_OF.get(method, method.lower())
        try:
            if method == "INVITE":
                kind = await self._on_reinvite(req, res)
            else:
                handler = self._handlers.get(kind)
                if handler is not None:
                    await handler(req, res)
                elif method == "SUBSCRIBE":
                    await res.send(489)  # RFC 6665 §4.2.1.1: no such event package here
                elif method == "UPDATE":
                    if req.body:
                        self.remote.sdp = req.text
                        await res.send(200, body=self.local.sdp or None)
                    else:
                        await res.send(200)
                elif method in _EVENT_OF:
                    await res.send(200)
                else:
                    await res.send(501)
        except Exception:
            log.exception("in-dialog %s handler on %s failed", method, self.id)
        finally:
            if not res.final_sent:
                with (
                    trio.CancelScope(shield=True),
                    contextlib.suppress(LocalProtocolError, AgentLost),
                ):
                    await res.send(500)
        self._emit(InDialogRequest(kind, req.msg, res.last))

    async def _on_reinvite(self, req: Request, res: Response) -> str:
        if self._reinvite_pending:
            await res.send(491)  # §14.2: glare with our own re-INVITE
            return "modify"
        if self._incoming_reinvite:
            await res.send(500, headers=[("Retry-After", str(random.randint(0, 10)))])
            return "modify"
        self._incoming_reinvite = True
        try:
            offer = req.text
            kind = "refresh" if _same_session(self.remote.sdp, offer) else "modify"
            handler = self._handlers.get(kind)
            if kind == "refresh" and handler is not None:
                await handler(req.msg)
                handler = None
            if kind == "modify" and handler is not None:
                await handler(req, res)
            elif not res.final_sent:
                await res.send(200, body=self.local.sdp or None)
            sent = res.last
            if sent is not None and sent.is_success:
                if offer.strip():
                    self.remote.sdp = offer
                if sent.body:
                    self.local.sdp = sent.body.decode("utf-8", "replace")
            return kind
        finally:
            self._incoming_reinvite = False


async def leave_scope(
    scope: trio.CancelScope,
    dialogs: Iterable[Dialog],
    etype: Any,
    exc: BaseException | None,
    tb: Any,
) -> bool:
    """Leave a dialog block: hang up what still lives (shielded, bounded), exit the scope."""
    legs = list(dialogs)
    try:
        # A leg that already ended (remote BYE, the usual case) needs no await at all, and
        # a single live leg is hung up here: a nursery only when two legs must be in parallel.
        live = [leg for leg in legs if not leg._done.is_set()]
        if live:
            with trio.CancelScope(shield=True) as shield:
                shield.deadline = trio.current_time() + live[0].srf.teardown_timeout
                if len(live) == 1:
                    await _teardown(live[0])
                else:
                    async with trio.open_nursery() as nursery:
                        for leg in live:
                            nursery.start_soon(_teardown, leg)
    finally:
        for leg in legs:
            with contextlib.suppress(ValueError):
                leg._scopes.remove(scope)
    return scope.__exit__(etype, exc, tb)


async def _teardown(dialog: Dialog) -> None:
    if dialog.termination is None:
        await dialog.destroy()  # a dialog without a service task is done when it returns
    if not dialog._done.is_set():
        await dialog._done.wait()
