"""The sans-IO SIP core: transactions, matching, base dialog state and the SipStack.

Importable without Trio: nothing below ``trio_srf.core`` touches I/O or a clock
(time enters as ``now`` arguments). See docs/core.md.
"""

from ._client_txn import (
    ClientState,
    ClientTransaction,
    build_non2xx_ack,
)
from ._dialog import (
    TARGET_REFRESH_METHODS,
    Dialog,
    DialogId,
    DialogState,
)
from ._events import (
    AckReceived,
    AckTimeout,
    CancelReceived,
    DialogTerminated,
    Event,
    RequestReceived,
    ResponseReceived,
    TransactionTerminated,
    TransactionTimeout,
    Transmit,
    TransportFailed,
)
from ._flow import (
    RELIABLE_TRANSPORTS,
    TRANSPORTS,
    Flow,
)
from ._server_txn import (
    ServerState,
    ServerTransaction,
    response_flow,
)
from ._stack import (
    DIALOG_CREATING_METHODS,
    SipStack,
    StackStatistics,
)
from ._timers import DeadlineHeap, TimerConfig

__all__ = [
    "DIALOG_CREATING_METHODS",
    "RELIABLE_TRANSPORTS",
    "TARGET_REFRESH_METHODS",
    "TRANSPORTS",
    "AckReceived",
    "AckTimeout",
    "CancelReceived",
    "ClientState",
    "ClientTransaction",
    "DeadlineHeap",
    "Dialog",
    "DialogId",
    "DialogState",
    "DialogTerminated",
    "Event",
    "Flow",
    "RequestReceived",
    "ResponseReceived",
    "ServerState",
    "ServerTransaction",
    "SipStack",
    "StackStatistics",
    "TimerConfig",
    "TransactionTerminated",
    "TransactionTimeout",
    "Transmit",
    "TransportFailed",
    "build_non2xx_ack",
    "response_flow",
]
