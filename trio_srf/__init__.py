"""trio_srf: a SIP application-server framework for Trio.

The sans-IO layers (:mod:`trio_srf.sip`, :mod:`trio_srf.core`) import without
Trio; the I/O layers are imported on first use so ``import trio_srf.sip`` stays
light. The names most apps need are available from here::

    from trio_srf import Srf, open_srf, open_engine, open_drachtio
"""

import importlib
from typing import TYPE_CHECKING, Any

from . import errors as errors
from .errors import (
    AgentError as AgentError,
    AgentLost as AgentLost,
    AuthenticationFailed as AuthenticationFailed,
    DialogError as DialogError,
    LocalProtocolError as LocalProtocolError,
    ProtocolError as ProtocolError,
    RemoteProtocolError as RemoteProtocolError,
    RequestTimeout as RequestTimeout,
    SipError as SipError,
    SrfError as SrfError,
    TransportFailure as TransportFailure,
)

__version__ = "0.1.0.dev0"

# Trio-based names, imported on first use (see __getattr__ below).
_LAZY = {
    "Srf": "trio_srf.srf",
    "open_srf": "trio_srf.srf",
    "Request": "trio_srf.srf",
    "Response": "trio_srf.srf",
    "Dialog": "trio_srf.srf",
    "DialogState": "trio_srf.srf",
    "Termination": "trio_srf.srf",
    "open_engine": "trio_srf.engine",
    "EngineConfig": "trio_srf.engine",
    "open_drachtio": "trio_srf.drachtio",
    "serve_drachtio": "trio_srf.drachtio",
}

if TYPE_CHECKING:
    from .drachtio import open_drachtio as open_drachtio, serve_drachtio as serve_drachtio
    from .engine import EngineConfig as EngineConfig, open_engine as open_engine
    from .srf import (
        Dialog as Dialog,
        DialogState as DialogState,
        Request as Request,
        Response as Response,
        Srf as Srf,
        Termination as Termination,
        open_srf as open_srf,
    )


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "AgentError",
    "AgentLost",
    "AuthenticationFailed",
    "Dialog",
    "DialogError",
    "DialogState",
    "EngineConfig",
    "LocalProtocolError",
    "ProtocolError",
    "RemoteProtocolError",
    "Request",
    "RequestTimeout",
    "Response",
    "SipError",
    "Srf",
    "SrfError",
    "Termination",
    "TransportFailure",
    "__version__",
    "errors",
    "open_drachtio",
    "open_engine",
    "open_srf",
    "serve_drachtio",
]
