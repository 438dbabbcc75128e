"""Trio drivers for SIP transports: UDP, TCP, TLS, WS and WSS, plus RFC 3263 resolution.

This is layer L3: it opens sockets and moves bytes; it keeps no SIP protocol
state. Received messages go to the engine's inbox as :class:`Inbound` items;
the engine sends with :meth:`TransportManager.send`.
"""

from ..core._flow import Flow as Flow
from ._base import DEFAULT_PORTS as DEFAULT_PORTS
from ._base import Inbound as Inbound
from ._base import Listening as Listening
from ._base import ListenSpec as ListenSpec
from ._base import TransportConfig as TransportConfig
from ._base import TransportStatistics as TransportStatistics
from ._base import needs_congestion_control as needs_congestion_control
from ._base import parse_listen_spec as parse_listen_spec
from ._manager import TransportManager as TransportManager
from ._manager import open_transports as open_transports
from ._resolve import DnsSource as DnsSource
from ._resolve import NaptrRecord as NaptrRecord
from ._resolve import Resolver as Resolver
from ._resolve import SrvRecord as SrvRecord
from ._resolve import StaticDns as StaticDns
from ._resolve import SystemDns as SystemDns
from ._resolve import Target as Target
from ._resolve import resolve_targets as resolve_targets

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
    "needs_congestion_control",
    "open_transports",
    "parse_listen_spec",
    "resolve_targets",
]
