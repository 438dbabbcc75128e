"""Pieces of the drachtio client that hold no connection: handles, options, counters, SIP text.

Rules kept:

* A :class:`DrachtioClientTransaction` is the drachtio twin of the engine's
  ``ClientTransaction``: it is created before the app's ``sip`` message goes
  out and learns its transaction id from the server's echo (spec §6.7, token
  10). The reader task registers it under that id *before* it reads the next
  frame, so no response can overtake the registration (§15.2).
* ``cancel()`` is synchronous (the Agent protocol); the CANCEL frame
  (``sip|<inviteTxn>|`` + ``CANCEL``, §9.5 step 6) is written by a task of the
  agent's nursery. A cancel asked for before the echo arrived is sent as soon
  as the transaction id is known.
* SIP sent to the server is a skeleton it completes (§7): ``Via``, ``Route``
  and ``Record-Route`` are never honoured, so they are stripped; the server
  computes ``Content-Length`` itself.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import attrs
import trio

from ..errors import RequestTimeout
from ..sip import Request, Response

if TYPE_CHECKING:
    from ._client import DrachtioAgent

__all__ = [
    "DrachtioClientTransaction",
    "DrachtioStatistics",
    "ReconnectPolicy",
    "parse_hostports",
    "skeleton",
    "version_at_least",
]

# Headers the server never takes from the app (§7, ``m_setImmutableHdrs``).
_DROPPED = ("via", "route", "record-route")

_VERSION = re.compile(r"^v(\d+)\.(\d+)\.(\d+)")


def skeleton(message: Request | Response) -> str:
    """The SIP text to carry in an app ``sip`` message (§7): Via/Route/Record-Route removed."""
    copy = message.copy()
    for name in _DROPPED:
        copy.headers.remove(name)
    return copy.serialize().decode("utf-8", "surrogateescape")


def in_dialog_text(method: str, headers: Sequence[tuple[str, str]] = (), body: bytes = b"") -> str:
    """The skeleton of an in-dialog request: ``sip:placeholder`` is replaced by the server (§7)."""
    request = Request(method, "sip:placeholder", list(headers), body)
    return skeleton(request)


def parse_hostports(items: Sequence[str]) -> list[tuple[str, str, int]]:
    """Parse ``proto/host:port`` tokens of an authenticate reply (§6.1) into tuples.

    IPv6 hosts come in brackets (``tcp/[::1]:5060``) and are returned without
    them. Malformed items are skipped.
    """
    out: list[tuple[str, str, int]] = []
    for item in items:
        proto, slash, hostport = item.partition("/")
        if not slash:
            continue
        host, colon, port = hostport.rpartition(":")
        if not colon or not port.isdigit():
            continue
        out.append((proto.lower(), host.strip("[]"), int(port)))
    return out


def version_at_least(version: str, wanted: tuple[int, int, int]) -> bool:
    """Whether a server ``git describe`` version is at least ``wanted`` (srf's ping rule, §6.4)."""
    match = _VERSION.match(version)
    if match is None:
        return False
    return tuple(int(g) for g in match.groups()) >= wanted


@attrs.frozen
class ReconnectPolicy:
    """Capped exponential backoff for re-connecting to the server (§12).

    Attributes:
        initial: Delay before the first attempt (srf: 150 ms).
        factor: Multiplier per attempt (srf: 1.7).
        max_delay: Cap on one delay.
        max_attempts: Give up after this many failed attempts (``None``: never).
    """

    initial: float = 0.15
    factor: float = 1.7
    max_delay: float = 5.0
    max_attempts: int | None = None

    def delays(self) -> list[float]:
        """The first ten delays (for documentation and tests)."""
        out, delay = [], self.initial
        for _ in range(10):
            out.append(min(delay, self.max_delay))
            delay *= self.factor
        return out


@attrs.frozen
class DrachtioStatistics:
    """Counters of a :class:`~trio_srf.drachtio._client.DrachtioAgent`.

    Attributes:
        connected: Whether a connection is up and authenticated.
        connects: Connections established (the first one included).
        reconnect_attempts: Connection attempts that failed after a loss.
        frames_in: Messages received from the server.
        frames_out: Messages sent to the server.
        requests_in: SIP requests delivered to the app (new and in-dialog).
        responses_in: SIP responses received for our requests.
        client_transactions: Live client transaction handles.
        server_transactions: Incoming requests not finally answered yet.
        dialogs: Dialogs known on the current connection.
        attached_dialogs: Dialogs with an attached channel.
        overload_503: New requests answered 503 because ``incoming`` was full.
        dialog_overload_500: In-dialog requests answered 500 (dialog channel full).
        failures: ``NOK``/``NO`` replies received.
        cdrs: CDR messages received.
        cdrs_dropped: CDR messages dropped because nobody read them.
        pings: Pings sent.
        lost: Connections lost.
        internal_errors: Bugs caught and logged instead of stopping the reader.
    """

    connected: bool
    connects: int
    reconnect_attempts: int
    frames_in: int
    frames_out: int
    requests_in: int
    responses_in: int
    client_transactions: int
    server_transactions: int
    dialogs: int
    attached_dialogs: int
    overload_503: int
    dialog_overload_500: int
    failures: int
    cdrs: int
    cdrs_dropped: int
    pings: int
    lost: int
    internal_errors: int


class DrachtioClientTransaction:
    """A request sent through drachtio: iterate its responses; cancel an INVITE.

    Attributes:
        dialog_id: The drachtio dialog id a 2xx (or tagged 1xx) established,
            or the dialog an in-dialog request was sent in; ``None`` otherwise.
    """

    def __init__(self, agent: DrachtioAgent, template: Request, dialog_id: str | None) -> None:
        self._agent = agent
        self._request = template
        self._id = ""
        self._send, self._recv = trio.open_memory_channel[Response | Exception](64)
        self._done = False
        self._final_seen = False
        self._cancel_wanted = False
        self._cancel_sent = False
        self.method = template.method
        self.in_dialog = dialog_id is not None
        self.dialog_id: str | None = dialog_id

    @property
    def id(self) -> str:
        """The drachtio transaction id (``""`` until the server's echo arrived)."""
        return self._id

    @property
    def request(self) -> Request:
        """The request as the server sent it (from the echo), or as given before that."""
        return self._request

    def _sent(self, txn_id: str, request: Request) -> None:
        """The echo arrived (called by the reader task)."""
        self._id = txn_id
        self._request = request
        if self._cancel_wanted:
            self._send_cancel()

    def _deliver(self, item: Response | Exception) -> None:
        if isinstance(item, Response) and item.status >= 200:
            self._final_seen = True
        with contextlib.suppress(
            trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError
        ):
            self._send.send_nowait(item)

    def __aiter__(self) -> DrachtioClientTransaction:
        return self

    async def __anext__(self) -> Response:
        """Return the next response; stop after the final one.

        Raises:
            AgentLost: the connection to the server was lost.
        """
        if self._done:
            raise StopAsyncIteration
        item = await self._recv.receive()
        if isinstance(item, Exception):
            self._done = True
            raise item
        if item.status >= 200:
            self._done = True
        return item

    async def final(self) -> Response:
        """Wait for and return the final response (provisionals are skipped)."""
        async for response in self:
            if response.status >= 200:
                return response
        raise RequestTimeout()  # pragma: no cover - iteration always ends in a final

    def cancel(self) -> None:
        """CANCEL a pending INVITE (RFC 3261 §9.1); a no-op once answered."""
        if self.method != "INVITE" or self._final_seen or self._done:
            return
        if not self._id:
            self._cancel_wanted = True
            return
        self._send_cancel()

    def _send_cancel(self) -> None:
        if self._cancel_sent or self._final_seen:
            return
        self._cancel_sent = True
        self._agent._spawn_cancel(self)
