"""trio_srf: a SIP application-server framework for Trio.

The sans-IO layers (:mod:`trio_srf.sip`, :mod:`trio_srf.core`) import without
Trio; the I/O layers are imported on first use so ``import trio_srf.sip`` stays
light.
"""

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

__all__ = [
    "AgentError",
    "AgentLost",
    "AuthenticationFailed",
    "DialogError",
    "LocalProtocolError",
    "ProtocolError",
    "RemoteProtocolError",
    "RequestTimeout",
    "SipError",
    "SrfError",
    "TransportFailure",
    "__version__",
    "errors",
]
