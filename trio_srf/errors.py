"""Every exception trio_srf raises, in one module that all layers share.

The hierarchy (see docs/errors.md)::

    SrfError
    ├── ProtocolError (.status_hint)      sans-IO layers only
    │   ├── LocalProtocolError            we (or the app) asked for something illegal
    │   └── RemoteProtocolError           the peer sent something illegal
    ├── SipError (.status, .reason, .response)   a request we sent failed
    │   ├── RequestTimeout                Timer B/F fired; status 408
    │   └── TransportFailure              connect/ICMP/TLS failure; status 503
    ├── DialogError                       operation on a dialog that is gone
    └── AgentError
        ├── AgentLost                     drachtio connection dropped, engine closed
        └── AuthenticationFailed          drachtio secret rejected

Like h11, the parser raises :class:`LocalProtocolError` internally and the
entry points that read peer bytes re-raise it as :class:`RemoteProtocolError`,
so callers handling untrusted input catch exactly one class.
"""

from __future__ import annotations

from typing import Any

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
]


class SrfError(Exception):
    """Base class of every exception raised by trio_srf."""


class ProtocolError(SrfError):
    """A SIP protocol violation detected by a sans-IO layer.

    Attributes:
        status_hint: The SIP status code a server should answer the offending
            request with (400 Bad Request, 505 Version Not Supported, 513
            Message Too Large, 416 Unsupported URI Scheme, ...).
        via: The raw ``Via`` header values that survived parsing, in order;
            empty if none could be recovered. With these, a server can route
            an error response back (RFC 3261 §18.2.2).
        call_id: The ``Call-ID`` if it could be recovered, else ``None``.
        cseq: The raw ``CSeq`` value if it could be recovered, else ``None``.
        from_: The raw ``From`` value if it could be recovered, else ``None``.
        to: The raw ``To`` value if it could be recovered, else ``None``.
        is_request: ``True`` if the input looked like a request, ``False`` if
            it looked like a response, ``None`` if even that is unknown.
        method: The request method if the request line survived.
        uri: The raw Request-URI if the request line survived.
    """

    def __init__(
        self,
        msg: str,
        *,
        status_hint: int = 400,
        via: list[str] | None = None,
        call_id: str | None = None,
        cseq: str | None = None,
        from_: str | None = None,
        to: str | None = None,
        is_request: bool | None = None,
        method: str | None = None,
        uri: str | None = None,
    ) -> None:
        super().__init__(msg)
        self.msg = msg
        self.status_hint = status_hint
        self.via: list[str] = list(via) if via else []
        self.call_id = call_id
        self.cseq = cseq
        self.from_ = from_
        self.to = to
        self.is_request = is_request
        self.method = method
        self.uri = uri

    def _copy_to(self, cls: type[ProtocolError]) -> ProtocolError:
        new = cls(
            self.msg,
            status_hint=self.status_hint,
            via=self.via,
            call_id=self.call_id,
            cseq=self.cseq,
            from_=self.from_,
            to=self.to,
            is_request=self.is_request,
            method=self.method,
            uri=self.uri,
        )
        return new

    @property
    def can_answer(self) -> bool:
        """Whether enough survived to build an error response (§8.2.6).

        A response needs the request's Via, From, To, Call-ID and CSeq, and it
        is only ever sent for a request (responses are never answered).
        """
        return bool(
            self.is_request
            and self.via
            and self.call_id is not None
            and self.cseq is not None
            and self.from_ is not None
            and self.to is not None
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.msg!r}, status_hint={self.status_hint})"


class LocalProtocolError(ProtocolError):
    """We, or the application, asked for something SIP does not allow."""

    def _reraise_as_remote_protocol_error(self) -> RemoteProtocolError:
        remote = self._copy_to(RemoteProtocolError)
        assert isinstance(remote, RemoteProtocolError)
        return remote


class RemoteProtocolError(ProtocolError):
    """The peer sent something SIP does not allow.

    ``status_hint`` is the status code to answer with, when ``can_answer``.
    """


class SipError(SrfError):
    """A request we sent failed with a final non-2xx response (drachtio's name).

    Attributes:
        status: The SIP status code (e.g. 486).
        reason: The reason phrase.
        response: The response that ended the transaction, or ``None`` when
            it was generated locally (timeouts, transport failures).
    """

    def __init__(self, status: int, reason: str = "", response: Any = None) -> None:
        super().__init__(f"{status} {reason}".strip())
        self.status = status
        self.reason = reason
        self.response = response


class RequestTimeout(SipError):
    """Timer B or Timer F fired: no final response in 64*T1 (status 408)."""

    def __init__(self, reason: str = "Request Timeout") -> None:
        super().__init__(408, reason, None)


class TransportFailure(SipError):
    """The request could not be delivered (RFC 3261 §8.1.3.1: treated as 503)."""

    def __init__(self, reason: str = "Service Unavailable (transport failure)") -> None:
        super().__init__(503, reason, None)


class DialogError(SrfError):
    """An operation on a dialog that no longer exists (or a 481 was received)."""


class AgentError(SrfError):
    """A failure of the agent (embedded engine or drachtio connection)."""


class AgentLost(AgentError):
    """The agent went away: the drachtio connection dropped or the engine closed."""


class AuthenticationFailed(AgentError):
    """The drachtio server rejected our shared secret."""
