"""Srf: middleware, routing, and the tasks an application runs in (ARCHITECTURE §5).

Rules this module keeps:

* Nothing runs unless :meth:`Srf.serve` runs. ``await nursery.start(srf.serve,
  agent)`` returns once the dispatcher is ready; after that ``create_uac``,
  ``request`` and friends work from any task. :func:`open_srf` opens an
  embedded engine and serves, so an application is one ``trio.run``.
* One dispatcher task reads the agent's ``incoming`` channel and never waits
  on application code: a new request starts a handler task in the handler
  nursery, a CANCEL notice cancels that handler's scope (the agent already
  answered 200/487, RFC 3261 §9.2), and in-dialog notices go to their
  dialog's bounded inbox (full: 500 with Retry-After, as the engine does).
* Srf routes in-dialog notices itself instead of attaching per-dialog agent
  channels, so ordering holds even when a notice overtakes the registration
  of its dialog (an ACK racing our 200 back): such notices wait as *orphans*
  for ``orphan_timeout`` and are then handed to the middleware chain, whose
  tail answers an in-dialog request nobody claims with 481 (§12.2.2).
* Every server transaction gets exactly one final response (reSIProcate's TU
  contract): a handler's ``Exception`` is logged and answered 500 (or the
  ``SipError`` status), a handler that returns without answering gets 500, a
  method nobody routed gets 405 with Allow. Cancellation propagates.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

import attrs
import trio

from ..agent import AckReceived, Agent, IncomingRequest, Notice, RequestCancelled
from ..engine import EngineConfig, open_engine
from ..errors import AgentLost, LocalProtocolError, SipError
from ..sip import Response as SipResponse
from ._b2bua import B2buaContext
from ._dialog import Dialog, leave_scope
from ._middleware import Layer, make_layer, run_chain
from ._request import Request
from ._response import HeadersArg, Response
from ._uac import (
    AuthArg,
    ProvisionalHandler,
    build_request,
    normalise_uri,
    send_with_auth,
    uac_connect as _uac_connect,
)
from ._uas import UasContext

__all__ = ["Srf", "SrfStatistics", "UacContext", "open_srf"]

log = logging.getLogger("trio_srf.srf")

F = TypeVar("F", bound=Callable[..., Awaitable[None]])


@attrs.frozen
class SrfStatistics:
    """Counters of a serving Srf.

    Attributes:
        requests: Out-of-dialog requests dispatched to the middleware chain.
        pending_requests: Requests whose handler is still running.
        dialogs: Live dialogs.
        orphans: In-dialog notices waiting for their dialog to register.
        handler_errors: Handler exceptions answered 500 (or their SipError status).
        unanswered: Handlers that returned without a final response (answered 500).
        dialog_overload_500: In-dialog requests answered 500 because the dialog's inbox was full.
    """

    requests: int
    pending_requests: int
    dialogs: int
    orphans: int
    handler_errors: int
    unanswered: int
    dialog_overload_500: int


class UacContext:
    """``async with srf.create_uac(uri, local_sdp=...) as dialog:``."""

    def __init__(self, srf: Srf, uri: str, kwargs: dict[str, Any]) -> None:
        self._srf = srf
        self._uri = uri
        self._kwargs = kwargs
        self._dialog: Dialog | None = None
        self._scope = trio.CancelScope()

    async def __aenter__(self) -> Dialog:
        dialog = await _uac_connect(self._srf, self._uri, **self._kwargs)
        self._dialog = dialog
        dialog._enter_scope(self._scope)
        return dialog

    async def __aexit__(self, etype: Any, exc: BaseException | None, tb: Any) -> bool:
        assert self._dialog is not None
        return await leave_scope(self._scope, [self._dialog], etype, exc, tb)


def _method_decorator(method: str) -> Callable[[Srf, F], F]:
    def register(self: Srf, fn: F) -> F:
        self.use(method, fn)
        return fn

    register.__name__ = method.lower()
    register.__doc__ = (
        f"Decorator: route {method} requests to ``fn`` (``(req, res)`` handler or "
        f"``(req, res, next)`` middleware); same as ``use({method.lower()!r}, fn)``."
    )
    return register


class Srf:
    """The application: middleware, routes, dialogs, and the calls it makes.

    Args:
        teardown_timeout: Bound, in seconds, on the BYE sent when a dialog block is left.
        cancel_timeout: How long a cancelled ``create_uac`` waits for the 487
            after its CANCEL (RFC 3261 §9.1; 64*T1 = 32 s by default).
        orphan_timeout: How long an in-dialog notice waits for its dialog to
            register before the middleware chain gets it.
        dialog_queue: Capacity of each dialog's inbox.

    Attributes:
        locals: Free-form application state (drachtio-srf's ``srf.locals``).
    """

    invite = _method_decorator("INVITE")
    register = _method_decorator("REGISTER")
    options = _method_decorator("OPTIONS")
    message = _method_decorator("MESSAGE")
    subscribe = _method_decorator("SUBSCRIBE")
    publish = _method_decorator("PUBLISH")
    info = _method_decorator("INFO")
    notify = _method_decorator("NOTIFY")
    refer = _method_decorator("REFER")
    update = _method_decorator("UPDATE")
    prack = _method_decorator("PRACK")
    bye = _method_decorator("BYE")

    def __init__(
        self,
        *,
        teardown_timeout: float = 5.0,
        cancel_timeout: float = 32.0,
        orphan_timeout: float = 0.5,
        dialog_queue: int = 64,
    ) -> None:
        self.teardown_timeout = teardown_timeout
        self.cancel_timeout = cancel_timeout
        self.orphan_timeout = orphan_timeout
        self.dialog_queue = dialog_queue
        self.locals: dict[str, Any] = {}
        self._layers: list[Layer] = []
        self._methods: set[str] = set()
        self._agent: Agent | None = None
        self._handler_nursery: trio.Nursery | None = None
        self._dialog_nursery: trio.Nursery | None = None
        self._pending: dict[str, tuple[Request, Response, trio.CancelScope]] = {}
        self._dialogs: dict[str, Dialog] = {}
        self._orphans: dict[str, list[tuple[float, Notice]]] = {}
        self._n = {
            "requests": 0,
            "handler_errors": 0,
            "unanswered": 0,
            "dialog_overload_500": 0,
        }

    # -- configuration ---------------------------------------------------------------

    def use(self, method_or_fn: Any, fn: Callable[..., Awaitable[None]] | None = None) -> Any:
        """Add middleware: ``use(mw)`` for every request, ``use("invite", mw)`` for one method.

        ``mw`` is ``async def mw(req, res, next)``, an error middleware
        ``async def mw(err, req, res, next)``, or a handler ``async def h(req, res)``.

        Returns ``mw``, so ``@srf.use`` works as a decorator.

        Raises:
            TypeError: ``mw`` has another shape.
        """
        if fn is None:
            self._layers.append(make_layer(None, method_or_fn))
            return method_or_fn
        method = str(method_or_fn).upper()
        self._layers.append(make_layer(method, fn))
        self._methods.add(method)
        return fn

    def on(self, method: str) -> Callable[[F], F]:
        """Decorator for any method: ``@srf.on("PUBLISH")``."""

        def register(fn: F) -> F:
            self.use(method, fn)
            return fn

        return register

    @property
    def methods(self) -> frozenset[str]:
        """The methods with a route (what 405 answers put in Allow)."""
        return frozenset(self._methods)

    @property
    def agent(self) -> Agent:
        """The agent being served.

        Raises:
            RuntimeError: :meth:`serve` is not running.
        """
        if self._agent is None:
            raise RuntimeError("Srf is not serving: start srf.serve(agent) or use open_srf()")
        return self._agent

    def find_dialog(self, dialog_id: str) -> Dialog | None:
        """The live dialog with this id (drachtio's ``findDialogById``)."""
        return self._dialogs.get(dialog_id)

    @property
    def dialogs(self) -> list[Dialog]:
        """Every live dialog."""
        return list(self._dialogs.values())

    def statistics(self) -> SrfStatistics:
        """Counters (see :class:`SrfStatistics`)."""
        return SrfStatistics(
            requests=self._n["requests"],
            pending_requests=len(self._pending),
            dialogs=len(self._dialogs),
            orphans=sum(len(v) for v in self._orphans.values()),
            handler_errors=self._n["handler_errors"],
            unanswered=self._n["unanswered"],
            dialog_overload_500=self._n["dialog_overload_500"],
        )

    # -- serving -----------------------------------------------------------------------

    async def serve(
        self, agent: Agent, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Dispatch ``agent``'s requests until cancelled or the agent closes.

        Cancelling it hangs up every dialog (BYE, bounded by ``teardown_timeout``).
        """
        if self._agent is not None:
            raise RuntimeError("this Srf is already serving")
        self._agent = agent
        try:
            async with trio.open_nursery() as dialogs:
                self._dialog_nursery = dialogs
                try:
                    async with trio.open_nursery() as handlers:
                        self._handler_nursery = handlers
                        handlers.start_soon(self._purge_orphans)
                        task_status.started()
                        async for notice in agent.incoming:
                            await self._dispatch(notice)
                        handlers.cancel_scope.cancel()
                    dialogs.cancel_scope.cancel()
                finally:
                    # Dialogs whose service task never started end with the others
                    # (cancelled at once: AGENT_LOST, as a running service would).
                    for dialog in list(self._dialogs.values()):
                        self._start_service(dialog)
        finally:
            self._agent = None
            self._handler_nursery = self._dialog_nursery = None

    async def _dispatch(self, notice: Notice) -> None:
        if isinstance(notice, RequestCancelled):
            entry = self._pending.get(notice.server_txn)
            if entry is not None:
                req, res, scope = entry
                req._cancelled = True
                res._mark_final()
                scope.cancel()
            return
        if isinstance(notice, IncomingRequest) and notice.dialog_id is None:
            self._start_handler(notice)
            return
        did = notice.dialog_id
        assert did is not None
        dialog = self._dialogs.get(did)
        if dialog is not None:
            if isinstance(notice, AckReceived) and dialog._ack_inline(notice):
                return
            await self._deliver(dialog, notice)
        elif isinstance(notice, IncomingRequest | AckReceived):
            self._orphans.setdefault(did, []).append((trio.current_time(), notice))
        # a DialogEnded for a dialog we do not hold (ended, or never ours): nothing to do

    async def _deliver(self, dialog: Dialog, notice: Notice) -> None:
        if not dialog._service_started and self._dialog_nursery is not None:
            # The inbox is empty (whatever reached it started the task): hand the
            # notice to the new task directly, saving its channel round trip.
            dialog._service_started = dialog._held_first = True
            self._dialog_nursery.start_soon(dialog._service, notice)
            return
        try:
            dialog._inbox_send.send_nowait(notice)
        except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
            if isinstance(notice, IncomingRequest):
                self._n["dialog_overload_500"] += 1
                response = notice.request.make_response(500, headers=[("Retry-After", "5")])
                with contextlib.suppress(LocalProtocolError, AgentLost):
                    await self.agent.respond(notice.server_txn, response)

    def _register(self, dialog: Dialog) -> None:
        if self._dialog_nursery is None:
            raise RuntimeError("Srf is not serving")
        self._dialogs[dialog.id] = dialog
        orphans = self._orphans.pop(dialog.id, None)
        if orphans:
            for _, notice in orphans:
                with contextlib.suppress(trio.WouldBlock):
                    dialog._inbox_send.send_nowait(notice)
            self._start_service(dialog)

    def _start_service(self, dialog: Dialog) -> None:
        """Start the dialog's service task unless it runs (or ran) already.

        Deferred until a notice needs it: most dialogs see only an ACK (taken inline)
        and a BYE, and one we hang up ourselves sees nothing, so it saves a task
        start and a wake-up per such dialog.
        """
        if dialog._service_started or self._dialog_nursery is None:
            return
        dialog._service_started = True
        self._dialog_nursery.start_soon(dialog._service)

    def _unregister(self, dialog: Dialog) -> None:
        if self._dialogs.get(dialog.id) is dialog:
            del self._dialogs[dialog.id]
        dialog._inbox_send.close()

    async def _purge_orphans(self) -> None:
        period = max(self.orphan_timeout / 2, 0.01)
        while True:
            await trio.sleep(period)
            limit = trio.current_time() - self.orphan_timeout
            for did in list(self._orphans):
                kept = []
                for stamp, notice in self._orphans[did]:
                    if stamp > limit:
                        kept.append((stamp, notice))
                    elif isinstance(notice, IncomingRequest):
                        self._start_handler(notice)
                if kept:
                    self._orphans[did] = kept
                else:
                    del self._orphans[did]

    # -- handlers ------------------------------------------------------------------------

    def _start_handler(self, notice: IncomingRequest) -> None:
        assert self._handler_nursery is not None
        req = Request(notice)
        res = Response(req, self.agent)
        scope = trio.CancelScope()
        self._pending[notice.server_txn] = (req, res, scope)
        self._n["requests"] += 1
        self._handler_nursery.start_soon(self._run_handler, req, res, scope)

    async def _run_handler(self, req: Request, res: Response, scope: trio.CancelScope) -> None:
        try:
            with scope:
                try:
                    await run_chain(self._layers, req, res, lambda err: self._tail(req, res, err))
                except Exception as exc:
                    await self._failed(req, res, exc)
                else:
                    if not res.final_sent:
                        self._n["unanswered"] += 1
                        log.warning(
                            "%s %s: handler returned without answering", req.method, req.uri
                        )
                        await self._answer(res, 500)
        finally:
            self._pending.pop(req.server_txn, None)
            if not res.final_sent:  # shutdown cancelled the handler
                with trio.CancelScope(shield=True) as shield:
                    shield.deadline = trio.current_time() + self.teardown_timeout
                    await self._answer(res, 503)

    async def _failed(self, req: Request, res: Response, exc: Exception) -> None:
        if isinstance(exc, SipError) and res.final_sent:
            log.info("%s %s: %s", req.method, req.uri, exc)
            return
        self._n["handler_errors"] += 1
        log.error("%s %s: handler failed", req.method, req.uri, exc_info=exc)
        status = exc.status if isinstance(exc, SipError) and exc.status >= 300 else 500
        await self._answer(res, status)

    async def _answer(self, res: Response, status: int, **kwargs: Any) -> None:
        if res.final_sent:
            return
        with contextlib.suppress(LocalProtocolError, AgentLost):
            await res.send(status, **kwargs)

    async def _tail(self, req: Request, res: Response, err: BaseException | None) -> None:
        """Past the last layer: errors -> 500/status; unrouted -> 405 with Allow."""
        if err is not None:
            if isinstance(err, Exception):
                await self._failed(req, res, err)
            return
        if res.final_sent:
            return
        method = req.method
        if req.dialog_id is not None:
            await self._answer(res, 481)  # §12.2.2: an in-dialog request nobody holds
        elif method == "PRACK":
            await self._answer(res, 200)
        elif method in self._methods:
            await self._answer(res, 404)
        else:
            allow = set(self._methods)
            if "INVITE" in allow:
                allow |= {"ACK", "BYE", "CANCEL"}
            await self._answer(res, 405, headers=[("Allow", ", ".join(sorted(allow)))])

    # -- creating dialogs and requests ------------------------------------------------------

    def create_uas(
        self,
        req: Request,
        res: Response,
        *,
        local_sdp: str | bytes | None = None,
        headers: HeadersArg | None = None,
        **handlers: Callable[..., Awaitable[None]],
    ) -> UasContext:
        """Answer an INVITE with 200; ``async with`` it to hold the dialog.

        ``__aenter__`` returns the :class:`Dialog` once the ACK arrived.
        Event handlers are keyword arguments named ``on_<event>`` (``on_modify``,
        ``on_info``, ``on_refresh``, ``on_notify``, ``on_refer``, ``on_update``,
        ``on_message``, ``on_options``, ``on_destroy``, ``on_ack``...).
        """
        return UasContext(
            self, req, res, local_sdp=local_sdp, headers=headers, handlers=_handlers(handlers)
        )

    def create_uac(
        self,
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
        **handlers: Callable[..., Awaitable[None]],
    ) -> UacContext:
        """Place a call; ``async with`` it to hold the dialog.

        ``__aenter__`` returns the :class:`Dialog` on 2xx (already ACKed) and
        raises :class:`~trio_srf.errors.SipError` on failure. Cancel the
        awaiting task (``trio.fail_after``) to CANCEL the call.
        """
        kwargs: dict[str, Any] = {
            "local_sdp": local_sdp,
            "headers": headers,
            "auth": auth,
            "proxy": proxy,
            "on_provisional": on_provisional,
            "calling_number": calling_number,
            "calling_name": calling_name,
            "called_number": called_number,
            "handlers": _handlers(handlers),
        }
        return UacContext(self, uri, kwargs)

    def create_b2bua(
        self,
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
        on_provisional: ProvisionalHandler | None = None,
        handlers_a: dict[str, Callable[..., Awaitable[None]]] | None = None,
        handlers_b: dict[str, Callable[..., Awaitable[None]]] | None = None,
    ) -> B2buaContext:
        """Bridge ``req`` to ``uri`` (or each URI in turn); ``async with`` yields ``(uas, uac)``.

        Raises (from ``__aenter__``) :class:`~trio_srf.errors.SipError` when B
        failed; A has then been answered with B's status if ``pass_failure``.
        """
        return B2buaContext(
            self,
            req,
            res,
            uri,
            local_sdp_a=local_sdp_a,
            local_sdp_b=local_sdp_b,
            headers=headers,
            response_headers=response_headers,
            proxy_request_headers=proxy_request_headers,
            proxy_response_headers=proxy_response_headers,
            pass_failure=pass_failure,
            pass_provisional=pass_provisional,
            follow_redirects=follow_redirects,
            auth=auth,
            proxy=proxy,
            calling_number=calling_number,
            on_provisional=on_provisional,
            handlers_a=_handlers(handlers_a or {}),
            handlers_b=_handlers(handlers_b or {}),
        )

    async def request(
        self,
        uri: str,
        *,
        method: str,
        headers: HeadersArg | None = None,
        body: bytes | str | None = None,
        auth: AuthArg = None,
        proxy: str | None = None,
        on_provisional: ProvisionalHandler | None = None,
    ) -> SipResponse:
        """Send an out-of-dialog request (OPTIONS, MESSAGE, REGISTER, ...); return the final.

        A non-2xx final is returned, not raised; 401/407 is retried once with ``auth``.

        Raises:
            RequestTimeout: no final response (Timer F).
            TransportFailure: the request could not be delivered.
        """
        method = method.upper()
        if method in ("INVITE", "ACK", "CANCEL", "BYE"):
            raise LocalProtocolError(f"use create_uac()/dialogs for {method}")
        request = build_request(self, method, normalise_uri(uri), headers=headers, body=body)
        _, final = await send_with_auth(
            self, request, auth=auth, proxy=proxy, on_provisional=on_provisional
        )
        return final

    async def proxy_request(self, req: Request, destinations: Any = None, **options: Any) -> Any:
        """Proxy ``req`` statefully (RFC 3261 §16); see :mod:`trio_srf.srf._proxy`.

        Raises:
            NotImplementedError: the proxy module is not installed.
        """
        try:
            module = importlib.import_module("trio_srf.srf._proxy")
        except ImportError as exc:
            raise NotImplementedError("proxy_request is not available") from exc
        return await module.proxy_request(self, req, destinations, **options)


def _handlers(given: dict[str, Callable[..., Awaitable[None]]]) -> dict[str, Any]:
    """``on_info=fn`` -> ``{"info": fn}``."""
    out = {}
    for key, fn in given.items():
        name = key[3:] if key.startswith("on_") else key
        out[name] = fn
    return out


@contextlib.asynccontextmanager
async def open_srf(
    srf: Srf | None = None,
    *,
    listen: Sequence[str] = ("sip:127.0.0.1:5060",),
    config: EngineConfig | None = None,
) -> AsyncIterator[Srf]:
    """Open an embedded engine and serve ``srf`` on it for the duration of the block.

    Args:
        srf: The application (a new empty :class:`Srf` if ``None``, for UAC scripts).
        listen: Listen specs, e.g. ``"sip:127.0.0.1:5060;transport=udp,tcp"``.
        config: Engine options.

    Yields:
        The serving Srf (its ``agent`` is the engine). Leaving the block hangs
        up every dialog, then closes the engine.
    """
    app = srf if srf is not None else Srf()
    try:
        async with open_engine(listen, config=config) as engine, trio.open_nursery() as nursery:
            await nursery.start(app.serve, engine)
            try:
                yield app
            finally:
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        if len(group.exceptions) == 1:
            raise group.exceptions[0] from None
        raise
