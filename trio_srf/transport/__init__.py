"""Trio drivers for SIP transports: UDP, TCP, TLS, WS and WSS, plus RFC 3263 resolution.

This is layer L3: it opens sockets and moves bytes; it keeps no SIP protocol
state. Received messages go to the engine's inbox as :class:`Inbound` items;
the engine sends with :meth:`TransportManager.send`.
"""

from ..core._flow import Flow as Flow
from ._base import (
    DEFAULT_PORTS as DEFAULT_PORTS,
    Inbound as Inbound,
    Listening as Listening,
    ListenSpec as ListenSpec,
    TransportConfig as TransportConfig,
    Transports as Transports,
    TransportStatistics as TransportStatistics,
    needs_congestion_control as needs_congestion_control,
    parse_listen_spec as parse_listen_spec,
)
from ._manager import TransportManager as TransportManager, open_transports as open_transports
from ._resolve import (
    DnsSource as DnsSource,
    NaptrRecord as NaptrRecord,
    Resolver as Resolver,
    SrvRecord as SrvRecord,
    StaticDns as StaticDns,
    SystemDns as SystemDns,
    Target as Target,
    resolve_targets as resolve_targets,
)

__all__ = [
    "DEFAULT_PORTS",
    "DnsSource",
    "Flow",
    "Inbound",
    "ListenSpec",
    "Listening",
    "NaptrRecord",
    "Resolver",
    "SrvRecord",
    "StaticDns",
    "SystemDns",
    "Target",
    "TransportConfig",
    "TransportManager",
    "TransportStatistics",
    "Transports",
    "needs_congestion_control",
    "open_transports",
    "parse_listen_spec",
    "resolve_targets",
]
