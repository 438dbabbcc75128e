"""Two engines talking through a seeded lossy UDP relay on 127.0.0.1.

The relay is one UDP socket between engine A (the caller) and engine B (the
callee). A addresses B's requests to the relay; B's responses follow the Via
``rport`` back to the relay (RFC 3581 §4), and each dialog's requests reuse
the flow the dialog was made on, so every datagram in both directions passes
the relay. For each datagram a ``random.Random(seed)`` decides: drop it,
duplicate it, delay it (which reorders it behind later ones) or pass it. Loss
is bounded (never more than ``MAX_RUN`` drops in a row per direction) so every
transaction can finish within its 64*T1.

The real clock drives both engines (Trio's MockClock cannot drive real
sockets) with short timers (T1 = 20 ms). Per seed the test runs INVITE/200/ACK/
BYE calls (some hung up by the callee), INVITEs rejected 486 (the ACK for a
non-2xx is the transaction's own, §17.1.1.3) and non-INVITE requests, and
asserts RFC 3261 §17's promise to the application: each request reaches the
callee's application exactly once, each client transaction yields exactly one
final response and then nothing more, and both engines' transaction and dialog
tables drain to empty afterwards.
"""

from __future__ import annotations

import random
import socket
from collections import Counter

import attrs
import pytest
import trio

from trio_srf.agent import AckReceived, IncomingRequest
from trio_srf.core import TimerConfig
from trio_srf.engine import ClientTransaction, Engine, EngineConfig, open_engine
from trio_srf.sip import Request, new_call_id, new_tag

# T4 is the longest a message may stay in the network (RFC 3261 §17.1.2.2): Timer I (a
# server INVITE transaction's wait for ACK retransmissions) and Timer K last T4, so it must
# exceed the relay's longest hold (LossyRelay.max_delay), or a retransmitted INVITE held past
# the end of Timer I rightly arrives as a new request.
FAST = TimerConfig(t1=0.02, t2=0.08, t4=0.1, timer_d=0.1, trying_delay=0.0)
MAX_RUN = 3  # most drops in a row per direction
SEEDS = [1, 7, 42, 2024]


@attrs.define
class LossyRelay:
    """A UDP relay that drops, duplicates and delays datagrams as a seeded RNG says."""

    rng: random.Random
    a: tuple[str, int]
    b: tuple[str, int]
    drop: float = 0.15
    duplicate: float = 0.10
    delay: float = 0.15
    max_delay: float = 0.06
    max_in_flight: int = 64
    dropped: int = 0
    duplicated: int = 0
    delayed: int = 0
    passed: int = 0
    _runs: dict[tuple[str, int], int] = attrs.field(factory=dict)
    _in_flight: int = 0

    async def serve(
        self,
        sock: trio.socket.SocketType,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        async with trio.open_nursery() as nursery:
            task_status.started()
            while True:
                data, source = await sock.recvfrom(65535)
                dest = self.a if source == self.b else self.b
                roll = self.rng.random()
                if roll < self.drop and self._runs.get(dest, 0) < MAX_RUN:
                    self._runs[dest] = self._runs.get(dest, 0) + 1
                    self.dropped += 1
                    continue
                self._runs[dest] = 0
                copies = 2 if roll < self.drop + self.duplicate else 1
                self.duplicated += copies - 1
                for _ in range(copies):
                    wait = 0.0
                    if self.rng.random() < self.delay and self._in_flight < self.max_in_flight:
                        wait = self.rng.uniform(0.005, self.max_delay)
                    if wait:
                        self.delayed += 1
                        self._in_flight += 1
                        nursery.start_soon(self._later, sock, data, dest, wait)
                    else:
                        self.passed += 1
                        await sock.sendto(data, dest)

    async def _later(
        self, sock: trio.socket.SocketType, data: bytes, dest: tuple[str, int], wait: float
    ) -> None:
        await trio.sleep(wait)
        self._in_flight -= 1
        await sock.sendto(data, dest)


def udp_port(engine: Engine) -> int:
    return next(lst.port for lst in engine.listening if lst.transport == "udp")


def new_request(method: str, user: str, relay_port: int) -> Request:
    uri = f"sip:{user}@127.0.0.1:{relay_port}"
    return Request(
        method,
        uri,
        [
            ("From", f"<sip:alice@127.0.0.1>;tag={new_tag()}"),
            ("To", f"<{uri}>"),
            ("Call-ID", new_call_id()),
            ("CSeq", f"1 {method}"),
        ],
    )


#: Every client transaction handle a test iterated, to check nothing follows the final.
HANDLES: list[ClientTransaction] = []


async def responses_of(handle: ClientTransaction) -> list[int]:
    """Every response the application sees; exactly one final, and it is the last."""
    HANDLES.append(handle)
    statuses = [r.status async for r in handle]
    finals = [s for s in statuses if s >= 200]
    assert len(finals) == 1, statuses
    assert statuses[-1] == finals[0]
    return statuses


@attrs.define
class App:
    """An engine's application: counts what reaches it, answers by Request-URI user."""

    engine: Engine
    requests: Counter[tuple[str, str]] = attrs.field(factory=Counter)
    acks: Counter[str] = attrs.field(factory=Counter)
    dialogs: dict[str, str] = attrs.field(factory=dict)  # Call-ID -> our dialog id

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        async for notice in self.engine.incoming:
            if isinstance(notice, AckReceived):
                self.acks[notice.request.call_id] += 1
            elif isinstance(notice, IncomingRequest):
                req = notice.request
                self.requests[(req.call_id, req.method)] += 1
                user = req.request_uri.user if req.method == "INVITE" else ""
                status = 486 if user == "busy" else 200
                sent = await self.engine.respond(notice.server_txn, req.make_response(status))
                if req.method == "INVITE" and status == 200:
                    did = self.engine.dialog_id_for(sent, uac=False)
                    assert did is not None
                    self.dialogs[req.call_id] = did


async def place_call(
    a: Engine, b: Engine, callee: App, relay_port: int, callee_hangs_up: bool
) -> str:
    invite = new_request("INVITE", "bob", relay_port)
    handle = await a.request(invite)
    statuses = await responses_of(handle)
    assert statuses[-1] == 200
    assert handle.dialog_id is not None
    await a.ack(handle.dialog_id)
    # Hang up only once the ACK got through (if it is lost, B's 2xx retransmission
    # draws another from A, §13.3.1.4): then exactly one AckReceived is owed.
    with trio.fail_after(5):
        while callee.acks[invite.call_id] == 0:
            await trio.sleep(0.01)
    if callee_hangs_up:
        bye = await b.request_in_dialog(callee.dialogs[invite.call_id], "BYE")
    else:
        bye = await a.request_in_dialog(handle.dialog_id, "BYE")
    assert (await responses_of(bye))[-1] == 200
    return invite.call_id


async def drained(*engines: Engine, within: float) -> None:
    with trio.fail_after(within):
        while True:
            stats = [(e.statistics().stack, e.statistics().client_handles) for e in engines]
            if all(
                s.client_transactions == 0
                and s.server_transactions == 0
                and s.dialogs == 0
                and handles == 0
                for s, handles in stats
            ):
                return
            await trio.sleep(0.02)


@pytest.mark.parametrize("seed", SEEDS)
async def test_exactly_one_final_response_through_a_lossy_relay(seed: int) -> None:
    calls, rejected, non_invite = 6, 3, 8
    config = EngineConfig(timers=FAST)
    HANDLES.clear()
    with trio.fail_after(30), trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        async with (
            open_engine(["sip:127.0.0.1:0;transport=udp"], config=config) as a,
            open_engine(["sip:127.0.0.1:0;transport=udp"], config=config) as b,
            trio.open_nursery() as nursery,
        ):
            await sock.bind(("127.0.0.1", 0))
            relay_port = sock.getsockname()[1]
            relay = LossyRelay(
                random.Random(seed), ("127.0.0.1", udp_port(a)), ("127.0.0.1", udp_port(b))
            )
            await nursery.start(relay.serve, sock)
            caller, callee = App(a), App(b)
            await nursery.start(caller.serve)
            await nursery.start(callee.serve)

            call_ids: list[tuple[str, bool]] = []
            busy_ids: list[str] = []
            other: list[tuple[str, str]] = []

            async def call(i: int) -> None:
                call_ids.append(
                    (await place_call(a, b, callee, relay_port, i % 2 == 1), i % 2 == 1)
                )

            async def busy() -> None:
                req = new_request("INVITE", "busy", relay_port)
                assert (await responses_of(await a.request(req)))[-1] == 486
                busy_ids.append(req.call_id)

            async def simple(method: str) -> None:
                req = new_request(method, "bob", relay_port)
                assert (await responses_of(await a.request(req)))[-1] == 200
                other.append((req.call_id, method))

            async with trio.open_nursery() as work:
                for i in range(calls):
                    work.start_soon(call, i)
                for _ in range(rejected):
                    work.start_soon(busy)
                for i in range(non_invite):
                    work.start_soon(simple, "OPTIONS" if i % 2 else "MESSAGE")
            await drained(a, b, within=10)

            print(
                f"seed {seed}: relay passed={relay.passed} dropped={relay.dropped} "
                f"duplicated={relay.duplicated} delayed={relay.delayed}; "
                f"A retrans_out={a.statistics().stack.retransmissions_out} "
                f"B retrans_out={b.statistics().stack.retransmissions_out} "
                f"B retrans_in={b.statistics().stack.retransmissions_in}"
            )
            # The relay really was lossy in every way.
            assert relay.dropped > 0 and relay.duplicated > 0 and relay.delayed > 0
            assert len(call_ids) == calls and len(busy_ids) == rejected
            assert len(other) == non_invite
            # Each request reached the other side's application exactly once...
            to_callee: Counter[tuple[str, str]] = Counter()
            to_caller: Counter[tuple[str, str]] = Counter()
            for cid, hung_up_by_callee in call_ids:
                to_callee[(cid, "INVITE")] = 1
                (to_caller if hung_up_by_callee else to_callee)[(cid, "BYE")] = 1
            for cid in busy_ids:
                to_callee[(cid, "INVITE")] = 1
            for cid, method in other:
                to_callee[(cid, method)] = 1
            assert callee.requests == to_callee
            assert caller.requests == to_caller
            # ... and so did each 2xx's ACK (its retransmissions are absorbed).
            assert callee.acks == Counter({cid: 1 for cid, _ in call_ids})
            assert caller.acks == Counter()
            # Nothing reached any handle after its final response (a retransmitted
            # final is absorbed by the client transaction, §17.1.1.2, §17.1.2.2).
            assert len(HANDLES) == 2 * calls + rejected + non_invite
            assert [h._recv.statistics().current_buffer_used for h in HANDLES] == [0] * len(HANDLES)
            nursery.cancel_scope.cancel()
