"""A record-routing stateful SIP proxy on Srf: every INVITE goes to the ``--target`` URIs.

Targets are tried one after another (a failure, a 503 or a timeout moves on to
the next), or all at once with ``--simultaneous`` (the first 2xx wins and the
other branches are CANCELled). The proxy stays in each call's path
(Record-Route), so ACK, BYE and re-INVITEs pass through it, below the
application. One log line per call::

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
import logging

import trio
from _agent import add_agent_options, open_agent_srf

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
    srf.locals["outcomes"] = []

    async def proxy(req: Request, res: Response) -> None:
        outcome = await srf.proxy_request(
            req,
            targets,
            record_route=record_route and req.method == "INVITE",
            forking="simultaneous" if simultaneous else "sequential",
            provisional_timeout=provisional_timeout,
        )
        srf.locals["outcomes"].append(outcome)
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


async def main() -> None:
    """Parse arguments and proxy until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__)
    add_agent_options(parser)
    parser.add_argument("--target", action="append", required=True, help="target URI (repeatable)")
    parser.add_argument("--simultaneous", action="store_true", help="fork to all targets at once")
    parser.add_argument("--no-record-route", action="store_true", help="leave the dialog path")
    parser.add_argument("--provisional-timeout", type=float, default=None, metavar="SECONDS")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
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
        for lst in app.agent.listening:  # type: ignore[attr-defined]
            print(f"listening on {lst.contact}", flush=True)
        await trio.sleep_forever()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        trio.run(main)
