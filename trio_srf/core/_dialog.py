"""Base dialog state (RFC 3261 §12): ids, CSeq numbers, route set, remote target.

Rules this module keeps:

* A dialog is identified by Call-ID, local tag and remote tag (§12). The UAS
  builds it from the request and its own 1xx/2xx (§12.1.1): route set = the
  request's Record-Route in order, remote target = the request's Contact,
  remote CSeq = the request's. The UAC builds it from its request and the
  response (§12.1.2): route set = the response's Record-Route *reversed*,
  remote target = the response's Contact, local CSeq = the request's.
* ``secure`` is set when the request was sent over TLS with a sips
  Request-URI (§12.1.1, §12.1.2).
* In-dialog requests (§12.2.1.1): To = remote URI + remote tag, From = local
  URI + local tag, the local CSeq increments (ACK reuses the INVITE's
  number, §13.2.2.4). Loose routing: Request-URI = remote target and Route =
  route set. Strict routing (first route without ``lr``): Request-URI = that
  first route (URI headers stripped), Route = the rest plus the remote target.
* Incoming in-dialog requests (§12.2.2) must not go backwards in CSeq (the
  stack answers 500); target refresh requests (re-INVITE, UPDATE, SUBSCRIBE,
  NOTIFY, REFER; RFC 3311, RFC 6665) replace the remote target with their
  Contact, and so do 2xx responses to the ones we send.
* What a dialog is *used for* (offer/answer, hold, session timers) is not
  here: that is the TU's business (ARCHITECTURE §1).
"""

from __future__ import annotations

import enum

import attrs

from ..errors import LocalProtocolError
from ..sip import Headers, NameAddr, Request, Response, SipURI
from ._flow import Flow

__all__ = ["TARGET_REFRESH_METHODS", "Dialog", "DialogId", "DialogState"]

#: Methods whose requests (and 2xx) refresh the remote target (§12.2, RFC 3311, RFC 6665).
TARGET_REFRESH_METHODS = frozenset({"INVITE", "UPDATE", "SUBSCRIBE", "NOTIFY", "REFER"})


@attrs.frozen(cache_hash=True)
class DialogId:
    """A dialog's identity from our point of view (§12).

    The hash is cached: a dialog id is looked up in several tables (dialogs,
    pending 2xx, timers) for every message of the dialog.

    Attributes:
        call_id: The Call-ID.
        local_tag: Our tag (From tag on our requests).
        remote_tag: The peer's tag.
    """

    call_id: str
    local_tag: str
    remote_tag: str

    def __str__(self) -> str:
        return f"{self.call_id};{self.local_tag};{self.remote_tag}"


class DialogState(enum.Enum):
    """Early (after a tagged 1xx) or confirmed (after a 2xx), §12."""

    EARLY = "early"
    CONFIRMED = "confirmed"


def _contact_uri(message: Request | Response) -> str | None:
    for contact in message.contact:
        if contact.uri is not None:
            return str(contact.uri)
    return None


@attrs.define(eq=False)
class Dialog:
    """The dialog state a UA keeps below the TU boundary.

    Attributes:
        id: The dialog id.
        is_uac: Whether we sent the dialog-creating request.
        state: Early or confirmed.
        local_party: Our From/To value, with our tag.
        remote_party: The peer's From/To value, with its tag.
        remote_target: The peer's Contact URI (where requests go).
        route_set: Route header values, in the order our requests carry them.
        local_seq: The last CSeq number we used (``None``: not yet).
        remote_seq: The last CSeq number the peer used (``None``: not yet).
        secure: Whether the dialog is sips over TLS.
        flow: The flow last used towards the peer (drivers may reuse it).
        local_contact: The Contact we announced; added to target refresh
            requests built here that carry none.
        invite_seq: CSeq number of the last INVITE (for the 2xx ACK).
        creating_txn: The transaction whose response created this dialog.
    """

    id: DialogId
    is_uac: bool
    state: DialogState
    local_party: str
    remote_party: str
    _target: str
    route_set: list[NameAddr]
    local_seq: int | None = None
    remote_seq: int | None = None
    secure: bool = False
    flow: Flow | None = None
    local_contact: str | None = None
    invite_seq: int | None = None
    creating_txn: str | None = None
    # The message whose Contact gives the remote target, parsed on first use:
    # most dialogs of a busy UAS never send a request, so most never need it.
    _target_src: Request | Response | None = None

    @property
    def remote_target(self) -> str:
        """The peer's Contact URI (where requests go, §12.2.1.1)."""
        src = self._target_src
        if src is not None:
            self._target_src = None
            uri = _contact_uri(src)
            if uri is not None:
                self._target = uri
        return self._target

    @remote_target.setter
    def remote_target(self, value: str) -> None:
        self._target_src = None
        self._target = value

    @classmethod
    def for_uas(
        cls,
        request: Request,
        response: Response,
        flow: Flow,
        txn_id: str,
        local_tag: str | None = None,
    ) -> Dialog:
        """Create the UAS side from a request and our tagged 1xx/2xx (§12.1.1).

        ``local_tag`` is the response's To tag when the caller knows it already.
        """
        if local_tag is None:
            local_tag = response.to.tag
        remote_tag = request.from_.tag
        if local_tag is None or remote_tag is None:
            raise LocalProtocolError("a dialog needs a From tag and a To tag")
        seq = request.cseq.seq
        return cls(
            id=DialogId(request.call_id, local_tag, remote_tag),
            is_uac=False,
            state=DialogState.CONFIRMED if response.status >= 200 else DialogState.EARLY,
            local_party=response.headers.get("to") or "",
            remote_party=request.headers.get("from") or "",
            target=request.uri,
            target_src=request,
            route_set=list(request.record_route),
            remote_seq=seq,
            secure=flow.secure and _is_sips(request),
            flow=flow,
            local_contact=response.headers.get("contact"),
            invite_seq=seq if request.method == "INVITE" else None,
            creating_txn=txn_id,
        )

    @classmethod
    def for_uac(cls, request: Request, response: Response, flow: Flow, txn_id: str) -> Dialog:
        """Create the UAC side from our request and a tagged 1xx/2xx (§12.1.2)."""
        local_tag = request.from_.tag
        remote_tag = response.to.tag
        if local_tag is None or remote_tag is None:
            raise LocalProtocolError("a dialog needs a From tag and a To tag")
        seq = request.cseq.seq
        return cls(
            id=DialogId(request.call_id, local_tag, remote_tag),
            is_uac=True,
            state=DialogState.CONFIRMED if response.status >= 200 else DialogState.EARLY,
            local_party=request.headers.get("from") or "",
            remote_party=response.headers.get("to") or "",
            target=request.uri,
            target_src=response,
            route_set=list(reversed(response.record_route)),
            local_seq=seq,
            secure=flow.secure and _is_sips(request),
            flow=flow,
            local_contact=request.headers.get("contact"),
            invite_seq=seq if request.method == "INVITE" else None,
            creating_txn=txn_id,
        )

    # -- requests we send ------------------------------------------------------

    def next_hop(self) -> str:
        """The URI the next request is sent towards (§12.2.1.1, §8.1.2)."""
        if self.route_set:
            return str(self.route_set[0].uri)
        return self.remote_target

    def build_request(
        self,
        method: str,
        *,
        headers: list[tuple[str, str]] | None = None,
        body: bytes = b"",
    ) -> Request:
        """Build an in-dialog request (§12.2.1.1); the stack adds Via on send.

        ``ACK`` reuses the last INVITE's CSeq number (§13.2.2.4); every other
        method takes the next local CSeq number.

        Raises:
            LocalProtocolError: an ACK with no INVITE in this dialog, or
                ``method`` is CANCEL (use :meth:`SipStack.cancel`).
        """
        if method == "CANCEL":
            raise LocalProtocolError("CANCEL is not an in-dialog request; use cancel()")
        if method == "ACK":
            if self.invite_seq is None:
                raise LocalProtocolError("no INVITE to acknowledge in this dialog")
            seq = self.invite_seq
        else:
            seq = (self.local_seq or 0) + 1
            self.local_seq = seq
            if method == "INVITE":
                self.invite_seq = seq
        out = Headers()
        if self.route_set and not _is_loose(self.route_set[0]):
            # Strict routing (§12.2.1.1): first route becomes the Request-URI.
            first = self.route_set[0].uri
            ruri = str(first.without_headers()) if isinstance(first, SipURI) else str(first)
            for route in self.route_set[1:]:
                out.add("Route", str(route))
            out.add("Route", f"<{self.remote_target}>")
        else:
            ruri = self.remote_target
            for route in self.route_set:
                out.add("Route", str(route))
        out.add("Max-Forwards", "70")
        out.add("From", self.local_party)
        out.add("To", self.remote_party)
        out.add("Call-ID", self.id.call_id)
        out.add("CSeq", f"{seq} {method}")
        extra = headers or []
        names = {name.lower() for name, _ in extra}
        if (
            method in TARGET_REFRESH_METHODS
            and self.local_contact is not None
            and "contact" not in names
            and "m" not in names
        ):
            out.add("Contact", self.local_contact)
        for name, value in extra:
            out.add(name, value)
        return Request(method, ruri, out, body)

    # -- messages we receive ---------------------------------------------------

    def check_remote_seq(self, request: Request) -> bool:
        """Record the CSeq of an incoming in-dialog request; ``False`` if it went back.

        ACK and CANCEL reuse earlier numbers and are not checked (§12.2.2).
        """
        if request.method in ("ACK", "CANCEL"):
            return True
        seq = request.cseq.seq
        if self.remote_seq is not None and seq < self.remote_seq:
            return False
        self.remote_seq = seq
        if request.method == "INVITE":
            self.invite_seq = seq
        return True

    def refresh_target(self, message: Request | Response) -> None:
        """Take the remote target from a target refresh request/2xx (§12.2)."""
        if message.headers.has("contact"):
            self._target_src = message

    def confirm(self, response: Response) -> None:
        """A 2xx confirmed an early dialog (§13.2.2.4, §12.1): refresh target, route set."""
        if self.state is DialogState.EARLY:
            self.state = DialogState.CONFIRMED
            if self.is_uac:
                # §12.1.2: the route set is recomputed from the 2xx.
                self.route_set = list(reversed(response.record_route))
        self.refresh_target(response)


def _is_sips(request: Request) -> bool:
    ruri = request.request_uri
    return isinstance(ruri, SipURI) and ruri.scheme == "sips"


def _is_loose(route: NameAddr) -> bool:
    uri = route.uri
    return isinstance(uri, SipURI) and uri.lr
