"""A UAC on Srf: places N calls at R calls/s with ``create_uac``, holds each, hangs up.

Each call sends an INVITE with an SDP offer, answers a 401/407 digest challenge
once when ``--auth user:pass`` is given, holds the call ``--hold-ms``, then sends
BYE by leaving the ``async with`` block. A call that is not answered within
``--timeout`` seconds is CANCELled. One log line per call, then a summary line;
the exit status is 0 only if every call succeeded::

    call <call-id> to <uri> -> 200 local_hangup duration 1.02s
    summary: calls=10 ok=10 failed=0 elapsed 3.05s

Run it against SIPp's UAS (Debian package ``sip-tester``)::

    sipp -sn uas -p 5090 &
    python examples/uac.py --listen "sip:127.0.0.1:5070" \\
        --to sip:service@127.0.0.1:5090 --calls 10 --rate 5 --hold-ms 1000

Over a drachtio server instead of the embedded engine (``--drachtio`` and ``--listen``
exclude each other; see examples/_agent.py), the calls leave from the server::

    python examples/uac.py --drachtio 127.0.0.1:9022 --secret cymru \\
        --to sip:service@127.0.0.1:5090 --calls 10 --rate 5

Add ``;transport=tcp`` to ``--to`` for TCP. Before exiting it prints a
``stats {...}`` JSON line (engine tables, Srf counters, outcomes), after waiting
up to ``--drain`` seconds for the transaction tables to empty (they keep
transactions 64*T1 after the last call, RFC 3261/6026; ``--t1`` shortens T1).
SIGINT (Ctrl-C) or SIGTERM stop placing calls and hang up the ones in progress.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import signal
import sys
from collections import Counter
from collections.abc import Sequence
from typing import Any

import trio
from _agent import (
    add_agent_options,
    engine_tables,
    listen_host,
    open_agent_srf,
    srf_counters,
    timers_for,
)

from trio_srf.engine import Engine, EngineConfig
from trio_srf.errors import SipError, SrfError
from trio_srf.media import SessionDescription
from trio_srf.srf import Srf

log = logging.getLogger("uac")

DEFAULT_LISTEN = "sip:127.0.0.1:5060;transport=udp,tcp"


def _drained(engine: Engine) -> bool:
    t = engine_tables(engine)
    return not (t["client_transactions"] or t["server_transactions"] or t["dialogs"])


async def place_call(
    srf: Srf,
    to: str,
    *,
    sdp: str,
    hold: float,
    answer_within: float,
    auth: tuple[str, str] | None,
    outcomes: Counter[str],
) -> None:
    """One call: INVITE (CANCEL after ``answer_within`` s), hold, BYE; count and log its outcome."""
    start = trio.current_time()
    outcome = "failed"
    call_id = "-"
    try:
        with trio.CancelScope(deadline=start + answer_within) as setup:
            async with srf.create_uac(to, local_sdp=sdp, auth=auth) as call:
                call_id = call.call_id
                setup.deadline = math.inf  # answered: the hold time is not bounded by it
                await trio.sleep(hold)
            assert call.termination is not None
            outcome = f"200 {call.termination.value}"
        if setup.cancelled_caught:
            outcome = "timeout"
    except SipError as exc:
        outcome = str(exc.status)
        if exc.response is not None:
            call_id = exc.response.call_id
    except SrfError as exc:
        outcome = f"error {type(exc).__name__}"
    finally:
        outcomes[outcome] += 1
        log.info(
            "call %s to %s -> %s duration %.2fs",
            call_id,
            to,
            outcome,
            trio.current_time() - start,
        )


async def run(
    listen: Sequence[str],
    *,
    to: str,
    calls: int,
    rate: float,
    hold_ms: int = 0,
    auth: tuple[str, str] | None = None,
    answer_within: float = 32.0,
    t1: float = 0.5,
    drain: float = 0.0,
    drachtio: str | None = None,
    secret: str = "cymru",
) -> int:
    """Place the calls (from a drachtio server if ``drachtio``); return 0 if all succeeded."""
    outcomes: Counter[str] = Counter()
    sdp = str(SessionDescription.build(listen_host(listen[0]), 6000))
    config = EngineConfig(timers=timers_for(t1))
    started = trio.current_time()
    elapsed: float | None = None
    async with open_agent_srf(
        listen=listen, config=config, drachtio=drachtio, secret=secret
    ) as srf:
        engine = srf.agent if isinstance(srf.agent, Engine) else None
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            for lst in engine.listening if engine is not None else ():
                print(f"listening on {lst.contact}", flush=True)
            async with trio.open_nursery() as nursery:

                async def stop_on_signal() -> None:
                    async for _ in signals:
                        log.info("signal: stopping")
                        nursery.cancel_scope.cancel()

                nursery.start_soon(stop_on_signal)
                async with trio.open_nursery() as callers:
                    for n in range(calls):
                        if n:
                            await trio.sleep_until(started + n / rate)
                        callers.start_soon(
                            lambda: place_call(
                                srf,
                                to,
                                sdp=sdp,
                                hold=hold_ms / 1000,
                                answer_within=answer_within,
                                auth=auth,
                                outcomes=outcomes,
                            )
                        )
                elapsed = trio.current_time() - started
                if engine is not None:
                    with trio.move_on_after(drain):
                        while True:  # the engine has no "drained" event: poll its tables
                            if _drained(engine):
                                break
                            await trio.sleep(0.05)
                nursery.cancel_scope.cancel()
        if elapsed is None:
            elapsed = trio.current_time() - started
        ok = sum(v for k, v in outcomes.items() if k.startswith("200 "))
        failed = calls - ok
        print(
            f"summary: calls={calls} ok={ok} failed={failed} elapsed {elapsed:.2f}s "
            f"outcomes={dict(outcomes)}",
            flush=True,
        )
        data: dict[str, Any] = {"outcomes": dict(outcomes), "srf": srf_counters(srf)}
        if engine is not None:
            data["engine"] = engine_tables(engine)
        print("stats " + json.dumps(data, sort_keys=True), flush=True)
    return 0 if failed == 0 else 1


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    add_agent_options(p)
    p.add_argument("--to", required=True, metavar="URI", help="whom to call")
    p.add_argument("--calls", type=int, default=1, metavar="N")
    p.add_argument("--rate", type=float, default=1.0, metavar="R", help="calls per second")
    p.add_argument("--hold-ms", type=int, default=0, help="how long each call is held")
    p.add_argument("--auth", default=None, metavar="USER:PASS", help="digest credentials")
    p.add_argument("--timeout", type=float, default=32.0, help="CANCEL unanswered calls after")
    p.add_argument("--t1", type=float, default=0.5, help="RFC 3261 T1 in seconds")
    p.add_argument("--drain", type=float, default=0.0, help="wait for empty tables at exit")
    p.add_argument("--quiet", action="store_true", help="no per-call log lines")
    args = p.parse_args(argv)
    if args.calls < 1 or args.rate <= 0:
        p.error("--calls must be >= 1 and --rate > 0")
    if args.auth is not None and ":" not in args.auth:
        p.error("--auth takes USER:PASS")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: ``python examples/uac.py --to URI --calls N --rate R``."""
    args = parse_args(argv)
    logging.basicConfig(
        stream=sys.stdout,
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(message)s",
    )
    user, _, password = (args.auth or "").partition(":")
    auth = (user, password) if args.auth else None
    return trio.run(
        lambda: run(
            args.listen or [DEFAULT_LISTEN],
            to=args.to,
            calls=args.calls,
            rate=args.rate,
            hold_ms=args.hold_ms,
            auth=auth,
            answer_within=args.timeout,
            t1=args.t1,
            drain=args.drain,
            drachtio=args.drachtio,
            secret=args.secret,
        )
    )


if __name__ == "__main__":
    sys.exit(main())
