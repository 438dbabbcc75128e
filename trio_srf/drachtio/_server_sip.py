"""SIP completion rules of the drachtio server: turn an app's skeleton into a full message (§7).

A drachtio app sends only a *skeleton*; the server completes it before the
engine sends it. The rules kept here (spec §7, each confirmed against a real
server capture where the spec says so):

* **Never honoured from the app:** ``Via``, ``Route``, ``Record-Route``,
  ``RSeq``, ``Content-Length`` (the engine computes the last one from the body).
* **Responses** are built from the stored request (``Via``, ``From``, ``To``,
  ``Call-ID``, ``CSeq`` come from it, RFC 3261 §8.2.6.2); the app may choose
  the To tag by sending a ``To`` with ``tag=``. A body starting ``v=0`` without
  a ``Content-Type`` gets ``application/sdp``.
* **New requests:** ``From`` defaults to our own address, ``To`` to the
  Request-URI, ``Call-ID``/``CSeq`` are generated unless supplied, a From tag
  is added unless supplied, ``@localhost`` in From/To/Contact/P-Asserted-Identity
  is replaced by our SIP address; a body without ``Content-Type`` must be SDP.
* **In-dialog requests** take From/To/Call-ID/CSeq/Route from the dialog; only
  the app's extra headers and body are used.
* Header names from the app are re-spelt canonically (``cseq`` -> ``CSeq``);
  values are checked by :class:`~trio_srf.sip.Headers` (no CR/LF injection).

Pure functions, no I/O: failures are :class:`SkeletonError` carrying the
exact ``NOK`` reason text drachtio-server answers with (§13).
"""

from __future__ import annotations

import itertools
import re
import secrets

from ..errors import ProtocolError
from ..sip import Request, Response, SipURI, TelURI, new_call_id, new_tag, parse_uri
from ..sip._headers import canonical_name, header_key

__all__ = [
    "SkeletonError",
    "build_in_dialog_parts",
    "build_new_request",
    "build_response",
    "dialog_id_of",
    "parse_timeout",
]

#: Headers the server never takes from the app (§7, ``m_setImmutableHdrs``).
IMMUTABLE = frozenset({"via", "route", "record-route", "rseq", "content-length"})
#: Headers a response takes from its request (§8.2.6.2).
FROM_REQUEST = frozenset({"from", "to", "call-id", "cseq"})
#: Headers an in-dialog request takes from the dialog (§12.2.1.1).
FROM_DIALOG = FROM_REQUEST | {"max-forwards"}
#: Request methods whose out-of-dialog requests get a Contact (§7).
CONTACT_METHODS = frozenset({"INVITE", "SUBSCRIBE", "REFER"})

_LOCALHOST = re.compile(r"@localhost(?::\d+)?(?=[;>?]|$)", re.IGNORECASE)
_METHOD = re.compile(r"^[A-Za-z0-9.!%*_+`'~-]+$")
_TIMEOUT = re.compile(r"^(\d+)(ms|s)?$")
_cseq_counter = itertools.count(secrets.randbelow(100_000_000) + 10_000_000)


class SkeletonError(Exception):
    """The app's SIP cannot be sent; ``reason`` is the ``NOK`` text (§13)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def dialog_id_of(call_id: str, from_tag: str) -> str:
    """The drachtio dialog id: ``<Call-ID>;from-tag=<tag of the From header>`` (§8)."""
    return f"{call_id};from-tag={from_tag}"


def parse_timeout(token: str) -> float | None:
    """Parse a ``proxy`` timeout token (``2s``, ``500ms``, ``3``; empty: none) (§6.8)."""
    match = _TIMEOUT.match(token.strip())
    if match is None:
        return None
    value = int(match.group(1))
    return value / 1000 if match.group(2) == "ms" else float(value)


def _app_headers(message: Request | Response, skip: frozenset[str]) -> list[tuple[str, str]]:
    """The app's header lines minus ``skip`` (and the immutable ones), names canonical."""
    out: list[tuple[str, str]] = []
    for name, value in message.headers.items():
        key = header_key(name)
        if key in IMMUTABLE or key in skip:
            continue
        out.append((canonical_name(name), value))
    return out


def _content_type(
    headers: list[tuple[str, str]], body: bytes, missing: str
) -> list[tuple[str, str]]:
    """Add ``Content-Type: application/sdp`` for an SDP body that has none (§7).

    Raises:
        SkeletonError: a non-SDP body without a Content-Type (``missing`` is the reason).
    """
    if not body or any(header_key(n) == "content-type" for n, _ in headers):
        return headers
    if body.lstrip()[:3] != b"v=0":
        raise SkeletonError(missing)
    return [*headers, ("Content-Type", "application/sdp")]


def _localize(value: str, hostport: str) -> str:
    """Replace ``@localhost`` with our SIP address; bracket a bare URI (§7)."""
    if not _LOCALHOST.search(value):
        return value
    value = _LOCALHOST.sub(f"@{hostport}", value)
    if "<" not in value:
        uri, sep, params = value.partition(";")
        value = f"<{uri}>{sep}{params}"
    return value


def _ordered(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Contact first, then Content-Type, then the rest in the app's order (capture 02, 06)."""
    rank = {"contact": 0, "content-type": 1}
    return sorted(headers, key=lambda item: rank.get(header_key(item[0]), 2))


def build_response(request: Request, skeleton: Response, *, contact: str | None = None) -> Response:
    """Build the response to ``request`` from the app's ``skeleton`` (§7 "Responses").

    Args:
        request: The stored incoming request.
        skeleton: What the app sent (status line, optional headers and body).
        contact: Our Contact URI, added to 2xx answers of INVITE/SUBSCRIBE
            when the app sent none.

    Raises:
        SkeletonError: the body has no Content-Type and is not SDP.
    """
    to_tag: str | None = None
    app_to = skeleton.headers.get("to")
    if app_to is not None and request.to.tag is None:
        match = re.search(r";\s*tag=([^;>\s]+)", app_to)
        to_tag = match.group(1) if match else None
    response = request.make_response(
        skeleton.status, skeleton.reason or None, to_tag=to_tag, body=skeleton.body
    )
    extra = _app_headers(skeleton, FROM_REQUEST)
    extra = _content_type(extra, skeleton.body, "missing content-type")
    if (
        contact is not None
        and 200 <= skeleton.status < 300
        and request.method in ("INVITE", "SUBSCRIBE")
        and not any(header_key(n) == "contact" for n, _ in extra)
    ):
        extra.append(("Contact", f"<{contact}>"))
    try:
        for name, value in _ordered(extra):
            response.headers.add(name, value)
    except ProtocolError as err:
        raise SkeletonError(f"Server error: {err}") from None
    return response


def build_new_request(skeleton: Request, *, hostport: str) -> Request:
    """Complete an app's out-of-dialog request (§7 "Requests outside a dialog").

    Via, Max-Forwards and (for INVITE/SUBSCRIBE/REFER without one) Contact
    are left to the engine, which knows the transport it will use.

    Args:
        skeleton: What the app sent.
        hostport: Our SIP ``host:port`` (for the default From and ``@localhost``).

    Raises:
        SkeletonError: invalid Request-URI or method, or a non-SDP body
            without Content-Type.
    """
    method = skeleton.method
    if not _METHOD.match(method):
        raise SkeletonError(
            f"Server error: invalid or missing method supplied on start line: {method}"
        )
    try:
        ruri = parse_uri(skeleton.uri)
    except ProtocolError:
        raise SkeletonError(f"invalid request-uri: {skeleton.uri}") from None
    if not isinstance(ruri, SipURI | TelURI):
        raise SkeletonError(f"invalid request-uri: {skeleton.uri}")
    app = skeleton.headers
    from_value = _localize(app.get("from") or f"<sip:{hostport}>", hostport)
    params = from_value.rpartition(">")[2] if "<" in from_value else from_value.partition(";")[2]
    if not re.search(r"(^|;)\s*tag=", params):
        if "<" not in from_value:
            uri, sep, rest = from_value.partition(";")
            from_value = f"<{uri}>{sep}{rest}"
        from_value = f"{from_value};tag={new_tag()}"
    to_value = _localize(app.get("to") or f"<{skeleton.uri}>", hostport)
    call_id = app.get("call-id") or new_call_id()
    cseq = app.get("cseq") or f"{next(_cseq_counter)} {method}"
    extra = _app_headers(skeleton, FROM_REQUEST | {"max-forwards"})
    extra = [
        (n, _localize(v, hostport) if header_key(n) in ("contact", "p-asserted-identity") else v)
        for n, v in extra
    ]
    extra = _content_type(extra, skeleton.body, "missing content-type")
    try:
        headers = [
            ("From", from_value),
            ("To", to_value),
            ("Call-ID", call_id),
            ("CSeq", cseq),
            *_ordered(extra),
        ]
        return Request(method, skeleton.uri, headers, skeleton.body)
    except ProtocolError as err:
        raise SkeletonError(f"Server error: {err}") from None


def build_in_dialog_parts(
    skeleton: Request, *, hostport: str
) -> tuple[str, list[tuple[str, str]], bytes]:
    """The method, extra headers and body of an app's in-dialog request (§7).

    The Request-URI (``sip:placeholder`` or not), From, To, Call-ID, CSeq and
    Route come from the dialog, so only the rest of the skeleton is kept.

    Raises:
        SkeletonError: invalid method, or a non-SDP body without Content-Type.
    """
    method = skeleton.method
    if not _METHOD.match(method):
        raise SkeletonError(
            f"Server error: invalid or missing method supplied on start line: {method}"
        )
    extra = _app_headers(skeleton, FROM_DIALOG)
    extra = [(n, _localize(v, hostport) if header_key(n) == "contact" else v) for n, v in extra]
    extra = _content_type(extra, skeleton.body, "Server error: missing content-type")
    return method, _ordered(extra), skeleton.body
