"""Interop: the two-stage dialer between a SIPp caller and a SIPp gateway (issue 6, item 4).

The dialer runs in this process (``examples/two_stage_dialer.py``: :class:`TwoStageDialer` on
an embedded engine with short timers), so the test can read its counters and tables. Its
engine is tapped with the example's :class:`Ladder`, which keeps every SIP message it sent and
received: the assertions on what the gateway was offered and what the caller was re-INVITEd
with compare those messages byte for byte. The SIPp scenarios check the same things on
their side with regular expressions (a failed check fails the SIPp call):

* ``dialer_caller_rfc2833.xml``: keys ``1023456789`` as RFC 4733 events (Debian sip-tester's
  ``dtmf_2833_<digit>.pcap`` through ``play_pcap_audio``), expects the re-INVITE with the
  gateway's SDP, then hangs up or waits for the BYE.
* ``dialer_caller_info.xml``: the same with SIP INFO digits (``application/dtmf-relay`` and
  ``application/dtmf``), optionally after a too-short entry ``12#``.
* ``dialer_gateway.xml``: checks the Request-URI user, the calling number and the caller's
  SDP, answers with its own SDP, then hangs up or waits for the BYE.
* ``uas_486.xml``: a busy gateway.

The last test serves the same dialer over a drachtio connection (``--drachtio``): trio_srf's
own drachtio server in front of an engine, the dialer as its app.

Each test prints the SIPp summaries, the ladder and the dialer's counters, and ends with
the dialer holding no call, dialog, request, RTP endpoint or transaction.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import attrs
import pytest
import trio

from trio_srf.core import TimerConfig
from trio_srf.drachtio._server import DrachtioServer, serve_drachtio_apps
from trio_srf.engine import Engine, EngineConfig, open_engine
from trio_srf.sip import Request as SipRequest, Response as SipResponse
from trio_srf.srf import Srf, open_srf
from trio_srf.testing import SippResult, pick_free_port, requires_sipp, run_sipp, start_sipp

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))
from two_stage_dialer import DialerConfig, Ladder, TwoStageDialer, open_agent_srf

pytestmark = [pytest.mark.interop, requires_sipp()]

SCENARIOS = Path(__file__).resolve().parents[1] / "sipp"
PCAPS = Path("/usr/share/sip-tester")
NUMBER = "1023456789"
CALLER = "2125550100"
#: Short engine timers: 64*T1 = 1.28 s, so transactions drain quickly after the call.
QUICK = TimerConfig(t1=0.02, t2=0.08, t4=0.05, timer_d=0.1)

needs_pcaps = pytest.mark.skipif(
    not (PCAPS / "dtmf_2833_1.pcap").exists(),
    reason="Debian's sip-tester pcaps are missing (/usr/share/sip-tester)",
)


@attrs.define
class Dialer:
    """The dialer under test, with its tap."""

    app: TwoStageDialer
    srf: Srf
    engine: Engine
    ladder: Ladder

    @property
    def port(self) -> int:
        return next(i.port for i in self.engine.listening if i.transport == "udp")


@asynccontextmanager
async def dialer_for(
    gateway_port: int, gateway_media_port: int | None = None, **options: object
) -> AsyncIterator[Dialer]:
    """Run a dialer on 127.0.0.1 (ephemeral port) that dials at the SIPp gateway."""
    config = DialerConfig(
        gateway=f"127.0.0.1:{gateway_port}",
        timeout=3.0,
        digit_timeout=2.0,
        **options,  # type: ignore[arg-type]
    )
    srf = Srf()
    app = TwoStageDialer(srf, config)
    listen = ["sip:127.0.0.1:0;transport=udp"]
    async with open_srf(srf, listen=listen, config=EngineConfig(timers=QUICK)):
        engine = srf.agent
        assert isinstance(engine, Engine)
        ladder = Ladder()
        ladder.tap(engine)
        ladder.party(("127.0.0.1", gateway_port), "gateway")
        if gateway_media_port is not None:
            ladder.media(gateway_media_port, "gateway")
        yield Dialer(app, srf, engine, ladder)


async def drained(dialer: Dialer, within: float = 8.0) -> float:
    """Wait until the dialer holds nothing: calls, endpoints, dialogs, requests, transactions."""
    start = trio.current_time()
    with trio.fail_after(within):
        while True:
            st = dialer.app.stats
            srf = dialer.srf.statistics()
            eng = dialer.engine.statistics()
            held = (
                st.active_calls,
                st.endpoints_open,
                srf.dialogs,
                srf.pending_requests,
                srf.orphans,
                eng.stack.client_transactions,
                eng.stack.server_transactions,
                eng.stack.dialogs,
                eng.client_handles,
            )
            if held == (0,) * len(held):
                return trio.current_time() - start
            await trio.sleep(0.05)


def show(label: str, result: SippResult) -> None:
    print(f"{label}: {result.summary()}")
    if result.errors:
        print(f"{label} SIPp errors tail:\n{result.errors[-1500:]}")


def show_dialer(dialer: Dialer) -> None:
    print("\n".join(dialer.ladder.render()))
    print(f"dialer: {dialer.app.stats}")
    print(f"srf: {dialer.srf.statistics()}")
    assert dialer.engine.statistics().internal_errors == 0


def assert_ok(result: SippResult) -> None:
    assert result.failure_reasons() == {}
    assert (result.returncode, result.successful, result.failed) == (0, 1, 0)
    assert result.counter("FailedUnexpectedMessage") == 0


def one(messages: list[SipRequest | SipResponse]) -> SipRequest | SipResponse:
    assert len(messages) == 1, messages
    return messages[0]


async def place_call(
    dialer: Dialer,
    caller_scenario: str,
    **variables: bool,
) -> SippResult:
    """Run the SIPp caller once against the dialer."""
    port, media_port = pick_free_port(), pick_free_port()
    dialer.ladder.party(("127.0.0.1", port), "caller")
    dialer.ladder.media(media_port, "caller")
    return await run_sipp(
        scenario=SCENARIOS / caller_scenario,
        remote=f"127.0.0.1:{dialer.port}",
        local_port=port,
        calls=1,
        timeout_s=25,
        service="dialer",
        keys={"caller": CALLER},
        variables={name: "1" if value else "0" for name, value in variables.items()},
        extra_args=["-mp", str(media_port)],
    )


def assert_bridged(dialer: Dialer) -> None:
    """The gateway got the number, the caller's number and SDP; the caller got the gateway's."""
    ladder = dialer.ladder
    caller_invite = one(ladder.messages("caller", "dialer", "INVITE"))
    assert isinstance(caller_invite, SipRequest)
    outdial = one(ladder.messages("dialer", "gateway", "INVITE"))
    assert isinstance(outdial, SipRequest)
    assert outdial.uri.startswith(f"sip:{NUMBER}@127.0.0.1:")
    assert outdial.from_.uri.user == CALLER  # type: ignore[union-attr]
    assert outdial.get("content-type") == "application/sdp"
    assert outdial.body == caller_invite.body  # the caller's own SDP, byte for byte
    answers = [
        m
        for m in ladder.messages("gateway", "dialer")
        if isinstance(m, SipResponse) and m.status == 200 and m.cseq.method == "INVITE"
    ]
    gateway_sdp = answers[0].body
    assert b"o=trio_srf-gateway 7001 1" in gateway_sdp
    reinvite = one(ladder.messages("dialer", "caller", "INVITE"))
    assert isinstance(reinvite, SipRequest)
    assert reinvite.to.tag  # in-dialog
    assert reinvite.body == gateway_sdp  # the gateway's SDP, byte for byte
    stats = dialer.app.stats
    assert (stats.answered, stats.outdials, stats.connected, stats.completed) == (1, 1, 1, 1)
    assert stats.far_end_failures == []
    assert stats.reinvite_failures == 0


def bye_path(dialer: Dialer) -> list[tuple[str, str]]:
    """Who sent a BYE to whom, in order."""
    return [
        (row.src, row.dst)
        for row in dialer.ladder.rows
        if isinstance(row.message, SipRequest) and row.message.method == "BYE"
    ]


# --------------------------------------------------------------------------- RFC 4733 digits


@needs_pcaps
@pytest.mark.parametrize("who_hangs_up", ["caller", "gateway"])
async def test_rfc4733_digits_bridge_the_call_and_bye_propagates(who_hangs_up: str) -> None:
    media_port = pick_free_port()
    with trio.fail_after(40):
        async with start_sipp(
            scenario=SCENARIOS / "dialer_gateway.xml",
            timeout_s=30,
            variables={"gateway_hangs_up": "1" if who_hangs_up == "gateway" else "0"},
            extra_args=["-mp", str(media_port)],
        ) as gateway:
            async with dialer_for(gateway.local_port, media_port) as dialer:
                caller = await place_call(
                    dialer,
                    "dialer_caller_rfc2833.xml",
                    caller_hangs_up=who_hangs_up == "caller",
                    far_end_busy=False,
                )
                show("sipp caller", caller)
                show_dialer(dialer)
                waited = await drained(dialer)
                print(f"dialer drained {waited:.2f}s after the caller exited")
            gw = await gateway.stop()
        show("sipp gateway", gw)
        assert_ok(caller)
        assert_ok(gw)
        assert_bridged(dialer)
        if who_hangs_up == "caller":
            assert bye_path(dialer) == [("caller", "dialer"), ("dialer", "gateway")]
        else:
            assert bye_path(dialer) == [("gateway", "dialer"), ("dialer", "caller")]
        assert dialer.app.stats.invalid_inputs == 0


# --------------------------------------------------------------------------- SIP INFO digits


async def test_info_digits_bridge_the_call() -> None:
    media_port = pick_free_port()
    with trio.fail_after(40):
        async with start_sipp(
            scenario=SCENARIOS / "dialer_gateway.xml",
            timeout_s=30,
            variables={"gateway_hangs_up": "0"},
            extra_args=["-mp", str(media_port)],
        ) as gateway:
            async with dialer_for(gateway.local_port, media_port) as dialer:
                caller = await place_call(
                    dialer, "dialer_caller_info.xml", caller_hangs_up=True, short_entry_first=False
                )
                show("sipp caller", caller)
                show_dialer(dialer)
                waited = await drained(dialer)
                print(f"dialer drained {waited:.2f}s after the caller exited")
            gw = await gateway.stop()
        show("sipp gateway", gw)
        assert_ok(caller)
        assert_ok(gw)
        assert_bridged(dialer)
        assert bye_path(dialer) == [("caller", "dialer"), ("dialer", "gateway")]
        infos = dialer.ladder.messages("caller", "dialer", "INFO")
        assert [m.get("content-type") for m in infos] == ["application/dtmf-relay"] * 5 + [
            "application/dtmf"
        ] * 5
        assert dialer.app.stats.invalid_inputs == 0


async def test_wrong_length_entry_replays_the_invalid_prompt(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="two_stage_dialer")
    media_port = pick_free_port()
    with trio.fail_after(40):
        async with start_sipp(
            scenario=SCENARIOS / "dialer_gateway.xml",
            timeout_s=30,
            variables={"gateway_hangs_up": "1"},
            extra_args=["-mp", str(media_port)],
        ) as gateway:
            async with dialer_for(gateway.local_port, media_port) as dialer:
                caller = await place_call(
                    dialer, "dialer_caller_info.xml", caller_hangs_up=False, short_entry_first=True
                )
                show("sipp caller", caller)
                show_dialer(dialer)
                await drained(dialer)
            gw = await gateway.stop()
        show("sipp gateway", gw)
        assert_ok(caller)
        assert_ok(gw)
        # "12#" was too short: the invalid prompt played once, the next try took the number.
        assert dialer.app.stats.invalid_inputs == 1
        assert dialer.app.stats.no_input == 0
        invalid = [r.getMessage() for r in caplog.records if "invalid input" in r.getMessage()]
        assert len(invalid) == 1
        assert invalid[0].endswith(": invalid input '12' (try 1 of 3): playing the invalid prompt")
        assert len(dialer.ladder.messages("caller", "dialer", "INFO")) == 13
        assert_bridged(dialer)
        assert bye_path(dialer) == [("gateway", "dialer"), ("dialer", "caller")]


# --------------------------------------------------------------------------- failures


@needs_pcaps
async def test_busy_gateway_gets_the_caller_a_tone_and_a_clean_hang_up() -> None:
    with trio.fail_after(40):
        async with start_sipp(scenario=SCENARIOS / "uas_486.xml", timeout_s=30) as gateway:
            async with dialer_for(gateway.local_port) as dialer:
                start = trio.current_time()
                caller = await place_call(
                    dialer, "dialer_caller_rfc2833.xml", caller_hangs_up=False, far_end_busy=True
                )
                show("sipp caller", caller)
                show_dialer(dialer)
                await drained(dialer)
                elapsed = trio.current_time() - start
            gw = await gateway.stop()
        show("sipp gateway", gw)
        assert_ok(caller)
        assert_ok(gw)
        ladder = dialer.ladder
        outdial = one(ladder.messages("dialer", "gateway", "INVITE"))
        assert outdial.uri.startswith(f"sip:{NUMBER}@")  # type: ignore[union-attr]
        finals = [
            m.status for m in ladder.messages("gateway", "dialer") if isinstance(m, SipResponse)
        ]
        assert finals[-1] == 486
        assert [m.method for m in ladder.messages("dialer", "gateway")] == [  # type: ignore[union-attr]
            "INVITE",
            "ACK",
        ]
        # No re-INVITE for the caller: the tone (about 1 s), then our BYE.
        assert ladder.messages("dialer", "caller", "INVITE") == []
        assert bye_path(dialer) == [("dialer", "caller")]
        stats = dialer.app.stats
        assert stats.far_end_failures == [486]
        assert (stats.outdials, stats.connected, stats.completed) == (1, 0, 0)
        assert elapsed > 3.3 + 1.0  # ten digits, then the cannot-complete tone


# --------------------------------------------------------------------------- over drachtio


async def test_dialer_over_a_drachtio_server() -> None:
    """``--drachtio``: the same dialer as a drachtio app (trio_srf's drachtio server in front)."""
    media_port = pick_free_port()
    listen = ["sip:127.0.0.1:0;transport=udp"]
    with trio.fail_after(40):
        async with start_sipp(
            scenario=SCENARIOS / "dialer_gateway.xml",
            timeout_s=30,
            variables={"gateway_hangs_up": "1"},
            extra_args=["-mp", str(media_port)],
        ) as gateway:
            config = DialerConfig(
                gateway=f"127.0.0.1:{gateway.local_port}", timeout=3.0, digit_timeout=2.0
            )
            srf = Srf()
            app = TwoStageDialer(srf, config)
            async with (
                open_engine(listen, config=EngineConfig(timers=QUICK)) as engine,
                trio.open_nursery() as nursery,
            ):
                server: DrachtioServer = await nursery.start(
                    serve_drachtio_apps, engine, "127.0.0.1", 0, "cymru"
                )
                assert server.admin_address is not None
                admin = f"127.0.0.1:{server.admin_address[1]}"
                async with open_agent_srf(srf, listen=[], drachtio=admin, secret="cymru"):
                    ladder = Ladder()
                    ladder.tap(engine)  # the SIP side is the server's engine
                    ladder.party(("127.0.0.1", gateway.local_port), "gateway")
                    ladder.media(media_port, "gateway")
                    dialer = Dialer(app, srf, engine, ladder)
                    caller = await place_call(
                        dialer,
                        "dialer_caller_info.xml",
                        caller_hangs_up=False,
                        short_entry_first=False,
                    )
                    show("sipp caller", caller)
                    show_dialer(dialer)
                    await drained(dialer)
                    held = server.statistics()
                    print(f"drachtio server: {held}")
                    assert (held.pending_requests, held.dialogs, held.client_requests) == (0, 0, 0)
                nursery.cancel_scope.cancel()
            gw = await gateway.stop()
        show("sipp gateway", gw)
        assert_ok(caller)
        assert_ok(gw)
        assert_bridged(dialer)
        assert bye_path(dialer) == [("gateway", "dialer"), ("dialer", "caller")]
