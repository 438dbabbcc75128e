"""Response: answering an incoming request (drachtio-srf's ``res``).

Rules this module keeps (RFC 3261 §8.2.6, §17.2):

* A request gets exactly one final response. :meth:`Response.send` refuses a
  second one and any provisional after it (:class:`LocalProtocolError`). The
  guard is taken *before* awaiting the agent, so two tasks racing to answer
  cannot both win.
* 100 Trying is the agent's job (ARCHITECTURE §4); applications send 101-199.
* The To tag is chosen by the agent unless the app's ``To`` header carries one
  (drachtio's way of choosing the tag); it is the same on every response.
* ``send`` returns the message as sent (tags, Contact and Server filled in).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from ..errors import LocalProtocolError
from ..sip import Headers, Response as SipResponse

if TYPE_CHECKING:
    from ..agent import Agent
    from ._request import Request

__all__ = ["HeadersArg", "Response", "apply_headers", "as_body"]

#: Headers given as a mapping or as (name, value) pairs.
HeadersArg = Mapping[str, str] | Iterable[tuple[str, str]]

# Headers that occur once: an app value replaces the copied one instead of adding a second.
_SINGLE = frozenset(
    {
        "to",
        "from",
        "call-id",
        "cseq",
        "contact",
        "content-type",
        "max-forwards",
        "expires",
        "user-agent",
        "server",
        "session-expires",
        "min-se",
        "subject",
        "event",
        "subscription-state",
        "refer-to",
        "referred-by",
        "p-asserted-identity",
    }
)
_SHORT = {"t": "to", "f": "from", "i": "call-id", "m": "contact", "c": "content-type"}


def header_pairs(headers: HeadersArg | None) -> list[tuple[str, str]]:
    """Normalise a mapping or pair list to a list of pairs."""
    if headers is None:
        return []
    if isinstance(headers, Mapping):
        return [(str(k), str(v)) for k, v in headers.items()]
    return [(str(k), str(v)) for k, v in headers]


def apply_headers(target: Headers, headers: HeadersArg | None) -> None:
    """Add ``headers`` to ``target``; single-instance ones (To, Contact...) replace."""
    for name, value in header_pairs(headers):
        low = name.lower()
        if _SHORT.get(low, low) in _SINGLE:
            target.set(name, value)
        else:
            target.add(name, value)


def as_body(body: bytes | str | None) -> bytes:
    """Encode a text body as UTF-8; ``None`` is empty."""
    if body is None:
        return b""
    return body.encode("utf-8") if isinstance(body, str) else bytes(body)


def content_type_for(body: bytes) -> str | None:
    """A Content-Type for a body the app gave none for: SDP when it looks like one."""
    return "application/sdp" if body.lstrip().startswith(b"v=0") else None


class Response:
    """The answer side of an incoming request.

    Attributes:
        req: The request being answered.
        last: The last response sent, as sent, or ``None``.
    """

    def __init__(self, req: Request, agent: Agent) -> None:
        self.req = req
        self._agent = agent
        self._final = False
        self.last: SipResponse | None = None

    @property
    def final_sent(self) -> bool:
        """Whether a final (>= 200) response was sent (or the agent sent 487 after CANCEL)."""
        return self._final

    @property
    def status(self) -> int | None:
        """The status of the last response sent, or ``None``."""
        return self.last.status if self.last is not None else None

    async def send(
        self,
        status: int,
        reason: str | None = None,
        *,
        headers: HeadersArg | None = None,
        body: bytes | str | None = None,
    ) -> SipResponse:
        """Send a response; return it as sent.

        Args:
            status: 101-699.
            reason: The reason phrase; the standard one if ``None``.
            headers: Extra headers (a ``To`` with a tag chooses our tag; a
                ``Contact`` replaces the agent's).
            body: The body; SDP gets ``Content-Type: application/sdp`` unless given.

        Raises:
            LocalProtocolError: a final response was already sent, or the
                status is out of range (100 is the agent's).
        """
        if not 101 <= status <= 699:
            raise LocalProtocolError(f"cannot send status {status}")
        if self._final:
            raise LocalProtocolError("a final response was already sent")
        if status >= 200:
            self._final = True
        payload = as_body(body)
        response = self.req.msg.make_response(status, reason, body=payload)
        apply_headers(response.headers, headers)
        if payload and not response.headers.has("content-type"):
            ctype = content_type_for(payload)
            if ctype is not None:
                response.headers.add("Content-Type", ctype)
        sent = await self._agent.respond(self.req.server_txn, response)
        self.last = sent
        return sent

    def _mark_final(self) -> None:
        """The agent answered by itself (487 after CANCEL)."""
        self._final = True

    def __repr__(self) -> str:
        return f"<Response to {self.req.method} status={self.status} final={self._final}>"
