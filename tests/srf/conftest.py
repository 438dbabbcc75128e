"""Fixtures for the Srf end-to-end suite.

``agent_factory`` yields an async context manager that opens an agent for a
listen spec. Today it is parametrized over the embedded engine only; a
``drachtio`` parameter (DrachtioAgent -> DrachtioServer -> engine) can be
added here and every test runs over both (ARCHITECTURE §4).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import pytest
import trio

from trio_srf.agent import Agent
from trio_srf.core import TimerConfig
from trio_srf.engine import Engine, EngineConfig, open_engine
from trio_srf.srf import Srf

FAST = TimerConfig(t1=0.02, t2=0.08, t4=0.05, timer_d=0.1, trying_delay=0.0)

AgentFactory = Callable[[str], AbstractAsyncContextManager[Agent]]


@pytest.fixture(params=["embedded"])
def agent_factory(request: pytest.FixtureRequest) -> AgentFactory:
    """Open an agent for a listen spec (port 0 picks a free port)."""

    @asynccontextmanager
    async def embedded(listen: str) -> AsyncIterator[Agent]:
        async with open_engine([listen], config=EngineConfig(timers=FAST)) as engine:
            yield engine

    assert request.param == "embedded"
    return embedded


@asynccontextmanager
async def serving(
    factory: AgentFactory, *apps: Srf, listen: str = "sip:127.0.0.1:0;transport=udp"
) -> AsyncIterator[tuple[Srf, ...]]:
    """Serve each Srf on its own agent; stop them all on exit."""
    async with trio.open_nursery() as nursery:
        stops: list[trio.CancelScope] = []
        for app in apps:
            started = trio.Event()
            scope = trio.CancelScope()
            stops.append(scope)

            async def run(
                app: Srf = app, scope: trio.CancelScope = scope, started: trio.Event = started
            ) -> None:
                with scope:
                    async with factory(listen) as agent:
                        await trio.lowlevel.checkpoint()
                        async with trio.open_nursery() as inner:
                            await inner.start(app.serve, agent)
                            started.set()
                            await trio.sleep_forever()

            nursery.start_soon(run)
            await started.wait()
        try:
            yield apps
        finally:
            nursery.cancel_scope.cancel()


def uri_of(app: Srf, user: str = "bob") -> str:
    """A request URI reaching ``app``."""
    contact = app.agent.contact_uri("udp")
    return contact.replace("sip:", f"sip:{user}@", 1)


async def drained(*apps: Srf, within: float = 3.0) -> None:
    """Wait until no Srf holds requests or dialogs and every engine's tables are empty."""
    with trio.fail_after(within):
        while True:
            ok = True
            for app in apps:
                st = app.statistics()
                if st.pending_requests or st.dialogs:
                    ok = False
                agent = app.agent
                if isinstance(agent, Engine):
                    s = agent.statistics().stack
                    if s.client_transactions or s.server_transactions or s.dialogs:
                        ok = False
            if ok:
                return
            await trio.sleep(0.02)
