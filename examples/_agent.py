"""The agent an example runs on: the embedded engine (``--listen``) or a drachtio server.

Every example takes one of two mutually exclusive ways to reach the SIP network:

* ``--listen SPEC`` (repeatable): open trio_srf's embedded engine on those listen specs
  (:func:`trio_srf.srf.open_srf`);
* ``--drachtio HOST:PORT --secret S``: connect to a drachtio server's admin port in inbound
  mode (:func:`trio_srf.drachtio.open_drachtio`), a real drachtio-server or ``trio-srf-server``,
  and serve the same :class:`~trio_srf.srf.Srf` on that connection. Only the methods the Srf
  has routes for are routed to the app (none for a pure UAC), so other apps on the same server
  keep theirs; in-dialog requests reach the app that owns the dialog either way.

The examples import it as ``_agent`` (they run with ``examples/`` first on ``sys.path``).
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import signal
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import trio

from trio_srf.core import TimerConfig
from trio_srf.engine import Engine, EngineConfig
from trio_srf.srf import Srf, open_srf

DEFAULT_SECRET = "cymru"


def split_hostport(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (IPv6 as ``[::1]:9022``) as ``(host, port)``.

    Raises:
        ValueError: No port, or a port that is not a number in 1-65535.
    """
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


def _hostport_arg(text: str) -> str:
    try:
        split_hostport(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def add_agent_options(
    parser: argparse.ArgumentParser, *, listen_help: str = "listen spec (repeatable)"
) -> None:
    """Add ``--listen SPEC`` (repeatable) | ``--drachtio HOST:PORT``, and ``--secret S``.

    ``args.listen`` is a list (empty when not given), ``args.drachtio`` a string or ``None``.
    """
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--listen", action="append", default=[], metavar="SPEC", help=listen_help)
    group.add_argument(
        "--drachtio",
        type=_hostport_arg,
        metavar="HOST:PORT",
        help="run over a drachtio server's admin port instead of an embedded engine",
    )
    parser.add_argument(
        "--secret", default=DEFAULT_SECRET, help=f"drachtio secret (default {DEFAULT_SECRET})"
    )


@asynccontextmanager
async def open_agent_srf(
    srf: Srf | None = None,
    *,
    listen: Sequence[str],
    drachtio: str | None = None,
    secret: str = DEFAULT_SECRET,
    config: EngineConfig | None = None,
) -> AsyncIterator[Srf]:
    """Serve ``srf`` on an embedded engine, or on a drachtio server connection.

    Args:
        srf: The application (a new empty :class:`Srf` if ``None``, for UAC scripts).
        listen: Listen specs for the embedded engine (unused with ``drachtio``).
        drachtio: ``HOST:PORT`` of a drachtio server's admin port, or ``None`` for the engine.
        secret: The drachtio shared secret.
        config: Engine options (unused with ``drachtio``: the server owns the SIP stack).

    Yields:
        The serving Srf. With ``drachtio``, one line ``connected to drachtio server ...``
        naming the server's SIP addresses is printed once authenticated and routed.
    """
    app = srf if srf is not None else Srf()
    if drachtio is None:
        async with open_srf(app, listen=listen, config=config):
            yield app
        return
    host, port = split_hostport(drachtio)
    # Imported only when asked for: the embedded-engine path needs none of the client.
    client = importlib.import_module("trio_srf.drachtio._client")
    methods = sorted(m.lower() for m in app.methods)
    try:
        async with (
            client.open_drachtio(host, port, secret, methods=methods) as agent,
            trio.open_nursery() as nursery,
        ):
            await nursery.start(app.serve, agent)
            sip = " ".join(lst.contact for lst in agent.listening)
            print(
                f"connected to drachtio server {host}:{port} ({agent.server_version}); "
                f"routes {','.join(methods) or '-'}; sip {sip}",
                flush=True,
            )
            try:
                yield app
            finally:
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        if len(group.exceptions) == 1:
            raise group.exceptions[0] from None
        raise


def timers_for(t1: float) -> TimerConfig:
    """RFC 3261 timers scaled from T1 (T2 = 8*T1, T4 = 10*T1, Timer D = 64*T1, capped)."""
    return TimerConfig(t1=t1, t2=min(4.0, 8 * t1), t4=min(5.0, 10 * t1), timer_d=min(32.0, 64 * t1))


def listen_host(spec: str) -> str:
    """The host of a listen spec (``sip:HOST:PORT;...``), for our SDP; 0.0.0.0 -> 127.0.0.1."""
    match = re.match(r"sips?:(\[[^\]]+\]|[^:;]+)", spec)
    host = match.group(1).strip("[]") if match else "127.0.0.1"
    return "127.0.0.1" if host in ("0.0.0.0", "::") else host


def srf_counters(srf: Srf) -> dict[str, int]:
    """The Srf's counters as a plain dict."""
    s = srf.statistics()
    return {
        "requests": s.requests,
        "pending_requests": s.pending_requests,
        "dialogs": s.dialogs,
        "handler_errors": s.handler_errors,
        "unanswered": s.unanswered,
    }


def engine_tables(engine: Engine) -> dict[str, int]:
    """The engine's table sizes and the counters that show trouble."""
    e = engine.statistics()
    return {
        "client_transactions": e.stack.client_transactions,
        "server_transactions": e.stack.server_transactions,
        "dialogs": e.stack.dialogs,
        "client_handles": e.client_handles,
        "retransmissions_out": e.stack.retransmissions_out,
        "retransmissions_in": e.stack.retransmissions_in,
        "inbox_drops": e.inbox_drops,
        "overload_503": e.overload_503,
        "internal_errors": e.internal_errors,
    }


def stats_line(srf: Srf, engine: Engine | None) -> str:
    """``stats {json}``: the engine's tables and counters, the Srf's, and call outcomes."""
    data: dict[str, Any] = {
        "outcomes": dict(srf.locals.get("outcomes", {})),
        "events": dict(srf.locals.get("events", {})),
        "srf": srf_counters(srf),
    }
    if engine is not None:
        data["engine"] = engine_tables(engine)
    return "stats " + json.dumps(data, sort_keys=True)


async def serve_until_signalled(srf: Srf, engine: Engine | None) -> None:
    """Print stats on SIGUSR1; return on SIGINT/SIGTERM after printing them once more."""
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM, signal.SIGUSR1) as signals:
        for lst in engine.listening if engine is not None else ():
            print(f"listening on {lst.contact}", flush=True)
        async for signum in signals:
            print(stats_line(srf, engine), flush=True)
            if signum != signal.SIGUSR1:
                return
