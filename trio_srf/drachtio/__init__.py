"""The drachtio wire protocol (sans-IO): framing, typed messages, connection state.

Speaks both ends of the TCP/TLS protocol between a drachtio application
(drachtio-srf, or trio_srf's client) and a drachtio SIP server (drachtio-server,
or trio_srf's server); see docs/drachtio-wire.md. Importable without Trio.
"""

import importlib
from typing import TYPE_CHECKING, Any

from ._connection import (
    ConnectionClosed as ConnectionClosed,
    ConnectionState as ConnectionState,
    DrachtioConnection as DrachtioConnection,
)
from ._decode import decode_message as decode_message
from ._messages import (
    AppSip as AppSip,
    Authenticate as Authenticate,
    Cdr as Cdr,
    CdrAttempt as CdrAttempt,
    CdrStart as CdrStart,
    CdrStop as CdrStop,
    Message as Message,
    Meta as Meta,
    Ping as Ping,
    Proxy as Proxy,
    RemoveRoute as RemoveRoute,
    Route as Route,
    ServerSip as ServerSip,
    parse_sip as parse_sip,
)
from ._replies import (
    AuthOk as AuthOk,
    Failure as Failure,
    GenericReply as GenericReply,
    Ok as Ok,
    Pong as Pong,
    ProxyDone as ProxyDone,
    ProxyResponse as ProxyResponse,
    Reply as Reply,
    SipSent as SipSent,
)
from ._wire import (
    MAX_FRAME_TO_APP as MAX_FRAME_TO_APP,
    MAX_FRAME_TO_SERVER as MAX_FRAME_TO_SERVER,
    DrachtioProtocolError as DrachtioProtocolError,
    FrameDecoder as FrameDecoder,
    Role as Role,
    encode_frame as encode_frame,
    new_message_id as new_message_id,
    wire_time as wire_time,
)

__all__ = [
    "CDR_VERBS",
    "DEFAULT_METHODS",
    "DrachtioAgent",
    "DrachtioClientTransaction",
    "DrachtioConfig",
    "DrachtioServer",
    "DrachtioStatistics",
    "OutboundConfig",
    "OutboundTarget",
    "ReconnectPolicy",
    "TagTarget",
    "parse_outbound",
    "ServerStatistics",
    "open_drachtio",
    "serve_drachtio",
    "serve_drachtio_apps",
    "MAX_FRAME_TO_APP",
    "MAX_FRAME_TO_SERVER",
    "AppSip",
    "AuthOk",
    "Authenticate",
    "Cdr",
    "CdrAttempt",
    "CdrStart",
    "CdrStop",
    "ConnectionClosed",
    "ConnectionState",
    "DrachtioConnection",
    "DrachtioProtocolError",
    "Failure",
    "FrameDecoder",
    "GenericReply",
    "Message",
    "Meta",
    "Ok",
    "Ping",
    "Pong",
    "Proxy",
    "ProxyDone",
    "ProxyResponse",
    "RemoveRoute",
    "Reply",
    "Role",
    "Route",
    "ServerSip",
    "SipSent",
    "decode_message",
    "encode_frame",
    "new_message_id",
    "parse_sip",
    "wire_time",
]

# The Trio-based parts (client agent, server) load on first use, so the codec above stays
# importable without trio (tests/drachtio/test_no_trio_import.py).
_LAZY = {
    "DrachtioAgent": "_client",
    "DrachtioConfig": "_client",
    "open_drachtio": "_client",
    "serve_drachtio": "_client",
    "DEFAULT_METHODS": "_client",
    "CDR_VERBS": "_client",
    "DrachtioClientTransaction": "_client_txn",
    "DrachtioStatistics": "_client_txn",
    "ReconnectPolicy": "_client_txn",
    "DrachtioServer": "_server",
    "ServerStatistics": "_server",
    "serve_drachtio_apps": "_server",
    "OutboundConfig": "_server_outbound",
    "OutboundTarget": "_server_outbound",
    "TagTarget": "_server_outbound",
    "parse_outbound": "_server_outbound",
}

if TYPE_CHECKING:
    from ._client import (
        CDR_VERBS as CDR_VERBS,
        DEFAULT_METHODS as DEFAULT_METHODS,
        DrachtioAgent as DrachtioAgent,
        DrachtioConfig as DrachtioConfig,
        open_drachtio as open_drachtio,
        serve_drachtio as serve_drachtio,
    )
    from ._client_txn import (
        DrachtioClientTransaction as DrachtioClientTransaction,
        DrachtioStatistics as DrachtioStatistics,
        ReconnectPolicy as ReconnectPolicy,
    )
    from ._server import (
        DrachtioServer as DrachtioServer,
        ServerStatistics as ServerStatistics,
        serve_drachtio_apps as serve_drachtio_apps,
    )
    from ._server_outbound import (
        OutboundConfig as OutboundConfig,
        OutboundTarget as OutboundTarget,
        TagTarget as TagTarget,
        parse_outbound as parse_outbound,
    )


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
