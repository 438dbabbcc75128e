"""Typed views of SIP header values: Via, name-addr, Contact, CSeq, Content-Type.

Rules this module keeps:

* Each ``parse_*`` function takes one raw header *value* (what follows
  ``Name:``), which may contain LWS anywhere RFC 3261 §25.1 allows it (SWS
  around ``;``, ``=``, ``/``, ``:``; even folded ``CRLF SP`` if the caller did
  not unfold). Invalid input raises :class:`~trio_srf.errors.LocalProtocolError`
  with ``status_hint=400`` and nothing else.
* Parameters are ``tuple[tuple[str, str | None], ...]`` in the order written;
  a flag (``;lr``) is ``(name, None)``. Names and values are kept *as written*:
  a quoted-string value keeps its quotes (use :func:`unquote`). Lookups via
  :func:`get_param`/:func:`has_param` are case-insensitive on the name.
* Every value class is ``attrs`` frozen; ``str()`` serializes it canonically
  (single spaces, no LWS, name-addr always in ``<...>``), so
  ``parse(str(x)) == x``.
* RFC 3261 §20: after an addr-spec that is *not* in angle brackets, every
  ``;param`` belongs to the header, not to the URI; such a URI may not contain
  ``,`` or ``?`` (nor ``;``, which the rule makes impossible).

Hot path: a typical single Via or ``"Alice" <sip:alice@example.com>;tag=1``
matches one strict precompiled regex that also validates it (the URI inside
included) and captures the fields, which are then set on the value without
attrs' ``__init__``. Each fast regex accepts only a subset of what the careful
parser accepts and yields the identical value (``tests/sip/test_fast_paths.py``
checks this differentially); anything unusual (escaped quotes, LWS, IPv6,
quoted parameter values, mixed-case parameter names) falls back to the
careful cursor-based parser, which also produces the error messages.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import attrs

from trio_srf.errors import LocalProtocolError

from ._uri import (
    COMPILED,
    FAST_PORT,
    SIP_FAST,
    URI,
    _bounded_int,
    _format_params,
    _set_in_place,
    is_valid_host,
    make_sip_uri,
    parse_uri,
    parse_uri_careful,
)

__all__ = [
    "CSeq",
    "Contact",
    "ContentType",
    "NameAddr",
    "Params",
    "Via",
    "format_params",
    "get_param",
    "has_param",
    "parse_contact_list",
    "parse_content_type",
    "parse_cseq",
    "parse_int_header",
    "parse_name_addr",
    "parse_name_addr_list",
    "parse_params",
    "parse_token_list",
    "parse_via_list",
    "quote",
    "split_header_values",
    "unquote",
]

#: Header parameters: ``((name, value_or_None), ...)`` as written.
Params = tuple[tuple[str, str | None], ...]

_LWS = " \t\r\n"
_TOKEN_CH = r"A-Za-z0-9\-.!%*_+`'~"
_TOKEN = rf"[{_TOKEN_CH}]+"
_TOKEN_RE = re.compile(rf"{_TOKEN}\Z")
_SWS_RE = re.compile(r"[ \t\r\n]*")
_SEMI_RE = re.compile(r"[ \t\r\n]*;[ \t\r\n]*")
_EQUAL_RE = re.compile(r"[ \t\r\n]*=[ \t\r\n]*")
_SLASH_RE = re.compile(r"[ \t\r\n]*/[ \t\r\n]*")
_TOKEN_AT_RE = re.compile(_TOKEN)
# RFC 3261 §25.1 quoted-string: qdtext (LWS, %x21, %x23-5B, %x5D-7E, non-ASCII)
# and quoted-pair (any byte but CR/LF).
_QUOTED = (
    r'"(?:[\t \x21\x23-\x5b\x5d-\x7e\u0080-\U0010ffff]|\r?\n[ \t]|\\[\x00-\x09\x0b\x0c\x0e-\x7f])*"'
)
_QUOTED_AT_RE = re.compile(_QUOTED)
# gen-value = token / host / quoted-string; a bare IPv6 address is also taken
# because RFC 5118 §4.6 shows ``received=2001:db8::9:255``.
_GEN_VALUE_AT_RE = re.compile(
    rf"[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*|{_TOKEN}|\[[0-9A-Fa-f:.]+\]|{_QUOTED}"
)
_DISPLAY_TOKENS_AT_RE = re.compile(rf"{_TOKEN}(?:[ \t\r\n]+{_TOKEN})*")
_QUOTED_PAIR_RE = re.compile(r"\\(.)", re.DOTALL)
_QUOTE_NEEDED_RE = re.compile(r'["\\\x00-\x08\x0b\x0c\x0e-\x1f\x7f]')
_FOLD_RE = re.compile(r"\r?\n([ \t])")

# Fast paths: no LWS, no quoted-pairs, token-only parameters.
_FAST_PARAMS = rf"((?:;{_TOKEN}(?:={_TOKEN})?)*)"
_NAME_ADDR_FAST_RE = re.compile(
    rf'(?:"([^"\\\x00-\x1f\x7f]*)" ?|({_TOKEN}(?: {_TOKEN})*) ?)?<([^<>"\s]+)>{_FAST_PARAMS}\Z'
)
_VIA_FAST_RE = re.compile(
    rf"({_TOKEN})/({_TOKEN})/({_TOKEN}) ([A-Za-z0-9.\-]+|\[[0-9A-Fa-f:.]+\])"
    rf"(?::([0-9]{{1,5}}))?{_FAST_PARAMS}\Z"
)
_CSEQ_RE = re.compile(rf"[ \t\r\n]*([0-9]+)[ \t\r\n]+({_TOKEN})[ \t\r\n]*\Z")

# Strict fast paths (see the module docstring). Via: the SIP/2.0 protocol with
# an uppercase transport, a hostname or IPv4 sent-by, a port below 60000, and
# token parameters where branch (a token), received (an IPv4 address) and
# rport (a port) are validated by the regex itself; any other spelling of the
# five checked names (RFC 3261 §20.42, RFC 3581) leaves the fast path.
_IPV4_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_FAST_VIA_PARAM = (
    rf";(?:branch={_TOKEN}|received={_IPV4_OCTET}(?:\.{_IPV4_OCTET}){{3}}"
    rf"|rport(?:={FAST_PORT})?"
    rf"|(?!(?i:branch|ttl|received|maddr|rport)(?![{_TOKEN_CH}])){_TOKEN}(?:={_TOKEN})?)"
)
_VIA_FASTEST_RE = re.compile(
    rf"SIP/2\.0/(UDP|TCP|TLS|SCTP|WS|WSS) ([A-Za-z0-9.\-]+)(?::({FAST_PORT}))?"
    rf"((?:{_FAST_VIA_PARAM})*)\Z"
)
# name-addr with a simple quoted or token display name, a SIP_FAST URI, and
# token header parameters.
_NAME_ADDR_FASTEST_RE = re.compile(
    rf'(?:"([^"\\\x00-\x1f\x7f]*)" ?|({_TOKEN}(?: {_TOKEN})*) ?)?<({SIP_FAST})>{_FAST_PARAMS}\Z'
)
_CSEQ_FAST_RE = re.compile(rf"([0-9]{{1,9}}) ({_TOKEN})\Z")
_DIGITS_RE = re.compile(r"[0-9]+\Z")
_MAX_DELTA = 2**32 - 1  # delta-seconds (RFC 3261 §20.19)
_QVALUE_RE = re.compile(r"(?:0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?)\Z")
_PORT_AT_RE = re.compile(r"[ \t\r\n]*:[ \t\r\n]*([0-9]+)")
_HOST_AT_RE = re.compile(r"\[[^\]\s]*\]|[A-Za-z0-9.\-]+")


def _err(msg: str) -> LocalProtocolError:
    return LocalProtocolError(msg, status_hint=400)


# -- quoting and parameters ----------------------------------------------------


def unquote(value: str) -> str:
    """Strip the quotes from a quoted-string and resolve quoted-pairs.

    A value that is not quoted is returned unchanged.

    Args:
        value: A parameter value or display name as written.

    Returns:
        The unquoted text.
    """
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        inner = _FOLD_RE.sub(r"\1", value[1:-1])
        return _QUOTED_PAIR_RE.sub(r"\1", inner) if "\\" in inner else inner
    return value


def quote(text: str) -> str:
    """Make a quoted-string (RFC 3261 §25.1), escaping ``"``, ``\\`` and controls.

    Args:
        text: Any text without CR or LF.

    Returns:
        The text in double quotes.

    Raises:
        LocalProtocolError: ``text`` contains CR or LF, which a quoted-string
            cannot carry (and which would let text inject header lines).
    """
    if "\r" in text or "\n" in text:
        raise _err(f"CR/LF cannot be quoted: {text!r}")
    return '"' + _QUOTE_NEEDED_RE.sub(r"\\\g<0>", text) + '"'


def get_param(params: Params, name: str) -> str | None:
    """The value (as written) of the first parameter called ``name``.

    Args:
        params: Parameters as produced by the parsers here.
        name: Parameter name, compared case-insensitively.

    Returns:
        The value, or ``None`` if the parameter is absent or is a flag.
    """
    name = name.lower()
    for n, v in params:
        if n.lower() == name:
            return v
    return None


def has_param(params: Params, name: str) -> bool:
    """Whether a parameter called ``name`` (case-insensitive) is present."""
    name = name.lower()
    return any(n.lower() == name for n, _ in params)


#: Serialize parameters as ``;name=value;flag`` (shared with the URI parser).
format_params = _format_params


def _set_param(params: Params, name: str, value: str | None) -> Params:
    if not _TOKEN_RE.match(name):
        raise _err(f"invalid parameter name {name!r}")
    if value is not None:
        m = _GEN_VALUE_AT_RE.match(value)
        if m is None or m.end() != len(value):
            raise _err(f"invalid parameter value {value!r}")
    return _set_in_place(params, name, value)


def _parse_params_at(text: str, pos: int) -> tuple[Params, int]:
    """Parse ``*( SEMI generic-param )`` from ``pos``; return them and the end."""
    out: list[tuple[str, str | None]] = []
    while True:
        m = _SEMI_RE.match(text, pos)
        if m is None:
            return tuple(out), pos
        n = _TOKEN_AT_RE.match(text, m.end())
        if n is None:
            raise _err(f"invalid parameter in {text!r}")
        pos = n.end()
        value: str | None = None
        e = _EQUAL_RE.match(text, pos)
        if e is not None:
            v = _GEN_VALUE_AT_RE.match(text, e.end())
            if v is None:
                raise _err(f"invalid parameter value in {text!r}")
            value = v.group(0)
            pos = v.end()
        out.append((n.group(0), value))


def _skip_sws(text: str, pos: int) -> int:
    m = _SWS_RE.match(text, pos)
    return m.end() if m is not None else pos


def _expect_end(text: str, pos: int) -> None:
    if _skip_sws(text, pos) != len(text):
        raise _err(f"unexpected text at {text[pos:]!r}")


def _fast_params(text: str) -> Params:
    if not text:
        return ()
    out: list[tuple[str, str | None]] = []
    for item in text[1:].split(";"):
        name, eq, value = item.partition("=")
        out.append((name, value if eq else None))
    return tuple(out)


def parse_params(text: str) -> Params:
    """Parse a string of generic parameters such as ``;a=1 ; b ;c="x"``.

    Args:
        text: Zero or more ``SEMI generic-param``.

    Returns:
        The parameters in order, as written.

    Raises:
        LocalProtocolError: invalid syntax.
    """
    params, pos = _parse_params_at(text, 0)
    _expect_end(text, pos)
    return params


# -- list splitting --------------------------------------------------------------


def split_header_values(text: str) -> list[str]:
    """Split a header value at top-level commas (RFC 3261 §7.3.1).

    Commas inside a quoted-string (escaped quotes respected) or inside
    ``<...>`` do not split. Each element is stripped of LWS; empty elements
    are dropped.

    Args:
        text: A raw header value.

    Returns:
        The elements in order.

    Raises:
        LocalProtocolError: an unterminated quoted-string or ``<``.
    """
    if '"' not in text and "<" not in text:
        return [s for p in text.split(",") if (s := p.strip(_LWS))]
    out: list[str] = []
    start = 0
    i = 0
    n = len(text)
    in_quote = False
    in_angle = False
    while i < n:
        c = text[i]
        if in_quote:
            if c == "\\":
                i += 1
            elif c == '"':
                in_quote = False
        elif c == '"':
            in_quote = True
        elif in_angle:
            if c == ">":
                in_angle = False
        elif c == "<":
            in_angle = True
        elif c == ",":
            out.append(text[start:i])
            start = i + 1
        i += 1
    if in_quote or in_angle:
        raise _err(f"unterminated quoted-string or '<' in {text!r}")
    out.append(text[start:])
    return [s for p in out if (s := p.strip(_LWS))]


# -- name-addr -------------------------------------------------------------------


@attrs.frozen
class NameAddr:
    """A ``name-addr`` or ``addr-spec`` with header parameters (From, To, Route, ...).

    Attributes:
        display_name: The display name, unquoted and unescaped, or ``None``.
        uri: The URI inside ``<...>`` (or the bare addr-spec).
        params: Header parameters after the URI (``tag``, ``lr`` is NOT here:
            parameters inside ``<...>`` belong to the URI).
    """

    display_name: str | None
    uri: URI
    params: Params = ()

    @property
    def tag(self) -> str | None:
        """The ``tag`` parameter (RFC 3261 §19.3), or ``None``."""
        return get_param(self.params, "tag")

    def get_param(self, name: str) -> str | None:
        """The value (as written) of header parameter ``name``, case-insensitive."""
        return get_param(self.params, name)

    def has_param(self, name: str) -> bool:
        """Whether header parameter ``name`` is present (case-insensitive)."""
        return has_param(self.params, name)

    def with_param(self, name: str, value: str | None = None) -> NameAddr:
        """A copy with header parameter ``name`` set (replaced or appended).

        Raises:
            LocalProtocolError: ``name``/``value`` is not a valid generic-param.
        """
        return attrs.evolve(self, params=_set_param(self.params, name, value))

    def with_tag(self, tag: str) -> NameAddr:
        """A copy with the ``tag`` parameter set to ``tag``."""
        return self.with_param("tag", tag)

    def without_param(self, name: str) -> NameAddr:
        """A copy with every header parameter called ``name`` removed."""
        low = name.lower()
        return attrs.evolve(self, params=tuple(p for p in self.params if p[0].lower() != low))

    def __str__(self) -> str:
        uri = f"<{self.uri}>"
        if self.display_name is not None:
            uri = f"{quote(self.display_name)} {uri}"
        return uri + format_params(self.params)


def _parse_name_addr_slow(text: str) -> tuple[str | None, URI, Params]:
    pos = _skip_sws(text, 0)
    display: str | None = None
    m = _QUOTED_AT_RE.match(text, pos)
    if m is not None:
        display = unquote(m.group(0))
        pos = _skip_sws(text, m.end())
        if text[pos : pos + 1] != "<":
            raise _err(f"expected '<' after display name in {text!r}")
    elif text[pos : pos + 1] != "<":
        m = _DISPLAY_TOKENS_AT_RE.match(text, pos)
        if m is not None:
            after = _skip_sws(text, m.end())
            if text[after : after + 1] == "<":
                display = " ".join(m.group(0).split())
                pos = after
    if text[pos : pos + 1] == "<":
        end = text.find(">", pos)
        if end < 0:
            raise _err(f"missing '>' in {text!r}")
        uri = parse_uri(text[pos + 1 : end])
        pos = end + 1
    else:
        # addr-spec: the URI runs to the first ';' or LWS (§20, the params
        # that follow are header params).
        end = pos
        while end < len(text) and text[end] not in ";, \t\r\n":
            end += 1
        raw = text[pos:end]
        if "?" in raw or (end < len(text) and text[end] == ","):
            raise _err(f"URI with '?' or ',' must be in angle brackets: {text!r}")
        uri = parse_uri(raw)
        pos = end
    params, pos = _parse_params_at(text, pos)
    _expect_end(text, pos)
    return display, uri, params


def _parse_name_addr_careful_parts(text: str) -> tuple[str | None, URI, Params]:
    m = _NAME_ADDR_FAST_RE.match(text)
    if m is not None:
        quoted, tokens, uri, params = m.groups()
        display = quoted if quoted is not None else tokens
        return display, parse_uri_careful(uri), _fast_params(params)
    return _parse_name_addr_slow(text)


def _parse_name_addr_parts(text: str) -> tuple[str | None, URI, Params]:
    m = _NAME_ADDR_FAST_RE.match(text)
    if m is not None:
        quoted, tokens, uri, params = m.groups()
        return (quoted if quoted is not None else tokens), parse_uri(uri), _fast_params(params)
    return _parse_name_addr_slow(text)


def parse_name_addr(text: str) -> NameAddr:
    """Parse a From/To/Route-style value: ``name-addr`` or ``addr-spec`` plus params.

    Args:
        text: E.g. ``"Bob" <sip:bob@x>;tag=1``, ``<sip:x>``, ``sip:bob@x;tag=1``.

    Returns:
        The parsed value.

    Raises:
        LocalProtocolError: invalid syntax or an invalid URI.
    """
    m = _NAME_ADDR_FASTEST_RE.match(text)
    if m is not None:
        return _name_addr_from_match(m)
    return NameAddr(*_parse_name_addr_parts(text))


def parse_name_addr_careful(text: str) -> NameAddr:
    """:func:`parse_name_addr` without its fastest path (the reference for tests)."""
    return NameAddr(*_parse_name_addr_careful_parts(text))


def parse_name_addr_list(text: str) -> list[NameAddr]:
    """Parse a comma-separated list of name-addrs (Route, Record-Route, Path, ...).

    Raises:
        LocalProtocolError: invalid syntax, or an empty list.
    """
    items = split_header_values(text)
    if not items:
        raise _err("empty name-addr list")
    return [parse_name_addr(item) for item in items]


# -- Contact ---------------------------------------------------------------------


@attrs.frozen
class Contact:
    """One Contact value (RFC 3261 §20.10), or the ``*`` wildcard.

    Attributes:
        display_name: Unquoted display name, or ``None``.
        uri: The contact URI; ``None`` only for the ``*`` contact.
        params: Header parameters (``q``, ``expires``, ``+sip.instance``...).
        is_star: ``True`` for ``Contact: *`` (REGISTER removal, §10.2.2).
    """

    display_name: str | None
    uri: URI | None
    params: Params = ()
    is_star: bool = False

    @property
    def q(self) -> float | None:
        """The ``q`` parameter (validated at parse time), or ``None``."""
        v = get_param(self.params, "q")
        return float(v) if v is not None and _QVALUE_RE.match(v) else None

    @property
    def expires(self) -> int | None:
        """The ``expires`` parameter in seconds, or ``None``."""
        v = get_param(self.params, "expires")
        return None if v is None else _bounded_int(v, _MAX_DELTA)

    def get_param(self, name: str) -> str | None:
        """The value (as written) of header parameter ``name``, case-insensitive."""
        return get_param(self.params, name)

    def with_param(self, name: str, value: str | None = None) -> Contact:
        """A copy with header parameter ``name`` set (replaced or appended)."""
        if self.is_star:
            raise _err("the '*' Contact takes no parameters")
        return attrs.evolve(self, params=_set_param(self.params, name, value))

    def to_name_addr(self) -> NameAddr:
        """The same value as a :class:`NameAddr` (not for ``*``)."""
        if self.uri is None:
            raise _err("the '*' Contact has no URI")
        return NameAddr(self.display_name, self.uri, self.params)

    def __str__(self) -> str:
        if self.is_star:
            return "*"
        return str(self.to_name_addr())


def _validate_contact_params(params: Params) -> None:
    for n, v in params:
        low = n.lower()
        if low == "q" and (v is None or not _QVALUE_RE.match(v)):
            raise _err(f"invalid Contact q value {v!r}")
        if low == "expires" and (v is None or _bounded_int(v, _MAX_DELTA) is None):
            raise _err(f"invalid Contact expires value {v!r}")


def parse_contact_list(text: str) -> list[Contact]:
    """Parse a Contact header value: ``*`` or a list of contacts.

    Raises:
        LocalProtocolError: invalid syntax, a bad ``q``/``expires``, ``*``
            mixed with other contacts, or an empty value.
    """
    items = split_header_values(text)
    if not items:
        raise _err("empty Contact header")
    if "*" in items:
        if len(items) != 1:
            raise _err("'*' Contact must be alone")
        return [Contact(None, None, (), True)]
    out = []
    for item in items:
        display, uri, params = _parse_name_addr_parts(item)
        _validate_contact_params(params)
        out.append(Contact(display, uri, params))
    return out


# -- Via -------------------------------------------------------------------------


@attrs.frozen
class Via:
    """One Via value (RFC 3261 §20.42).

    Attributes:
        protocol: Protocol name and version, e.g. ``"SIP/2.0"`` (name uppercased).
        transport: Transport, uppercased (``"UDP"``, ``"TCP"``, ``"TLS"``, ``"WS"``...).
        host: sent-by host; IPv6 references keep their brackets.
        port: sent-by port, or ``None``.
        params: Via parameters in order, as written.
    """

    protocol: str
    transport: str
    host: str
    port: int | None = None
    params: Params = ()

    @property
    def branch(self) -> str | None:
        """The ``branch`` parameter, or ``None``."""
        return get_param(self.params, "branch")

    @property
    def received(self) -> str | None:
        """The ``received`` parameter as written, or ``None``."""
        return get_param(self.params, "received")

    @property
    def rport(self) -> int | None:
        """The ``rport`` value (RFC 3581) when it has one, else ``None``."""
        v = get_param(self.params, "rport")
        return None if v is None else _bounded_int(v, 65535)

    @property
    def has_rport(self) -> bool:
        """Whether ``rport`` is present, valued or not (RFC 3581 §3)."""
        return has_param(self.params, "rport")

    @property
    def maddr(self) -> str | None:
        """The ``maddr`` parameter, or ``None``."""
        return get_param(self.params, "maddr")

    @property
    def ttl(self) -> int | None:
        """The ``ttl`` parameter, or ``None``."""
        v = get_param(self.params, "ttl")
        return None if v is None else _bounded_int(v, 255)

    @property
    def sent_by(self) -> str:
        """``host:port``, or ``host`` when there is no port."""
        return self.host if self.port is None else f"{self.host}:{self.port}"

    def get_param(self, name: str) -> str | None:
        """The value (as written) of Via parameter ``name``, case-insensitive."""
        return get_param(self.params, name)

    def has_param(self, name: str) -> bool:
        """Whether Via parameter ``name`` is present (case-insensitive)."""
        return has_param(self.params, name)

    def with_param(self, name: str, value: str | None = None) -> Via:
        """A copy with parameter ``name`` set (replaced in place, or appended).

        Raises:
            LocalProtocolError: ``name``/``value`` is not a valid generic-param.
        """
        return attrs.evolve(self, params=_set_param(self.params, name, value))

    def with_params(self, **params: str | None) -> Via:
        """A copy with each keyword set as by :meth:`with_param`."""
        new = self.params
        for name, value in params.items():
            new = _set_param(new, name, value)
        return attrs.evolve(self, params=new)

    def without_param(self, name: str) -> Via:
        """A copy with every parameter called ``name`` removed."""
        low = name.lower()
        return attrs.evolve(self, params=tuple(p for p in self.params if p[0].lower() != low))

    def __str__(self) -> str:
        return f"{self.protocol}/{self.transport} {self.sent_by}{format_params(self.params)}"


_CHECKED_VIA_PARAMS = frozenset(("branch", "ttl", "received", "maddr", "rport"))


def _valid_ip(text: str) -> bool:
    if text[:1] != "[" and ":" in text:
        text = f"[{text}]"
    return text[:1] in "[0123456789" and is_valid_host(text)


def _make_via(
    name: str, version: str, transport: str, host: str, port: str | None, params: Params, text: str
) -> Via:
    if not is_valid_host(host):
        raise _err(f"invalid Via host in {text!r}")
    port_n: int | None = None
    if port is not None:
        port_n = _bounded_int(port, 65535)
        if port_n is None:
            raise _err(f"Via port out of range in {text!r}")
    # RFC 3261 §20.42 / §25.1 via-params, RFC 3581 rport.
    for n, v in params:
        low = n.lower()
        if low not in _CHECKED_VIA_PARAMS:
            continue
        if low == "branch" and (v is None or not _TOKEN_RE.match(v)):
            raise _err(f"invalid Via branch in {text!r}")
        elif low == "ttl" and (v is None or _bounded_int(v, 255) is None):
            raise _err(f"invalid Via ttl in {text!r}")
        elif low == "received" and (v is None or not _valid_ip(v)):
            raise _err(f"invalid Via received in {text!r}")
        elif low == "maddr" and (v is None or not is_valid_host(v)):
            raise _err(f"invalid Via maddr in {text!r}")
        elif low == "rport" and v is not None and _bounded_int(v, 65535) is None:
            raise _err(f"invalid Via rport in {text!r}")
    return Via(f"{name.upper()}/{version}", transport.upper(), host, port_n, params)


def _parse_via_slow(text: str) -> Via:
    pos = _skip_sws(text, 0)
    parts: list[str] = []
    for i in range(3):
        if i:
            s = _SLASH_RE.match(text, pos)
            if s is None:
                raise _err(f"invalid Via sent-protocol in {text!r}")
            pos = s.end()
        t = _TOKEN_AT_RE.match(text, pos)
        if t is None:
            raise _err(f"invalid Via sent-protocol in {text!r}")
        parts.append(t.group(0))
        pos = t.end()
    lws = _skip_sws(text, pos)
    if lws == pos:
        raise _err(f"missing LWS before Via sent-by in {text!r}")
    h = _HOST_AT_RE.match(text, lws)
    if h is None:
        raise _err(f"invalid Via sent-by in {text!r}")
    pos = h.end()
    port: str | None = None
    p = _PORT_AT_RE.match(text, pos)
    if p is not None:
        port = p.group(1)
        pos = p.end()
    params, pos = _parse_params_at(text, pos)
    _expect_end(text, pos)
    return _make_via(parts[0], parts[1], parts[2], h.group(0), port, params, text)


def _parse_via(text: str) -> Via:
    m = _VIA_FASTEST_RE.match(text)
    if m is not None:
        return _via_from_match(m)
    return _parse_via_careful(text)


def parse_via_list(text: str) -> list[Via]:
    """Parse one Via header value, which may hold several comma-separated vias.

    Raises:
        LocalProtocolError: invalid syntax, host, port or via-params, or an
            empty value.
    """
    m = _VIA_FASTEST_RE.match(text)
    if m is not None:
        return [_via_from_match(m)]
    return _via_list(text, _parse_via)


def parse_via_list_careful(text: str) -> list[Via]:
    """:func:`parse_via_list` without its fastest path (the reference for tests)."""
    return _via_list(text, _parse_via_careful)


def _via_list(text: str, parse_one: Callable[[str], Via]) -> list[Via]:
    items = [text] if "," not in text else split_header_values(text)
    if not items or not items[0].strip(_LWS):
        raise _err("empty Via header")
    return [parse_one(item) for item in items]


def _parse_via_careful(text: str) -> Via:
    m = _VIA_FAST_RE.match(text)
    if m is not None:
        name, version, transport, host, port, params = m.groups()
        return _make_via(name, version, transport, host, port, _fast_params(params), text)
    return _parse_via_slow(text)


# -- CSeq, Content-Type, tokens, integers -----------------------------------------


@attrs.frozen
class CSeq:
    """A CSeq value (RFC 3261 §20.16).

    Attributes:
        seq: Sequence number, 0 to 2**31-1 (§8.1.1.5).
        method: Request method, case-sensitive as written.
    """

    seq: int
    method: str

    def __str__(self) -> str:
        return f"{self.seq} {self.method}"


def parse_cseq(text: str) -> CSeq:
    """Parse ``1*DIGIT LWS Method``.

    Raises:
        LocalProtocolError: invalid syntax or a number above 2**31-1.
    """
    m = _CSEQ_FAST_RE.match(text)
    if m is not None:
        # At most nine digits: below 2**31-1 without a bound check.
        return _make_cseq(int(m.group(1)), m.group(2))  # see "fast constructors" below
    return parse_cseq_careful(text)


def parse_cseq_careful(text: str) -> CSeq:
    """:func:`parse_cseq` without its fast path (the reference for tests)."""
    m = _CSEQ_RE.match(text)
    if m is None:
        raise _err(f"invalid CSeq {text!r}")
    seq = _bounded_int(m.group(1), 2**31 - 1)
    if seq is None:
        raise _err(f"CSeq number out of range in {text!r}")
    return CSeq(seq, m.group(2))


@attrs.frozen
class ContentType:
    """A Content-Type value (RFC 3261 §20.15).

    Attributes:
        type: Media type as written (e.g. ``"application"``).
        subtype: Media subtype as written (e.g. ``"sdp"``).
        params: m-parameters in order, as written (values may be quoted).
    """

    type: str
    subtype: str
    params: Params = ()

    @property
    def mime(self) -> str:
        """``type/subtype`` lowercased, e.g. ``"application/sdp"``."""
        return f"{self.type}/{self.subtype}".lower()

    def get_param(self, name: str) -> str | None:
        """The value (as written) of m-parameter ``name``, case-insensitive."""
        return get_param(self.params, name)

    def __str__(self) -> str:
        return f"{self.type}/{self.subtype}{format_params(self.params)}"


def parse_content_type(text: str) -> ContentType:
    """Parse ``m-type SLASH m-subtype *(SEMI m-parameter)``.

    Raises:
        LocalProtocolError: invalid syntax (m-parameters need a value).
    """
    pos = _skip_sws(text, 0)
    t = _TOKEN_AT_RE.match(text, pos)
    s = _SLASH_RE.match(text, t.end()) if t is not None else None
    st = _TOKEN_AT_RE.match(text, s.end()) if s is not None else None
    if t is None or st is None:
        raise _err(f"invalid Content-Type {text!r}")
    params, pos = _parse_params_at(text, st.end())
    _expect_end(text, pos)
    for n, v in params:
        if v is None or not (_TOKEN_RE.match(v) or v[0] == '"'):
            raise _err(f"invalid Content-Type parameter {n!r} in {text!r}")
    return ContentType(t.group(0), st.group(0), params)


def parse_token_list(text: str) -> list[str]:
    """Parse a comma-separated token list (Allow, Supported, Require, ...).

    An empty value gives an empty list (``Supported:`` may be empty).

    Raises:
        LocalProtocolError: an element that is not a token.
    """
    out = [s for p in text.split(",") if (s := p.strip(_LWS))]
    for tok in out:
        if not _TOKEN_RE.match(tok):
            raise _err(f"invalid token {tok!r}")
    return out


def parse_int_header(text: str, name: str, *, maximum: int = 2**32 - 1) -> int:
    """Parse a header whose value is ``1*DIGIT`` (Max-Forwards, Expires, ...).

    Args:
        text: The raw value (surrounding LWS allowed).
        name: Header name, for the error message.
        maximum: Largest allowed value.

    Raises:
        LocalProtocolError: not digits only, or above ``maximum``.
    """
    s = text.strip(_LWS)
    if not _DIGITS_RE.match(s):
        raise _err(f"invalid {name} value {text!r}")
    value = _bounded_int(s, maximum)
    if value is None:
        raise _err(f"{name} value {s[:20]!r} exceeds {maximum}")
    return value


# -- fast constructors ---------------------------------------------------------------
#
# The strict regexes above have validated everything but the host (checked
# here through is_valid_host's cache). The values skip the frozen
# ``__setattr__`` that makes attrs' ``__init__`` cost about a microsecond per
# value, in the way that is fastest for how this module runs: compiled by
# mypyc, ``object.__setattr__`` becomes a direct C call (about 3 times cheaper
# than calling a slot descriptor's ``__set__``); interpreted, the descriptors'
# ``__set__`` are the cheaper ones. ``_uri.COMPILED`` says which applies (both
# modules are always compiled together).

_new = object.__new__
_VIA_SLOTS = tuple(
    Via.__dict__[n].__set__ for n in ("protocol", "transport", "host", "port", "params")
)
_NAME_ADDR_SLOTS = tuple(NameAddr.__dict__[n].__set__ for n in ("display_name", "uri", "params"))
_CSEQ_SEQ = CSeq.__dict__["seq"].__set__
_CSEQ_METHOD = CSeq.__dict__["method"].__set__


def _via_compiled(m: re.Match[str]) -> Via:
    transport, host, port, params = m.groups()
    if not is_valid_host(host):
        raise _err(f"invalid Via host in {m.string!r}")
    via = _new(Via)
    object.__setattr__(via, "protocol", "SIP/2.0")
    object.__setattr__(via, "transport", transport)
    object.__setattr__(via, "host", host)
    object.__setattr__(via, "port", None if port is None else int(port))
    object.__setattr__(via, "params", _fast_params(params))
    return via


def _via_interpreted(m: re.Match[str]) -> Via:
    transport, host, port, params = m.groups()
    if not is_valid_host(host):
        raise _err(f"invalid Via host in {m.string!r}")
    s_protocol, s_transport, s_host, s_port, s_params = _VIA_SLOTS
    via = _new(Via)
    s_protocol(via, "SIP/2.0")
    s_transport(via, transport)
    s_host(via, host)
    s_port(via, None if port is None else int(port))
    s_params(via, _fast_params(params))
    return via


def _name_addr_compiled(m: re.Match[str]) -> NameAddr:
    quoted, tokens, raw, scheme, user, host, port, uri_params, params = m.groups()
    uri = make_sip_uri(scheme, user, host, port, uri_params, raw)
    na = _new(NameAddr)
    object.__setattr__(na, "display_name", quoted if quoted is not None else tokens)
    object.__setattr__(na, "uri", uri)
    object.__setattr__(na, "params", _fast_params(params))
    return na


def _name_addr_interpreted(m: re.Match[str]) -> NameAddr:
    quoted, tokens, raw, scheme, user, host, port, uri_params, params = m.groups()
    uri = make_sip_uri(scheme, user, host, port, uri_params, raw)
    s_display, s_uri, s_params = _NAME_ADDR_SLOTS
    na = _new(NameAddr)
    s_display(na, quoted if quoted is not None else tokens)
    s_uri(na, uri)
    s_params(na, _fast_params(params))
    return na


def _cseq_compiled(seq: int, method: str) -> CSeq:
    cseq = _new(CSeq)
    object.__setattr__(cseq, "seq", seq)
    object.__setattr__(cseq, "method", method)
    return cseq


def _cseq_interpreted(seq: int, method: str) -> CSeq:
    cseq = _new(CSeq)
    _CSEQ_SEQ(cseq, seq)
    _CSEQ_METHOD(cseq, method)
    return cseq


_via_from_match = _via_compiled if COMPILED else _via_interpreted
_name_addr_from_match = _name_addr_compiled if COMPILED else _name_addr_interpreted
_make_cseq = _cseq_compiled if COMPILED else _cseq_interpreted
