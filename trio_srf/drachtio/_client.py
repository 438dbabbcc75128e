"""The drachtio client: a Trio connection to a drachtio server behind the Agent boundary.

Shape (ARCHITECTURE §5)::

    open_drachtio(...)              agent nursery
    ├── link task                   per connection: reader (+ pinger once authenticated)
    └── supervisor                  waits for the link to go; reconnects with backoff
    serve_drachtio(...)             one such nursery per connection the server opens

Rules this module keeps (spec = ../shared/docs/drachtio-wire-protocol.md):

* **One reader per connection** turns frames into work without awaiting:
  replies resolve the waiter of the message id they quote (§6.2), server
  ``sip`` requests become :class:`~trio_srf.agent.IncomingRequest` notices on
  ``incoming`` or a dialog channel, responses go to the client transaction of
  their ``transactionId`` (§15.2), CDRs to the CDR channel. Anything that
  needs to *send* (a 503/500 overload answer, a CANCEL) runs in its own task:
  the reader must keep reading, since the send waits for a reply only the
  reader can deliver.
* **Ids map 1:1.** ``server_txn`` and client transaction ids are drachtio
  ``transactionId`` values, dialog ids are drachtio ``dialogId`` values
  (opaque, §8, §15.3).
* **The app speaks first** (``authenticate``, §6.1), waits for ``OK`` before
  ``route`` (§15.1), sends each route once per connection (§15.6) and again
  after a reconnect. Outbound connections (§10) send no routes.
* **The server owns SIP** (§1): no 100 Trying, no 487, no ACK for non-2xx
  (§15.4), never an answer to CANCEL or ``unsolicited`` (§15.5).
* **Losing the connection ends everything on it**: waiting commands raise
  :class:`~trio_srf.errors.AgentLost`, request handles yield it, every dialog
  known on the connection (and every attached one) gets
  ``DialogEnded(reason="agent_lost")``. Inbound agents then reconnect with
  capped exponential backoff (§12), over TLS again if the first connection
  was TLS (srf falls back to plain TCP there; we do not).
* **Writes are atomic.** One lock per connection orders frames; a frame is
  written under a shield bounded by ``write_timeout`` so a cancelled caller
  never leaves half a frame on the stream.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import attrs
import trio

from .._notices import deliver_notice
from ..agent import AckReceived, DialogEnded, IncomingRequest, Notice, RequestCancelled
from ..core import Flow
from ..core._events import ProxyOutcome
from ..errors import (
    AgentError,
    AgentLost,
    AuthenticationFailed,
    LocalProtocolError,
    ProtocolError,
    RemoteProtocolError,
    TransportFailure,
)
from ..sip import Request, Response, SipURI, parse_uri
from ..transport import Listening
from ._client_txn import (
    DrachtioClientTransaction,
    DrachtioStatistics,
    ReconnectPolicy,
    in_dialog_text,
    parse_hostports,
    skeleton,
    version_at_least,
)
from ._connection import ConnectionClosed, DrachtioConnection
from ._messages import AppSip, Authenticate, Cdr, Message, Ping, Proxy, Route, ServerSip
from ._replies import AuthOk, Failure, GenericReply, ProxyResponse, Reply, SipSent
from ._wire import Role

__all__ = [
    "CDR_VERBS",
    "DEFAULT_METHODS",
    "DrachtioAgent",
    "DrachtioClientTransaction",
    "DrachtioConfig",
    "DrachtioStatistics",
    "ReconnectPolicy",
    "open_drachtio",
    "serve_drachtio",
]

logger = logging.getLogger("trio_srf.drachtio")

#: Methods the server routes as new requests (§6.3); the default of ``methods``.
DEFAULT_METHODS = ("invite", "register", "options", "message", "info", "notify", "subscribe")
#: The route verbs of the three CDR kinds (§6.9).
CDR_VERBS = ("cdr:attempt", "cdr:start", "cdr:stop")

_DIALOG_METHODS = frozenset({"INVITE", "SUBSCRIBE"})
_STREAM_ERRORS = (OSError, trio.BrokenResourceError, trio.ClosedResourceError, trio.TooSlowError)


@attrs.frozen
class DrachtioConfig:
    """Tuning of a drachtio client connection.

    Attributes:
        ping_interval: Seconds between ``ping`` messages (§6.4; srf: 15); ``None``
            disables them. Sent only to servers reporting v0.8.2 or later.
        ping_timeout: A ping unanswered this long closes the connection (srf
            never times out; we do, to notice half-open connections). ``None``:
            the ping interval.
        connect_timeout: Bound on TCP/TLS connect plus the authenticate reply.
        write_timeout: Bound on writing one frame; exceeding it drops the connection.
        incoming_size: Capacity of ``incoming``; when full, new requests are
            answered 503 with Retry-After by the agent.
        dialog_queue: Capacity of an attached dialog channel; when full, the
            in-dialog request is answered 500 with Retry-After.
        cdr_queue: Capacity of the CDR channel; further CDRs are dropped and counted.
        retry_after: Seconds for the Retry-After of overload answers.
    """

    ping_interval: float | None = 15.0
    ping_timeout: float | None = None
    connect_timeout: float = 5.0
    write_timeout: float = 10.0
    incoming_size: int = 1024
    dialog_queue: int = 64
    cdr_queue: int = 1024
    retry_after: int = 5


class _Waiter:
    """The reply (or the loss) an app message is waiting for."""

    __slots__ = ("error", "event", "on_reply", "reply", "reports")

    def __init__(self, on_reply: Callable[[Reply], None] | None = None) -> None:
        self.event = trio.Event()
        self.reply: Reply | None = None
        self.reports: list[ProxyResponse] = []
        self.error: BaseException | None = None
        self.on_reply = on_reply

    def resolve(self, reply: Reply) -> None:
        if self.on_reply is not None:
            self.on_reply(reply)
        self.reply = reply
        self.event.set()

    def fail(self, error: BaseException) -> None:
        self.error = error
        self.event.set()

    async def wait(self) -> Reply:
        await self.event.wait()
        if self.error is not None:
            raise self.error
        assert self.reply is not None
        return self.reply


@attrs.define
class _ServerTxn:
    """An incoming request not finally answered yet."""

    method: str
    dialog_id: str | None
    call_id: str


class _Link:
    """One authenticated (or authenticating) TCP/TLS connection and its tables (§15.2)."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.conn = DrachtioConnection(Role.APP)
        self.send_lock = trio.Lock()
        self.waiters: dict[str, _Waiter] = {}
        self.clients: dict[str, DrachtioClientTransaction] = {}
        self.server_txns: dict[str, _ServerTxn] = {}
        self.invites_by_call_id: dict[str, str] = {}
        self.dialogs: set[str] = set()
        self.auth: AuthOk | None = None
        self.lost = False
        self.ready = trio.Event()
        self.gone = trio.Event()
        self.scope = trio.CancelScope()


def _reason_of(reply: Reply) -> str:
    if isinstance(reply, Failure):
        return f"{reply.status} {reply.reason}"
    if isinstance(reply, GenericReply):
        return "|".join((reply.status, *reply.data))
    return type(reply).__name__


def _duration(seconds: float | None) -> str:
    """A proxy timeout token (§6.8): ``<n>ms``, or empty."""
    return "" if seconds is None else f"{round(seconds * 1000)}ms"


def _target_of(report: ProxyResponse, targets: Sequence[str]) -> str:
    """The destination a ``continue`` report came from, matched on its address and port."""
    address, port = report.meta.address, report.meta.port_number
    for target in targets:
        try:
            uri = parse_uri(target)
        except ProtocolError:
            continue
        if isinstance(uri, SipURI) and uri.host.strip("[]") == address:
            default = 5061 if uri.scheme == "sips" else 5060
            if (uri.port or default) == port:
                return target
    return f"sip:{address}:{port}" if address else ""


def _unsolicited_reason(request: Request) -> str:
    """Map the Reason text of a server-generated BYE (§9.7) onto a DialogEnded reason."""
    text = (request.get("Reason") or "").lower()
    if "session timer" in text:
        return "session_expired"
    if "ack timeout" in text:
        return "ack_timeout"
    return "bye"


class DrachtioAgent:
    """An :class:`~trio_srf.agent.Agent` backed by a drachtio server connection.

    Use :func:`open_drachtio` (the app connects) or :func:`serve_drachtio`
    (the server connects per call). Commands raise
    :class:`~trio_srf.errors.AgentLost` while no connection is up.

    Attributes:
        incoming: Channel of :data:`~trio_srf.agent.Notice` items: new requests,
            CANCEL notices, and notices of dialogs nobody attached. It stays
            open across reconnects and closes when the agent closes (or, without
            reconnection, when the connection is lost).
        config: The :class:`DrachtioConfig` in use.
    """

    def __init__(
        self,
        nursery: trio.Nursery,
        *,
        secret: str,
        tags: Sequence[str] = (),
        config: DrachtioConfig | None = None,
        policy: ReconnectPolicy | None = None,
        endpoint: tuple[str, int] | None = None,
        tls: ssl.SSLContext | None = None,
        routes: Sequence[str] = (),
    ) -> None:
        self.config = config if config is not None else DrachtioConfig()
        self._nursery = nursery
        self._secret = secret
        self._tags = tuple(tags)
        self._policy = policy
        self._endpoint = endpoint
        self._tls = tls
        self._routes: list[str] = []
        for verb in routes:
            if verb.lower() not in self._routes:
                self._routes.append(verb.lower())
        self._incoming_send, self.incoming = trio.open_memory_channel[Notice](
            self.config.incoming_size
        )
        self._cdr_send, self._cdr_recv = trio.open_memory_channel[Cdr](self.config.cdr_queue)
        self._link: _Link | None = None
        self._auth: AuthOk | None = None
        self._up = trio.Event()
        self._closing = False
        self._closed = False
        self._dialog_chans: dict[str, trio.MemorySendChannel[Notice]] = {}
        self._dialog_keys: dict[tuple[str, str, str], str] = {}
        self._keys_of: dict[str, tuple[str, str, str]] = {}
        self._n: dict[str, int] = dict.fromkeys(
            (
                "connects",
                "reconnect_attempts",
                "frames_in",
                "frames_out",
                "requests_in",
                "responses_in",
                "overload_503",
                "dialog_overload_500",
                "failures",
                "cdrs",
                "cdrs_dropped",
                "pings",
                "lost",
                "internal_errors",
            ),
            0,
        )

    # -- introspection ------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Whether an authenticated connection is up."""
        return self._link is not None

    @property
    def server_version(self) -> str | None:
        """The version the server reported when we last authenticated (§6.1)."""
        return self._auth.version if self._auth is not None else None

    @property
    def listening(self) -> list[Listening]:
        """The server's SIP listen points (external addresses) from the authenticate reply."""
        if self._auth is None:
            return []
        return [Listening(t, h, p) for t, h, p in parse_hostports(self._auth.hostports)]

    @property
    def routes(self) -> tuple[str, ...]:
        """The verbs routed to this agent (sent again after every reconnect)."""
        return tuple(self._routes)

    def statistics(self) -> DrachtioStatistics:
        """Counters and table sizes."""
        link = self._link
        return DrachtioStatistics(
            connected=link is not None,
            client_transactions=len(link.clients) if link else 0,
            server_transactions=len(link.server_txns) if link else 0,
            dialogs=len(link.dialogs) if link else 0,
            attached_dialogs=len(self._dialog_chans),
            **self._n,
        )

    def contact_uri(self, transport: str = "udp") -> str:
        """A SIP URI reaching the server on ``transport`` (for Contact and From)."""
        points = self.listening
        chosen = next((lst for lst in points if lst.transport == transport), None)
        if chosen is None and points:
            chosen = points[0]
        host, port = (chosen.host, chosen.port) if chosen else ("127.0.0.1", 5060)
        host = f"[{host}]" if ":" in host else host
        scheme = "sips" if transport in ("tls", "wss") else "sip"
        suffix = "" if transport in ("udp", "tls") else f";transport={transport}"
        return f"{scheme}:{host}:{port}{suffix}"

    def dialog_id_for(self, response: Response, *, uac: bool) -> str | None:
        """The drachtio id of the live dialog a 2xx we sent (or received, ``uac``) belongs to."""
        try:
            local, remote = response.to.tag, response.from_.tag
            call_id = response.call_id
        except LocalProtocolError:
            return None
        if uac:
            local, remote = remote, local
        if local is None or remote is None:
            return None
        return self._dialog_keys.get((call_id, local, remote))

    async def wait_connected(self) -> None:
        """Return once an authenticated connection is up (at once if it is).

        Raises:
            AgentLost: the agent closed or gave up reconnecting.
        """
        while self._link is None:
            if self._closed:
                raise AgentLost("the drachtio agent is closed")
            await self._up.wait()

    # -- plumbing -------------------------------------------------------------------------------

    def _require(self) -> _Link:
        link = self._link
        if link is None:
            raise AgentLost("no connection to the drachtio server")
        return link

    async def _write(self, link: _Link, msg: Message, waiter: _Waiter | None) -> None:
        if link.lost:
            raise AgentLost("the drachtio connection was lost")
        async with link.send_lock:
            if link.lost:
                raise AgentLost("the drachtio connection was lost")
            frame = link.conn.send(msg)
            if waiter is not None:
                link.waiters[msg.msg_id] = waiter
            failed: BaseException | None = None
            with trio.CancelScope(shield=True) as shield:
                shield.deadline = trio.current_time() + self.config.write_timeout
                try:
                    await link.stream.send_all(frame)
                except _STREAM_ERRORS as exc:
                    failed = exc
            if failed is not None or shield.cancelled_caught:
                self._lost(link)
                raise AgentLost("could not write to the drachtio server") from failed
            self._n["frames_out"] += 1

    async def _call(
        self,
        link: _Link,
        msg: Message,
        on_reply: Callable[[Reply], None] | None = None,
        waiter: _Waiter | None = None,
    ) -> Reply:
        waiter = waiter if waiter is not None else _Waiter(on_reply)
        await self._write(link, msg, waiter)
        return await waiter.wait()

    def _spawn(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the nursery is closing
            self._nursery.start_soon(fn, *args)

    def _notify(self, key: str | None, notice: Notice) -> None:
        deliver_notice(self._dialog_chans, self._incoming_send, key, notice)

    def _register_dialog(
        self, link: _Link, did: str, call_id: str, local: str, remote: str
    ) -> None:
        key = (call_id, local, remote)
        self._dialog_keys[key] = did
        self._keys_of[did] = key
        link.dialogs.add(did)

    def _forget_dialog(self, did: str) -> bool:
        key = self._keys_of.pop(did, None)
        if key is not None:
            self._dialog_keys.pop(key, None)
        link = self._link
        known = key is not None
        if link is not None and did in link.dialogs:
            link.dialogs.discard(did)
            known = True
        return known

    def _end(self, did: str | None, reason: str) -> None:
        """A dialog ended in the server: forget it and tell its owner."""
        if did is None:
            return
        if self._forget_dialog(did) or did in self._dialog_chans:
            self._notify(did, DialogEnded(did, reason))

    # -- the connection's life -------------------------------------------------------------------

    async def _run_link(
        self, link: _Link, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        try:
            with link.scope:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._reader, link)
                    task_status.started()
                    await link.ready.wait()
                    if self._pings_wanted(link):
                        nursery.start_soon(self._pinger, link)
        finally:
            self._lost(link, "agent_lost")
            await trio.aclose_forcefully(link.stream)

    def _pings_wanted(self, link: _Link) -> bool:
        auth = link.auth
        return (
            self.config.ping_interval is not None
            and auth is not None
            and version_at_least(auth.version, (0, 8, 2))
        )

    async def _reader(self, link: _Link) -> None:
        try:
            while True:
                data = await link.stream.receive_some(65536)
                link.conn.receive_data(bytes(data))
                while True:
                    event = link.conn.next_event()
                    if event is None:
                        break
                    if isinstance(event, ConnectionClosed):
                        return
                    self._n["frames_in"] += 1
                    try:
                        self._handle(link, event)
                    except Exception:
                        self._n["internal_errors"] += 1
                        logger.exception("internal error while handling %r", event)
                if not data:
                    return
        except RemoteProtocolError as exc:
            logger.warning("drachtio server broke the protocol: %s", exc)
        except (OSError, trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            self._lost(link, "agent_lost")

    async def _pinger(self, link: _Link) -> None:
        interval = self.config.ping_interval
        assert interval is not None
        timeout = self.config.ping_timeout or interval
        while not link.lost:
            await trio.sleep(interval)
            self._n["pings"] += 1
            with trio.move_on_after(timeout) as scope:
                try:
                    await self._call(link, Ping())
                except AgentLost:
                    return
            if scope.cancelled_caught:
                logger.warning("no pong from the drachtio server in %.1f s", timeout)
                self._lost(link, "agent_lost")
                return

    def _lost(self, link: _Link, reason: str = "agent_lost") -> None:
        """Tear down everything that lived on ``link`` (idempotent)."""
        if link.lost:
            return
        link.lost = True
        link.scope.cancel()
        current = self._link is link
        if link.auth is not None:
            self._n["lost"] += 1
        error = AgentLost("the drachtio connection was lost")
        for waiter in link.waiters.values():
            waiter.fail(error)
        link.waiters.clear()
        for handle in link.clients.values():
            handle._deliver(AgentLost("the drachtio connection was lost"))
        link.clients.clear()
        link.server_txns.clear()
        link.invites_by_call_id.clear()
        ended = set(link.dialogs)
        if current:
            ended |= set(self._dialog_chans)
            self._link = None
            self._up = trio.Event()
        for did in sorted(ended):
            key = self._keys_of.pop(did, None)
            if key is not None:
                self._dialog_keys.pop(key, None)
            self._notify(did, DialogEnded(did, reason))
        link.dialogs.clear()
        link.gone.set()

    async def _establish(self) -> _Link:
        """Connect (TLS if configured), authenticate, send the routes."""
        assert self._endpoint is not None
        host, port = self._endpoint
        stream: trio.abc.Stream
        with trio.fail_after(self.config.connect_timeout):
            tcp = await trio.open_tcp_stream(host, port)
            stream = tcp
            if self._tls is not None:
                tls_stream = trio.SSLStream(tcp, self._tls, server_hostname=host)
                try:
                    await tls_stream.do_handshake()
                except BaseException:
                    await trio.aclose_forcefully(tcp)
                    raise
                stream = tls_stream
        with contextlib.suppress(OSError, AttributeError):
            tcp.setsockopt(trio.socket.IPPROTO_TCP, trio.socket.TCP_NODELAY, True)
        return await self._adopt(_Link(stream))

    async def _adopt(self, link: _Link) -> _Link:
        """Run ``link``: authenticate (the app speaks first in both modes), then route."""
        await self._nursery.start(self._run_link, link)
        try:
            with trio.fail_after(self.config.connect_timeout):
                reply = await self._call(link, Authenticate(secret=self._secret, tags=self._tags))
        except trio.TooSlowError:
            self._lost(link)
            raise AgentLost("the drachtio server did not answer authenticate") from None
        if not isinstance(reply, AuthOk):
            self._lost(link)
            raise AuthenticationFailed(f"drachtio server refused us: {_reason_of(reply)}")
        link.auth = reply
        self._auth = reply
        self._n["connects"] += 1
        self._link = link
        verbs = list(self._routes) if self._endpoint is not None else []
        self._up.set()
        link.ready.set()
        for verb in verbs:
            await self._send_route(link, verb)
        return link

    async def _send_route(self, link: _Link, verb: str) -> None:
        reply = await self._call(link, Route(verb=verb))
        if not reply.ok:
            logger.warning("drachtio server refused route %s: %s", verb, _reason_of(reply))

    async def _supervise(self, link: _Link) -> None:
        """Wait for each connection to go; reconnect per the policy, or close the channels."""
        while True:
            await link.gone.wait()
            if self._closing or self._policy is None or self._endpoint is None:
                break
            new = await self._reconnect(self._policy)
            if new is None:
                break
            link = new
        self._shut_channels()

    async def _reconnect(self, policy: ReconnectPolicy) -> _Link | None:
        delay = policy.initial
        attempts = 0
        while not self._closing:
            await trio.sleep(delay)
            try:
                return await self._establish()
            except (*_STREAM_ERRORS, AgentError) as exc:
                attempts += 1
                self._n["reconnect_attempts"] += 1
                logger.info("reconnect attempt %d to drachtio failed: %r", attempts, exc)
                if policy.max_attempts is not None and attempts >= policy.max_attempts:
                    return None
                delay = min(delay * policy.factor, policy.max_delay)
        return None

    def _shut_channels(self) -> None:
        self._closed = True
        self._incoming_send.close()
        self._cdr_send.close()
        self._up.set()

    async def _close(self) -> None:
        self._closing = True
        link = self._link
        if link is not None:
            self._lost(link, "agent_closed")
        for chan in self._dialog_chans.values():
            chan.close()
        self._dialog_chans.clear()
        self._shut_channels()
        await trio.lowlevel.checkpoint()

    def end_session(self) -> None:
        """Close the connection and do not reconnect (srf's ``endSession``, §10 step 6)."""
        self._closing = True
        link = self._link
        if link is not None:
            self._lost(link, "agent_closed")
        self._shut_channels()

    # -- frames from the server -----------------------------------------------------------------

    def _handle(self, link: _Link, msg: Message) -> None:
        if isinstance(msg, Reply):
            if isinstance(msg, Failure):
                self._n["failures"] += 1
            waiter = link.waiters.get(msg.request_id)
            if waiter is None:
                return
            if isinstance(msg, ProxyResponse):  # a ``continue`` report (§6.8)
                waiter.reports.append(msg)
                return
            del link.waiters[msg.request_id]
            waiter.resolve(msg)
        elif isinstance(msg, ServerSip):
            try:
                sip = msg.message
            except RemoteProtocolError as exc:
                self._n["internal_errors"] += 1
                logger.warning("unparsable SIP from the drachtio server: %s", exc)
                return
            if isinstance(sip, Request):
                self._on_request(link, msg, sip)
            else:
                self._on_response(link, msg, sip)
        elif isinstance(msg, Cdr):
            self._n["cdrs"] += 1
            try:
                self._cdr_send.send_nowait(msg)
            except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
                self._n["cdrs_dropped"] += 1

    def _flow(self, link: _Link, msg: ServerSip) -> Flow:
        meta = msg.meta
        transport = meta.protocol or "udp"
        remote = (meta.address, meta.port_number or 0)
        if msg.received_host and msg.received_port.isdigit():
            local = (msg.received_host, int(msg.received_port))
        else:
            points = parse_hostports(link.auth.local_hostports) if link.auth else []
            match = next((p for p in points if p[0] == transport), points[0] if points else None)
            local = (match[1], match[2]) if match else ("", 0)
        return Flow(transport, remote, local)

    def _on_request(self, link: _Link, msg: ServerSip, request: Request) -> None:
        did = msg.dialog_id or None
        txn = msg.transaction_id
        method = request.method
        if msg.is_unsolicited:  # the server tore the dialog down itself (§9.7): never answer
            self._end(did, _unsolicited_reason(request))
            return
        call_id = request.get("Call-ID") or ""
        if method == "CANCEL":  # the server already sent 200 and 487 (§9.2)
            pending = link.server_txns.get(txn)
            if pending is None or pending.method != "INVITE":
                txn = link.invites_by_call_id.get(call_id, txn)
            link.server_txns.pop(txn, None)
            link.invites_by_call_id.pop(call_id, None)
            self._notify(None, RequestCancelled(txn, request))
            return
        if method == "ACK":  # only ever for a 2xx; the server absorbs the others (§9.1)
            if did is not None:
                self._notify(did, AckReceived(did, request))
            return
        self._n["requests_in"] += 1
        link.server_txns[txn] = _ServerTxn(method, did, call_id)
        if method == "INVITE" and did is None:
            link.invites_by_call_id[call_id] = txn
        notice = IncomingRequest(txn, request, self._flow(link, msg), did)
        chan = self._dialog_chans.get(did) if did is not None else None
        if chan is not None:
            try:
                chan.send_nowait(notice)
            except trio.WouldBlock:
                self._n["dialog_overload_500"] += 1
                self._spawn(self._overload, txn, request, 500)
                return
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self._dialog_chans.pop(did or "", None)
                chan = None
        if chan is None:
            try:
                self._incoming_send.send_nowait(notice)
            except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
                self._n["overload_503"] += 1
                self._spawn(self._overload, txn, request, 503)
                return
        if method == "BYE":
            self._end(did, "bye")

    async def _overload(self, txn: str, request: Request, status: int) -> None:
        response = request.make_response(
            status, headers=[("Retry-After", str(self.config.retry_after))]
        )
        with contextlib.suppress(AgentLost, LocalProtocolError):
            await self.respond(txn, response)

    def _on_response(self, link: _Link, msg: ServerSip, response: Response) -> None:
        self._n["responses_in"] += 1
        txn = msg.transaction_id
        handle = link.clients.get(txn)
        if handle is None:
            return
        status = response.status
        if handle.in_dialog:
            if status >= 200:
                del link.clients[txn]
                if handle.method == "BYE":
                    self._end(handle.dialog_id, "bye")
                elif status in (408, 481):  # RFC 3261 §12.2.1.2
                    self._end(handle.dialog_id, str(status))
        else:
            did = msg.dialog_id or None
            if did is not None and handle.method in _DIALOG_METHODS:
                tagged = response.headers.has("to") and response.to.tag is not None
                if 200 <= status < 300 or (100 < status < 200 and tagged):
                    handle.dialog_id = did
                if 200 <= status < 300 and tagged:
                    from_tag = response.from_.tag or ""
                    self._register_dialog(
                        link, did, response.call_id, from_tag, response.to.tag or ""
                    )
            if status >= 200:
                del link.clients[txn]
        handle._deliver(response)

    # -- Agent commands ----------------------------------------------------------------------------

    async def respond(self, server_txn: str, response: Response) -> Response:
        """Send ``response`` on ``server_txn``; return it as the server sent it (§6.7 echo).

        The server fills the To tag, Contact (2xx to INVITE/SUBSCRIBE) and
        Content-Type of an SDP body (§7).

        Raises:
            AgentLost: no connection, or it was lost before the echo arrived.
            LocalProtocolError: the server refused it (``NOK``: unknown or
                finished transaction, a response to CANCEL, ...).
        """
        link = self._require()
        pending = link.server_txns.get(server_txn)
        reply = await self._call(link, AppSip(transaction_id=server_txn, sip=skeleton(response)))
        if not isinstance(reply, SipSent):
            raise LocalProtocolError(f"drachtio server refused the response: {_reason_of(reply)}")
        sent = reply.message
        if not isinstance(sent, Response):
            raise LocalProtocolError("drachtio server echoed a request for a response")
        if sent.status >= 200:
            link.server_txns.pop(server_txn, None)
            if pending is not None and pending.method == "INVITE":
                link.invites_by_call_id.pop(pending.call_id, None)
        creating = pending is None or pending.dialog_id is None
        if (
            reply.dialog_id
            and 200 <= sent.status < 300
            and creating
            and sent.cseq.method in _DIALOG_METHODS
            and sent.to.tag is not None
        ):
            self._register_dialog(
                link, reply.dialog_id, sent.call_id, sent.to.tag, sent.from_.tag or ""
            )
        return sent

    async def request(
        self, request: Request, *, next_hop: str | None = None
    ) -> DrachtioClientTransaction:
        """Send an out-of-dialog request through the server; return its handle.

        The server fills Via, Max-Forwards, a From tag, Call-ID, CSeq and
        Contact where missing (§7). ``next_hop`` becomes the ``routeUri``
        token (an outbound proxy, §6.6).

        Raises:
            AgentLost: no connection, or it was lost before the echo arrived.
            TransportFailure: the server refused to send it (``NOK``).
        """
        link = self._require()
        handle = DrachtioClientTransaction(self, request.copy(), None)
        msg = AppSip(route_uri=next_hop, sip=skeleton(request))

        def on_reply(reply: Reply) -> None:
            if isinstance(reply, SipSent):
                self._sent(link, handle, reply)

        try:
            reply = await self._call(link, msg, on_reply)
        except trio.Cancelled:
            handle.cancel()  # it may be out already: CANCEL it once its id is known
            raise
        if not isinstance(reply, SipSent):
            raise TransportFailure(f"drachtio server did not send it: {_reason_of(reply)}")
        return handle

    def _sent(self, link: _Link, handle: DrachtioClientTransaction, reply: SipSent) -> None:
        """Register a handle under its new transaction id (runs in the reader, §15.2)."""
        try:
            sent = reply.message
        except RemoteProtocolError:
            sent = handle.request
        link.clients[reply.transaction_id] = handle
        handle._sent(reply.transaction_id, sent if isinstance(sent, Request) else handle.request)

    async def request_in_dialog(
        self,
        dialog_id: str,
        method: str,
        *,
        headers: Sequence[tuple[str, str]] = (),
        body: bytes = b"",
    ) -> DrachtioClientTransaction:
        """Send a request inside a dialog; the server fills URI, tags, CSeq, Route (§9.6).

        Raises:
            AgentLost: no connection, or it was lost before the echo arrived.
            LocalProtocolError: the server refused it (e.g. unknown dialog).
        """
        link = self._require()
        template = Request(method, "sip:placeholder", list(headers), body)
        handle = DrachtioClientTransaction(self, template, dialog_id)
        msg = AppSip(dialog_id=dialog_id, sip=in_dialog_text(method, headers, body))

        def on_reply(reply: Reply) -> None:
            if isinstance(reply, SipSent):
                self._sent(link, handle, reply)

        reply = await self._call(link, msg, on_reply)
        if not isinstance(reply, SipSent):
            if "unable to find dialog" in _reason_of(reply):
                self._end(dialog_id, "481")
            raise LocalProtocolError(f"drachtio server refused {method}: {_reason_of(reply)}")
        return handle

    async def ack(
        self, dialog_id: str, *, headers: Sequence[tuple[str, str]] = (), body: bytes = b""
    ) -> Request:
        """Send the ACK for the 2xx that confirmed ``dialog_id``; return it as sent (§9.5).

        Raises:
            AgentLost: no connection.
            LocalProtocolError: the server refused it.
        """
        link = self._require()
        reply = await self._call(
            link, AppSip(dialog_id=dialog_id, sip=in_dialog_text("ACK", headers, body))
        )
        if not isinstance(reply, SipSent):
            raise LocalProtocolError(f"drachtio server refused the ACK: {_reason_of(reply)}")
        sent = reply.message
        if not isinstance(sent, Request):
            raise LocalProtocolError("drachtio server echoed a response for an ACK")
        return sent

    async def proxy(
        self,
        server_txn: str,
        targets: Sequence[str],
        *,
        record_route: bool = False,
        forking: str = "sequential",
        follow_redirects: bool = False,
        provisional_timeout: float | None = None,
        final_timeout: float | None = None,
        headers: Sequence[tuple[str, str]] = (),
    ) -> ProxyOutcome:
        """Have the server proxy a received request statefully (§6.8); return how it ended.

        Sent with ``fullResponse``; the server reports final responses in
        ``continue`` replies and then ``done``. Unlike the engine's outcome,
        ``responses`` holds only what the server reported (final responses,
        not every provisional), each as ``(target, status)``.

        Raises:
            AgentLost: no connection, or it was lost before ``done``.
            LocalProtocolError: the server refused (unknown transaction, no target, ...).
        """
        link = self._require()
        if not targets:
            raise LocalProtocolError("proxy needs at least one target")
        pending = link.server_txns.pop(server_txn, None)
        method = pending.method if pending is not None else "INVITE"
        if pending is not None and pending.method == "INVITE":
            link.invites_by_call_id.pop(pending.call_id, None)
        stub = skeleton(Request(method, targets[0], list(headers)))
        msg = Proxy(
            transaction_id=server_txn,
            remain_in_dialog=record_route,
            full_response=True,
            follow_redirects=follow_redirects,
            simultaneous=forking == "simultaneous",
            provisional_timeout=_duration(provisional_timeout),
            final_timeout=_duration(final_timeout),
            destinations=tuple(targets),
            sip=stub,
        )
        waiter = _Waiter()
        reply = await self._call(link, msg, waiter=waiter)
        if not reply.ok:
            raise LocalProtocolError(f"drachtio server did not proxy: {_reason_of(reply)}")
        seen: list[tuple[str, int]] = []
        final: Response | None = None
        final_target: str | None = None
        for report in waiter.reports:
            try:
                response = report.message
            except RemoteProtocolError:
                continue
            if not isinstance(response, Response):
                continue
            target = _target_of(report, targets)
            seen.append((target, response.status))
            if final is None or 200 <= response.status < 300 or not final.is_success:
                final, final_target = response, target
        if final is None:
            return ProxyOutcome(0, None, None, tuple(seen))
        return ProxyOutcome(final.status, final, final_target, tuple(seen))

    def _spawn_cancel(self, handle: DrachtioClientTransaction) -> None:
        self._spawn(self._cancel, handle)

    async def _cancel(self, handle: DrachtioClientTransaction) -> None:
        link = self._link
        if link is None or link.clients.get(handle.id) is not handle:
            return
        text = f"CANCEL {handle.request.uri} SIP/2.0\r\nContent-Length: 0\r\n\r\n"
        with contextlib.suppress(AgentLost, LocalProtocolError):
            reply = await self._call(link, AppSip(transaction_id=handle.id, sip=text))
            if not isinstance(reply, SipSent):
                logger.info("CANCEL not sent: %s", _reason_of(reply))

    async def route(self, *verbs: str) -> None:
        """Ask for new requests of these methods (or CDR kinds); kept across reconnects (§6.3).

        A verb already routed is not sent again.
        """
        new = [v.lower() for v in verbs if v.lower() not in self._routes]
        self._routes.extend(dict.fromkeys(new))
        link = self._link
        if link is None or self._endpoint is None:
            return
        for verb in dict.fromkeys(new):
            await self._send_route(link, verb)

    def cdrs(self) -> AsyncIterator[Cdr]:
        """Iterate CDRs (``CdrAttempt``/``CdrStart``/``CdrStop``, §6.9) as they arrive.

        The first step routes ``cdr:attempt``, ``cdr:start`` and ``cdr:stop``
        if that was not done yet (pass ``cdrs=True`` to :func:`open_drachtio`
        to have them routed from the start). Iteration ends when the agent closes.
        """
        return _CdrStream(self)

    def attach_dialog(self, dialog_id: str) -> trio.MemoryReceiveChannel[Notice]:
        """Deliver this dialog's notices (in-dialog requests, ACK, end) to a new channel."""
        send, recv = trio.open_memory_channel[Notice](self.config.dialog_queue)
        self._dialog_chans[dialog_id] = send
        return recv

    def detach_dialog(self, dialog_id: str) -> None:
        """Stop routing notices to the dialog's channel (and close it)."""
        send = self._dialog_chans.pop(dialog_id, None)
        if send is not None:
            send.close()

    def end_dialog(self, dialog_id: str) -> None:
        """Forget a dialog locally without signalling (the server keeps its own state)."""
        self._forget_dialog(dialog_id)
        self.detach_dialog(dialog_id)


class _CdrStream:
    """Async iterator over an agent's CDR channel; routes the CDR verbs on first use."""

    def __init__(self, agent: DrachtioAgent) -> None:
        self._agent = agent
        self._routed = False

    def __aiter__(self) -> _CdrStream:
        return self

    async def __anext__(self) -> Cdr:
        agent = self._agent
        if not self._routed:
            self._routed = True
            if agent._link is not None:
                await agent.route(*CDR_VERBS)
            else:
                agent._routes.extend(v for v in CDR_VERBS if v not in agent._routes)
        try:
            return await agent._cdr_recv.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            raise StopAsyncIteration from None


def _unwrap(group: BaseExceptionGroup[BaseException]) -> BaseException:
    return group.exceptions[0] if len(group.exceptions) == 1 else group


@contextlib.asynccontextmanager
async def open_drachtio(
    host: str,
    port: int,
    secret: str,
    *,
    tags: Sequence[str] = (),
    tls: ssl.SSLContext | None = None,
    methods: Sequence[str] | None = None,
    cdrs: bool = False,
    reconnect: bool | ReconnectPolicy = True,
    config: DrachtioConfig | None = None,
) -> AsyncIterator[DrachtioAgent]:
    """Connect to a drachtio server (inbound mode, §1) for the duration of the block.

    Args:
        host: The server's admin address.
        port: Its admin port (drachtio's default is 9022; TLS often 9023).
        secret: The shared secret (no ``|``, CR or LF, §4).
        tags: Tags to authenticate with (§10).
        tls: A client TLS context to connect over TLS (reconnects use it too).
        methods: SIP methods to route to this app (default: every method
            the server routes, :data:`DEFAULT_METHODS`); ``()`` routes none.
        cdrs: Route the three CDR kinds from the start (see :meth:`DrachtioAgent.cdrs`).
        reconnect: ``True`` for the default :class:`ReconnectPolicy`, a policy,
            or ``False`` to close ``incoming`` when the connection is lost.
        config: Timeouts, ping interval and queue sizes.

    Yields:
        The connected, authenticated agent with its routes registered.

    Raises:
        AuthenticationFailed: the server refused the secret.
        AgentLost: the server could not be reached (the first connection is
            not retried).
    """
    policy: ReconnectPolicy | None
    if isinstance(reconnect, ReconnectPolicy):
        policy = reconnect
    else:
        policy = ReconnectPolicy() if reconnect else None
    routes = [m.lower() for m in (DEFAULT_METHODS if methods is None else methods)]
    if cdrs:
        routes.extend(CDR_VERBS)
    try:
        async with trio.open_nursery() as nursery:
            agent = DrachtioAgent(
                nursery,
                secret=secret,
                tags=tags,
                config=config,
                policy=policy,
                endpoint=(host, port),
                tls=tls,
                routes=routes,
            )
            try:
                link = await agent._establish()
            except (OSError, trio.TooSlowError, trio.BrokenResourceError) as exc:
                raise AgentLost(f"cannot connect to drachtio server {host}:{port}: {exc}") from exc
            nursery.start_soon(agent._supervise, link)
            try:
                yield agent
            finally:
                await agent._close()
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        raise _unwrap(group) from None


SessionHandler = Callable[[DrachtioAgent], Awaitable[None]]


async def serve_drachtio(
    port: int,
    secret: str,
    handler: SessionHandler,
    *,
    host: str = "127.0.0.1",
    tags: Sequence[str] = (),
    tls: ssl.SSLContext | None = None,
    config: DrachtioConfig | None = None,
    task_status: trio.TaskStatus[list[trio.SocketListener]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Accept connections from a drachtio server (outbound mode, §10); one session each.

    For every connection the server opens, an agent authenticates (the app
    speaks first, §6.1), sends no routes, and ``await handler(agent)`` runs;
    the request that caused the connection arrives on ``agent.incoming``.
    The session ends, and the socket closes, when ``handler`` returns or
    calls :meth:`DrachtioAgent.end_session` (srf's ``endSession``). An
    exception from ``handler`` is logged and ends only its session.

    Args:
        port: Port to listen on (0: pick one; ``task_status`` reports it).
        secret: The shared secret the server expects.
        handler: ``async def handler(agent)``, run once per connection.
        host: Address to listen on.
        tags: Tags to authenticate with.
        tls: A server TLS context to accept TLS connections (``tls://`` handlers).
        config: Timeouts and queue sizes (pings are sent as in inbound mode).
        task_status: Started with the plain TCP listeners (their sockets give the port).
    """
    listeners = await trio.open_tcp_listeners(port, host=host)

    async def session(stream: trio.abc.Stream) -> None:
        if tls is not None:
            # Handshake before the reader and the authenticate write both start: a
            # failed handshake must close the session now, not after write_timeout.
            tls_stream = trio.SSLStream(stream, tls, server_side=True)
            timeout = (config or DrachtioConfig()).connect_timeout
            try:
                with trio.fail_after(timeout):
                    await tls_stream.do_handshake()
            except (*_STREAM_ERRORS, trio.TooSlowError) as exc:
                logger.warning("drachtio outbound TLS handshake failed: %r", exc)
                await trio.aclose_forcefully(stream)
                return
            stream = tls_stream
        try:
            await _run_session(stream, secret, tags, handler, config)
        except Exception:
            logger.exception("drachtio outbound session failed")

    async with trio.open_nursery() as nursery:
        for listener in listeners:
            nursery.start_soon(_accept, listener, session, nursery)
        task_status.started(listeners)


async def _accept(
    listener: trio.SocketListener,
    session: Callable[[trio.abc.Stream], Awaitable[None]],
    nursery: trio.Nursery,
) -> None:
    async with listener:
        while True:
            try:
                stream = await listener.accept()
            except OSError as exc:  # e.g. EMFILE: back off, like trio.serve_listeners
                logger.warning("accept failed: %r", exc)
                await trio.sleep(0.1)
                continue
            nursery.start_soon(session, stream)


async def _run_session(
    stream: trio.abc.Stream,
    secret: str,
    tags: Sequence[str],
    handler: SessionHandler,
    config: DrachtioConfig | None,
) -> None:
    try:
        async with trio.open_nursery() as nursery:
            agent = DrachtioAgent(nursery, secret=secret, tags=tags, config=config)
            try:
                link = await agent._adopt(_Link(stream))
            except (*_STREAM_ERRORS, AgentError) as exc:
                logger.warning("drachtio outbound connection not authenticated: %r", exc)
                nursery.cancel_scope.cancel()
                return
            nursery.start_soon(agent._supervise, link)
            try:
                await handler(agent)
            finally:
                await agent._close()
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        raise _unwrap(group) from None
    finally:
        await trio.aclose_forcefully(stream)
