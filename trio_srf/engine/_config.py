"""EngineConfig: everything the embedded engine can be tuned with, in one value."""

from __future__ import annotations

import attrs

from ..core import TimerConfig
from ..transport import TransportConfig

__all__ = ["EngineConfig"]


@attrs.frozen
class EngineConfig:
    """Options of :func:`trio_srf.engine.open_engine`.

    Attributes:
        timers: RFC 3261 T1/T2/T4 and derived timers (:class:`TimerConfig`).
        transport: Socket buffers, limits, TLS contexts, timeouts
            (:class:`~trio_srf.transport.TransportConfig`).
        inbox_size: Capacity of the core loop's inbox. When it is full, further
            datagrams are dropped and counted (UDP peers retransmit); stream
            transports wait instead (TCP backpressure).
        incoming_size: Capacity of the channel of new requests for the
            application. When it is full, new requests are answered 503 with
            ``Retry-After: retry_after`` by the engine itself.
        dialog_queue: Capacity of each dialog's channel; when full, the
            in-dialog request is answered 500 with Retry-After.
        retry_after: Seconds for the Retry-After of overload answers.
        user_agent: Value of a User-Agent/Server header added to requests and
            responses that have none (``None``: add nothing).
        advertised_host: Host to put in Via/Contact instead of the bound
            address (e.g. when listening on 0.0.0.0).
        gc_threshold: Garbage-collector thresholds applied while the engine
            runs (restored afterwards), or ``None`` to leave the collector
            alone. A busy engine keeps tens of thousands of transactions alive
            for 32 s each; with CPython's default (700, 10, 10) the collector
            rescans them so often that it doubled the CPU per call in our
            measurements (see docs/engine.md). A threshold lower than the one
            already set is never applied.
        timer_slack: Seconds the core loop may wake after the earliest timer,
            so that timers due within that window are handled in one turn
            (SIP timers are 0.5 s and up; 5 ms late is harmless and saves a
            wake-up per expiring transaction under load).
    """

    timers: TimerConfig = attrs.field(factory=TimerConfig)
    transport: TransportConfig = attrs.field(factory=TransportConfig)
    inbox_size: int = 4096
    incoming_size: int = 1024
    dialog_queue: int = 64
    retry_after: int = 5
    user_agent: str | None = "trio_srf"
    advertised_host: str | None = None
    gc_threshold: tuple[int, int, int] | None = (50_000, 20, 20)
    timer_slack: float = 0.005
