"""``set_hop_flow``: branches to hops that need no resolution start without ProxyHopNeeded.

Reuses the four-stack network of ``test_proxy.py`` (A -> P -> B1/B2) with the proxy's
synchronous hop lookup installed, and checks that the call goes exactly as with the
event round trip (same messages, same outcome) while no ProxyHopNeeded is emitted.
"""

from __future__ import annotations

from trio_srf.core import Flow, ResponseReceived
from trio_srf.core._events import ProxyHopNeeded
from trio_srf.core._proxy import ProxyOptions, set_hop_flow

from .test_proxy import T1, T2, A, Net, P, ack_2xx, answer


def _hops(net: Net) -> list[ProxyHopNeeded]:
    return [e for e in net.events["P"] if isinstance(e, ProxyHopNeeded)]


def test_record_routed_call_starts_every_branch_inline() -> None:
    net = Net()
    looked_up: list[str] = []

    def hop_flow(next_hop: str) -> Flow | None:
        looked_up.append(next_hop)
        return net._flow_to(next_hop)

    set_hop_flow(net.p, hop_flow)
    net.options = ProxyOptions(record_route=True)
    net.proxy_targets = [T2]
    net.handlers = {"B2": answer((0, 200)), "A": ack_2xx}
    net.call()
    assert net.statuses() == [100, 200]
    (inv,) = net.requests("B2", "INVITE")
    assert inv.headers.get_all("record-route") == ["<sip:10.0.0.5:5060;lr>"]
    assert [v.host for v in inv.via] == ["10.0.0.5", "10.0.0.1"]
    (ack,) = net.requests("B2", "ACK")
    assert [v.host for v in ack.via] == ["10.0.0.5", "10.0.0.1"]
    (did,) = [e.dialog_id for e in net.events["A"] if isinstance(e, ResponseReceived)][-1:]
    assert did is not None
    bye = net.a.build_in_dialog(did, "BYE")
    net.a.send_request(bye, Flow("udp", P, A), net.now)
    net.flush()
    (bye_b,) = net.requests("B2", "BYE")
    assert [v.host for v in bye_b.via] == ["10.0.0.5", "10.0.0.1"]
    assert net.statuses() == [100, 200, 200]
    # The INVITE's and the BYE's branches were started inline: no event round trip.
    assert _hops(net) == []
    assert looked_up == [T2, "sip:bob@10.0.0.3:5060"]
    assert [o.status for o in net.outcomes] == [200, 200]
    net.advance(60)
    assert net.drained()


def test_sequential_failover_inline_and_unresolvable_hops_still_emit_events() -> None:
    net = Net()
    # B1 resolves inline, anything else (here T2) goes through ProxyHopNeeded.
    set_hop_flow(net.p, lambda hop: net._flow_to(hop) if hop == T1 else None)
    net.proxy_targets = [T1, T2]
    net.handlers = {"B1": answer((0, 503)), "B2": answer((0, 200)), "A": ack_2xx}
    net.call()
    assert net.statuses() == [100, 200]
    assert [(h.branch, h.target) for h in _hops(net)] == [(1, T2)]
    (outcome,) = net.outcomes
    assert outcome.status == 200 and outcome.target == T2
    assert outcome.responses == ((T1, 100), (T1, 503), (T2, 100), (T2, 200))


def test_set_hop_flow_none_restores_the_events() -> None:
    net = Net()
    set_hop_flow(net.p, net._flow_to)
    set_hop_flow(net.p, None)
    net.proxy_targets = [T1]
    net.handlers = {"B1": answer((0, 486))}
    net.call()
    assert [(h.branch, h.target) for h in _hops(net)] == [(0, T1)]
    assert net.statuses() == [100, 486]
