"""The embedded SIP engine: transports + transactions in-process, behind the Agent boundary."""

from ._config import EngineConfig as EngineConfig
from ._engine import (
    ClientTransaction as ClientTransaction,
    Engine as Engine,
    EngineStatistics as EngineStatistics,
    dialog_key as dialog_key,
    open_engine as open_engine,
)

__all__ = [
    "ClientTransaction",
    "Engine",
    "EngineConfig",
    "EngineStatistics",
    "dialog_key",
    "open_engine",
]
