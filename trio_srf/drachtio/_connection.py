"""A sans-IO drachtio connection state object, h11 style, for either end (§3-§6, §14, §15).

Rules kept:

* One object per TCP/TLS connection. Feed received bytes to
  :meth:`DrachtioConnection.receive_data` (``b""`` at end of stream), pull
  events with :meth:`~DrachtioConnection.next_event` until it returns
  ``None`` (need more data); turn outgoing messages into bytes with
  :meth:`~DrachtioConnection.send`. No I/O, no Trio.
* The app speaks first: its first message is ``authenticate`` (in inbound
  and outbound mode alike, §6.1). Nothing else may be sent or received on
  either side until the server's reply to it; an ``OK`` makes the connection
  ready, a ``NO``/``NOK`` rejects it for good (the server then closes, §13).
* Every app message gets replies quoting its id (§6.2). The object tracks
  the pending ones by message id: a reply to an unknown id is a protocol
  error (the peer's if received, ours if sent). A proxy ``continue`` report
  keeps the request pending; any other reply completes it (§6.8).
* After a protocol error from the peer the object stays broken and keeps
  raising the same :class:`~trio_srf.errors.RemoteProtocolError`; framing
  cannot be recovered and the connection must be closed.
"""

from __future__ import annotations

import enum
import types
from collections.abc import Callable, Mapping

import attrs

from ..errors import LocalProtocolError, RemoteProtocolError
from ._decode import decode_message
from ._messages import Authenticate, Message
from ._replies import Failure, ProxyResponse, Reply
from ._wire import (
    MAX_FRAME_TO_APP,
    MAX_FRAME_TO_SERVER,
    DrachtioProtocolError,
    FrameDecoder,
    Role,
    encode_frame,
    new_message_id,
)

__all__ = ["ConnectionClosed", "ConnectionState", "DrachtioConnection"]


@attrs.frozen
class ConnectionClosed:
    """Event: the peer closed the stream cleanly, between frames."""


class ConnectionState(enum.Enum):
    """Where the authentication handshake stands."""

    #: Nothing exchanged yet; the app must send ``authenticate``.
    NEW = "new"
    #: ``authenticate`` is on its way; waiting for the server's reply.
    AUTHENTICATING = "authenticating"
    #: Authenticated; every message type may flow.
    READY = "ready"
    #: The server refused the secret; nothing more may flow.
    REJECTED = "rejected"
    #: A protocol error was seen; the connection must be closed.
    ERROR = "error"


class DrachtioConnection:
    """One drachtio connection seen from ``our_role`` (h11-style sans-IO state).

    Args:
        our_role: :attr:`Role.APP` for a client of a drachtio server,
            :attr:`Role.SERVER` to serve apps.
        max_frame_size: Largest payload accepted from the peer. Defaults to
            99 999 when we are the server (what drachtio-server accepts, §14.1)
            and 1 MiB when we are the app.
        max_send_size: Largest payload we send. Defaults to 99 999 when we are
            the app (drachtio-server refuses more, §3) and 1 MiB when we are
            the server.
        id_factory: Makes message ids for :meth:`new_id` (UUID v4 by default).
    """

    def __init__(
        self,
        our_role: Role,
        *,
        max_frame_size: int | None = None,
        max_send_size: int | None = None,
        id_factory: Callable[[], str] = new_message_id,
    ) -> None:
        self.our_role = our_role
        self.their_role = our_role.peer
        to_us = MAX_FRAME_TO_SERVER if our_role is Role.SERVER else MAX_FRAME_TO_APP
        to_them = MAX_FRAME_TO_APP if our_role is Role.SERVER else MAX_FRAME_TO_SERVER
        self.max_frame_size = max_frame_size if max_frame_size is not None else to_us
        self.max_send_size = max_send_size if max_send_size is not None else to_them
        self._id_factory = id_factory
        self._decoder = FrameDecoder(self.max_frame_size)
        self._pending: dict[str, Message] = {}
        self._state = ConnectionState.NEW
        self._auth_id: str | None = None
        self._error: RemoteProtocolError | None = None
        self._closed_reported = False

    # ------------------------------------------------------------------ state

    @property
    def state(self) -> ConnectionState:
        """The handshake state."""
        return self._state

    @property
    def pending(self) -> Mapping[str, Message]:
        """App messages awaiting a (final) reply, by message id (read-only view)."""
        return types.MappingProxyType(self._pending)

    @property
    def their_eof(self) -> bool:
        """Whether the peer's end of stream has been received."""
        return self._decoder.at_eof

    def new_id(self) -> str:
        """Return a fresh message id for a message we are about to send."""
        return self._id_factory()

    # ---------------------------------------------------------------- receive

    def receive_data(self, data: bytes) -> None:
        """Feed bytes received from the peer; ``b""`` means the peer closed.

        Raises:
            LocalProtocolError: bytes fed after the end of the stream.
        """
        self._decoder.feed(bytes(data))

    def next_event(self) -> Message | ConnectionClosed | None:
        """Return the next message from the peer, :class:`ConnectionClosed`, or ``None``.

        ``None`` means more bytes are needed. :class:`ConnectionClosed` is
        returned once the peer's end of stream is reached between frames (and
        again on later calls).

        Raises:
            RemoteProtocolError: the peer broke the protocol (bad framing,
                bad leader, a message out of order, a reply to an unknown
                id). Raised again on every later call.
        """
        if self._error is not None:
            raise self._error
        try:
            payload = self._decoder.next_frame()
            if payload is None:
                if self._decoder.at_eof:
                    return ConnectionClosed()
                return None
            msg = decode_message(payload, sender=self.their_role)
            self._on_received(msg)
        except RemoteProtocolError as err:
            self._error = err
            self._state = ConnectionState.ERROR
            raise
        return msg

    def _on_received(self, msg: Message) -> None:
        state = self._state
        if self.our_role is Role.SERVER:
            if state is ConnectionState.NEW:
                if not isinstance(msg, Authenticate):
                    raise DrachtioProtocolError(
                        f"{msg.TYPE!r} before authenticate", msg_id=msg.msg_id
                    )
                self._state = ConnectionState.AUTHENTICATING
                self._auth_id = msg.msg_id
            elif state is not ConnectionState.READY:
                raise DrachtioProtocolError(
                    f"{msg.TYPE!r} received while the connection is {state.value}",
                    msg_id=msg.msg_id,
                )
            elif isinstance(msg, Authenticate):
                raise DrachtioProtocolError("authenticate sent twice", msg_id=msg.msg_id)
            if msg.msg_id in self._pending:
                raise DrachtioProtocolError(
                    f"message id {msg.msg_id!r} reused while pending", msg_id=msg.msg_id
                )
            self._pending[msg.msg_id] = msg
            return
        # We are the app: the server sends replies, SIP and CDRs.
        if isinstance(msg, Reply):
            if msg.request_id not in self._pending:
                raise DrachtioProtocolError(
                    f"reply to unknown message id {msg.request_id!r}", msg_id=msg.msg_id
                )
            self._complete(msg)
        elif state is not ConnectionState.READY:
            raise DrachtioProtocolError(
                f"{msg.TYPE!r} received while the connection is {state.value}", msg_id=msg.msg_id
            )

    def _complete(self, reply: Reply) -> None:
        """Retire the request ``reply`` answers (unless more replies follow)."""
        if isinstance(reply, ProxyResponse) or not reply.is_final:
            return
        del self._pending[reply.request_id]
        if reply.request_id == self._auth_id:
            self._auth_id = None
            rejected = isinstance(reply, Failure) or not reply.ok
            self._state = ConnectionState.REJECTED if rejected else ConnectionState.READY

    # ------------------------------------------------------------------- send

    def send(self, msg: Message) -> bytes:
        """Encode ``msg`` as a frame to write to the peer, updating the state.

        Raises:
            LocalProtocolError: ``msg`` is not ours to send (wrong direction,
                before authentication, after rejection, a reply to a message
                that is not pending, a reused id), cannot be encoded, or its
                payload exceeds ``max_send_size``. The state is unchanged.
        """
        if self._state is ConnectionState.ERROR:
            raise LocalProtocolError("cannot send on a connection that hit a protocol error")
        if msg.SENDER is not self.our_role:
            raise LocalProtocolError(
                f"{type(msg).__name__} is sent by the {msg.SENDER.value}, "
                f"not the {self.our_role.value}"
            )
        frame = encode_frame(msg.encode(), max_frame_size=self.max_send_size)
        state = self._state
        if self.our_role is Role.APP:
            if state is ConnectionState.NEW:
                if not isinstance(msg, Authenticate):
                    raise LocalProtocolError("the first message must be authenticate")
            elif state is not ConnectionState.READY:
                raise LocalProtocolError(f"cannot send while the connection is {state.value}")
            elif isinstance(msg, Authenticate):
                raise LocalProtocolError("authenticate was already sent")
            if msg.msg_id in self._pending:
                raise LocalProtocolError(f"message id {msg.msg_id!r} is already pending")
            self._pending[msg.msg_id] = msg
            if isinstance(msg, Authenticate):
                self._state = ConnectionState.AUTHENTICATING
                self._auth_id = msg.msg_id
            return frame
        # We are the server.
        if isinstance(msg, Reply):
            if msg.request_id not in self._pending:
                raise LocalProtocolError(f"no pending message with id {msg.request_id!r}")
            if msg.request_id == self._auth_id and isinstance(msg, ProxyResponse):
                raise LocalProtocolError("authenticate cannot get a proxy report")
            self._complete(msg)
        elif state is not ConnectionState.READY:
            raise LocalProtocolError(f"cannot send {msg.TYPE!r} while {state.value}")
        return frame
