"""SIP, SIPS and tel URIs: parse, format and compare.

Rules this module keeps:

* Grammar is RFC 3261 §25 (``SIP-URI``/``SIPS-URI``), RFC 3966 (``tel``) and
  RFC 5118 §4 for IPv6 references. Anything else that is a syntactically valid
  ``absoluteURI`` becomes an :class:`AbsoluteURI`; whether such a scheme is
  acceptable (416 Unsupported URI Scheme) is the message layer's decision.
* Invalid input raises :class:`~trio_srf.errors.LocalProtocolError` with
  ``status_hint=400`` and nothing else.
* Parsed values keep their text exactly as written: parameter and header
  names/values keep their ``%``-escapes and case, so ``str(parse_uri(s)) == s``.
  Only ``scheme`` is lowercased. A URI built by hand, or changed with
  ``with_param``/``attrs.evolve``, is serialized from its fields.
* Equality is RFC 3261 §19.1.4 (for SIP) and RFC 3966 §4 (for tel); ``__hash__``
  only covers the parts that every equal pair agrees on, because §19.1.4
  equality is not transitive (an unknown parameter present on one side only is
  ignored).
* IPv6 zone ids (``[fe80::1%25eth0]``) are rejected: RFC 3261 and RFC 5118 have
  no syntax for them.

Hot path: a typical ``sip:alice@10.0.0.1:5060;transport=udp`` is one anchored
regex match plus a cheap host check. Regexes are precompiled at import. The
commonest shape (lowercase scheme, no password, no ``%``-escapes, no URI
headers, a port below 60000) matches :data:`SIP_FAST`, whose groups give the
same fields the full grammar would; the value is then built without attrs'
``__init__`` (:func:`make_sip_uri`). Anything else takes the full path.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import types
from typing import Any

import attrs

from trio_srf.errors import LocalProtocolError

__all__ = [
    "URI",
    "AbsoluteURI",
    "SipURI",
    "TelURI",
    "is_valid_host",
    "parse_uri",
    "unescape",
]

Params = tuple[tuple[str, str | None], ...]

# RFC 3261 §25.1 character classes (inside [...] of a regex). "%" stands for
# ``escaped``; escapes are checked separately with _BAD_ESCAPE_RE, which keeps
# the main regex free of per-character alternation (several times faster).
_UNRESERVED = r"A-Za-z0-9\-_.!~*'()"
_USER = rf"[{_UNRESERVED}&=+$,;?/%]+"
_PASSWORD = rf"[{_UNRESERVED}&=+$,%]*"
_PCHAR = rf"[{_UNRESERVED}\[\]/:&+$%]+"
_HNAME = rf"[{_UNRESERVED}\[\]/?:+$%]+"
_HVALUE = rf"[{_UNRESERVED}\[\]/?:+$%]*"
_BAD_ESCAPE_RE = re.compile(r"%(?![0-9A-Fa-f]{2})")

_SIP_RE = re.compile(
    rf"(?:({_USER})(?::({_PASSWORD}))?@)?"
    r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-]+)"
    r"(?::([0-9]+))?"
    rf"((?:;{_PCHAR}(?:={_PCHAR})?)*)"
    rf"(?:\?({_HNAME}={_HVALUE}(?:&{_HNAME}={_HVALUE})*))?\Z"
)
_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*\Z")
# RFC 3261 §25.1 absoluteURI: hier-part / opaque-part (uric). "[" and "]" are
# allowed as RFC 3986 allows them in an authority.
_ABS_REST_RE = re.compile(rf"[{_UNRESERVED};/?:@&=+$,\[\]%]+\Z")
_HOSTNAME_RE = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?\.)*"
    r"[A-Za-z](?:[A-Za-z0-9\-]*[A-Za-z0-9])?\.?\Z"
)
_IPV4_RE = re.compile(r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\Z")
# Host validity by text: peers repeat, so this saves a regex or two per URI.
# Bounded so hostile input cannot grow it; once full it is simply not updated.
_HOST_CACHE: dict[str, bool] = {}
_HOST_CACHE_MAX = 4096
_ESCAPE_RUN_RE = re.compile(r"(?:%[0-9A-Fa-f]{2})+")
_ESCAPE_RE = re.compile(r"%([0-9A-Fa-f]{2})")
_PARAM_ITEM_RE = re.compile(rf"{_PCHAR}\Z")

# The fast path's pieces: each accepts a subset of what the full grammar above
# accepts (no "%", so no escapes to check; ports up to 59999, so ``int()`` of
# at most five digits needs no bound check) and captures the same text.
_FAST_USER = r"[A-Za-z0-9\-_.!~*'()&=+$,]+"
_FAST_PCHAR = r"[A-Za-z0-9\-_.!~*'()\[\]/:&+$]+"
#: Port digits the fast paths accept: 0-59999 (leading zeros allowed, as RFC 3261 does).
FAST_PORT = r"(?:[0-9]{1,4}|[0-5][0-9]{4})"
#: A simple ``sip:``/``sips:`` URI; groups: scheme, user, host, port, params.
SIP_FAST = (
    rf"(sips?):(?:({_FAST_USER})@)?([A-Za-z0-9.\-]+)(?::({FAST_PORT}))?"
    rf"((?:;{_FAST_PCHAR}(?:={_FAST_PCHAR})?)*)"
)
_SIP_FAST_RE = re.compile(rf"{SIP_FAST}\Z")


def _valid_param_item(text: str) -> bool:
    return _PARAM_ITEM_RE.match(text) is not None and _BAD_ESCAPE_RE.search(text) is None


# RFC 3966 §3.
_TEL_RE = re.compile(
    # The "at least one digit" rule is checked in code: a regex for it would
    # backtrack quadratically on long hostile input.
    r"(\+[0-9().\-]+|[0-9A-Fa-f*#().\-]+)"
    rf"((?:;[A-Za-z0-9\-]+(?:={_PCHAR})?)*)\Z"
)
_VISUAL_SEPARATORS = str.maketrans("", "", "-.()")

# RFC 2396 "reserved": an escaped reserved character is NOT the same as the
# character itself (§19.1.4), so such escapes survive normalization.
_RESERVED = frozenset(";/?:@&=+$,%")
# uri-parameters that must match whenever either side has them (§19.1.4).
_SIGNIFICANT_PARAMS = ("transport", "user", "ttl", "method", "maddr")


def _err(msg: str) -> LocalProtocolError:
    return LocalProtocolError(msg, status_hint=400)


def unescape(s: str) -> str:
    """Decode ``%HH`` escapes (RFC 3261 §25.1 ``escaped``).

    Runs of escapes are decoded as UTF-8; bytes that are not valid UTF-8 are
    kept losslessly as surrogate escapes.

    Args:
        s: Text as it appears in a URI.

    Returns:
        The text with every escape decoded.
    """
    if "%" not in s:
        return s
    return _ESCAPE_RUN_RE.sub(
        lambda m: bytes.fromhex(m.group(0).replace("%", "")).decode("utf-8", "surrogateescape"),
        s,
    )


def _bounded_int(text: str, maximum: int) -> int | None:
    """``int(text)`` if ``text`` is ASCII digits and the value is <= ``maximum``.

    Checks the length first: ``int()`` of a hostile 5000-digit string raises
    ValueError (CPython's int/str conversion limit) or wastes time.
    """
    if not text or not text.isdigit() or not text.isascii():
        return None
    stripped = text.lstrip("0")
    if len(stripped) > len(str(maximum)):
        return None
    value = int(stripped or "0")
    return value if value <= maximum else None


def _norm_escapes(s: str) -> str:
    """Canonical form for comparison: decode escapes except of reserved/non-ASCII."""
    if "%" not in s:
        return s

    def repl(m: re.Match[str]) -> str:
        c = chr(int(m.group(1), 16))
        if c in _RESERVED or ord(c) >= 0x80:
            return "%" + m.group(1).upper()
        return c

    return _ESCAPE_RE.sub(repl, s)


def _norm_ci(s: str) -> str:
    return _norm_escapes(s).lower()


@functools.lru_cache(maxsize=512)
def _ipv6(text: str) -> ipaddress.IPv6Address | None:
    """Parse the inside of an IPv6 reference, or ``None`` if it is not one."""
    if "%" in text:  # zone ids: not in RFC 3261/5118 grammar
        return None
    try:
        return ipaddress.IPv6Address(text)
    except ValueError:
        return None


def is_valid_host(host: str) -> bool:
    """Whether ``host`` is an RFC 3261 §25.1 ``host``.

    Args:
        host: A hostname, a dotted IPv4 address, or an IPv6 reference in
            brackets (``[2001:db8::1]``).

    Returns:
        ``True`` if valid.
    """
    ok = _HOST_CACHE.get(host)
    if ok is None:
        ok = _check_host(host)
        if len(_HOST_CACHE) < _HOST_CACHE_MAX:
            _HOST_CACHE[host] = ok
    return ok


def _check_host(host: str) -> bool:
    if not host:
        return False
    if host[0] == "[":
        return host[-1] == "]" and _ipv6(host[1:-1]) is not None
    if _IPV4_RE.match(host):
        return all(int(octet) <= 255 for octet in host.split("."))
    return _HOSTNAME_RE.match(host) is not None


def _host_key(host: str) -> str:
    if host[:1] == "[":
        addr = _ipv6(host[1:-1])
        if addr is not None:
            return "[" + addr.compressed + "]"
    return host.lower()


def _get_param(params: Params, name: str) -> str | None:
    name = name.lower()
    for n, v in params:
        if n.lower() == name or ("%" in n and unescape(n).lower() == name):
            return v
    return None


def _has_param(params: Params, name: str) -> bool:
    name = name.lower()
    return any(n.lower() == name or ("%" in n and unescape(n).lower() == name) for n, _ in params)


def _split_params(text: str) -> Params:
    """Split a validated ``;a=b;c`` string into ``(("a", "b"), ("c", None))``."""
    if not text:
        return ()
    out: list[tuple[str, str | None]] = []
    for item in text[1:].split(";"):
        name, eq, value = item.partition("=")
        out.append((name, value if eq else None))
    return tuple(out)


def _format_params(params: Params) -> str:
    """Serialize parameters as ``;name=value;flag`` (URI and header parameters alike)."""
    return "".join(f";{n}" if v is None else f";{n}={v}" for n, v in params)


def _set_in_place(params: Params, name: str, value: str | None) -> Params:
    """Replace the first ``name`` (case-insensitive) in place, or append it; no validation."""
    low = name.lower()
    out = list(params)
    for i, (n, _) in enumerate(out):
        if n.lower() == low:
            out[i] = (n, value)
            return tuple(out)
    out.append((name, value))
    return tuple(out)


def _replace_param(params: Params, name: str, value: str | None) -> Params:
    if not _valid_param_item(name) or (value is not None and not _valid_param_item(value)):
        raise _err(f"invalid URI parameter {name!r}={value!r}")
    return _set_in_place(params, name, value)


@attrs.frozen(eq=False)
class SipURI:
    """A ``sip:`` or ``sips:`` URI (RFC 3261 §19.1).

    Attributes:
        scheme: ``"sip"`` or ``"sips"`` (lowercase).
        user: The user part as written (escapes kept), or ``None``.
        password: The password as written, or ``None`` (``""`` if empty).
        host: Hostname as written, dotted IPv4, or IPv6 reference with brackets.
        port: The port, or ``None`` when absent (absent is not 5060, §19.1.4).
        params: URI parameters in order, as written; ``;lr`` is ``("lr", None)``.
        headers: URI headers (``?a=b&c=d``) in order, as written.
    """

    scheme: str
    user: str | None
    password: str | None
    host: str
    port: int | None = None
    params: Params = ()
    headers: tuple[tuple[str, str], ...] = ()
    _raw: str | None = attrs.field(default=None, init=False, repr=False)
    _key: Any = attrs.field(default=None, init=False, repr=False)

    def get_param(self, name: str) -> str | None:
        """The value of URI parameter ``name`` (case-insensitive), as written.

        Returns ``None`` both when the parameter is absent and when it has no
        value; use :meth:`has_param` to tell them apart.
        """
        return _get_param(self.params, name)

    def has_param(self, name: str) -> bool:
        """Whether URI parameter ``name`` (case-insensitive) is present."""
        return _has_param(self.params, name)

    @property
    def transport(self) -> str | None:
        """The ``transport`` parameter, lowercased, or ``None``."""
        v = _get_param(self.params, "transport")
        return v.lower() if v is not None else None

    @property
    def lr(self) -> bool:
        """Whether the ``lr`` (loose routing, §19.1.1) parameter is present."""
        return _has_param(self.params, "lr")

    @property
    def maddr(self) -> str | None:
        """The ``maddr`` parameter as written, or ``None``."""
        return _get_param(self.params, "maddr")

    @property
    def user_param(self) -> str | None:
        """The ``user`` URI parameter (e.g. ``"phone"``), lowercased, or ``None``."""
        v = _get_param(self.params, "user")
        return v.lower() if v is not None else None

    @property
    def method_param(self) -> str | None:
        """The ``method`` URI parameter as written, or ``None``."""
        return _get_param(self.params, "method")

    @property
    def ttl(self) -> int | None:
        """The ``ttl`` parameter (0-255) as an int, or ``None`` if absent or invalid."""
        v = _get_param(self.params, "ttl")
        return None if v is None else _bounded_int(v, 255)

    @property
    def host_port(self) -> str:
        """``host:port``, or just ``host`` when there is no port."""
        return self.host if self.port is None else f"{self.host}:{self.port}"

    def with_param(self, name: str, value: str | None = None) -> SipURI:
        """A copy with parameter ``name`` set (replaced in place, or appended).

        Args:
            name: Parameter name, as it will be written.
            value: Its value as written (escapes allowed), or ``None`` for a flag.

        Raises:
            LocalProtocolError: ``name`` or ``value`` has characters RFC 3261
                does not allow in a uri-parameter.
        """
        return attrs.evolve(self, params=_replace_param(self.params, name, value))

    def with_params(self, **params: str | None) -> SipURI:
        """A copy with each keyword set as by :meth:`with_param`."""
        new = self.params
        for name, value in params.items():
            new = _replace_param(new, name, value)
        return attrs.evolve(self, params=new)

    def without_param(self, name: str) -> SipURI:
        """A copy with every parameter called ``name`` (case-insensitive) removed."""
        low = name.lower()
        return attrs.evolve(self, params=tuple(p for p in self.params if p[0].lower() != low))

    def without_headers(self) -> SipURI:
        """A copy without URI headers (e.g. for a Request-URI, §8.1.1.1)."""
        return attrs.evolve(self, headers=())

    def __str__(self) -> str:
        if self._raw is not None:
            return self._raw
        parts = [self.scheme, ":"]
        if self.user is not None:
            parts.append(self.user)
            if self.password is not None:
                parts += [":", self.password]
            parts.append("@")
        parts.append(self.host)
        if self.port is not None:
            parts += [":", str(self.port)]
        parts.append(_format_params(self.params))
        if self.headers:
            parts += ["?", "&".join(f"{n}={v}" for n, v in self.headers)]
        return "".join(parts)

    def _compare_key(self) -> tuple[tuple[Any, ...], dict[str, str | None]]:
        cached = self._key
        if cached is None:
            # Parameter names and values compare case-insensitively with
            # unreserved escapes decoded; the first occurrence of a name wins.
            pdict: dict[str, str | None] = {}
            for n, v in self.params:
                pdict.setdefault(_norm_ci(n), None if v is None else _norm_ci(v))
            # §19.1.4: userinfo is case-sensitive, the rest is not; these
            # parameters must match whenever either URI has them.
            special = tuple((n in pdict, pdict.get(n)) for n in _SIGNIFICANT_PARAMS)
            core = (
                self.scheme,
                None if self.user is None else _norm_escapes(self.user),
                None if self.password is None else _norm_escapes(self.password),
                _host_key(self.host),
                self.port,
                special,
                frozenset((_norm_ci(n), _norm_ci(v)) for n, v in self.headers),
            )
            cached = (core, pdict)
            object.__setattr__(self, "_key", cached)
        return cached  # type: ignore[no-any-return]

    def __eq__(self, other: object) -> bool:
        """RFC 3261 §19.1.4 URI comparison."""
        if not isinstance(other, SipURI):
            return NotImplemented
        mine, my_params = self._compare_key()
        theirs, their_params = other._compare_key()
        if mine != theirs:
            return False
        # Any other parameter is compared only when present in both URIs.
        return all(their_params.get(n, v) == v for n, v in my_params.items())

    def __hash__(self) -> int:
        return hash(self._compare_key()[0])


@attrs.frozen(eq=False)
class TelURI:
    """A ``tel:`` URI (RFC 3966).

    Attributes:
        number: The telephone-subscriber digits as written, visual separators
            included (``"+1-201-555-0123"``).
        params: Parameters in order, as written (``ext``, ``isub``,
            ``phone-context`` and any others).
    """

    number: str
    params: Params = ()

    @property
    def scheme(self) -> str:
        """Always ``"tel"``."""
        return "tel"

    @property
    def is_global(self) -> bool:
        """Whether this is a global number (starts with ``+``, RFC 3966 §5.1.4)."""
        return self.number.startswith("+")

    @property
    def digits(self) -> str:
        """The number without visual separators (``-``, ``.``, ``(``, ``)``)."""
        return self.number.translate(_VISUAL_SEPARATORS)

    @property
    def phone_context(self) -> str | None:
        """The ``phone-context`` parameter as written, or ``None``."""
        return _get_param(self.params, "phone-context")

    def get_param(self, name: str) -> str | None:
        """The value of parameter ``name`` (case-insensitive), as written."""
        return _get_param(self.params, name)

    def __str__(self) -> str:
        return f"tel:{self.number}{_format_params(self.params)}"

    def _compare_key(self) -> tuple[Any, ...]:
        params = []
        for n, v in self.params:
            n = n.lower()
            if v is not None:
                v = _norm_ci(v)
                # phone-context digits and ext are compared without separators.
                if n == "ext" or (n == "phone-context" and v.startswith("+")):
                    v = v.translate(_VISUAL_SEPARATORS)
            params.append((n, v))
        return (self.digits.lower(), frozenset(params))

    def __eq__(self, other: object) -> bool:
        """RFC 3966 §4 comparison."""
        if not isinstance(other, TelURI):
            return NotImplemented
        return self._compare_key() == other._compare_key()

    def __hash__(self) -> int:
        return hash(self._compare_key())


@attrs.frozen
class AbsoluteURI:
    """A URI of any scheme other than sip, sips and tel (RFC 3261 ``absoluteURI``).

    Attributes:
        scheme: The scheme, lowercased.
        rest: Everything after the first ``:``, as written.
    """

    scheme: str
    rest: str

    def __str__(self) -> str:
        return f"{self.scheme}:{self.rest}"


URI = SipURI | TelURI | AbsoluteURI


def _diagnose_sip(text: str, rest: str) -> LocalProtocolError:
    """Explain why ``rest`` (after ``sip:``) did not match the grammar."""
    at = rest.find("@")
    hostpart = rest[at + 1 :] if at >= 0 else rest
    if rest.count("@") > 1:
        return _err(f"more than one '@' in URI {text!r}")
    if at == 0:
        return _err(f"empty user part in URI {text!r}")
    if not hostpart or hostpart[0] in ";?:":
        return _err(f"empty host in URI {text!r}")
    if hostpart[0] == "[" and "]" not in hostpart:
        return _err(f"unterminated IPv6 reference in URI {text!r}")
    return _err(f"invalid SIP URI {text!r}")


_new = object.__new__


def _probe() -> None:
    """Never called: its type tells whether this module runs compiled (see ``COMPILED``)."""


#: Whether mypyc compiled this module (its functions are then not Python functions).
COMPILED = not isinstance(_probe, types.FunctionType)

# attrs slot descriptors of SipURI, for the interpreted constructor below.
_SIP_URI_SLOTS = tuple(
    SipURI.__dict__[name].__set__
    for name in ("scheme", "user", "password", "host", "port", "params", "headers", "_raw", "_key")
)


def _make_sip_uri_compiled(
    scheme: str,
    user: str | None,
    host: str,
    port: str | None,
    params: str,
    raw: str,
) -> SipURI:
    if not is_valid_host(host):
        raise _err(f"invalid host {host!r} in URI {raw!r}")
    # object.__setattr__ skips the frozen __setattr__; mypyc makes it a direct C call.
    uri = _new(SipURI)
    object.__setattr__(uri, "scheme", scheme)
    object.__setattr__(uri, "user", user)
    object.__setattr__(uri, "password", None)
    object.__setattr__(uri, "host", host)
    object.__setattr__(uri, "port", None if port is None else int(port))
    object.__setattr__(uri, "params", _split_params(params))
    object.__setattr__(uri, "headers", ())
    object.__setattr__(uri, "_raw", raw)
    object.__setattr__(uri, "_key", None)
    return uri


def _make_sip_uri_interpreted(
    scheme: str,
    user: str | None,
    host: str,
    port: str | None,
    params: str,
    raw: str,
) -> SipURI:
    if not is_valid_host(host):
        raise _err(f"invalid host {host!r} in URI {raw!r}")
    # Interpreted, calling the slot descriptors is cheaper than object.__setattr__.
    s_scheme, s_user, s_password, s_host, s_port, s_params, s_headers, s_raw, s_key = _SIP_URI_SLOTS
    uri = _new(SipURI)
    s_scheme(uri, scheme)
    s_user(uri, user)
    s_password(uri, None)
    s_host(uri, host)
    s_port(uri, None if port is None else int(port))
    s_params(uri, _split_params(params))
    s_headers(uri, ())
    s_raw(uri, raw)
    s_key(uri, None)
    return uri


#: Build a :class:`SipURI` from the groups of :data:`SIP_FAST` (no password, no
#: headers): ``make_sip_uri(scheme, user, host, port, params, raw)``. The caller
#: has matched :data:`SIP_FAST`; the host is checked here, and an invalid one
#: raises LocalProtocolError exactly as :func:`parse_uri` does. (One body per
#: mode: compiled and interpreted code set the frozen slots fastest differently.)
make_sip_uri = _make_sip_uri_compiled if COMPILED else _make_sip_uri_interpreted


def _parse_sip(text: str, scheme: str, rest: str) -> SipURI:
    m = _SIP_RE.match(rest)
    if m is None or ("%" in rest and _BAD_ESCAPE_RE.search(rest)):
        raise _diagnose_sip(text, rest)
    user, password, host, port_s, params_s, headers_s = m.groups()
    if not is_valid_host(host):
        raise _err(f"invalid host {host!r} in URI {text!r}")
    port: int | None = None
    if port_s is not None:
        port = _bounded_int(port_s, 65535)
        if port is None:
            raise _err(f"port out of range in URI {text!r}")
    headers: tuple[tuple[str, str], ...] = ()
    if headers_s is not None:
        headers = tuple((n, v) for n, _, v in (h.partition("=") for h in headers_s.split("&")))
    uri = SipURI(scheme, user, password, host, port, _split_params(params_s), headers)
    object.__setattr__(uri, "_raw", text)
    return uri


def _parse_tel(text: str, rest: str) -> TelURI:
    m = _TEL_RE.match(rest)
    if m is None or ("%" in rest and _BAD_ESCAPE_RE.search(rest)):
        raise _err(f"invalid tel URI {text!r}")
    number, params_s = m.groups()
    if not number.translate(_VISUAL_SEPARATORS).lstrip("+"):
        raise _err(f"tel URI without digits: {text!r}")
    params = _split_params(params_s)
    context = _get_param(params, "phone-context")
    if number[0] != "+":
        # RFC 3966 §5.1.5: a local number needs a phone-context.
        if not context:
            raise _err(f"local tel number without phone-context in {text!r}")
    elif _has_param(params, "phone-context"):
        raise _err(f"global tel number with phone-context in {text!r}")
    return TelURI(number, params)


def parse_uri(text: str) -> SipURI | TelURI | AbsoluteURI:
    """Parse a URI as it appears in a Request-URI or inside ``<...>``.

    Args:
        text: The URI, without surrounding whitespace or angle brackets.

    Returns:
        A :class:`SipURI` for ``sip:``/``sips:``, a :class:`TelURI` for
        ``tel:``, otherwise an :class:`AbsoluteURI`.

    Raises:
        LocalProtocolError: (``status_hint=400``) the text is not a valid URI.
    """
    m = _SIP_FAST_RE.match(text)
    if m is not None:
        scheme, user, host, port, params = m.groups()
        return make_sip_uri(scheme, user, host, port, params, text)
    return parse_uri_careful(text)


def parse_uri_careful(text: str) -> SipURI | TelURI | AbsoluteURI:
    """:func:`parse_uri` without the fast path (the reference it is tested against)."""
    colon = text.find(":")
    if colon <= 0:
        raise _err(f"not a URI (no scheme): {text!r}")
    scheme = text[:colon].lower()
    rest = text[colon + 1 :]
    if scheme == "sip" or scheme == "sips":
        return _parse_sip(text, scheme, rest)
    if scheme == "tel":
        return _parse_tel(text, rest)
    if not _SCHEME_RE.match(scheme) or not _ABS_REST_RE.match(rest) or _BAD_ESCAPE_RE.search(rest):
        raise _err(f"invalid URI {text!r}")
    return AbsoluteURI(scheme, rest)
