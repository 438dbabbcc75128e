"""Dialog events and how a dialog ended.

Every in-dialog happening is recorded as a frozen event *after* it was
answered (by the app's handler or by the default answer), and is what
``async for event in dialog.events()`` yields. Answering is done by handlers
(``on_modify=`` ...), so an event stream that nobody reads never delays an
answer (ARCHITECTURE §5, "Handlers, not listeners").
"""

from __future__ import annotations

import enum

import attrs

from ..sip import Request as SipRequest, Response as SipResponse

__all__ = [
    "DialogEvent",
    "Termination",
    "Destroyed",
    "Acked",
    "InDialogRequest",
]


class Termination(enum.Enum):
    """Why a dialog ended (``dialog.termination``).

    Attributes:
        LOCAL_HANGUP: We sent BYE (``destroy()`` or leaving the block).
        REMOTE_HANGUP: The peer sent BYE.
        ACK_TIMEOUT: Our 2xx was never ACKed; the agent sent BYE (§13.3.1.4).
        REQUEST_FAILED: An in-dialog request got 481/408 (§12.2.1.2).
        SESSION_EXPIRED: An RFC 4028 session timer expired.
        AGENT_LOST: The agent (engine or drachtio connection) went away.
    """

    LOCAL_HANGUP = "local_hangup"
    REMOTE_HANGUP = "remote_hangup"
    ACK_TIMEOUT = "ack_timeout"
    REQUEST_FAILED = "request_failed"
    SESSION_EXPIRED = "session_expired"
    AGENT_LOST = "agent_lost"


@attrs.frozen
class InDialogRequest:
    """A request the peer sent in the dialog, and the answer it got.

    Attributes:
        kind: The event name: ``modify``, ``refresh``, ``info``, ``notify``,
            ``refer``, ``update``, ``message``, ``options``, ``subscribe``,
            ``publish``, or the lower-case method for others.
        request: The request.
        response: The final response sent (``None`` if it could not be sent).
    """

    kind: str
    request: SipRequest
    response: SipResponse | None


@attrs.frozen
class Acked:
    """The ACK for our 2xx arrived.

    Attributes:
        request: The ACK.
    """

    request: SipRequest
    kind: str = "ack"


@attrs.frozen
class Destroyed:
    """The dialog ended.

    Attributes:
        termination: Why.
        request: The peer's BYE, when it hung up.
    """

    termination: Termination
    request: SipRequest | None = None
    kind: str = "destroy"


#: What ``dialog.events()`` yields.
DialogEvent = InDialogRequest | Acked | Destroyed
