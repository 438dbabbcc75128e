"""A B2BUA on Srf: every incoming call is bridged to ``--target`` with ``create_b2bua``.

Ringing and early media (B's 1xx with SDP) are relayed to A, a CANCEL from A
reaches B, B's failure status is relayed to A, and a BYE on either leg hangs up
the other (one cancel scope covers both legs). In-dialog requests are relayed
to the other leg and its answer relayed back: a re-INVITE becomes
``other.modify(offer)``, INFO/UPDATE/MESSAGE/NOTIFY/OPTIONS become
``other.request(...)`` with their body and headers. One log line per call::

    call <call-id> from <caller> -> 200 a=remote_hangup b=local_hangup duration 1.02s

Run it between two SIPp instances (Debian package ``sip-tester``)::

    sipp -sn uas -p 5090 &
    python examples/b2bua.py --listen "sip:127.0.0.1:5080;transport=udp,tcp" \\
        --target sip:service@127.0.0.1:5090
    sipp -sn uac 127.0.0.1:5080 -m 10 -r 5

Over a drachtio server instead of the embedded engine (``--drachtio`` and ``--listen``
exclude each other; see examples/_agent.py), both legs pass through the server::

    trio-srf-server --listen "sip:127.0.0.1:5080;transport=udp" --admin 127.0.0.1:9022 \\
        --secret cymru &
    python examples/b2bua.py --drachtio 127.0.0.1:9022 --secret cymru \\
        --target sip:service@127.0.0.1:5090

Signals: SIGINT (Ctrl-C) or SIGTERM hang up every call and exit 0 after printing
a ``stats {...}`` JSON line; SIGUSR1 prints it without exiting. ``--t1``
shortens the RFC 3261 timers (see ``examples/uas.py``).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import trio
from _agent import (
    add_agent_options,
    open_agent_srf,
    serve_until_signalled,
    timers_for,
)

from trio_srf.engine import Engine, EngineConfig
from trio_srf.errors import DialogError, SipError, SrfError
from trio_srf.srf import Dialog, Request, Response, Srf, copy_headers

log = logging.getLogger("b2bua")

DEFAULT_LISTEN = "sip:127.0.0.1:5060;transport=udp,tcp"
#: Headers relayed with in-dialog requests and their answers (hop-by-hop ones never are).
RELAYED = ("all",)

Handler = Callable[[Request, Response], Awaitable[None]]


def _with_type(pairs: list[tuple[str, str]], message: Any) -> list[tuple[str, str]]:
    ctype = message.get("content-type")
    if message.body and ctype:
        pairs.append(("Content-Type", ctype))
    return pairs


def make_relay(srf: Srf, events: Counter[str]) -> Handler:
    """A dialog handler that relays the request to the other leg and its answer back."""

    async def relay(req: Request, res: Response) -> None:
        leg = srf.find_dialog(req.dialog_id) if req.dialog_id else None
        other: Dialog | None = leg.other if leg is not None else None
        if other is None or not other.connected:
            await res.send(500, headers={"Retry-After": "1"})  # bridge not (or no longer) up
            return
        events[
            f"{req.method.lower()} {'a->b' if leg is not None and leg.type == 'uas' else 'b->a'}"
        ] += 1
        try:
            if req.method == "INVITE":
                sdp = await other.modify(req.body or "")
                await res.send(200, body=sdp or None)
                return
            answer = await other.request(
                req.method,
                headers=_with_type(copy_headers(req.msg, RELAYED), req.msg),
                body=req.body or None,
            )
        except SipError as exc:
            await res.send(exc.status, exc.reason or None)
            return
        except DialogError:
            await res.send(481)
            return
        await res.send(
            answer.status,
            answer.reason,
            headers=_with_type(copy_headers(answer, RELAYED), answer),
            body=answer.body or None,
        )

    return relay


def build_b2bua(target: str) -> Srf:
    """A Srf bridging every INVITE to ``target``.

    ``srf.locals["outcomes"]`` counts call outcomes, ``srf.locals["events"]``
    the in-dialog requests relayed (``"invite a->b"``...).
    """
    srf = Srf()
    outcomes: Counter[str] = Counter()
    events: Counter[str] = Counter()
    srf.locals["outcomes"] = outcomes
    srf.locals["events"] = events
    relay = make_relay(srf, events)
    handlers = {
        name: relay for name in ("modify", "info", "update", "message", "notify", "options")
    }

    async def invite(req: Request, res: Response) -> None:
        start = trio.current_time()
        outcome = "failed"
        try:
            async with srf.create_b2bua(
                req, res, target, handlers_a=handlers, handlers_b=handlers
            ) as (uas, uac):
                await trio.sleep_forever()  # until either leg hangs up
            a = uas.termination.value if uas.termination else "-"
            b = uac.termination.value if uac.termination else "-"
            outcome = f"200 a={a} b={b}"
        except SipError as exc:  # B refused; A got the same status
            outcome = f"{exc.status} relayed"
        except SrfError as exc:
            outcome = f"error {type(exc).__name__}"
            raise
        finally:
            if req.cancelled:
                outcome = "487 cancelled"
            outcomes[outcome] += 1
            if log.isEnabledFor(logging.INFO):  # --quiet: skip building the line's arguments
                log.info(
                    "call %s from %s -> %s duration %.2fs",
                    req.call_id,
                    req.calling_number or req.source_address,
                    outcome,
                    trio.current_time() - start,
                )

    srf.use("invite", invite)
    return srf


async def run(
    listen: Sequence[str],
    *,
    target: str,
    t1: float = 0.5,
    drachtio: str | None = None,
    secret: str = "cymru",
) -> int:
    """Bridge calls until SIGINT/SIGTERM (on a drachtio server if ``drachtio``)."""
    srf = build_b2bua(target)
    config = EngineConfig(timers=timers_for(t1))
    async with open_agent_srf(
        srf, listen=listen, config=config, drachtio=drachtio, secret=secret
    ) as app:
        engine = app.agent if isinstance(app.agent, Engine) else None
        await serve_until_signalled(app, engine)
    return 0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    add_agent_options(p)
    p.add_argument("--target", required=True, metavar="URI", help="where calls are bridged to")
    p.add_argument("--t1", type=float, default=0.5, help="RFC 3261 T1 in seconds")
    p.add_argument("--quiet", action="store_true", help="no per-call log lines")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: ``python examples/b2bua.py --target URI [--listen SPEC | --drachtio H:P]``."""
    args = parse_args(argv)
    logging.basicConfig(
        stream=sys.stdout,
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(message)s",
    )
    return trio.run(
        lambda: run(
            args.listen or [DEFAULT_LISTEN],
            target=args.target,
            t1=args.t1,
            drachtio=args.drachtio,
            secret=args.secret,
        )
    )


if __name__ == "__main__":
    sys.exit(main())
