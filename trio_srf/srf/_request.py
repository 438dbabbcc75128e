"""Request: the application's view of an incoming request (drachtio-srf's ``req``).

Rules this module keeps:

* A :class:`Request` wraps the parsed :class:`trio_srf.sip.Request` (``msg``)
  and the agent's metadata (server transaction, dialog id, flow); it never
  changes the message. Header access is case-insensitive and understands
  compact forms, because :class:`~trio_srf.sip.Headers` does.
* ``calling_number`` comes from P-Asserted-Identity when present, else From
  (RFC 3325 §9.1); ``called_number`` is the user part of the Request-URI.
* ``cancelled`` turns true when the caller CANCELs a pending INVITE; the agent
  has then already answered 487 (RFC 3261 §9.2) and Srf cancels the handler's
  scope, so most code never needs to look at it.
"""

from __future__ import annotations

from typing import Any

from ..agent import IncomingRequest
from ..errors import ProtocolError
from ..sip import NameAddr, Request as SipRequest, SipURI, TelURI, parse_name_addr

__all__ = ["Request"]


def _user_of(addr: NameAddr | None) -> str | None:
    if addr is None:
        return None
    uri = addr.uri
    if isinstance(uri, SipURI):
        return uri.user
    if isinstance(uri, TelURI):
        return uri.number
    return None


class Request:
    """An incoming request, as handlers and middleware see it.

    Attributes:
        msg: The SIP message as received.
        incoming: The agent's notice (server transaction, dialog id, flow).
        locals: A per-request dict for middleware to pass data along.
    """

    def __init__(self, incoming: IncomingRequest) -> None:
        self.incoming = incoming
        self.msg: SipRequest = incoming.request
        self.locals: dict[str, Any] = {}
        self._cancelled = False

    # -- start line and body -------------------------------------------------------

    @property
    def method(self) -> str:
        """The method, e.g. ``"INVITE"``."""
        return self.msg.method

    @property
    def uri(self) -> str:
        """The Request-URI as text."""
        return self.msg.uri

    @property
    def body(self) -> bytes:
        """The body bytes."""
        return self.msg.body

    @property
    def text(self) -> str:
        """The body decoded as UTF-8 (SDP and most SIP bodies are text)."""
        return self.msg.body.decode("utf-8", "replace")

    # -- headers -------------------------------------------------------------------

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of header ``name`` (case-insensitive, compact forms too)."""
        return self.msg.get(name, default)

    def get_all(self, name: str) -> list[str]:
        """Every value of header ``name``, in order."""
        return self.msg.headers.get_all(name)

    def has(self, name: str) -> bool:
        """Whether header ``name`` is present."""
        return self.msg.has(name)

    def get_parsed_header(self, name: str) -> Any:
        """The typed view of a header (Via, From, To, CSeq, Contact, ...), else raw values.

        Raises:
            KeyError: The header is absent (drachtio throws too).
        """
        if not self.msg.has(name):
            raise KeyError(name)
        return self.msg.get_parsed(name)

    # -- metadata --------------------------------------------------------------------

    @property
    def call_id(self) -> str:
        """The Call-ID."""
        return self.msg.call_id

    @property
    def source_address(self) -> str:
        """The sender's IP address."""
        return self.incoming.source_address

    @property
    def source_port(self) -> int:
        """The sender's port."""
        return self.incoming.source_port

    @property
    def protocol(self) -> str:
        """The transport it came over (``udp``, ``tcp``, ``tls``, ``ws``, ``wss``)."""
        return self.incoming.protocol

    @property
    def server_txn(self) -> str:
        """The agent's server transaction id."""
        return self.incoming.server_txn

    @property
    def dialog_id(self) -> str | None:
        """The dialog it belongs to (in-dialog requests only)."""
        return self.incoming.dialog_id

    @property
    def cancelled(self) -> bool:
        """Whether the caller CANCELled this (pending INVITE) request."""
        return self._cancelled

    def _asserted(self) -> NameAddr | None:
        value = self.msg.get("p-asserted-identity")
        if value is not None:
            try:
                return parse_name_addr(value.split(",")[0])
            except ProtocolError:
                pass
        try:
            return self.msg.from_
        except ProtocolError:
            return None

    @property
    def calling_number(self) -> str | None:
        """User part of P-Asserted-Identity, else of From."""
        return _user_of(self._asserted())

    @property
    def calling_name(self) -> str | None:
        """Display name of P-Asserted-Identity, else of From."""
        addr = self._asserted()
        return addr.display_name if addr is not None else None

    @property
    def called_number(self) -> str | None:
        """User part of the Request-URI."""
        try:
            uri = self.msg.request_uri
        except ProtocolError:
            return None
        if isinstance(uri, SipURI):
            return uri.user
        if isinstance(uri, TelURI):
            return uri.number
        return None

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.uri} from {self.source_address}:{self.source_port}>"
