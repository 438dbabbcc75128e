"""TimerConfig values and the DeadlineHeap."""

from __future__ import annotations

import subprocess
import sys

from trio_srf.core import DeadlineHeap, TimerConfig


def test_default_values_match_rfc3261_table_4() -> None:
    cfg = TimerConfig()
    assert (cfg.t1, cfg.t2, cfg.t4) == (0.5, 4.0, 5.0)
    assert (cfg.timer_c, cfg.trying_delay) == (180.0, 0.2)
    assert cfg.timer_b == cfg.timer_f == cfg.timer_h == 32.0
    assert cfg.timer_l == cfg.timer_m == 32.0
    assert cfg.timer_d_for(reliable=False) == 32.0
    assert cfg.timer_d_for(reliable=True) == 0.0
    assert cfg.timer_i_for(reliable=False) == 5.0
    assert cfg.timer_i_for(reliable=True) == 0.0
    assert cfg.timer_j_for(reliable=False) == 32.0
    assert cfg.timer_j_for(reliable=True) == 0.0
    assert cfg.timer_k_for(reliable=False) == 5.0
    assert cfg.timer_k_for(reliable=True) == 0.0


def test_derived_values_scale_with_t1_but_d_does_not() -> None:
    cfg = TimerConfig(t1=0.1, t2=1.0, t4=2.0)
    assert cfg.timer_b == 6.4
    assert cfg.timer_j_for(reliable=False) == 6.4
    assert cfg.timer_d_for(reliable=False) == 32.0
    assert cfg.timer_k_for(reliable=False) == 2.0
    intervals = [0.1]
    for _ in range(6):
        intervals.append(cfg.next_interval(intervals[-1]))
    assert intervals == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0]


def test_heap_orders_replaces_and_clears() -> None:
    heap = DeadlineHeap()
    heap.set("x", "A", 3.0)
    heap.set("y", "B", 1.0)
    heap.set("x", "E", 2.0)
    assert heap.next_deadline() == 1.0
    heap.set("y", "B", 5.0)  # re-arm replaces
    assert heap.next_deadline() == 2.0
    heap.clear("x", "E")
    assert heap.next_deadline() == 3.0
    assert heap.get("y", "B") == 5.0
    assert heap.get("x", "E") is None
    assert len(heap) == 2
    assert heap.pop_due(2.9) == []
    assert heap.pop_due(10.0) == [("x", "A"), ("y", "B")]
    assert heap.next_deadline() is None
    assert len(heap) == 0


def test_core_imports_without_trio() -> None:
    code = (
        "import sys; sys.modules['trio'] = None; sys.modules['socket'] = None\n"
        "import trio_srf.core, trio_srf.core._stack\n"
        "print('ok')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.stdout.strip() == "ok", result.stderr
