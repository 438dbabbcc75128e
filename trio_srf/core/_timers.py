"""RFC 3261 timer values (Timers A-M) and a deadline heap.

Rules this module keeps:

* All durations derive from three base values, T1 (RTT estimate, 500 ms),
  T2 (largest non-INVITE retransmit interval, 4 s) and T4 (longest a message
  stays in the network, 5 s); RFC 3261 §17.1.1.1 and Table 4 (§A). RFC 6026
  adds Timers L and M (64*T1) for the Accepted states.
* Timers whose purpose is to absorb retransmissions (D, I, J, K) are zero on
  reliable transports, and retransmission timers (A, E, G) are never armed
  there (§17.1.1.2, §17.1.2.2, §17.2.1, §17.2.2). Timer D is "at least 32 s"
  on unreliable transports and does not scale with T1.
* Time is a plain ``float`` supplied by the caller (``now``); nothing here
  reads a clock, so tests step time by hand.

The :class:`DeadlineHeap` maps ``(owner, timer name)`` to one deadline.
Setting a timer again replaces the old deadline and clearing it is O(1):
stale heap entries are skipped when popped (lazy deletion), which keeps the
common case (arm, then cancel before expiry) cheap.
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable

import attrs

__all__ = ["DeadlineHeap", "TimerConfig"]


@attrs.frozen
class TimerConfig:
    """Base timer values and the derived RFC 3261 Timers A-M.

    Attributes:
        t1: RTT estimate, seconds (RFC 3261 default 0.5).
        t2: Maximum retransmit interval for non-INVITE requests and INVITE
            responses (default 4.0).
        t4: Maximum duration a message remains in the network (default 5.0).
        timer_c: How long a client INVITE transaction waits in the Proceeding
            state for a final response before giving up (default 180 s). RFC
            3261 §16.6 defines Timer C for proxies; a UA without it would keep
            a transaction forever when a peer sends 180 and then vanishes.
        timer_d: Timer D on unreliable transports (RFC 3261: at least 32 s).
        trying_delay: Delay before the automatic 100 Trying to an INVITE.
            §17.2.1 lets a server skip the 100 when the TU answers within
            200 ms, so the default waits 0.2 s: a TU that answers at once
            costs the network (and us) no extra message. 0 sends it at once.
    """

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0
    timer_c: float = 180.0
    timer_d: float = 32.0
    trying_delay: float = 0.2

    @property
    def timer_b(self) -> float:
        """INVITE transaction timeout: 64*T1 (§17.1.1.2)."""
        return 64 * self.t1

    timer_f = timer_b  # non-INVITE transaction timeout: 64*T1 (§17.1.2.2)
    timer_h = timer_b  # wait time for ACK receipt: 64*T1 (§17.2.1)
    timer_l = timer_b  # RFC 6026: server Accepted state lifetime
    timer_m = timer_b  # RFC 6026: client Accepted state lifetime

    def timer_d_for(self, reliable: bool) -> float:
        """Timer D: wait for response retransmits (32 s UDP, 0 reliable)."""
        return 0.0 if reliable else self.timer_d

    def timer_i_for(self, reliable: bool) -> float:
        """Timer I: wait for ACK retransmits (T4 UDP, 0 reliable)."""
        return 0.0 if reliable else self.t4

    def timer_j_for(self, reliable: bool) -> float:
        """Timer J: wait for non-INVITE request retransmits (64*T1 UDP, 0 reliable)."""
        return 0.0 if reliable else 64 * self.t1

    def timer_k_for(self, reliable: bool) -> float:
        """Timer K: wait for response retransmits (T4 UDP, 0 reliable)."""
        return 0.0 if reliable else self.t4

    def next_interval(self, interval: float) -> float:
        """The next E/G (and 2xx) retransmit interval: double, capped at T2."""
        return min(2 * interval, self.t2)


@attrs.define
class DeadlineHeap:
    """Deadlines keyed by ``(owner, name)``, earliest first.

    Each key holds at most one deadline. :meth:`pop_due` returns the keys
    whose deadline is ``<= now``, in deadline order, removing them.
    """

    _heap: list[tuple[float, int, Hashable, str]] = attrs.field(factory=list)
    _live: dict[tuple[Hashable, str], tuple[float, int]] = attrs.field(factory=dict)
    _seq: int = 0

    def set(self, owner: Hashable, name: str, when: float) -> None:
        """Arm (or re-arm) timer ``name`` of ``owner`` to fire at ``when``."""
        self._seq += 1
        self._live[(owner, name)] = (when, self._seq)
        heapq.heappush(self._heap, (when, self._seq, owner, name))

    def clear(self, owner: Hashable, name: str) -> None:
        """Disarm timer ``name`` of ``owner`` (no-op when not armed)."""
        self._live.pop((owner, name), None)

    def get(self, owner: Hashable, name: str) -> float | None:
        """The deadline of timer ``name`` of ``owner``, or ``None`` when not armed."""
        entry = self._live.get((owner, name))
        return entry[0] if entry is not None else None

    def _prune(self) -> None:
        heap = self._heap
        live = self._live
        while heap:
            _, seq, owner, name = heap[0]
            entry = live.get((owner, name))
            if entry is not None and entry[1] == seq:
                return
            heapq.heappop(heap)

    def next_deadline(self) -> float | None:
        """The earliest armed deadline, or ``None`` when nothing is armed."""
        self._prune()
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: float) -> list[tuple[Hashable, str]]:
        """Remove and return every ``(owner, name)`` due at ``now``, earliest first."""
        due: list[tuple[Hashable, str]] = []
        heap = self._heap
        live = self._live
        while heap:
            self._prune()
            if not heap or heap[0][0] > now:
                break
            _, _, owner, name = heapq.heappop(heap)
            del live[(owner, name)]
            due.append((owner, name))
        return due

    def __len__(self) -> int:
        return len(self._live)
