"""Typed ``response`` messages: the server's replies to app messages (spec §6.2, §6.7, §6.8).

Rules kept:

* Every reply quotes the id of the app message it answers in token 2; token 3
  is ``OK`` or a failure status (``NO``/``NOK``).
* Replies are classified by shape alone (see :func:`~trio_srf.drachtio.decode_message`):
  plain ``OK``, ``OK|pong``, ``OK|done``, the three-token authenticate ``OK``,
  the 13/15-token ``Msg sent:`` echoes, the 13-token ``continue`` proxy report,
  a five-token failure; anything else is a lossless :class:`GenericReply`.
* A ``continue`` report (token 12) keeps the request open; every other reply
  completes it (drachtio-srf's rule).
"""

from __future__ import annotations

from typing import ClassVar

import attrs

from ..errors import LocalProtocolError, RemoteProtocolError
from ..sip import Request, Response
from ._messages import Message, Meta, _CarriesSip, _strs, _tuple
from ._wire import Role

__all__ = [
    "MSG_SENT",
    "AuthOk",
    "Failure",
    "GenericReply",
    "Ok",
    "Pong",
    "ProxyDone",
    "ProxyResponse",
    "Reply",
    "SipSent",
]

#: The marker token of a ``sip`` echo (§6.7).
MSG_SENT = "Msg sent:"


@attrs.frozen(kw_only=True)
class Reply(Message):
    """Base of ``<id>|response|<requestId>|<status>...`` (§6.2).

    Attributes:
        request_id: The id of the app message answered.
    """

    TYPE: ClassVar[str] = "response"
    SENDER: ClassVar[Role] = Role.SERVER
    request_id: str

    @property
    def ok(self) -> bool:
        """Whether token 3 is ``OK`` (the only test drachtio-srf makes)."""
        return True

    @property
    def is_final(self) -> bool:
        """Whether this completes the request (everything but a proxy ``continue``)."""
        return True

    def _head(self, status: str) -> list[str]:
        return [self.msg_id, self.TYPE, self.request_id, status]


@attrs.frozen(kw_only=True)
class Ok(Reply):
    """``<id>|response|<requestId>|OK``: the answer to ``route``/``remove_route``."""

    def leader(self) -> list[str]:
        return self._head("OK")


@attrs.frozen(kw_only=True)
class AuthOk(Reply):
    """``…|OK|<hostports>|<version>|<localHostports>``: authentication accepted (§6.1).

    Attributes:
        hostports: SIP listen points as ``proto/host:port`` (external addresses).
        version: Server version, e.g. ``v0.9.10-1-g9c2dd4cb6a``.
        local_hostports: The bound listen points.
    """

    hostports: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    version: str = "v0.9.10"
    local_hostports: tuple[str, ...] = attrs.field(default=(), converter=_tuple)

    def leader(self) -> list[str]:
        return [
            *self._head("OK"),
            ",".join(self.hostports),
            self.version,
            ",".join(self.local_hostports),
        ]


@attrs.frozen(kw_only=True)
class Pong(Reply):
    """``…|OK|pong``: the answer to ``ping`` (§6.4)."""

    def leader(self) -> list[str]:
        return [*self._head("OK"), "pong"]


@attrs.frozen(kw_only=True)
class ProxyDone(Reply):
    """``…|OK|done``: the proxy operation finished (§6.8)."""

    def leader(self) -> list[str]:
        return [*self._head("OK"), "done"]


@attrs.frozen(kw_only=True)
class Failure(Reply):
    """``…|NO|<reason>`` or ``…|NOK|<reason>`` (§6.2, §13).

    Attributes:
        status: ``NOK`` (SIP layer failures) or ``NO`` (command errors, the
            server then closes the connection).
        reason: The reason text (may hold spaces and ``:``).
    """

    status: str = "NOK"
    reason: str

    @property
    def ok(self) -> bool:
        """Always False."""
        return False

    def leader(self) -> list[str]:
        if self.status == "OK" or not self.status:
            raise LocalProtocolError(f"a Failure cannot have status {self.status!r}")
        return [*self._head(self.status), self.reason]


@attrs.frozen(kw_only=True)
class SipSent(_CarriesSip, Reply):
    """The echo of an app ``sip`` message: the SIP exactly as the server sent it (§6.7).

    Attributes:
        meta: Source (``application``), bytes, protocol, address, port, time.
        transaction_id: For a new request, the id of its new transaction.
        dialog_id: ``None`` for a request echo (``…|<txn>|Msg sent:|``);
            the dialog id, possibly empty, for a response echo
            (``…|<txn>|<dialogId>||Msg sent:|``).
        sip: The SIP message as sent.
    """

    SENDER: ClassVar[Role] = Role.SERVER
    meta: Meta = attrs.field(factory=lambda: Meta(source="application"))
    transaction_id: str
    dialog_id: str | None = None
    sip: str

    @property
    def is_response_echo(self) -> bool:
        """Whether this echoes a response (the 15-token shape)."""
        return self.dialog_id is not None

    def leader(self) -> list[str]:
        tokens = [*self._head("OK"), *self.meta.tokens(), self.transaction_id]
        if self.dialog_id is not None:
            tokens += [self.dialog_id, ""]
        return [*tokens, MSG_SENT, ""]

    def sip_text(self) -> str:
        return self.sip


@attrs.frozen(kw_only=True)
class ProxyResponse(_CarriesSip, Reply):
    """``…|OK|<meta x6>|<txn>|<dialog>|continue`` + a response a proxy target sent (§6.8).

    Attributes:
        meta: Describes the target (source ``network``).
        transaction_id: Token 10; empty from the real server.
        dialog_id: Token 11; empty from the real server.
        sip: The final response as received, topped by the proxy's own Via.
    """

    SENDER: ClassVar[Role] = Role.SERVER
    meta: Meta = attrs.field(factory=Meta)
    transaction_id: str = ""
    dialog_id: str = ""
    sip: str

    @property
    def is_final(self) -> bool:
        """Always False: more replies follow under the same request id."""
        return False

    def leader(self) -> list[str]:
        return [
            *self._head("OK"),
            *self.meta.tokens(),
            self.transaction_id,
            self.dialog_id,
            "continue",
        ]

    def sip_text(self) -> str:
        return self.sip


@attrs.frozen(kw_only=True)
class GenericReply(_CarriesSip, Reply):
    """Any other ``response`` shape, kept token for token.

    Attributes:
        status: Token 3.
        data: Tokens 4 and on.
        sip: The SIP part, or ``None``.
    """

    SENDER: ClassVar[Role] = Role.SERVER
    status: str
    data: tuple[str, ...] = attrs.field(default=(), converter=_strs)
    sip: str | None = None  # type: ignore[assignment]

    @property
    def ok(self) -> bool:
        """Whether the status is ``OK``."""
        return self.status == "OK"

    @property
    def is_final(self) -> bool:
        """False when token 12 is ``continue`` (srf's rule), else True."""
        return not (len(self.data) > 8 and self.data[8] == "continue")

    @property
    def message(self) -> Request | Response:
        """The SIP part parsed.

        Raises:
            RemoteProtocolError: there is no SIP part, or it does not parse.
        """
        if self.sip is None:
            raise RemoteProtocolError("reply without a SIP part")
        return super().message

    def leader(self) -> list[str]:
        return [*self._head(self.status), *self.data]

    def sip_text(self) -> str | None:
        return self.sip
