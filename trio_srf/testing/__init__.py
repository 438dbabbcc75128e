"""Test and benchmark helpers for trio_srf users and for trio_srf's own suite.

Nothing here is needed at run time by an application. The SIPp runner drives the real
SIPp binary (Debian package ``sip-tester``) from Trio code; see :mod:`trio_srf.testing._sipp`
for the SIPp behaviour it relies on.
"""

from trio_srf.testing._loopback import (
    LoopbackNetwork as LoopbackNetwork,
    LoopbackTransports as LoopbackTransports,
    NetworkStatistics as NetworkStatistics,
)
from trio_srf.testing._sipp import (
    BUILTIN_SCENARIOS,
    DEFAULT_BUFF_SIZE,
    SippError,
    SippProcess,
    SippResult,
    pick_free_port,
    requires_sipp,
    run_sipp,
    sipp_available,
    sipp_path,
    sipp_supports_transport,
    sipp_version,
    start_sipp,
)

__all__ = [
    "BUILTIN_SCENARIOS",
    "DEFAULT_BUFF_SIZE",
    "LoopbackNetwork",
    "LoopbackTransports",
    "NetworkStatistics",
    "SippError",
    "SippProcess",
    "SippResult",
    "pick_free_port",
    "requires_sipp",
    "run_sipp",
    "sipp_available",
    "sipp_path",
    "sipp_supports_transport",
    "sipp_version",
    "start_sipp",
]
