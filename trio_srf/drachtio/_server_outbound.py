"""Outbound-connection mode of ``trio-srf-server`` (spec §10): the server connects to the app.

drachtio-server can be configured with ``<request-handlers>``: for each *new*
incoming request of a method (or any method, ``*``) it opens a TCP/TLS
connection to an app, lets the app authenticate on it, delivers the request
there, and keeps that socket for everything the call does afterwards. This
module is that mode for :class:`~trio_srf.drachtio._server.DrachtioServer`.

Rules this module keeps:

* **Who decides** (§10 steps 1-3). A per-request :data:`RoutingRule` (our
  stand-in for drachtio's HTTP routing callback) is asked first; it answers
  with an :class:`OutboundTarget` (connect there), a :class:`TagTarget` (an
  already connected inbound app that authenticated with that tag and routed
  the method), an ``int`` (reject with that status), or ``None`` (no
  decision). Then the static handler for the method, then ``*``. With no
  decision at all the request takes the inbound path (routes, else 503).
* **Who speaks first** (§10 step 4, capture 12). The server connects and
  waits; the *app* sends ``authenticate|<secret>|<tags>``; the server checks
  the secret, answers ``OK|<hostports>|<version>|<hostports>`` and sends the
  pending request (``sip|network|...`` with recvHost/recvPort) right after it
  on the same socket. The app sends no ``route``.
* **Failures** (§13). Connect failure or timeout, no authenticate in time, a
  wrong secret, or no app for a tag: **480** to the caller. A rule that raises
  gives **500** (drachtio: bad routing JSON).
* **Who closes** (§10 step 6). The app ends the session by closing the socket
  (srf's ``endSession``); the server never closes a session it opened while
  the app keeps it. When it goes, the usual teardown runs: confirmed dialogs
  get BYE, unanswered requests 503, pending INVITEs CANCEL.
* A CANCEL that arrives while the app is being connected aborts the attempt
  (the engine already answered 200 and 487, §9.2).
* The dispatcher never waits: :meth:`OutboundRouter.claim` decides at once
  whether the request is ours and runs the rest in its own task.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import ssl
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

import attrs
import trio

from ..agent import IncomingRequest
from ..errors import AgentLost, ProtocolError
from ..sip import Request

if TYPE_CHECKING:
    from ._server import DrachtioServer, _App

__all__ = [
    "OutboundConfig",
    "OutboundRouter",
    "OutboundStatistics",
    "OutboundTarget",
    "RoutingRule",
    "TagTarget",
    "parse_outbound",
    "parse_target",
]

logger = logging.getLogger("trio_srf.drachtio.server")


@attrs.frozen
class OutboundTarget:
    """An app address the server connects to for a request (a ``tcp://``/``tls://`` handler).

    Attributes:
        host: The app's address.
        port: Its port (srf's ``listen({port})``).
        tls: Connect over TLS (drachtio: ``tls://`` or ``;transport=tls``).
    """

    host: str
    port: int
    tls: bool = False

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'tls' if self.tls else 'tcp'}://{host}:{self.port}"


@attrs.frozen
class TagTarget:
    """Route to an already connected inbound app that authenticated with ``tag`` (§10).

    Attributes:
        tag: One of the tags the app sent in ``authenticate``.
    """

    tag: str


#: What a routing rule answers: connect, pick by tag, reject with a status, or no decision.
Decision = OutboundTarget | TagTarget | int | None
#: ``rule(request) -> Decision`` (or an awaitable of it), asked for every new request.
RoutingRule = Callable[[Request], "Decision | Awaitable[Decision]"]


@attrs.frozen
class OutboundConfig:
    """Request handlers of outbound mode (drachtio-server's ``<request-handlers>``).

    Attributes:
        handlers: Lower-case method (or ``"*"``) -> where to connect.
        rule: Asked first for every new request (see :data:`RoutingRule`).
        connect_timeout: Seconds to open the connection (and TLS handshake).
        auth_timeout: Seconds the app has to authenticate once connected.
        tls: Client context for TLS targets; default: no peer verification,
            as drachtio-server does for outbound TLS.
    """

    handlers: dict[str, OutboundTarget] = attrs.field(factory=dict)
    rule: RoutingRule | None = None
    connect_timeout: float = 2.0
    auth_timeout: float = 5.0
    tls: ssl.SSLContext | None = None

    def static_target(self, method: str) -> OutboundTarget | None:
        """The handler for ``method``, else the ``*`` handler, else None."""
        return self.handlers.get(method.lower()) or self.handlers.get("*")


@attrs.frozen
class OutboundStatistics:
    """Counters of an :class:`OutboundRouter`.

    Attributes:
        connecting: Requests whose app is being connected right now.
        sessions: Outbound connections open now.
        delivered: Requests delivered over an outbound connection.
        by_tag: Requests delivered to an inbound app chosen by tag.
        rejected: Requests rejected (480, 500, or a status from the rule).
        cancelled: Requests cancelled while their app was being connected.
    """

    connecting: int
    sessions: int
    delivered: int
    by_tag: int
    rejected: int
    cancelled: int


def parse_target(text: str) -> OutboundTarget:
    """Parse ``host:port``, ``tcp://host:port``, ``tls://host:port`` or ``host:port;transport=tls``.

    Raises:
        ValueError: not one of those shapes.
    """
    rest = text.strip()
    tls = False
    scheme, sep, tail = rest.partition("://")
    if sep:
        if scheme.lower() not in ("tcp", "tls"):
            raise ValueError(f"unsupported scheme {scheme!r} in {text!r} (tcp:// or tls://)")
        tls = scheme.lower() == "tls"
        rest = tail
    rest, _, params = rest.partition(";")
    for param in filter(None, params.split(";")):
        name, _, value = param.partition("=")
        if name.strip().lower() != "transport" or value.strip().lower() not in ("tcp", "tls"):
            raise ValueError(f"unsupported parameter {param!r} in {text!r}")
        tls = tls or value.strip().lower() == "tls"
    rest = rest.rstrip("/")
    if rest.startswith("["):
        host, _, port_text = rest[1:].partition("]:")
    else:
        host, _, port_text = rest.rpartition(":")
    if not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"expected HOST:PORT in {text!r}")
    return OutboundTarget(host, int(port_text), tls)


def parse_outbound(specs: Iterable[str]) -> OutboundConfig:
    """Parse ``--outbound`` values: ``METHOD[,METHOD...]=TARGET``; ``*`` means any method.

    Raises:
        ValueError: a malformed spec, or a method given twice.
    """
    handlers: dict[str, OutboundTarget] = {}
    for spec in specs:
        methods, sep, target_text = spec.partition("=")
        if not sep:
            raise ValueError(f"expected METHOD=HOST:PORT, got {spec!r}")
        target = parse_target(target_text)
        for method in (m.strip().lower() for m in methods.split(",")):
            if not method or not (method == "*" or method.isalpha()):
                raise ValueError(f"bad method {method!r} in {spec!r}")
            if method in handlers:
                raise ValueError(f"method {method!r} given twice")
            handlers[method] = target
    return OutboundConfig(handlers=handlers)


def _client_tls() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class OutboundRouter:
    """Runs outbound mode for one :class:`~trio_srf.drachtio._server.DrachtioServer`.

    Created by the server when it serves with ``outbound=``; reach it as
    ``server.outbound``.

    Args:
        server: The server it belongs to.
        config: The handlers and timeouts.
        nursery: Where connection attempts and sessions run.
    """

    def __init__(
        self, server: DrachtioServer, config: OutboundConfig, nursery: trio.Nursery
    ) -> None:
        self.server = server
        self.config = config
        self._nursery = nursery
        self._connecting: dict[str, trio.CancelScope] = {}
        self._sessions: set[_App] = set()
        self._n = dict.fromkeys(("delivered", "by_tag", "rejected", "cancelled"), 0)

    def statistics(self) -> OutboundStatistics:
        """Current counters."""
        return OutboundStatistics(
            connecting=len(self._connecting),
            sessions=len(self._sessions),
            **self._n,
        )

    def claim(self, notice: IncomingRequest) -> bool:
        """Take ``notice`` (a new request) if outbound mode may handle it; never blocks."""
        request = notice.request
        if self.config.rule is None and self.config.static_target(request.method) is None:
            return False
        scope = trio.CancelScope()
        self._connecting[notice.server_txn] = scope
        self._nursery.start_soon(self._route, notice, scope)
        return True

    def cancelled(self, server_txn: str) -> None:
        """The caller CANCELled while its app was being connected: abort that attempt."""
        scope = self._connecting.pop(server_txn, None)
        if scope is not None:
            self._n["cancelled"] += 1
            scope.cancel()

    async def _decide(self, request: Request) -> Decision:
        rule = self.config.rule
        if rule is not None:
            answer: Any = rule(request)
            if inspect.isawaitable(answer):
                answer = await answer
            if answer is not None:
                if not isinstance(answer, OutboundTarget | TagTarget | int):
                    raise TypeError(f"routing rule answered {answer!r}")
                return answer
        return self.config.static_target(request.method)

    async def _route(self, notice: IncomingRequest, scope: trio.CancelScope) -> None:
        server = self.server
        request = notice.request
        try:
            with scope:
                try:
                    decision = await self._decide(request)
                except Exception:
                    logger.exception("outbound routing rule failed for %s", request.method)
                    decision = 500
                if decision is None:
                    self._connecting.pop(notice.server_txn, None)
                    await server._new_request_inbound(notice)
                    return
                if isinstance(decision, int):
                    await self._reject(notice, decision)
                elif isinstance(decision, TagTarget):
                    app = self._pick_tagged(request.method.lower(), decision.tag)
                    self._connecting.pop(notice.server_txn, None)
                    if app is None or not server._deliver_new(app, notice):
                        await self._reject(notice, 480)
                    else:
                        self._n["by_tag"] += 1
                else:
                    await self._connect_and_deliver(notice, decision)
        finally:
            self._connecting.pop(notice.server_txn, None)

    async def _reject(self, notice: IncomingRequest, status: int) -> None:
        self._n["rejected"] += 1
        response = notice.request.make_response(status)
        with contextlib.suppress(ProtocolError, AgentLost):
            await self.server.engine.respond(notice.server_txn, response)

    def _pick_tagged(self, verb: str, tag: str) -> _App | None:
        for app in self.server._routes.get(verb, ()):
            if not app.closed and tag in app.tags:
                return app
        return None

    async def _open(self, target: OutboundTarget) -> trio.abc.Stream | None:
        stream: trio.abc.Stream | None = None
        with trio.move_on_after(self.config.connect_timeout):
            try:
                tcp = await trio.open_tcp_stream(target.host, target.port)
            except OSError as err:
                logger.warning("outbound: cannot connect to %s: %s", target, err)
                return None
            with contextlib.suppress(OSError):
                tcp.setsockopt(trio.socket.IPPROTO_TCP, trio.socket.TCP_NODELAY, True)
            if not target.tls:
                return tcp
            context = self.config.tls or _client_tls()
            tls_stream = trio.SSLStream(tcp, context, server_hostname=target.host)
            try:
                await tls_stream.do_handshake()
            except (trio.BrokenResourceError, OSError) as err:
                logger.warning(
                    "outbound: TLS handshake with %s failed: %r", target, err.__cause__ or err
                )
                await trio.aclose_forcefully(tcp)
                return None
            stream = tls_stream
        if stream is None:
            logger.warning("outbound: connecting to %s timed out", target)
        return stream

    async def _connect_and_deliver(self, notice: IncomingRequest, target: OutboundTarget) -> None:
        server = self.server
        stream = await self._open(target)
        if stream is None:
            await self._reject(notice, 480)
            return
        app = server._new_app(str(target), outbound=True)
        self._sessions.add(app)
        ended = trio.Event()
        self._nursery.start_soon(self._session, app, stream, ended)
        try:
            # The app speaks first (capture 12); the server only answers.
            with trio.move_on_after(self.config.auth_timeout):
                await _first_of(app.authenticated, ended)
        except trio.Cancelled:
            app.kill()  # CANCEL while connecting: the engine already sent 487
            raise
        if not app.authenticated.is_set() or app.closed:
            logger.warning("outbound: app %s did not authenticate", target)
            app.kill()
            await self._reject(notice, 480)
            return
        self._connecting.pop(notice.server_txn, None)
        if not server._deliver_new(app, notice):
            app.kill()
            await self._reject(notice, 480)
            return
        self._n["delivered"] += 1

    async def _session(self, app: _App, stream: trio.abc.Stream, ended: trio.Event) -> None:
        try:
            await self.server._serve_app(app, stream)
        finally:
            self._sessions.discard(app)
            ended.set()


async def _first_of(*events: trio.Event) -> None:
    """Return as soon as one of ``events`` is set."""
    async with trio.open_nursery() as nursery:

        async def wait(event: trio.Event) -> None:
            await event.wait()
            nursery.cancel_scope.cancel()

        for event in events:
            nursery.start_soon(wait, event)
