"""The two-stage dialer: answer, prompt for a number, connect the caller to it.

A port of drachtio's two-stage dialing sample (see docs/two-stage-dialer.md) that brings its own
media endpoint instead of FreeSWITCH, so it runs with nothing else installed:

1. An INVITE arrives. The dialer opens an RTP endpoint, answers the caller with the endpoint's
   SDP (RFC 3264 answer to the caller's offer) and, once the ACK is in, plays a prompt.
2. It collects the number: ``--digits`` digits (10 by default) as RFC 4733 telephone-events or
   SIP INFO (``application/dtmf-relay`` / ``application/dtmf``), with tries, a first-digit
   timeout and an inter-digit timeout; wrong input plays the "invalid" prompt and tries again.
3. It calls ``sip:<digits>@<gateway>`` offering the *caller's own SDP* and the caller's number
   as calling number, so the gateway sends media straight to the caller.
4. When the gateway answers it re-INVITEs the caller with the gateway's SDP (media now flows end
   to end) and releases the endpoint: the dialer stays in the signalling path only.
5. A hang-up on either side hangs up the other; a failed outdial (busy, no such number...) plays
   the "cannot complete" tone to the caller and hangs up.

Every call is one handler task built from nested ``async with`` blocks (endpoint, caller
dialog, gateway dialog) and one nursery holding the endpoint, so there are no callbacks and no
teardown glue: a BYE cancels the scope of its dialog, and leaving a block hangs up what it holds.

``--demo`` runs the dialer, a scripted caller and a scripted gateway in one process over
127.0.0.1 and prints the call as a ladder diagram (:func:`run_demo`, at the end of this file).

Run: ``python examples/two_stage_dialer.py --gateway 127.0.0.1:5090 --listen sip:127.0.0.1:5080``
or ``python examples/two_stage_dialer.py --demo``; over a drachtio server instead of the
embedded engine: ``--drachtio HOST:PORT --secret S`` in place of ``--listen`` (examples/_agent.py).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import re
import sys
from array import array
from collections.abc import Awaitable, Callable, Sequence

import attrs
import trio
from _agent import add_agent_options, open_agent_srf

from trio_srf.core import Flow, Transmit
from trio_srf.engine import Engine
from trio_srf.errors import DialogError, ProtocolError, RemoteProtocolError, SipError
from trio_srf.media import (
    RtpEndpoint,
    cannot_complete_prompt,
    enter_number_prompt,
    invalid_prompt,
    open_rtp_endpoint,
    sine,
)
from trio_srf.sip import Request as SipRequest, Response as SipResponse, parse
from trio_srf.srf import Dialog, Request, Response, Srf, open_srf

SipMessage = SipRequest | SipResponse

log = logging.getLogger("two_stage_dialer")

Prompt = Callable[[], "array[int]"]


@attrs.frozen
class DialerConfig:
    """What the dialer does with a call.

    Attributes:
        gateway: Where numbers are dialed: ``host[:port]`` (``sip:<digits>@<gateway>``).
        digits: How many digits make a number.
        tries: How many times the prompt is played before giving up.
        timeout: Seconds to wait for the first digit after the prompt.
        digit_timeout: Seconds to wait between digits.
        media_address: Address the RTP endpoint binds and announces in SDP.
        user_agent: User-Agent of the outdial INVITE.
        prompt: Makes the "please enter the number" prompt.
        invalid: Makes the "invalid entry" prompt.
        cannot_complete: Makes the "call cannot be completed" prompt.
    """

    gateway: str
    digits: int = 10
    tries: int = 3
    timeout: float = 8.0
    digit_timeout: float = 4.0
    media_address: str = "127.0.0.1"
    user_agent: str = "trio_srf two-stage dialer"
    prompt: Prompt = enter_number_prompt
    invalid: Prompt = invalid_prompt
    cannot_complete: Prompt = cannot_complete_prompt


@attrs.define
class DialerStats:
    """Counters of a dialer (what tests and the demo check).

    Attributes:
        calls: INVITEs handled.
        active_calls: Handlers still running.
        endpoints_open: RTP endpoints currently held.
        answered: Callers answered by the media endpoint.
        invalid_inputs: Wrong input that replayed the invalid prompt.
        no_input: Tries that ended without any digit.
        outdials: Calls placed to the gateway.
        connected: Outdials answered and bridged (caller re-INVITEd).
        far_end_failures: Final statuses of failed outdials, in order.
        reinvite_failures: Re-INVITEs of the caller that failed.
        completed: Bridged calls that ended.
    """

    calls: int = 0
    active_calls: int = 0
    endpoints_open: int = 0
    answered: int = 0
    invalid_inputs: int = 0
    no_input: int = 0
    outdials: int = 0
    connected: int = 0
    far_end_failures: list[int] = attrs.field(factory=list)
    reinvite_failures: int = 0
    completed: int = 0


class TwoStageDialer:
    """The application: routes INVITEs of ``srf`` to :meth:`handle_call`.

    Args:
        srf: The Srf to serve the dialer on.
        config: What to do with calls.
    """

    def __init__(self, srf: Srf, config: DialerConfig) -> None:
        self.srf = srf
        self.config = config
        self.stats = DialerStats()
        srf.invite(self.handle_call)

    async def handle_call(self, req: Request, res: Response) -> None:
        """One call, from INVITE to the last BYE."""
        self.stats.calls += 1
        self.stats.active_calls += 1
        try:
            async with trio.open_nursery() as call:
                try:
                    await self._call(req, res, call)
                finally:
                    call.cancel_scope.cancel()  # releases the endpoint if still held
        finally:
            self.stats.active_calls -= 1

    async def _hold_endpoint(
        self, *, task_status: trio.TaskStatus[tuple[RtpEndpoint, trio.CancelScope]]
    ) -> None:
        """Hold an RTP endpoint until the returned scope is cancelled (the release)."""
        with trio.CancelScope() as lease:
            async with open_rtp_endpoint(self.config.media_address) as endpoint:
                self.stats.endpoints_open += 1
                try:
                    task_status.started((endpoint, lease))
                    await trio.sleep_forever()
                finally:
                    self.stats.endpoints_open -= 1

    async def _call(self, req: Request, res: Response, call: trio.Nursery) -> None:
        cid = req.call_id
        endpoint, lease = await call.start(self._hold_endpoint)
        try:
            answer = endpoint.local_sdp(req.body)
        except RemoteProtocolError as exc:  # no SDP offer, or nothing we can play (488)
            log.info("%s: cannot answer the offer: %s", cid, exc)
            await res.send(exc.status_hint or 488)
            return

        async def on_info(ireq: Request, ires: Response) -> None:
            # SIP INFO digits (application/dtmf-relay, application/dtmf) join the RTP ones.
            try:
                digit = endpoint.feed_info(ireq.get("content-type") or "", ireq.body)
            except RemoteProtocolError as exc:
                await ires.send(exc.status_hint or 400)
                return
            log.debug("%s: INFO digit %s", cid, digit)
            await ires.send(200)

        async with self.srf.create_uas(
            req, res, local_sdp=answer.serialize(), on_info=on_info
        ) as caller:
            self.stats.answered += 1
            log.info("%s: answered %s with the media endpoint; prompting", cid, req.calling_number)
            number = await self._collect(endpoint, cid)
            if number is None:
                log.info("%s: no valid number after %d tries", cid, self.config.tries)
                await endpoint.play(self.config.cannot_complete())
                return
            target = f"sip:{number}@{self.config.gateway}"
            log.info("%s: collected %s; calling %s", cid, number, target)
            self.stats.outdials += 1
            try:
                async with self.srf.create_uac(
                    target,
                    local_sdp=caller.remote.sdp,
                    calling_number=req.calling_number,
                    headers={"User-Agent": self.config.user_agent},
                ) as callee:
                    await self._bridge(caller, callee, lease, cid)
            except SipError as exc:  # the outdial failed: tell the caller, then hang up
                self.stats.far_end_failures.append(exc.status)
                log.info("%s: %s answered %d; playing cannot-complete", cid, target, exc.status)
                await endpoint.play(self.config.cannot_complete())
                return
        log.info("%s: call ended (caller: %s)", cid, _why(caller))

    async def _bridge(
        self, caller: Dialog, callee: Dialog, lease: trio.CancelScope, cid: str
    ) -> None:
        """Point the caller's media at the gateway, drop the endpoint, wait for a hang-up."""
        try:
            await caller.modify(callee.remote.sdp)
        except (SipError, DialogError) as exc:
            self.stats.reinvite_failures += 1
            log.warning("%s: re-INVITE of the caller failed (%s); hanging up", cid, exc)
            return
        lease.cancel()
        self.stats.connected += 1
        log.info("%s: caller re-INVITEd with the gateway's SDP; media endpoint released", cid)
        # Mid-call re-INVITEs and INFOs are relayed to the other leg from now on.
        caller.on("modify", _relay_modify(callee))
        callee.on("modify", _relay_modify(caller))
        caller.on("info", _relay_info(callee))
        try:
            await trio.sleep_forever()  # until a BYE cancels one of the two dialog scopes
        finally:
            self.stats.completed += 1
            log.info("%s: bridged call over (gateway: %s)", cid, _why(callee))

    async def _collect(self, endpoint: RtpEndpoint, cid: str) -> str | None:
        """FreeSWITCH's play_and_get_digits, with each wrong input logged and counted."""
        cfg = self.config
        prompt, invalid = cfg.prompt(), cfg.invalid()
        for attempt in range(1, cfg.tries + 1):
            await endpoint.play(prompt, barge_in=True)
            got = await endpoint.collect_digits(
                cfg.digits, cfg.digits, "#", cfg.timeout, cfg.digit_timeout
            )
            if got.ok:
                return got.digits
            if not got.digits and got.terminator is None:
                self.stats.no_input += 1
                log.info("%s: no input (try %d of %d)", cid, attempt, cfg.tries)
                continue
            self.stats.invalid_inputs += 1
            log.info(
                "%s: invalid input %r (try %d of %d): playing the invalid prompt",
                cid,
                got.digits,
                attempt,
                cfg.tries,
            )
            endpoint.flush_digits()
            await endpoint.play(invalid, barge_in=True)
        return None


def _why(dialog: Dialog) -> str:
    return dialog.termination.value if dialog.termination else "up"


def _relay_modify(other: Dialog) -> Callable[[Request, Response], Awaitable[None]]:
    async def relay(req: Request, res: Response) -> None:
        try:
            sdp = await other.modify(req.body)
        except SipError as exc:
            await res.send(exc.status)
            return
        await res.send(200, body=sdp)

    return relay


def _relay_info(other: Dialog) -> Callable[[Request, Response], Awaitable[None]]:
    async def relay(req: Request, res: Response) -> None:
        ctype = req.get("content-type")
        headers = {"Content-Type": ctype} if ctype else None
        try:
            answer = await other.request("INFO", headers=headers, body=req.body)
        except DialogError:
            await res.send(481)
            return
        await res.send(answer.status)

    return relay


# --------------------------------------------------------------------------- running


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line (see ``--help``)."""
    p = argparse.ArgumentParser(description="Two-stage dialer on trio_srf.")
    p.add_argument("--gateway", help="host[:port] numbers are dialed at (sip:<digits>@GATEWAY)")
    add_agent_options(
        p, listen_help="listen spec, repeatable (default sip:127.0.0.1:5080;transport=udp,tcp)"
    )
    p.add_argument("--digits", type=int, default=10, help="digits in a number (10)")
    p.add_argument("--tries", type=int, default=3, help="prompts before giving up (3)")
    p.add_argument("--timeout", type=float, default=8.0, help="first-digit timeout, s (8)")
    p.add_argument("--digit-timeout", type=float, default=4.0, help="inter-digit timeout, s (4)")
    p.add_argument("--media-address", default="127.0.0.1", help="RTP address (127.0.0.1)")
    p.add_argument("--demo", action="store_true", help="run the self-contained demo call")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    args = p.parse_args(argv)
    if not args.demo and not args.gateway:
        p.error("--gateway is required (or use --demo)")
    return args


async def serve(args: argparse.Namespace) -> None:
    """Run the dialer until interrupted."""
    config = DialerConfig(
        gateway=re.sub(r"^sips?:", "", args.gateway),
        digits=args.digits,
        tries=args.tries,
        timeout=args.timeout,
        digit_timeout=args.digit_timeout,
        media_address=args.media_address,
    )
    srf = Srf()
    TwoStageDialer(srf, config)
    listen = args.listen or ["sip:127.0.0.1:5080;transport=udp,tcp"]
    async with open_agent_srf(srf, listen=listen, drachtio=args.drachtio, secret=args.secret):
        for item in getattr(srf.agent, "listening", []):
            log.info("listening on %s %s:%s", item.transport, item.host, item.port)
        log.info("dialing numbers at %s", config.gateway)
        await trio.sleep_forever()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = parse_args(argv)
    if args.demo:
        return trio.run(run_demo, args.verbose)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(name)s %(message)s",
    )
    with contextlib.suppress(KeyboardInterrupt):
        trio.run(serve, args)
    return 0


# --------------------------------------------------------------------------- the demo

DEMO_NUMBER = "1023456789"
DEMO_CALLER = "2125550100"
_COL = 36  # characters between two lifelines of the ladder
_PARTIES = ("caller", "dialer", "gateway")


@attrs.frozen
class LadderRow:
    """One ladder row: a SIP message (``message`` set) or a note (``dst`` empty)."""

    time: float
    src: str
    dst: str
    text: str
    message: SipMessage | None = None


class Ladder:
    """The call as the dialer's engine saw it: every SIP message in and out, plus notes.

    The dialer is in the middle of every exchange, so tapping its engine alone shows the whole
    call. The tap wraps the sans-IO stack's ``receive``/``receive_message`` (what came in)
    and ``outgoing`` (what goes out) on one engine instance; it only observes.
    """

    def __init__(self) -> None:
        self.rows: list[LadderRow] = []
        self.start = trio.current_time()
        self._parties: dict[tuple[str, int], str] = {}
        self._media: dict[int, str] = {}

    def party(self, address: tuple[str, int], name: str) -> None:
        """Name the SIP address ``(host, port)`` of a party."""
        self._parties[address] = name

    def media(self, port: int, name: str) -> None:
        """Name the owner of the RTP port ``port`` (to label SDP bodies)."""
        self._media[port] = name

    def messages(self, src: str, dst: str, method: str | None = None) -> list[SipMessage]:
        """The SIP messages ``src`` sent to ``dst`` (requests of ``method`` only, if given)."""
        return [
            row.message
            for row in self.rows
            if row.message is not None
            and (row.src, row.dst) == (src, dst)
            and (method is None or getattr(row.message, "method", None) == method)
        ]

    def note(self, who: str, text: str) -> None:
        """Add a note (not a SIP message) by ``who``."""
        self.rows.append(LadderRow(trio.current_time() - self.start, who, "", text))

    def tap(self, engine: Engine) -> None:
        """Record what ``engine`` receives and sends from now on."""
        stack = engine.stack
        receive, receive_message, outgoing = stack.receive, stack.receive_message, stack.outgoing

        def tapped_receive(data: bytes, flow: Flow, now: float) -> None:
            with contextlib.suppress(ProtocolError):
                self._message(parse(data), flow, inbound=True)
            receive(data, flow, now)

        def tapped_receive_message(message: SipMessage, flow: Flow, now: float) -> None:
            self._message(message, flow, inbound=True)
            receive_message(message, flow, now)

        def tapped_outgoing() -> list[Transmit]:
            out = outgoing()
            for transmit in out:
                with contextlib.suppress(ProtocolError):
                    self._message(parse(transmit.data), transmit.flow, inbound=False)
            return out

        stack.receive = tapped_receive  # type: ignore[method-assign]
        stack.receive_message = tapped_receive_message  # type: ignore[method-assign]
        stack.outgoing = tapped_outgoing  # type: ignore[method-assign]

    def _message(self, msg: SipMessage, flow: Flow, *, inbound: bool) -> None:
        peer = self._parties.get((flow.remote[0], flow.remote[1]), f"{flow.remote[1]}")
        src, dst = (peer, "dialer") if inbound else ("dialer", peer)
        self.rows.append(
            LadderRow(trio.current_time() - self.start, src, dst, self._label(msg), msg)
        )

    def _label(self, msg: SipMessage) -> str:
        if isinstance(msg, SipRequest):
            text = msg.method
            if msg.method == "INVITE" and msg.to.tag:
                text = "re-INVITE"
            elif msg.method == "INVITE":
                user = getattr(msg.request_uri, "user", None)
                text = f"INVITE {user}" if user else text
        else:
            text = f"{msg.status} {msg.reason}"
        if msg.body:
            ctype = (msg.get("content-type") or "").lower()
            if ctype.startswith("application/sdp"):
                match = re.search(rb"^m=audio (\d+)", msg.body, re.MULTILINE)
                port = int(match.group(1)) if match else -1
                text += f" (sdp {self._media.get(port, 'dialer')})"
            elif ctype.startswith("application/dtmf"):
                text += " (dtmf)"
        return text

    def render(self) -> list[str]:
        """The diagram as text lines."""
        width = _COL * (len(_PARTIES) - 1) + 1
        head = "".join(name.center(_COL) for name in _PARTIES)
        lines = ["  time  " + head.rstrip(), "        " + self._blank(width)]
        for row in self.rows:
            line = list(self._blank(width))
            if row.dst == "":  # a note: written across the lifelines
                lines.append(f"{row.time:6.3f}  |  ({row.src}) {row.text}")
                continue
            elif row.src in _PARTIES and row.dst in _PARTIES:
                a, b = _PARTIES.index(row.src), _PARTIES.index(row.dst)
                lo, hi = sorted((a, b))
                span = (hi - lo) * _COL - 1
                label = f" {row.text[: span - 5]} "
                body = ("--" + label).ljust(span - 1, "-")
                arrow = body + ">" if a < b else "<" + body
                line[lo * _COL + 1 : hi * _COL] = arrow
                tail = ""
            else:
                tail = f"  {row.src} -> {row.dst}: {row.text}"
            lines.append(f"{row.time:6.3f}  " + "".join(line) + tail)
        return lines

    @staticmethod
    def _blank(width: int) -> str:
        return "".join("|" if i % _COL == 0 else " " for i in range(width))


class _NoteHandler(logging.Handler):
    """Turns the dialer's log lines into ladder notes."""

    def __init__(self, ladder: Ladder) -> None:
        super().__init__(logging.INFO)
        self.ladder = ladder

    def emit(self, record: logging.LogRecord) -> None:
        self.ladder.note("dialer", record.getMessage().split(": ", 1)[-1])


@attrs.define
class _Seen:
    """What the scripted parties observed."""

    caller_offer: str = ""
    caller_reinvite_sdp: str = ""
    caller_heard: float = 0.0
    caller_end: str = ""
    gateway_user: str | None = None
    gateway_from: str | None = None
    gateway_offer: str = ""
    gateway_answer: str = ""
    gateway_rtp_in: int = 0
    gateway_end: str = ""


async def _until(predicate: Callable[[], bool]) -> None:
    """Poll ``predicate``: the counters of the other parties have no event to wait on."""
    while True:
        if predicate():
            return
        await trio.sleep(0.005)


def _sip_address(srf: Srf) -> tuple[str, int]:
    engine = srf.agent
    assert isinstance(engine, Engine)
    item = next(i for i in engine.listening if i.transport == "udp")
    return (item.host, item.port)


def _script_gateway(srf: Srf, ladder: Ladder, seen: _Seen) -> None:
    """The far end: answers with its own SDP, talks until it hears the caller, hangs up."""

    async def answer(req: Request, res: Response) -> None:
        seen.gateway_user = req.called_number
        seen.gateway_from = req.calling_number
        seen.gateway_offer = req.text
        async with open_rtp_endpoint("127.0.0.1") as ep:
            ladder.media(ep.local_address[1], "gateway")
            sdp = ep.local_sdp(req.body).serialize()
            seen.gateway_answer = sdp.decode()
            async with srf.create_uas(req, res, local_sdp=sdp) as call:
                ladder.note("gateway", "answered; its RTP goes straight to the caller")
                await ep.play(sine(440, 0.3, 0.25))  # "hello?"
                with trio.move_on_after(4):  # then listen to the caller's 0.4 s (20 packets)
                    await _until(lambda: ep.statistics().packets_received >= 20)
                seen.gateway_rtp_in = ep.statistics().packets_received
                ladder.note("gateway", f"heard {seen.gateway_rtp_in} RTP packets from the caller")
                await trio.sleep(0.3)
                ladder.note("gateway", "hangs up")
            seen.gateway_end = _why(call)

    srf.use("invite", answer)


async def _script_caller(srf: Srf, dialer: str, ladder: Ladder, seen: _Seen) -> None:
    """The caller: dials in, keys the number when the prompt starts, talks, is hung up on."""
    async with open_rtp_endpoint("127.0.0.1") as ep:
        ladder.media(ep.local_address[1], "caller")
        offer = ep.local_sdp().serialize()
        seen.caller_offer = offer.decode()
        reinvited = trio.Event()

        async def on_modify(req: Request, res: Response) -> None:
            seen.caller_reinvite_sdp = req.text
            await res.send(200, body=ep.local_sdp(req.body).serialize())
            reinvited.set()

        async with srf.create_uac(
            dialer, local_sdp=offer, calling_number=DEMO_CALLER, on_modify=on_modify
        ) as call:
            ep.set_remote(call.remote.sdp)
            with trio.fail_after(3):
                await _until(lambda: ep.statistics().packets_received > 0)
            ladder.note("caller", f"hears the prompt; keys {DEMO_NUMBER} as RFC 4733 events")
            with ep.recording() as heard:  # from here on, only the gateway talks to us
                await ep.send_dtmf(DEMO_NUMBER, duration=0.06, gap=0.02)
                with trio.fail_after(5):
                    await reinvited.wait()
                await ep.play(sine(660, 0.4, 0.25))
            seen.caller_heard = heard.duration
            ladder.note("caller", f"talked to the gateway; heard {heard.duration:.2f} s of it")
            await trio.sleep_forever()  # until the gateway's BYE comes through the dialer
        seen.caller_end = _why(call)


async def run_demo(verbose: bool = False) -> int:
    """Dialer, scripted caller and gateway in one process; print the ladder and a verdict.

    Returns:
        0 when the call connected end to end and tore down cleanly, else 1.
    """
    ladder = Ladder()
    seen = _Seen()
    note_handler = _NoteHandler(ladder)
    log.addHandler(note_handler)
    log.setLevel(logging.DEBUG if verbose else logging.INFO)
    log.propagate = verbose
    listen = ["sip:127.0.0.1:0;transport=udp"]
    gateway, dialer_srf, caller = Srf(), Srf(), Srf()
    _script_gateway(gateway, ladder, seen)
    failure = ""
    dialer: TwoStageDialer | None = None
    try:
        with trio.fail_after(15):
            async with open_srf(gateway, listen=listen):
                gw_host, gw_port = _sip_address(gateway)
                config = DialerConfig(gateway=f"{gw_host}:{gw_port}", timeout=3, digit_timeout=2)
                dialer = TwoStageDialer(dialer_srf, config)
                async with open_srf(dialer_srf, listen=listen), open_srf(caller, listen=listen):
                    assert isinstance(dialer_srf.agent, Engine)
                    ladder.tap(dialer_srf.agent)
                    ladder.party(_sip_address(caller), "caller")
                    ladder.party((gw_host, gw_port), "gateway")
                    d_host, d_port = _sip_address(dialer_srf)
                    await _script_caller(caller, f"sip:dialer@{d_host}:{d_port}", ladder, seen)
                    await _until(
                        lambda: not (dialer.stats.active_calls or dialer_srf.statistics().dialogs)
                    )
                    srf_stats = dialer_srf.statistics()
    except (trio.TooSlowError, SipError, DialogError, RemoteProtocolError) as exc:
        failure = f"{type(exc).__name__}: {exc}"
        srf_stats = None
    finally:
        log.removeHandler(note_handler)

    print("Two-stage dialer demo: caller -> dialer (prompt, digits) -> gateway, on 127.0.0.1")
    print()
    print("\n".join(ladder.render()))
    print()
    stats = dialer.stats if dialer is not None else DialerStats()
    checks = [
        ("the dialer answered the caller with its media endpoint", stats.answered == 1),
        (f"the gateway was called at {DEMO_NUMBER}", seen.gateway_user == DEMO_NUMBER),
        ("the gateway was offered the caller's own SDP", seen.gateway_offer == seen.caller_offer),
        (f"the calling number {DEMO_CALLER} was passed on", seen.gateway_from == DEMO_CALLER),
        (
            "the caller was re-INVITEd with the gateway's SDP",
            bool(seen.caller_reinvite_sdp) and seen.caller_reinvite_sdp == seen.gateway_answer,
        ),
        ("RTP flowed caller -> gateway directly", seen.gateway_rtp_in >= 20),
        ("the caller heard the gateway", seen.caller_heard > 0),
        ("the media endpoint was released", stats.connected == 1 and stats.endpoints_open == 0),
        (
            "the gateway hung up and the BYE reached the caller",
            (seen.gateway_end, seen.caller_end) == ("local_hangup", "remote_hangup"),
        ),
        (
            "no call, dialog or request left in the dialer",
            srf_stats is not None
            and (stats.active_calls, srf_stats.dialogs, srf_stats.pending_requests) == (0, 0, 0),
        ),
    ]
    for text, ok in checks:
        print(f"  [{'ok' if ok else 'FAIL'}] {text}")
    if failure:
        print(f"  [FAIL] the demo stopped early: {failure}")
    failed = sum(not ok for _, ok in checks) + bool(failure)
    if failed:
        print(f"verdict: FAIL ({failed} of {len(checks)} checks failed)")
        return 1
    print(f"verdict: PASS: {DEMO_NUMBER} connected end to end and torn down cleanly")
    return 0


if __name__ == "__main__":
    sys.exit(main())
