"""Engine.proxy end to end: caller -> proxy -> two callees, four engines over UDP loopback.

Timers are short (T1 = 20 ms) so tables drain quickly; every test runs under
``trio.fail_after`` and checks that the proxy's tables end empty.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs
import trio

from trio_srf.agent import AckReceived, IncomingRequest, Notice, RequestCancelled
from trio_srf.core import TimerConfig
from trio_srf.core._events import ProxyOutcome
from trio_srf.engine import Engine, EngineConfig, open_engine
from trio_srf.errors import LocalProtocolError
from trio_srf.sip import Request, new_call_id, new_tag

FAST = TimerConfig(t1=0.02, t2=0.08, t4=0.05, timer_d=0.1, trying_delay=0.0)
SPEC = "sip:127.0.0.1:0;transport=udp"


def uri_of(engine: Engine, user: str = "bob") -> str:
    return f"sip:{user}@127.0.0.1:{engine.listening[0].port}"


def new_request(uri: str, method: str = "INVITE", max_forwards: int | None = None) -> Request:
    headers = [
        ("From", f"<sip:alice@127.0.0.1>;tag={new_tag()}"),
        ("To", "<sip:bob@example.com>"),
        ("Call-ID", new_call_id()),
        ("CSeq", f"1 {method}"),
    ]
    if max_forwards is not None:
        headers.append(("Max-Forwards", str(max_forwards)))
    return Request(method, uri, headers)


@attrs.define
class Callee:
    """A scripted UAS: INVITE gets each ``(delay, status)`` in turn; others get 200."""

    engine: Engine
    steps: list[tuple[float, int]]
    seen: list[Notice] = attrs.field(factory=list)

    def methods(self) -> list[str]:
        return [n.request.method for n in self.seen if isinstance(n, IncomingRequest)]

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            task_status.started()
            async for notice in self.engine.incoming:
                self.seen.append(notice)
                if not isinstance(notice, IncomingRequest):
                    continue
                if notice.request.method == "INVITE" and notice.dialog_id is None:
                    nursery.start_soon(self._answer, notice)
                else:
                    await self.engine.respond(notice.server_txn, notice.request.make_response(200))

    async def _answer(self, notice: IncomingRequest) -> None:
        for delay, status in self.steps:
            await trio.sleep(delay)
            try:
                await self.engine.respond(notice.server_txn, notice.request.make_response(status))
            except LocalProtocolError:
                return  # CANCELled meanwhile: the engine answered 487


@attrs.define
class ProxyApp:
    """Proxies every new request to ``targets`` with ``options``; keeps the outcomes."""

    engine: Engine
    targets: list[str]
    options: dict[str, Any] = attrs.field(factory=dict)
    outcomes: list[ProxyOutcome] = attrs.field(factory=list)

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            task_status.started()
            async for notice in self.engine.incoming:
                if isinstance(notice, IncomingRequest):
                    nursery.start_soon(self._one, notice)

    async def _one(self, notice: IncomingRequest) -> None:
        outcome = await self.engine.proxy(notice.server_txn, self.targets, **self.options)
        self.outcomes.append(outcome)


@attrs.define
class Net:
    a: Engine
    p: Engine
    b1: Engine
    b2: Engine
    nursery: trio.Nursery

    async def start(
        self,
        steps1: list[tuple[float, int]],
        steps2: list[tuple[float, int]],
        targets: list[str] | None = None,
        **options: Any,
    ) -> tuple[ProxyApp, Callee, Callee]:
        c1 = Callee(self.b1, steps1)
        c2 = Callee(self.b2, steps2)
        app = ProxyApp(self.p, targets or [uri_of(self.b1), uri_of(self.b2)], options)
        for runner in (c1.run, c2.run, app.run):
            await self.nursery.start(runner)
        return app, c1, c2

    async def drained(self, within: float = 3.0) -> None:
        engines = (self.a, self.p, self.b1, self.b2)
        with trio.fail_after(within):
            while True:
                stats = [e.statistics().stack for e in engines]
                if (
                    all(
                        s.client_transactions == 0 and s.server_transactions == 0 and s.dialogs == 0
                        for s in stats
                    )
                    and not self.p.stack._proxies
                ):
                    return
                await trio.sleep(0.02)


@asynccontextmanager
async def proxy_net() -> AsyncIterator[Net]:
    cfg = EngineConfig(timers=FAST)
    async with (
        open_engine([SPEC], config=cfg) as a,
        open_engine([SPEC], config=cfg) as p,
        open_engine([SPEC], config=cfg) as b1,
        open_engine([SPEC], config=cfg) as b2,
        trio.open_nursery() as nursery,
    ):
        yield Net(a, p, b1, b2, nursery)
        nursery.cancel_scope.cancel()


async def call(net: Net, *, hang_up: bool = True) -> list[int]:
    """Call through the proxy; ACK and BYE a 2xx. Returns the statuses A saw."""
    handle = await net.a.request(new_request(uri_of(net.p, "anyone")))
    responses = [r async for r in handle]
    statuses = [r.status for r in responses]
    if statuses[-1] == 200 and hang_up:
        # The 2xx's dialog (an early dialog of another fork may have come first).
        dialog_id = net.a.dialog_id_for(responses[-1], uac=True)
        assert dialog_id is not None
        await net.a.ack(dialog_id)
        bye = await net.a.request_in_dialog(dialog_id, "BYE")
        assert (await bye.final()).status == 200
    return statuses


async def test_record_routed_call_with_bye_through_the_proxy() -> None:
    with trio.fail_after(10):
        async with proxy_net() as net:
            app, c1, _ = await net.start(
                [(0, 180), (0.05, 200)], [], [uri_of(net.b1)], record_route=True
            )
            statuses = await call(net)
            assert statuses == [100, 180, 200]
            await net.drained()
            assert c1.methods() == ["INVITE", "BYE"]
            assert any(isinstance(n, AckReceived) for n in c1.seen)
            invite, bye = (n for n in c1.seen if isinstance(n, IncomingRequest))
            port = net.p.listening[0].port
            assert invite.request.headers.get_all("record-route") == [f"<sip:127.0.0.1:{port};lr>"]
            assert [v.port for v in bye.request.via][:1] == [port]
            assert bye.request.headers.get_all("route") == []
            (outcome,) = app.outcomes
            assert (outcome.status, outcome.target) == (200, uri_of(net.b1))
            # The proxy app saw only the INVITE: ACK and BYE were routed below it.
            assert net.p.statistics().stack.stray_acks == 0
            assert net.p._proxy.forwarded_stateless == 1


async def test_sequential_failover_after_503() -> None:
    with trio.fail_after(10):
        async with proxy_net() as net:
            app, c1, c2 = await net.start([(0, 503)], [(0, 200)], record_route=True)
            statuses = await call(net)
            assert statuses == [100, 200]
            await net.drained()
            assert c1.methods() == ["INVITE"]
            assert c2.methods() == ["INVITE", "BYE"]
            (outcome,) = app.outcomes
            assert outcome.target == uri_of(net.b2)
            assert [s for _, s in outcome.responses] == [100, 503, 100, 200]


async def test_simultaneous_second_answers_first_is_cancelled() -> None:
    with trio.fail_after(10):
        async with proxy_net() as net:
            app, c1, c2 = await net.start(
                [(0, 180), (5, 200)],
                [(0, 180), (0.2, 200)],
                forking="simultaneous",
                record_route=True,
            )
            statuses = await call(net)
            assert statuses[0] == 100 and statuses[-1] == 200
            assert statuses.count(180) == 2 and 487 not in statuses
            await net.drained()
            assert any(isinstance(n, RequestCancelled) for n in c1.seen)
            assert not any(isinstance(n, RequestCancelled) for n in c2.seen)
            assert c2.methods() == ["INVITE", "BYE"]
            (outcome,) = app.outcomes
            assert (outcome.status, outcome.target) == (200, uri_of(net.b2))


async def test_486_is_relayed() -> None:
    with trio.fail_after(10):
        async with proxy_net() as net:
            app, _, _ = await net.start([(0, 486)], [], [uri_of(net.b1)])
            assert await call(net) == [100, 486]
            await net.drained()
            assert app.outcomes[0].status == 486


async def test_best_response_from_two_failures() -> None:
    with trio.fail_after(10):
        async with proxy_net() as net:
            app, _, _ = await net.start([(0, 500)], [(0.1, 404)], forking="simultaneous")
            assert await call(net) == [100, 404]
            await net.drained()
            assert app.outcomes[0].target == uri_of(net.b2)


async def test_max_forwards_zero_is_483() -> None:
    with trio.fail_after(10):
        async with proxy_net() as net:
            app, c1, _ = await net.start([(0, 200)], [], [uri_of(net.b1)])
            uri = uri_of(net.p, "anyone")
            for method in ("INVITE", "OPTIONS"):
                handle = await net.a.request(new_request(uri, method, max_forwards=0))
                assert (await handle.final()).status == 483
            # The INVITE was refused by the stack itself, the OPTIONS by the proxy (§16.3).
            assert [o.status for o in app.outcomes] == [483]
            assert c1.seen == []
            await net.drained()


async def test_caller_cancel_reaches_the_callee() -> None:
    with trio.fail_after(10):
        async with proxy_net() as net:
            app, c1, _ = await net.start([(0, 180), (5, 200)], [], [uri_of(net.b1)])
            handle = await net.a.request(new_request(uri_of(net.p, "anyone")))
            statuses = []
            async for response in handle:
                statuses.append(response.status)
                if response.status == 180:
                    handle.cancel()
            assert statuses == [100, 180, 487]
            await net.drained()
            assert any(isinstance(n, RequestCancelled) for n in c1.seen)
            assert app.outcomes[0].cancelled
