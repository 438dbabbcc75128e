"""The drachtio wire protocol (sans-IO): framing, typed messages, connection state.

Speaks both ends of the TCP/TLS protocol between a drachtio application
(drachtio-srf, or trio_srf's client) and a drachtio SIP server (drachtio-server,
or trio_srf's server); see docs/drachtio-wire.md. Importable without Trio.
"""

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
