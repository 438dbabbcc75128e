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
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import trio

from trio_srf.engine import EngineConfig
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
