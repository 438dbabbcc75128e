"""A record-routing stateful SIP proxy on Srf: every INVITE goes to the ``--target`` URIs.

Targets are tried one after another (a failure, a 503 or a timeout moves on to
the next), or all at once with ``--simultaneous`` (the first 2xx wins and the
other branches are CANCELled). The proxy stays in each call's path
(Record-Route), so ACK, BYE and re-INVITEs pass through it, below the
application. One log line per call (none with ``--quiet``); SIGUSR1 prints a
``stats {json}`` line (final statuses counted, engine tables) without exiting::

    python examples/proxy.py --listen "sip:127.0.0.1:5070" \\
        --target sip:127.0.0.1:5080 --target sip:127.0.0.1:5090
    sipp -sn uac 127.0.0.1:5070 -m 10 -r 5

Over a drachtio server instead of the embedded engine (``--drachtio`` and ``--listen``
exclude each other; see examples/_agent.py), the server proxies and the app decides where::

    trio-srf-server --listen "sip:127.0.0.1:5070;transport=udp" --admin 127.0.0.1:9022 \\
        --secret cymru &
    python examples/proxy.py --drachtio 127.0.0.1:9022 --secret cymru \\
        --target sip:127.0.0.1:5080 --target sip:127.0.0.1:5090
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import signal
import sys
from collections import Counter, deque

import trio
from _agent import add_agent_options, engine_tables, open_agent_srf, srf_counters

from trio_srf.engine import Engine
from trio_srf.srf import Request, Response, Srf

log = logging.getLogger("proxy")


def build_proxy(
    targets: list[str],
    *,
    simultaneous: bool = False,
    record_route: bool = True,
    provisional_timeout: float | None = None,
) -> Srf:
    """A Srf that proxies INVITE (and OPTIONS, MESSAGE) to ``targets``."""
    srf = Srf()
    # The latest outcomes (bounded: a long run must not keep every response) and a
    # count per final status for the stats line.
    srf.locals["outcomes"] = deque(maxlen=1000)
    statuses: Counter[str] = Counter()
    srf.locals["statuses"] = statuses

    async def proxy(req: Request, res: Response) -> None:
        outcome = await srf.proxy_request(
            req,
            targets,
            record_route=record_route and req.method == "INVITE",
            forking="simultaneous" if simultaneous else "sequential",
            provisional_timeout=provisional_timeout,
        )
        srf.locals["outcomes"].append(outcome)
        statuses[str(outcome.status)] += 1
        if not log.isEnabledFor(logging.INFO):
            return  # --quiet: skip building the line's arguments
        log.info(
            "%s %s from %s -> %s: %d%s",
            req.method,
            req.call_id,
            req.calling_number or req.source_address,
            outcome.target or "-",
            outcome.status,
            " (cancelled)" if outcome.cancelled else "",
        )

    srf.invite(proxy)
    srf.options(proxy)
    srf.message(proxy)
    return srf


async def serve_until_signalled(srf: Srf, engine: Engine) -> None:
    """Print ``stats {json}`` on SIGUSR1; return on SIGINT/SIGTERM after printing it once more."""
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM, signal.SIGUSR1) as signals:
        for lst in engine.listening:
            print(f"listening on {lst.contact}", flush=True)
        async for signum in signals:
            data = {
                "outcomes": dict(srf.locals["statuses"]),
                "srf": srf_counters(srf),
                "engine": engine_tables(engine),
            }
            print("stats " + json.dumps(data, sort_keys=True), flush=True)
            if signum != signal.SIGUSR1:
                return


async def main() -> None:
    """Parse arguments and proxy until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__)
    add_agent_options(parser)
    parser.add_argument("--target", action="append", required=True, help="target URI (repeatable)")
    parser.add_argument("--simultaneous", action="store_true", help="fork to all targets at once")
    parser.add_argument("--no-record-route", action="store_true", help="leave the dialog path")
    parser.add_argument("--provisional-timeout", type=float, default=None, metavar="SECONDS")
    parser.add_argument("--quiet", action="store_true", help="no per-call log lines")
    args = parser.parse_args()
    logging.basicConfig(
        stream=sys.stdout,
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(message)s",
    )
    srf = build_proxy(
        args.target,
        simultaneous=args.simultaneous,
        record_route=not args.no_record_route,
        provisional_timeout=args.provisional_timeout,
    )
    listen = args.listen or ["sip:127.0.0.1:5070;transport=udp,tcp"]
    async with open_agent_srf(
        srf, listen=listen, drachtio=args.drachtio, secret=args.secret
    ) as app:
        engine = app.agent if isinstance(app.agent, Engine) else None
        if engine is None:
            for lst in app.agent.listening:  # type: ignore[attr-defined]
                print(f"listening on {lst.contact}", flush=True)
            await trio.sleep_forever()
        await serve_until_signalled(app, engine)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        trio.run(main)
