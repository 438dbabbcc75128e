"""An engine-level UAS: answers INVITE with 200 + SDP, BYE with 200, anything else 200/405.

This uses the embedded engine directly (no Srf layer): it is what the engine
benchmark and the SIPp interop tests run, and a small example of the Agent
boundary. Run it and call it with SIPp::

    python examples/engine_uas.py --listen "sip:127.0.0.1:5080;transport=udp,tcp"
    sipp -sn uac 127.0.0.1:5080 -m 10 -r 5
"""

from __future__ import annotations

import argparse
import logging

import trio

from trio_srf.agent import IncomingRequest
from trio_srf.engine import Engine, open_engine
from trio_srf.media import SessionDescription

log = logging.getLogger("engine_uas")

_ANSWERED = {"INVITE", "BYE", "OPTIONS", "INFO", "UPDATE", "MESSAGE", "NOTIFY", "REGISTER"}


async def run_uas(
    engine: Engine, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    """Answer every request arriving on ``engine.incoming`` until the engine closes."""
    local = engine.listening[0] if engine.listening else None
    sdp = SessionDescription.build(local.host if local else "127.0.0.1", 6000).serialize()
    task_status.started()
    async for notice in engine.incoming:
        if not isinstance(notice, IncomingRequest):
            continue  # ACKs, CANCEL notices and dialog ends need no answer here
        request = notice.request
        if request.method == "INVITE":
            response = request.make_response(
                200, headers=[("Content-Type", "application/sdp")], body=sdp
            )
        elif request.method in _ANSWERED:
            response = request.make_response(200)
        else:
            response = request.make_response(405, headers=[("Allow", ", ".join(sorted(_ANSWERED)))])
        await engine.respond(notice.server_txn, response)


async def main() -> None:
    """Parse arguments and serve until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--listen", action="append", default=[], help="listen spec (repeatable)")
    args = parser.parse_args()
    listen = args.listen or ["sip:127.0.0.1:5080;transport=udp,tcp"]
    async with open_engine(listen) as engine:
        for lst in engine.listening:
            print(f"listening on {lst.contact}", flush=True)
        await run_uas(engine)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    trio.run(main)
