"""Stateful proxy core (RFC 3261 §16): branches, forking, best response, CANCEL fan-out, Timer C.

Rules this module keeps:

* One :class:`ProxyContext` per proxied server transaction (§16.2). It is
  sans-IO like the rest of ``core``: it drives the :class:`SipStack` that owns
  it (client transactions for branches, the server transaction for answers)
  and asks its driver for transports through :class:`ProxyHopNeeded` events,
  because resolving a next hop (RFC 3263) is I/O.
* Validation (§16.3): a spent Max-Forwards gets 483, a request that already
  went through us with the same loop hash gets 482 (a *spiral*, where the
  Request-URI or the dialog fields changed, is forwarded), a Proxy-Require we
  do not support gets 420 with Unsupported.
* Route processing: our own Route entries are popped and a strict-routed
  request (Request-URI is ours) gets its last Route back as Request-URI
  (§16.4); a next hop without ``lr`` is strict-routed the other way (§16.6
  step 6). Every branch is a copy with Request-URI = target, Max-Forwards
  decremented (70 when absent), an optional Record-Route with ``lr`` (our
  address on the branch's flow), and our Via whose branch is
  ``z9hG4bK<loop-hash>.<context nonce>.<branch>`` (§16.6 steps 1-8).
* Responses (§16.7): 100 is absorbed; 101-199 and every 2xx (retransmissions
  too, RFC 6026) are forwarded at once with our Via removed; finals are kept,
  and when no branch is left the best one is sent: any 6xx, else the lowest
  class, preferring 401/407/415/420/484 in 4xx, with the challenges of all
  401/407 merged (step 7) and a 503 turned into 500 (step 6). A 2xx or 6xx to
  INVITE CANCELs every other pending branch and stops new ones (§16.7 step
  10). Nothing answered: 480 for an empty target set (§16.5), 408 after
  timeouts, 487 after a CANCEL.
* Forking: ``sequential`` starts the next target when a branch ends without
  2xx/6xx (failure, timeout, ``provisional_timeout``, ``final_timeout``);
  ``simultaneous`` starts every target at once. ``follow_redirects`` turns
  3xx Contacts (by q) into new targets instead of candidates (§16.5).
* Timers per branch: Timer C (``TimerConfig.timer_c``, restarted by each
  101-199; §16.6 step 11, §16.8: CANCEL if a provisional came, else treat as
  408), ``provisional_timeout`` (no 1xx in time: abandon the branch) and
  ``final_timeout`` (no final response that long after the first 1xx: CANCEL).
  They live in the stack's deadline heap keyed by the context id.
* Upstream CANCEL (§16.10): the stack answers 200 to the CANCEL but no 487;
  the context CANCELs every branch and forwards the final answers as usual.

Theory of operation: :meth:`SipStack.start_proxy` creates the context and
calls :meth:`ProxyContext.begin`; the stack routes its client transactions'
responses, timeouts and transport failures to it instead of emitting events.
When the final answer is chosen a :class:`ProxyFinished` event goes up; the
context stays registered until its client transactions end, so late 2xx are
still relayed.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
import weakref
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

import attrs

from ..errors import LocalProtocolError, ProtocolError
from ..sip import (
    MAGIC_COOKIE,
    Headers,
    Request,
    Response,
    SipURI,
    parse_contact_list,
    parse_via_list,
    reason_phrase,
)
from ._events import ProxyFinished, ProxyHopNeeded, ProxyOutcome
from ._flow import Flow

if TYPE_CHECKING:
    from ._server_txn import ServerTransaction
    from ._stack import SipStack

__all__ = [
    "FORKING_MODES",
    "ProxyContext",
    "ProxyOptions",
    "best_response",
    "check_request",
    "dialog_key",
    "is_local_uri",
    "pop_top_via",
    "preprocess_routes",
    "routed_through_us",
    "set_hop_flow",
]

#: Allowed values of :attr:`ProxyOptions.forking`.
FORKING_MODES = ("sequential", "simultaneous")

# §16.7 step 6: within 4xx, responses that help the caller resubmit come first.
_PREFERRED_4XX = (401, 407, 415, 420, 484)
# Methods whose requests may create dialogs: only those get our Record-Route.
_RR_METHODS = frozenset({"INVITE", "SUBSCRIBE", "REFER", "NOTIFY"})

LocalAddresses = set[tuple[str, int]]

#: A driver's synchronous next-hop lookup: the flow for a hop that needs no I/O, else ``None``.
HopFlow = Callable[[str], Flow | None]
_HOP_FLOWS: weakref.WeakKeyDictionary[SipStack, HopFlow] = weakref.WeakKeyDictionary()


def set_hop_flow(stack: SipStack, hop_flow: HopFlow | None) -> None:
    """Let ``stack``'s proxy contexts start branches without a :class:`ProxyHopNeeded` round trip.

    ``hop_flow(next_hop)`` must be pure (no I/O): it returns the flow when the
    hop resolves without lookups (an IP literal over a connectionless
    transport) and ``None`` otherwise, in which case the event is emitted as
    before and the driver resolves the hop (RFC 3263) and calls
    :meth:`ProxyContext.start_branch` itself.
    """
    if hop_flow is None:
        _HOP_FLOWS.pop(stack, None)
    else:
        _HOP_FLOWS[stack] = hop_flow


@attrs.frozen
class ProxyOptions:
    """How to proxy one request.

    Attributes:
        record_route: Add a Record-Route so that the dialog's requests pass
            through us (§16.6 step 4).
        forking: ``"sequential"`` or ``"simultaneous"``.
        follow_redirects: Use 3xx Contacts as new targets.
        provisional_timeout: Seconds to wait for any 1xx on a branch before
            abandoning it, or ``None``.
        final_timeout: Seconds to wait for a final response after a branch's
            first 101-199 before CANCELling it, or ``None`` (Timer C applies).
        headers: ``(name, value)`` pairs set on every forwarded request.
        max_targets: Bound on the targets one context tries (redirect loops).
    """

    record_route: bool = False
    forking: str = attrs.field(default="sequential")
    follow_redirects: bool = False
    provisional_timeout: float | None = None
    final_timeout: float | None = None
    headers: tuple[tuple[str, str], ...] = ()
    max_targets: int = 16

    @forking.validator
    def _check_forking(self, _attr: object, value: str) -> None:
        if value not in FORKING_MODES:
            raise LocalProtocolError(f"forking must be one of {FORKING_MODES}, not {value!r}")


# -- helpers ------------------------------------------------------------------


def _bare(host: str) -> str:
    return (host[1:-1] if host.startswith("[") and host.endswith("]") else host).lower()


def _host_port(addr: tuple[str, int]) -> str:
    host, port = addr
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{host}:{port}"


def is_local_uri(uri: object, local: LocalAddresses) -> bool:
    """Whether ``uri`` is a SIP URI naming one of our ``(host, port)`` addresses.

    An absent port means 5060 (5061 for ``sips:`` or ``transport=tls``).
    """
    if not isinstance(uri, SipURI) or not local:
        return False
    port = uri.port
    if port is None:
        port = 5061 if uri.scheme == "sips" or uri.transport == "tls" else 5060
    return (_bare(uri.host), port) in local


def _via_is_local(host: str, port: int | None, transport: str, local: LocalAddresses) -> bool:
    if port is None:
        port = 5061 if transport in ("TLS", "WSS") else 5060
    return (_bare(host), port) in local


def dialog_key(request: Request) -> tuple[str, str, str]:
    """(Call-ID, From tag, To tag): where a record-routed dialog's request is going."""
    return request.call_id, request.from_.tag or "", request.to.tag or ""


def _set_routes(headers: Headers, routes: Sequence[str]) -> None:
    headers.remove("route")
    for value in routes:
        headers.add("Route", value)


def preprocess_routes(request: Request, local: LocalAddresses) -> bool:
    """RFC 3261 §16.4 on ``request`` in place; return whether it named us.

    A Request-URI we placed in a Record-Route (an upstream strict router)
    is replaced by the last Route, which is removed; then every leading
    Route that is ours is popped.

    Raises:
        ProtocolError: a Route or the Request-URI does not parse.
    """
    routes = request.route
    ours = False
    values = [str(r) for r in routes]
    uris = [r.uri for r in routes]
    if routes and is_local_uri(request.request_uri, local):
        request.uri = str(uris[-1])
        values.pop()
        uris.pop()
        ours = True
    while uris and is_local_uri(uris[0], local):
        values.pop(0)
        uris.pop(0)
        ours = True
    if ours:
        _set_routes(request.headers, values)
    return ours


def routed_through_us(request: Request, local: LocalAddresses) -> bool:
    """Whether an in-dialog request names us only as a hop (our Route, or strict routing).

    Such a request belongs to a dialog we record-routed and is forwarded
    without the application (§16.4); after our Route entries the request
    must still lead elsewhere (another Route, or a Request-URI not ours).
    """
    if not local:
        return False
    try:
        routes = request.route
        if not routes:
            return False
        # preprocess_routes on the parsed values, without copying the request.
        uris = [r.uri for r in routes]
        target: object = request.request_uri
        ours = False
        if is_local_uri(target, local):
            target = uris.pop()
            ours = True
        first = 0
        while first < len(uris) and is_local_uri(uris[first], local):
            first += 1
            ours = True
        if not ours:
            return False
        return first < len(uris) or not is_local_uri(target, local)
    except ProtocolError:
        return False


def pop_top_via(headers: Headers) -> None:
    """Remove the first Via value (the proxy's own, §16.7 step 3)."""
    first = headers.get("via")
    if first is None:
        return
    rest = parse_via_list(first)[1:] if "," in first else []
    headers.pop_first("via")
    if rest:
        headers.prepend("Via", ", ".join(str(v) for v in rest))


def _contact_uri(headers: Headers) -> str | None:
    """The first Contact's URI as text, or ``None`` (``*`` or no Contact).

    The common ``<uri>`` or ``<uri>;params`` form is cut out without parsing the
    whole name-addr (a record-routed INVITE and its 2xx each carry one, RFC 3261
    §12.1); anything else (a display name, several values) is parsed.

    Raises:
        ProtocolError: the Contact does not parse.
    """
    raw = headers.get("contact")
    if raw is None:
        return None
    raw = raw.strip()
    end = raw.find(">")
    if raw.startswith("<") and end > 1 and "," not in raw and '"' not in raw:
        return raw[1:end].strip()
    contacts = parse_contact_list(raw)
    if not contacts or contacts[0].uri is None:
        return None
    return str(contacts[0].uri)


def _loop_hash(request: Request, via_below: str) -> str:
    """The loop-detection part of our branch (§16.6 step 8, §16.3 step 4)."""
    headers = request.headers
    parts = [
        request.uri,
        request.from_.tag or "",
        request.to.tag or "",
        request.call_id,
        str(request.cseq.seq),
        ",".join(headers.get_all("proxy-require")),
        ",".join(headers.get_all("proxy-authorization")),
        via_below,
    ]
    return hashlib.sha1("\n".join(parts).encode(), usedforsecurity=False).hexdigest()[:16]


def check_request(
    request: Request, local: LocalAddresses
) -> tuple[int, list[tuple[str, str]]] | None:
    """RFC 3261 §16.3 checks; return ``(status, extra headers)`` to reject with, or ``None``.

    483 for Max-Forwards 0, 482 for a loop (our Via with a branch whose loop
    hash matches the request as it is now), 420 + Unsupported for any
    Proxy-Require (we support no proxy extensions), 400 for a malformed
    Max-Forwards.
    """
    try:
        max_forwards = request.max_forwards
        if max_forwards is not None and max_forwards <= 0:
            return 483, []
        vias = request.via
        for i, via in enumerate(vias[:-1]):
            branch = via.branch or ""
            if not branch.startswith(MAGIC_COOKIE) or branch.count(".") != 2:
                continue
            if not _via_is_local(via.host, via.port, via.transport, local):
                continue
            if branch[len(MAGIC_COOKIE) :].split(".")[0] == _loop_hash(request, str(vias[i + 1])):
                return 482, []
    except ProtocolError:
        return 400, []
    required = [t for line in request.headers.get_all("proxy-require") for t in line.split(",")]
    required = [t.strip() for t in required if t.strip()]
    if required:
        return 420, [("Unsupported", ", ".join(required))]
    return None


def best_response(candidates: Sequence[tuple[int, Response | None]]) -> int | None:
    """Index of the best final response (§16.7 step 6), or ``None`` if there is none.

    Any 6xx wins (the first one); otherwise the lowest class, and within 4xx
    the responses that help a resubmission (401, 407, 415, 420, 484) first;
    otherwise the first one received in that class.
    """
    if not candidates:
        return None
    for i, (status, _) in enumerate(candidates):
        if status >= 600:
            return i
    low = min(status // 100 for status, _ in candidates)
    in_class = [i for i, (status, _) in enumerate(candidates) if status // 100 == low]
    if low == 4:
        for preferred in _PREFERRED_4XX:
            for i in in_class:
                if candidates[i][0] == preferred:
                    return i
    return in_class[0]


# -- the context ----------------------------------------------------------------


@attrs.define(eq=False)
class _Branch:
    index: int
    target: str
    request: Request
    next_hop: str
    txn_id: str | None = None
    started: bool = False
    done: bool = False
    provisional: bool = False
    ringing: bool = False
    status: int | None = None
    response: Response | None = None


class ProxyContext:
    """The proxy state of one server transaction (RFC 3261 §16.2).

    Created by :meth:`SipStack.start_proxy`; the driver answers its
    :class:`ProxyHopNeeded` events with :meth:`start_branch` or
    :meth:`branch_failed`.

    Attributes:
        id: Opaque context id (``"p…"``).
        server_txn: The proxied server transaction.
        options: The options it runs with.
        outcome: The result, once the final response went upstream.
    """

    def __init__(
        self,
        stack: SipStack,
        proxy_id: str,
        txn: ServerTransaction,
        targets: Sequence[str] | None,
        options: ProxyOptions,
    ) -> None:
        self.id = proxy_id
        self.server_txn = txn.id
        self.options = options
        self.outcome: ProxyOutcome | None = None
        self._stack = stack
        self._request = txn.request
        self._reply_flow = txn.reply_flow
        self._is_invite = txn.request.method == "INVITE"
        self._targets: list[str] = list(targets) if targets is not None else []
        self._route_only = targets is None
        self._seen: set[str] = set(self._targets)
        self._branches: list[_Branch] = []
        self._by_txn: dict[str, _Branch] = {}
        self._responses: list[tuple[str, int]] = []
        self._candidates: list[tuple[int, Response | None, str | None]] = []
        self._live_txns: set[str] = set()
        self.cancel_ids: set[str] = set()
        self._stop = False  # a 2xx/6xx or a CANCEL: no new branches
        self._cancelled = False
        self._nonce = secrets.token_hex(4)
        self._now = 0.0
        self._template: Request | None = None
        self._loop_hash = ""

    # -- lifecycle ---------------------------------------------------------------

    @property
    def finished(self) -> bool:
        """Whether the final response went upstream."""
        return self.outcome is not None

    @property
    def idle(self) -> bool:
        """Finished, and no client transaction of ours is left."""
        return self.outcome is not None and not self._live_txns

    def begin(self, now: float) -> None:
        """Validate the request (§16.3) and start the first branch(es)."""
        self._now = now
        local = self._stack.local_addresses
        request = self._request
        rejection = check_request(request, local)
        if rejection is not None:
            status, headers = rejection
            self._generate(status, now, headers)
            return
        try:
            template = request.copy()
            preprocess_routes(template, local)
            max_forwards = request.max_forwards
            template.headers.set(
                "Max-Forwards", str(max_forwards - 1 if max_forwards is not None else 70)
            )
            for name, value in self.options.headers:
                template.headers.set(name, value)
            vias = request.via
            self._loop_hash = _loop_hash(request, str(vias[0]) if vias else "")
        except ProtocolError:
            self._generate(400, now)
            return
        self._template = template
        if self._route_only:
            if not template.route and is_local_uri(template.request_uri, local):
                # A peer that ignored our Record-Route (SIPp's built-in UAC sends
                # BYE to its first hop): route by the dialog we remembered.
                mapped = self._stack._proxy_dialogs.get(dialog_key(request))
                if mapped is not None:
                    template.uri = mapped
            if request.method == "BYE":
                self._stack._forget_proxy_dialog(request)
            self._targets = [template.uri]
            self._seen = {template.uri}
        self._advance(now)

    def start_branch(self, branch: int, flow: Flow, now: float) -> str | None:
        """Send branch ``branch`` on ``flow``; return its client transaction id.

        Returns ``None`` (and forgets the branch) when the context no longer
        wants it (a 2xx, 6xx or CANCEL came while the hop was resolved).

        Raises:
            LocalProtocolError: unknown branch, or it was already started.
        """
        self._now = now
        if not 0 <= branch < len(self._branches) or self._branches[branch].started:
            raise LocalProtocolError(f"no pending branch {branch} in {self.id}")
        b = self._branches[branch]
        b.started = True
        if self._stop:
            b.done = True
            self._advance(now)
            return None
        request = b.request
        headers = request.headers
        if self.options.record_route and request.method in _RR_METHODS:
            scheme = "sips" if request.uri.lower().startswith("sips:") else "sip"
            params = "" if flow.transport == "udp" else f";transport={flow.transport}"
            headers.prepend("Record-Route", f"<{scheme}:{_host_port(flow.local)}{params};lr>")
        via_branch = f"{MAGIC_COOKIE}{self._loop_hash}.{self._nonce}.{branch}"
        sent_by = _host_port(flow.local)
        headers.prepend("Via", f"SIP/2.0/{flow.via_transport} {sent_by};rport;branch={via_branch}")
        txn = self._stack._start_client(request, flow, now)
        b.txn_id = txn.id
        self._by_txn[txn.id] = b
        self._live_txns.add(txn.id)
        self._stack._proxy_txns[txn.id] = self
        timers = self._stack._timers
        if self.options.provisional_timeout is not None:
            timers.set(self.id, f"P{branch}", now + self.options.provisional_timeout)
        if self._is_invite:
            timers.set(self.id, f"C{branch}", now + self._stack.config.timer_c)
        return txn.id

    def branch_failed(self, branch: int, now: float) -> None:
        """The branch's next hop could not be resolved or reached: a 503 (§16.9)."""
        self._now = now
        if not 0 <= branch < len(self._branches):
            return
        b = self._branches[branch]
        b.started = True
        self._end_branch(b, 503, None, now)

    def cancel(self, now: float) -> None:
        """The caller CANCELled (§16.10): CANCEL every branch, start no new ones."""
        self._now = now
        if self.outcome is not None:
            return
        self._cancelled = True
        self._stop = True
        self._targets.clear()
        for b in self._branches:
            if b.txn_id is not None and not b.done:
                self._cancel_branch(b, now)
        self._advance(now)

    # -- called by the stack -------------------------------------------------------

    def on_response(self, txn_id: str, response: Response, now: float) -> None:
        """A response (passed up by the client transaction) on one of our txns."""
        self._now = now
        b = self._by_txn.get(txn_id)
        if b is None:
            return  # the response to one of our CANCELs
        status = response.status
        self._responses.append((b.target, status))
        if status < 200:
            if b.done:
                return
            b.provisional = True
            timers = self._stack._timers
            timers.clear(self.id, f"P{b.index}")
            if status > 100:
                if self._is_invite and self.options.final_timeout is None:
                    timers.set(self.id, f"C{b.index}", now + self._stack.config.timer_c)
                if self.options.final_timeout is not None and not b.ringing:
                    timers.set(self.id, f"F{b.index}", now + self.options.final_timeout)
                b.ringing = True
                if self.outcome is None and not self._cancelled:
                    self._forward(response, now)
            return
        if status < 300:
            self._on_2xx(b, response, now)
            return
        if b.done:
            return
        redirect = 300 <= status < 400 and self.options.follow_redirects and not self._stop
        if redirect and self._add_redirect_targets(response):
            self._end_branch(b, None, None, now)
            return
        self._end_branch(b, status, response, now)

    def on_failure(self, txn_id: str, status: int, now: float) -> None:
        """A branch timed out (408) or its transport failed (503)."""
        self._now = now
        b = self._by_txn.get(txn_id)
        if b is not None and not b.done:
            self._end_branch(b, status, None, now)

    def on_terminated(self, txn_id: str) -> None:
        """One of our client transactions left the stack's tables."""
        self._live_txns.discard(txn_id)
        self._by_txn.pop(txn_id, None)
        self._stack._drop_proxy_if_idle(self)

    def fire(self, name: str, now: float) -> None:
        """A branch timer expired: ``P`` provisional, ``F`` final, ``C`` Timer C."""
        self._now = now
        kind, index = name[0], int(name[1:])
        b = self._branches[index]
        if b.done or b.txn_id is None:
            return
        if kind == "P" and b.provisional:
            return
        # §16.8: CANCEL (sent once a 1xx came, §9.1) and carry on as if a 408 arrived.
        self._cancel_branch(b, now)
        self._end_branch(b, 408, None, now)

    # -- internals -------------------------------------------------------------------

    def _cancel_branch(self, b: _Branch, now: float) -> None:
        assert b.txn_id is not None
        cancel_id = self._stack.cancel(b.txn_id, now)
        if cancel_id is not None:
            # Route the CANCEL's own events here (nobody above asked for it).
            self.cancel_ids.add(cancel_id)
            self._stack._proxy_txns[cancel_id] = self

    def _clear_timers(self, b: _Branch) -> None:
        timers = self._stack._timers
        for kind in "PFC":
            timers.clear(self.id, f"{kind}{b.index}")

    def _on_2xx(self, b: _Branch, response: Response, now: float) -> None:
        if not b.done:
            b.done = True
            b.status, b.response = response.status, response
            self._clear_timers(b)
        if self._is_invite and not self._stop:
            # §16.7 step 10: a 2xx ends the search; CANCEL the others.
            self._stop = True
            self._targets.clear()
            for other in self._branches:
                if other is not b and other.txn_id is not None and not other.done:
                    self._cancel_branch(other, now)
                    other.done = True
                    self._clear_timers(other)
        if self._is_invite and self.options.record_route:
            self._remember_dialog(response)
        self._forward(response, now)
        if self.outcome is None:
            self._finish(response.status, response, b.target)

    def _remember_dialog(self, response: Response) -> None:
        """Keep both Contacts of a record-routed dialog (for peers that drop the Route)."""
        try:
            request = self._request
            from_tag, to_tag = request.from_.tag, response.to.tag
            call_id = request.call_id
            caller = _contact_uri(request.headers)
            callee = _contact_uri(response.headers)
        except ProtocolError:
            return
        if caller is None or callee is None or from_tag is None or to_tag is None:
            return
        dialogs = self._stack._proxy_dialogs
        dialogs[(call_id, from_tag, to_tag)] = callee
        dialogs[(call_id, to_tag, from_tag)] = caller

    def _add_redirect_targets(self, response: Response) -> bool:
        """Add the 3xx Contacts as targets, best q first; return whether any was new."""
        try:
            contacts = response.contact
        except ProtocolError:
            return False
        ordered = sorted(contacts, key=lambda c: -(c.q if c.q is not None else 1.0))
        added = False
        local = self._stack.local_addresses
        for contact in ordered:
            uri = contact.uri
            if uri is None:
                continue
            text = str(uri.without_headers()) if isinstance(uri, SipURI) else str(uri)
            if text in self._seen or is_local_uri(uri, local):
                continue
            if len(self._seen) >= self.options.max_targets:
                break
            self._seen.add(text)
            self._targets.append(text)
            added = True
        return added

    def _end_branch(
        self, b: _Branch, status: int | None, response: Response | None, now: float
    ) -> None:
        b.done = True
        self._clear_timers(b)
        if status is not None:
            b.status = status
            b.response = response
            self._candidates.append((status, response, b.target if response else None))
            if status >= 600 and self._is_invite and not self._stop:
                self._stop = True  # §16.7 step 10: a 6xx ends the search
                self._targets.clear()
                for other in self._branches:
                    if other is not b and other.txn_id is not None and not other.done:
                        self._cancel_branch(other, now)
        self._advance(now)

    def _launch(self, target: str) -> None:
        assert self._template is not None
        request = self._template.copy()
        request.uri = target
        headers = request.headers
        try:
            routes = request.route
            if routes and not (isinstance(routes[0].uri, SipURI) and routes[0].uri.lr):
                # §16.6 step 6: the next hop is a strict router.
                values = [str(r) for r in routes]
                values.append(f"<{request.uri}>")
                request.uri = str(routes[0].uri)
                _set_routes(headers, values[1:])
                next_hop = request.uri
            else:
                next_hop = str(routes[0].uri) if routes else target
        except ProtocolError:
            next_hop = target
        b = _Branch(len(self._branches), target, request, next_hop)
        self._branches.append(b)
        hop_flow = _HOP_FLOWS.get(self._stack)
        flow = hop_flow(next_hop) if hop_flow is not None else None
        if flow is not None:
            # The hop needed no resolution: send the branch now (no event, no task).
            self.start_branch(b.index, flow, self._now)
            return
        self._stack._events.append(ProxyHopNeeded(self.id, b.index, target, next_hop))

    def _advance(self, now: float) -> None:
        """Start branches the forking mode allows; answer when nothing is left."""
        if self._template is None and self.outcome is None:
            return
        if not self._stop:
            if self.options.forking == "simultaneous":
                while self._targets:
                    self._launch(self._targets.pop(0))
            elif self._targets and not any(not b.done for b in self._branches):
                self._launch(self._targets.pop(0))
        if self.outcome is not None or any(not b.done for b in self._branches):
            return
        if self._targets and not self._stop:
            return
        self._answer(now)

    def _answer(self, now: float) -> None:
        """Send the best final response upstream (§16.7 step 6-8)."""
        real = [(s, r) for s, r, _ in self._candidates if r is not None]
        index = best_response(real)
        if index is None:
            if self._cancelled:
                self._generate(487, now)
            elif not self._candidates:
                self._generate(480, now)  # §16.5: empty target set
            else:
                synthetic = [(s, None) for s, _, _ in self._candidates]
                chosen = best_response(synthetic)
                assert chosen is not None
                status = synthetic[chosen][0]
                self._generate(500 if status == 503 else status, now)
            return
        status, response = real[index]
        assert response is not None
        target = next(t for s, r, t in self._candidates if r is response)
        response = response.copy()
        if status in (401, 407):
            # §16.7 step 7: collect every challenge into the chosen response.
            for other_status, other in real:
                if other is real[index][1] or other is None or other_status not in (401, 407):
                    continue
                for name in ("WWW-Authenticate", "Proxy-Authenticate"):
                    for value in other.headers.get_all(name):
                        response.headers.add(name, value)
        if status == 503:
            # §16.7 step 6: a 503 is not forwarded as such.
            response.status, response.reason = 500, reason_phrase(500)
            response.headers.remove("retry-after")
        self._forward(response, now)
        self._finish(response.status, response, target)

    def _forward(self, response: Response, now: float) -> None:
        """Send a branch's response upstream without our Via (§16.7 step 9)."""
        out = response.copy()
        pop_top_via(out.headers)
        stack = self._stack
        try:
            stack.send_response_raw(self.server_txn, out, now)
        except LocalProtocolError:
            if 200 <= out.status < 300 and self._is_invite:
                # A late 2xx (another fork) after the transaction ended: it
                # must still reach the caller (§16.7 step 5, RFC 6026).
                stack._out.send(out.serialize(), self._reply_flow)

    def _generate(self, status: int, now: float, headers: Iterable[tuple[str, str]] = ()) -> None:
        """Answer upstream with a response of our own."""
        response = self._request.make_response(status, headers=list(headers))
        with contextlib.suppress(LocalProtocolError):
            self._stack.send_response(self.server_txn, response, now)
        self._finish(status, response, None)

    def _finish(self, status: int, response: Response | None, target: str | None) -> None:
        if self.outcome is not None:
            return
        self.outcome = ProxyOutcome(
            status, response, target, tuple(self._responses), cancelled=self._cancelled
        )
        self._stack._events.append(ProxyFinished(self.id, self.server_txn, self.outcome))
        for b in self._branches:
            if b.done:
                self._clear_timers(b)
        self._stack._drop_proxy_if_idle(self)

    def current_responses(self) -> tuple[tuple[str, int], ...]:
        """``(target, status)`` of every response received so far."""
        return tuple(self._responses)
