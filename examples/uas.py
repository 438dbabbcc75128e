"""A UAS on Srf: answers every INVITE with 180 then 200 + SDP and holds the call until BYE.

Each INVITE is answered with ``create_uas`` (the block is entered on the ACK and
ends when the caller hangs up). A re-INVITE with a new SDP is a ``modify`` event:
it is answered with our SDP in the matching direction (RFC 3264 §6.1) and counted.
``--reject STATUS`` refuses every call instead; ``--ring-ms`` rings that long
before answering. One log line per call on stdout::

    call <call-id> from <caller> -> 200 remote_hangup modify=0 duration 1.02s

Run it and call it with SIPp (Debian package ``sip-tester``)::

    python examples/uas.py --listen "sip:127.0.0.1:5080;transport=udp,tcp"
    sipp -sn uac 127.0.0.1:5080 -m 10 -r 5

Over a drachtio server instead of the embedded engine (``--drachtio`` and ``--listen``
exclude each other; see examples/_agent.py), e.g. trio_srf's own::

    trio-srf-server --listen "sip:127.0.0.1:5080;transport=udp" --admin 127.0.0.1:9022 \\
        --secret cymru &
    python examples/uas.py --drachtio 127.0.0.1:9022 --secret cymru
    sipp -sn uac 127.0.0.1:5080 -m 10 -r 5

Signals: SIGINT (Ctrl-C) or SIGTERM hang up every call and exit 0 after printing
a ``stats {...}`` JSON line (engine tables, Srf counters, call outcomes);
SIGUSR1 prints that line without exiting (tests poll it to see the tables drain).
``--t1`` shortens the RFC 3261 timers (T2, T4 and Timer D scale with it), so the
transaction tables empty within 64*T1 of the last call; the default is RFC 3261's 0.5 s.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections import Counter
from collections.abc import Sequence

import trio
from _agent import (
    add_agent_options,
    listen_host,
    open_agent_srf,
    serve_until_signalled,
    timers_for,
)

from trio_srf.engine import Engine, EngineConfig
from trio_srf.media import SessionDescription
from trio_srf.srf import Request, Response, Srf

log = logging.getLogger("uas")

#: RFC 3264 §6.1: the direction that answers an offered one (for a UA that sends and receives).
_ANSWER = {"sendonly": "recvonly", "recvonly": "sendonly", "inactive": "inactive"}

DEFAULT_LISTEN = "sip:127.0.0.1:5060;transport=udp,tcp"


def _answer_sdp(ours: SessionDescription, offer: str) -> str:
    """Our SDP for a new offer: the direction that answers it (RFC 3264 §6.1), version + 1."""
    try:
        offered = SessionDescription.parse(offer).directions[0]
    except Exception:  # no or unreadable offer: keep sendrecv
        offered = "sendrecv"
    return str(ours.with_direction(_ANSWER.get(offered, "sendrecv")).bump_version())


def build_uas(*, sdp_host: str = "127.0.0.1", ring_ms: int = 0, reject: int | None = None) -> Srf:
    """A Srf answering INVITE as described in the module docstring.

    ``srf.locals["outcomes"]`` counts call outcomes (``"200 remote_hangup"``, ``"486"``...),
    ``srf.locals["events"]`` in-dialog events (``"modify"``).
    """
    srf = Srf()
    outcomes: Counter[str] = Counter()
    events: Counter[str] = Counter()
    srf.locals["outcomes"] = outcomes
    srf.locals["events"] = events
    local = SessionDescription.build(sdp_host, 6000)
    local_text = str(local)  # the same 200 SDP for every call: serialised once

    async def invite(req: Request, res: Response) -> None:
        start = trio.current_time()
        outcome = "failed"
        modifies = 0

        async def on_modify(mreq: Request, mres: Response) -> None:
            nonlocal modifies
            modifies += 1
            events["modify"] += 1
            await mres.send(200, body=_answer_sdp(local, mreq.text))

        try:
            if reject is not None:
                await res.send(reject)
                outcome = str(reject)
                return
            await res.send(180)
            if ring_ms > 0:
                await trio.sleep(ring_ms / 1000)
            async with srf.create_uas(req, res, local_sdp=local_text, on_modify=on_modify) as call:
                await trio.sleep_forever()  # until the caller's BYE cancels the block
            assert call.termination is not None
            outcome = f"200 {call.termination.value}"
        finally:
            if req.cancelled:
                outcome = "487 cancelled"
            outcomes[outcome] += 1
            if log.isEnabledFor(logging.INFO):  # --quiet: skip building the line's arguments
                log.info(
                    "call %s from %s -> %s modify=%d duration %.2fs",
                    req.call_id,
                    req.calling_number or req.source_address,
                    outcome,
                    modifies,
                    trio.current_time() - start,
                )

    srf.use("invite", invite)
    return srf


async def run(
    listen: Sequence[str],
    *,
    ring_ms: int = 0,
    reject: int | None = None,
    t1: float = 0.5,
    drachtio: str | None = None,
    secret: str = "cymru",
) -> int:
    """Serve until SIGINT/SIGTERM (on a drachtio server if ``drachtio``); return the status."""
    host = listen_host(listen[0])
    srf = build_uas(sdp_host=host, ring_ms=ring_ms, reject=reject)
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
    p.add_argument("--ring-ms", type=int, default=0, help="ring this long before answering")
    p.add_argument("--reject", type=int, default=None, metavar="STATUS", help="refuse calls")
    p.add_argument("--t1", type=float, default=0.5, help="RFC 3261 T1 in seconds")
    p.add_argument("--quiet", action="store_true", help="no per-call log lines")
    args = p.parse_args(argv)
    if args.reject is not None and not 300 <= args.reject <= 699:
        p.error("--reject takes a final failure status, 300-699")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: ``python examples/uas.py [--listen SPEC]... | --drachtio HOST:PORT``."""
    args = parse_args(argv)
    logging.basicConfig(
        stream=sys.stdout,
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(message)s",
    )
    return trio.run(
        lambda: run(
            args.listen or [DEFAULT_LISTEN],
            ring_ms=args.ring_ms,
            reject=args.reject,
            t1=args.t1,
            drachtio=args.drachtio,
            secret=args.secret,
        )
    )


if __name__ == "__main__":
    sys.exit(main())
