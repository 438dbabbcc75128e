"""HTTP Digest authentication as SIP uses it: RFC 3261 §22, RFC 7616, RFC 8760.

Sans-IO: nothing here does I/O, imports trio or reads a clock. Time enters as ``now: float``
(any monotonic-ish clock, as long as one server uses one clock); randomness comes from
:mod:`secrets`.

Rules this module keeps:

* Header values. :func:`parse_challenge` reads one ``WWW-Authenticate``/``Proxy-Authenticate``
  value, :func:`parse_credentials` one ``Authorization``/``Proxy-Authorization`` value (RFC 3261
  §25.1 grammar, RFC 7616 §3.3/§3.4). Parameter names are case-insensitive, LWS (including folded
  CRLF) is allowed around ``=`` and ``,``, quoted-strings may hold quoted-pairs, empty list
  elements are skipped. Receivers accept quoted *and* unquoted forms of every parameter (RFC 7616
  §3.4 asks for that tolerance). A parameter given twice is an error (RFC 7616 §3.4). Anything
  malformed raises :class:`~trio_srf.errors.LocalProtocolError` with ``status_hint=400`` and
  nothing else.
* Serialisation (``str()``) quotes what RFC 7616 §3.4 quotes and leaves ``algorithm``, ``qop`` (in
  credentials), ``nc``, ``stale``, ``charset`` and ``userhash`` as tokens; ``nc`` is written as 8
  lower-case hex digits (RFC 3261 §25.1 ``nonce-count``). Values that cannot be written safely
  (control characters, non-token algorithm) raise ``LocalProtocolError``.
* Algorithms (RFC 8760 §2.2): MD5, SHA-256, SHA-512-256 and their ``-sess`` variants; a missing
  ``algorithm`` means MD5 (RFC 3261 §22.4). Strings are hashed as UTF-8 (RFC 7616 §3.4.1 with
  ``charset=UTF-8``; SIP text is UTF-8 anyway).
* Responses (RFC 7616 §3.4.1-§3.4.3): ``qop=auth`` and ``qop=auth-int`` (H(body) joins A2, the
  empty body hashing as H("") per RFC 3261 §22.4), and the RFC 2069 form when the challenge offers
  no ``qop``. ``-sess`` uses H(H(user:realm:pass):nonce:cnonce); with no qop a cnonce is still
  sent, since the server cannot compute the session key without it.
* Server nonces are stateless: base64url(timestamp || salt || HMAC-SHA256(secret, timestamp ||
  salt || realm)). Forged or foreign nonces fail the HMAC; expired ones answer STALE only after the
  response proved the password right, so ``stale=true`` never leaks a password guess (RFC 7616
  §3.3). Replay protection tracks the highest ``nc`` per nonce in a bounded LRU dict (RFC 7616
  §5.11). Every secret-dependent comparison uses :func:`hmac.compare_digest`.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import math
import re
import secrets
import string
import struct
import urllib.parse
from collections.abc import Iterable

import attrs

from trio_srf.errors import LocalProtocolError

__all__ = [
    "SUPPORTED_ALGORITHMS",
    "Challenge",
    "Credentials",
    "DigestClient",
    "DigestServer",
    "VerifyResult",
    "answer_challenge",
    "compute_ha1",
    "compute_response",
    "parse_challenge",
    "parse_credentials",
    "select_challenge",
]

# --------------------------------------------------------------------------- algorithms

# RFC 8760 §2.2: UPPER name -> (canonical spelling, hashlib name, is -sess); lookups ignore case.
_ALGORITHMS: dict[str, tuple[str, str, bool]] = {
    name.upper(): (name, hash_name, sess)
    for name, hash_name, sess in (
        ("MD5", "md5", False),
        ("MD5-sess", "md5", True),
        ("SHA-256", "sha256", False),
        ("SHA-256-sess", "sha256", True),
        ("SHA-512-256", "sha512_256", False),
        ("SHA-512-256-sess", "sha512_256", True),
    )
}

#: Algorithms this module computes, strongest first (the order RFC 8760 §2.4 recommends).
SUPPORTED_ALGORITHMS: tuple[str, ...] = (
    "SHA-512-256",
    "SHA-256",
    "MD5",
    "SHA-512-256-sess",
    "SHA-256-sess",
    "MD5-sess",
)

_QOPS = ("auth", "auth-int")


def _error(msg: str) -> LocalProtocolError:
    return LocalProtocolError(msg, status_hint=400)


def _lookup(algorithm: str | None) -> tuple[str, str, bool]:
    """(canonical name, hashlib name, is_sess); a missing algorithm is MD5 (RFC 3261 §22.4)."""
    entry = _ALGORITHMS.get((algorithm or "MD5").upper())
    if entry is None:
        raise _error(f"unsupported digest algorithm {algorithm!r}")
    return entry


def _utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise _error("text is not encodable as UTF-8") from None


def _h(hash_name: str, data: bytes) -> str:
    # MD5 is kept for interoperability only (RFC 8760 §3); say so, for FIPS-mode OpenSSL builds.
    try:
        digest = hashlib.new(hash_name, data, usedforsecurity=hash_name != "md5")
    except ValueError:
        raise _error(f"hash {hash_name!r} is not available in this Python") from None
    return digest.hexdigest()


def _join(*parts: str) -> bytes:
    return _utf8(":".join(parts))


def compute_ha1(username: str, realm: str, password: str, algorithm: str | None = "MD5") -> str:
    """Compute H(A1) = H(username:realm:password) for storing instead of the password.

    For a ``-sess`` algorithm this returns the same value with that algorithm's hash; the session
    key H(HA1:nonce:cnonce) is derived per request (RFC 7616 §3.4.2).

    Args:
        username: The (unhashed) user name.
        realm: The protection realm.
        password: The password.
        algorithm: A digest algorithm name; ``None`` means MD5.

    Returns:
        The lower-case hex digest.

    Raises:
        LocalProtocolError: If the algorithm is not supported.
    """
    _, hash_name, _ = _lookup(algorithm)
    return _h(hash_name, _join(username, realm, password))


def compute_response(
    *,
    algorithm: str | None,
    ha1: str,
    nonce: str,
    method: str,
    uri: str,
    qop: str | None = None,
    nc: int | None = None,
    cnonce: str | None = None,
    body: bytes = b"",
) -> str:
    """Compute the ``response`` value of RFC 7616 §3.4.1 (RFC 2069 form when ``qop`` is None).

    Args:
        algorithm: A digest algorithm name; ``None`` means MD5.
        ha1: H(username:realm:password) as returned by :func:`compute_ha1`.
        nonce: The server nonce.
        method: The SIP method (A2 uses it; RFC 3261 §22.4).
        uri: The digest-uri (the Request-URI as sent).
        qop: ``"auth"``, ``"auth-int"`` or ``None``.
        nc: The nonce count, required with a qop.
        cnonce: The client nonce, required with a qop or a ``-sess`` algorithm.
        body: The message body, hashed into A2 for ``auth-int``.

    Returns:
        The lower-case hex request-digest.

    Raises:
        LocalProtocolError: On an unsupported algorithm or qop, or a missing nc/cnonce.
    """
    _, hash_name, sess = _lookup(algorithm)
    ha1 = ha1.lower()
    if sess:
        # RFC 7616 §3.4.2: A1 = H(user:realm:pass):nonce:cnonce for the -sess variants.
        if cnonce is None:
            raise _error("a -sess algorithm needs a cnonce")
        ha1 = _h(hash_name, _join(ha1, nonce, cnonce))
    # RFC 7616 §3.4.3: A2 = Method:uri, plus :H(body) for auth-int.
    if qop == "auth-int":
        ha2 = _h(hash_name, _join(method, uri, _h(hash_name, body)))
    elif qop in ("auth", None):
        ha2 = _h(hash_name, _join(method, uri))
    else:
        raise _error(f"unsupported qop {qop!r}")
    if qop is None:
        # RFC 2069 compatibility (RFC 2617 §3.2.2.1): KD(HA1, nonce:HA2).
        return _h(hash_name, _join(ha1, nonce, ha2))
    if nc is None or cnonce is None:
        raise _error("qop requires nc and cnonce")
    if not 0 <= nc <= 0xFFFFFFFF:
        raise _error("nc out of range")
    return _h(hash_name, _join(ha1, nonce, f"{nc:08x}", cnonce, qop, ha2))


# --------------------------------------------------------------------------- header syntax

# RFC 3261 §25.1 token characters.
_TOKEN_CHARS = frozenset(string.ascii_letters + string.digits + "-.!%*_+`'~")
# Characters that end an unquoted value (we read values more leniently than `token`: unquoted
# nonces and URIs are common in the wild).
_VALUE_STOP = frozenset(',"\\ \t\r\n')


def _is_token(text: str) -> bool:
    return bool(text) and all(c in _TOKEN_CHARS for c in text)


def _is_ctl(c: str) -> bool:
    return c < " " or c == "\x7f"


def _skip_lws(s: str, i: int) -> int:
    """Skip RFC 3261 §25.1 LWS, including a folded CRLF followed by white space."""
    n = len(s)
    while i < n:
        if s[i] in " \t":
            i += 1
        elif s.startswith("\r\n", i) and i + 2 < n and s[i + 2] in " \t":
            i += 3
        else:
            break
    return i


def _read_quoted(s: str, i: int) -> tuple[str, int]:
    """Read a quoted-string starting at the opening quote; return (unescaped text, new index)."""
    out: list[str] = []
    n = len(s)
    i += 1
    while True:
        if i >= n:
            raise _error("unterminated quoted-string")
        c = s[i]
        if c == '"':
            return "".join(out), i + 1
        if c == "\\":
            # quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F); CR/LF may not be escaped.
            if i + 1 >= n or s[i + 1] in "\r\n":
                raise _error("bad quoted-pair")
            out.append(s[i + 1])
            i += 2
        elif s.startswith("\r\n", i) and i + 2 < n and s[i + 2] in " \t":
            out.append(" ")  # folded LWS inside qdtext
            i += 3
        elif _is_ctl(c) and c != "\t":
            raise _error("control character in quoted-string")
        else:
            out.append(c)
            i += 1


def _parse_auth(value: object) -> tuple[str, dict[str, str]]:
    """Split ``scheme param=value, ...`` into the scheme and a dict of lower-cased names."""
    if not isinstance(value, str):
        raise _error("header value must be str")
    _utf8(value)  # reject lone surrogates up front
    s = value
    n = len(s)
    i = _skip_lws(s, 0)
    start = i
    while i < n and s[i] in _TOKEN_CHARS:
        i += 1
    scheme = s[start:i]
    if not scheme:
        raise _error("missing auth scheme")
    if i < n and _skip_lws(s, i) == i:
        raise _error("auth scheme must be followed by white space")
    params: dict[str, str] = {}
    while True:
        i = _skip_lws(s, i)
        if i >= n:
            break
        if s[i] == ",":  # empty list elements are allowed (RFC 7230 §7 #rule)
            i += 1
            continue
        start = i
        while i < n and s[i] in _TOKEN_CHARS:
            i += 1
        name = s[start:i].lower()
        if not name:
            raise _error(f"expected a parameter name at offset {start}")
        i = _skip_lws(s, i)
        if i >= n or s[i] != "=":
            raise _error(f"expected '=' after {name!r}")
        i = _skip_lws(s, i + 1)
        if i < n and s[i] == '"':
            val, i = _read_quoted(s, i)
        else:
            start = i
            while i < n and s[i] not in _VALUE_STOP and not _is_ctl(s[i]):
                i += 1
            val = s[start:i]
            if not val:
                raise _error(f"empty value for {name!r}")
        i = _skip_lws(s, i)
        if i < n and s[i] != ",":
            raise _error(f"unexpected character {s[i]!r} after {name!r}")
        if name in params:
            raise _error(f"parameter {name!r} given twice")  # RFC 7616 §3.4
        params[name] = val
    return scheme, params


def _require_digest(scheme: str) -> str:
    if scheme.lower() != "digest":
        raise _error(f"auth scheme {scheme!r} is not Digest")
    return "Digest"


def _canonical_algorithm(value: str | None) -> str | None:
    if value is None:
        return None
    entry = _ALGORITHMS.get(value.upper())
    return entry[0] if entry else value


def _bool_param(value: str | None) -> bool:
    # RFC 7616 §3.3: anything but "true" (case-insensitive) counts as false.
    return value is not None and value.lower() == "true"


def _quote(value: str) -> str:
    if any(_is_ctl(c) and c != "\t" for c in value):
        raise _error("control character in a header parameter")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _token(name: str, value: str) -> str:
    if not _is_token(value):
        raise _error(f"{name} must be a token, got {value!r}")
    return value


def _extra_params(params: tuple[tuple[str, str], ...]) -> list[str]:
    out = []
    for name, value in params:
        _token("parameter name", name)
        out.append(f"{name}={value if _is_token(value) else _quote(value)}")
    return out


_Params = tuple[tuple[str, str], ...]


@attrs.frozen(kw_only=True)
class Challenge:
    """A Digest challenge: one ``WWW-Authenticate``/``Proxy-Authenticate`` value.

    Attributes:
        realm: The protection realm (required).
        nonce: The server nonce (required).
        opaque: Data the client must echo unchanged, or ``None``.
        algorithm: The algorithm as sent (canonical spelling when known); ``None`` means MD5.
        qop: Offered qop values, lower-cased; empty means the RFC 2069 form.
        stale: True when the previous nonce expired but the credentials were right.
        domain: The ``domain`` parameter (space-separated URIs), or ``None``.
        userhash: True if the server wants the user name hashed (RFC 7616 §3.4.4).
        charset: The ``charset`` parameter (only ``UTF-8`` is defined), or ``None``.
        params: Other parameters as (lower-case name, unquoted value) pairs.
        scheme: Always ``"Digest"``.
    """

    realm: str
    nonce: str
    opaque: str | None = None
    algorithm: str | None = None
    qop: tuple[str, ...] = ()
    stale: bool = False
    domain: str | None = None
    userhash: bool = False
    charset: str | None = None
    params: _Params = ()
    scheme: str = "Digest"

    def __str__(self) -> str:
        parts = [f"realm={_quote(self.realm)}"]
        if self.domain is not None:
            parts.append(f"domain={_quote(self.domain)}")
        parts.append(f"nonce={_quote(self.nonce)}")
        if self.opaque is not None:
            parts.append(f"opaque={_quote(self.opaque)}")
        if self.stale:
            parts.append("stale=true")
        if self.algorithm is not None:
            parts.append(f"algorithm={_token('algorithm', self.algorithm)}")
        if self.qop:
            # RFC 3261 §25.1 qop-options: always a quoted, comma-separated list.
            parts.append(f"qop={_quote(','.join(_token('qop', q) for q in self.qop))}")
        if self.charset is not None:
            parts.append(f"charset={_token('charset', self.charset)}")
        if self.userhash:
            parts.append("userhash=true")
        parts.extend(_extra_params(self.params))
        return f"{_token('scheme', self.scheme)} " + ", ".join(parts)


_CHALLENGE_KNOWN = frozenset(
    {"realm", "nonce", "opaque", "algorithm", "qop", "stale", "domain", "userhash", "charset"}
)


def parse_challenge(value: str) -> Challenge:
    """Parse a ``WWW-Authenticate`` or ``Proxy-Authenticate`` header value.

    Args:
        value: The header value, e.g. ``'Digest realm="atlanta.com", nonce="84a4cc6f"'``.

    Returns:
        The parsed :class:`Challenge`.

    Raises:
        LocalProtocolError: (``status_hint=400``) if the value is not a valid Digest challenge.
    """
    scheme, p = _parse_auth(value)
    scheme = _require_digest(scheme)
    if "realm" not in p or "nonce" not in p:
        raise _error("Digest challenge needs realm and nonce")
    qop: tuple[str, ...] = ()
    if "qop" in p:
        qop = tuple(q.strip().lower() for q in p["qop"].split(",") if q.strip())
    return Challenge(
        scheme=scheme,
        realm=p["realm"],
        nonce=p["nonce"],
        opaque=p.get("opaque"),
        algorithm=_canonical_algorithm(p.get("algorithm")),
        qop=qop,
        stale=_bool_param(p.get("stale")),
        domain=p.get("domain"),
        userhash=_bool_param(p.get("userhash")),
        charset=p.get("charset"),
        params=tuple((k, v) for k, v in p.items() if k not in _CHALLENGE_KNOWN),
    )


@attrs.frozen(kw_only=True)
class Credentials:
    """Digest credentials: one ``Authorization``/``Proxy-Authorization`` value.

    Attributes:
        username: The user name, or H(username:realm) when ``userhash`` is true.
        realm: The realm being answered.
        nonce: The server nonce being answered.
        uri: The digest-uri (the Request-URI of the request).
        response: The request-digest (hex).
        algorithm: The algorithm (canonical spelling when known); ``None`` means MD5.
        cnonce: The client nonce, or ``None`` (RFC 2069 form).
        opaque: The echoed ``opaque``, or ``None``.
        qop: The chosen qop (lower-case), or ``None`` for the RFC 2069 form.
        nc: The nonce count, or ``None`` without qop.
        userhash: True if ``username`` is hashed (RFC 7616 §3.4.4).
        params: Other parameters as (lower-case name, unquoted value) pairs.
    """

    username: str
    realm: str
    nonce: str
    uri: str
    response: str
    algorithm: str | None = None
    cnonce: str | None = None
    opaque: str | None = None
    qop: str | None = None
    nc: int | None = None
    userhash: bool = False
    params: _Params = ()

    def __str__(self) -> str:
        parts = [
            f"username={_quote(self.username)}",
            f"realm={_quote(self.realm)}",
            f"nonce={_quote(self.nonce)}",
            f"uri={_quote(self.uri)}",
            f"response={_quote(self.response)}",
        ]
        if self.algorithm is not None:
            parts.append(f"algorithm={_token('algorithm', self.algorithm)}")
        if self.cnonce is not None:
            parts.append(f"cnonce={_quote(self.cnonce)}")
        if self.opaque is not None:
            parts.append(f"opaque={_quote(self.opaque)}")
        if self.qop is not None:
            parts.append(f"qop={_token('qop', self.qop)}")  # RFC 7616 §3.4: unquoted
        if self.nc is not None:
            if not 0 <= self.nc <= 0xFFFFFFFF:
                raise _error("nc out of range")
            parts.append(f"nc={self.nc:08x}")  # RFC 3261 §25.1: 8LHEX, unquoted
        if self.userhash:
            parts.append("userhash=true")
        parts.extend(_extra_params(self.params))
        return "Digest " + ", ".join(parts)


_CREDENTIALS_KNOWN = frozenset(
    {"username", "username*", "realm", "nonce", "uri", "response", "algorithm", "cnonce"}
    | {"opaque", "qop", "nc", "userhash"}
)
_EXT_VALUE = re.compile(r"(?i)utf-8'[^']*'((?:[!#$&+\-.^_`|~0-9A-Za-z]|%[0-9A-Fa-f]{2})*)")
_HEX = frozenset(string.hexdigits)


def _ext_value(value: str) -> str:
    """Decode an RFC 8187 ext-value (``username*``, RFC 7616 §3.4); only UTF-8 is allowed."""
    m = _EXT_VALUE.fullmatch(value)
    if m is None:
        raise _error("bad username* ext-value")
    try:
        return urllib.parse.unquote(m.group(1), errors="strict")
    except UnicodeDecodeError:
        raise _error("username* is not UTF-8") from None


def parse_credentials(value: str) -> Credentials:
    """Parse an ``Authorization`` or ``Proxy-Authorization`` header value.

    Args:
        value: The header value, e.g. ``'Digest username="bob", realm="biloxi.com", ...'``.

    Returns:
        The parsed :class:`Credentials`.

    Raises:
        LocalProtocolError: (``status_hint=400``) if the value is not valid Digest credentials.
    """
    scheme, p = _parse_auth(value)
    _require_digest(scheme)
    if "username*" in p:
        if "username" in p:
            raise _error("username and username* are exclusive")  # RFC 7616 §3.4
        p["username"] = _ext_value(p["username*"])
    for required in ("username", "realm", "nonce", "uri", "response"):
        if required not in p:
            raise _error(f"Digest credentials need {required}")
    qop = p["qop"].lower() if "qop" in p else None
    nc: int | None = None
    if "nc" in p:
        raw = p["nc"]
        if not 1 <= len(raw) <= 8 or not all(c in _HEX for c in raw):
            raise _error("nc must be 8 hex digits")
        nc = int(raw, 16)
    if qop is not None and (nc is None or "cnonce" not in p):
        raise _error("qop requires nc and cnonce")  # RFC 7616 §3.4
    return Credentials(
        username=p["username"],
        realm=p["realm"],
        nonce=p["nonce"],
        uri=p["uri"],
        response=p["response"],
        algorithm=_canonical_algorithm(p.get("algorithm")),
        cnonce=p.get("cnonce"),
        opaque=p.get("opaque"),
        qop=qop,
        nc=nc,
        userhash=_bool_param(p.get("userhash")),
        params=tuple((k, v) for k, v in p.items() if k not in _CREDENTIALS_KNOWN),
    )


# --------------------------------------------------------------------------- client side


def _choose_qop(offered: tuple[str, ...], prefer_auth_int: bool) -> str | None:
    if not offered:
        return None  # RFC 2069 compatibility form
    if "auth-int" in offered and (prefer_auth_int or "auth" not in offered):
        return "auth-int"
    if "auth" in offered:
        return "auth"
    raise _error(f"no supported qop in {offered!r}")


def select_challenge(challenges: Iterable[Challenge]) -> Challenge | None:
    """Pick the first challenge this module can answer (RFC 8760 §2.4: servers list theirs in
    order of preference, the client uses the topmost it supports).

    Args:
        challenges: Challenges in header order.

    Returns:
        The first Digest challenge with a supported algorithm and qop, or ``None``.
    """
    for challenge in challenges:
        if challenge.scheme.lower() != "digest":
            continue
        if (challenge.algorithm or "MD5").upper() not in _ALGORITHMS:
            continue
        if challenge.qop and not any(q in _QOPS for q in challenge.qop):
            continue
        return challenge
    return None


def answer_challenge(
    challenge: Challenge,
    *,
    username: str,
    password: str,
    method: str,
    uri: str,
    body: bytes = b"",
    cnonce: str | None = None,
    nc: int = 1,
    prefer_auth_int: bool = False,
) -> Credentials:
    """Build the credentials answering ``challenge`` for one request (RFC 3261 §22.2/§22.3).

    ``qop=auth`` is chosen when offered; ``auth-int`` only when it is the only one offered or
    ``prefer_auth_int`` is set. Without any offered qop the RFC 2069 form is used.

    Args:
        challenge: The challenge from the 401/407 response.
        username: The user name (hashed into the header if the challenge asks for userhash).
        password: The password.
        method: The method of the request being authorised.
        uri: Its Request-URI, as sent.
        body: Its body (hashed for ``auth-int``).
        cnonce: The client nonce; a random one is made when ``None``.
        nc: The nonce count (1 for the first use of a nonce).
        prefer_auth_int: Use ``auth-int`` whenever it is offered.

    Returns:
        The :class:`Credentials`; ``str()`` them into the (Proxy-)Authorization header.

    Raises:
        LocalProtocolError: If the challenge cannot be answered (unsupported algorithm/qop) or
            ``nc`` is out of range.
    """
    _require_digest(challenge.scheme)
    _, hash_name, sess = _lookup(challenge.algorithm)
    qop = _choose_qop(challenge.qop, prefer_auth_int)
    if qop is not None or sess:
        if cnonce is None:
            cnonce = secrets.token_hex(16)
    else:
        cnonce = None  # RFC 2617 §3.2.2: no cnonce without qop
    if qop is not None and not 1 <= nc <= 0xFFFFFFFF:
        raise _error("nc out of range")
    ha1 = compute_ha1(username, challenge.realm, password, challenge.algorithm)
    response = compute_response(
        algorithm=challenge.algorithm,
        ha1=ha1,
        nonce=challenge.nonce,
        method=method,
        uri=uri,
        qop=qop,
        nc=nc if qop is not None else None,
        cnonce=cnonce,
        body=body,
    )
    if challenge.userhash:
        # RFC 7616 §3.4.4: username = H(unq(username):unq(realm)); A1 keeps the plain name.
        username = _h(hash_name, _join(username, challenge.realm))
    return Credentials(
        username=username,
        realm=challenge.realm,
        nonce=challenge.nonce,
        uri=uri,
        response=response,
        algorithm=challenge.algorithm,
        cnonce=cnonce,
        opaque=challenge.opaque,
        qop=qop,
        nc=nc if qop is not None else None,
        userhash=challenge.userhash,
    )


@attrs.define
class DigestClient:
    """Client-side state: the last challenge per realm and the nonce count for its nonce.

    Feed every 401/407 challenge to :meth:`update`, then call :meth:`authorize` for each request
    (re)sent; reusing a nonce increments ``nc`` (RFC 7616 §3.4) and keeps the cnonce.

    Attributes:
        username: The user name.
        password: The password.
        prefer_auth_int: Answer with ``auth-int`` whenever it is offered.
    """

    username: str
    password: str
    prefer_auth_int: bool = False
    _challenges: dict[str, Challenge] = attrs.field(factory=dict, init=False)
    _nc: dict[str, int] = attrs.field(factory=dict, init=False)
    _cnonce: dict[str, str] = attrs.field(factory=dict, init=False)
    _last_realm: str | None = attrs.field(default=None, init=False)

    def update(self, challenge: Challenge) -> bool:
        """Remember ``challenge`` as the current one for its realm.

        Args:
            challenge: A challenge from a 401/407.

        Returns:
            Whether retrying is worthwhile: ``False`` if the challenge cannot be answered, or if
            it repeats a nonce we already answered without ``stale=true`` (the password was
            rejected); ``True`` otherwise.
        """
        if select_challenge([challenge]) is None:
            return False
        realm = challenge.realm
        old = self._challenges.get(realm)
        used = self._nc.get(realm, 0) > 0
        fresh = old is None or old.nonce != challenge.nonce
        if fresh:
            self._nc[realm] = 0
            self._cnonce[realm] = secrets.token_hex(16)
        self._challenges[realm] = challenge
        self._last_realm = realm
        return fresh or challenge.stale or not used

    def authorize(
        self, method: str, uri: str, body: bytes = b"", *, realm: str | None = None
    ) -> Credentials | None:
        """Answer the remembered challenge for ``realm`` (default: the latest one seen).

        Args:
            method: The request method.
            uri: The Request-URI.
            body: The request body (for ``auth-int``).
            realm: The realm to answer; ``None`` for the most recently updated one.

        Returns:
            The credentials, or ``None`` if no challenge is known for that realm.
        """
        realm = self._last_realm if realm is None else realm
        if realm is None or realm not in self._challenges:
            return None
        nc = self._nc[realm] + 1
        self._nc[realm] = nc
        return answer_challenge(
            self._challenges[realm],
            username=self.username,
            password=self.password,
            method=method,
            uri=uri,
            body=body,
            cnonce=self._cnonce[realm],
            nc=nc,
            prefer_auth_int=self.prefer_auth_int,
        )


# --------------------------------------------------------------------------- server side


class VerifyResult(enum.Enum):
    """Outcome of :meth:`DigestServer.verify`.

    Attributes:
        OK: The credentials are valid.
        STALE: Correct response but expired nonce: re-challenge with ``stale=True``.
        INVALID: Wrong response, realm, algorithm or qop, or a nonce we did not issue.
        REPLAY: Correct response, but ``nc`` did not grow for this nonce.
    """

    OK = "ok"
    STALE = "stale"
    INVALID = "invalid"
    REPLAY = "replay"


def _secret(value: bytes | None) -> bytes:
    return secrets.token_bytes(32) if value is None else bytes(value)


def _server_algorithm(value: str) -> str:
    return _lookup(value)[0]


def _server_qop(value: Iterable[str]) -> tuple[str, ...]:
    qop = tuple(q.lower() for q in value)
    if any(q not in _QOPS for q in qop):
        raise _error(f"qop must be drawn from {_QOPS}")
    return qop


def _same(expected: str, given: str) -> bool:
    """Constant-time comparison that tolerates any text in ``given``."""
    try:
        given_bytes = given.lower().encode("utf-8")
    except UnicodeEncodeError:
        return False
    return hmac.compare_digest(expected.encode("ascii"), given_bytes)


_NONCE_RE = re.compile(r"[A-Za-z0-9_-]{64}")
_TS = struct.Struct(">d")


@attrs.define
class DigestServer:
    """Server side: issues stateless nonces and verifies credentials (RFC 3261 §22.4).

    A nonce is base64url(8-byte timestamp || 8-byte salt || HMAC-SHA256(secret, timestamp ||
    salt || realm)), so any process with the same ``secret`` can check it. Only the highest
    ``nc`` per nonce is stored, in an LRU dict capped at ``max_tracked_nonces``.

    Attributes:
        realm: The realm challenged for.
        secret: HMAC key for nonces; random (per instance) when ``None`` is passed.
        nonce_ttl: Seconds a nonce stays fresh.
        algorithm: The algorithm offered (canonical spelling).
        qop: The qop values offered; empty for the RFC 2069 form (no replay protection).
        max_tracked_nonces: Bound of the nonce-count table.
    """

    realm: str
    secret: bytes = attrs.field(default=None, converter=_secret, repr=False, kw_only=True)
    nonce_ttl: float = attrs.field(default=300.0, kw_only=True)
    algorithm: str = attrs.field(default="MD5", converter=_server_algorithm, kw_only=True)
    qop: tuple[str, ...] = attrs.field(default=("auth",), converter=_server_qop, kw_only=True)
    max_tracked_nonces: int = attrs.field(default=10000, kw_only=True)
    _nc_seen: dict[str, int] = attrs.field(factory=dict, init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if not self.nonce_ttl > 0:
            raise _error("nonce_ttl must be positive")
        if self.max_tracked_nonces < 1:
            raise _error("max_tracked_nonces must be at least 1")

    def _mac(self, stamp: bytes) -> bytes:
        return hmac.new(self.secret, stamp + _utf8(self.realm), hashlib.sha256).digest()

    def challenge(self, now: float, *, stale: bool = False) -> Challenge:
        """Issue a challenge with a fresh nonce.

        Args:
            now: The current time.
            stale: Set after :attr:`VerifyResult.STALE` so the client retries silently.

        Returns:
            The :class:`Challenge` for a ``WWW-Authenticate``/``Proxy-Authenticate`` header.
        """
        if not math.isfinite(now):
            raise _error("now must be finite")
        stamp = _TS.pack(now) + secrets.token_bytes(8)
        nonce = base64.urlsafe_b64encode(stamp + self._mac(stamp)).decode("ascii")
        return Challenge(
            realm=self.realm, nonce=nonce, algorithm=self.algorithm, qop=self.qop, stale=stale
        )

    def _nonce_time(self, nonce: str) -> float | None:
        """The issue time of a nonce we made, or ``None`` if it is not ours."""
        if _NONCE_RE.fullmatch(nonce) is None:
            return None
        raw = base64.urlsafe_b64decode(nonce)
        stamp, mac = raw[:16], raw[16:]
        if not hmac.compare_digest(mac, self._mac(stamp)):
            return None
        issued: float = _TS.unpack(stamp[:8])[0]
        return issued

    def verify(
        self,
        credentials: Credentials,
        *,
        method: str,
        password: str | None = None,
        ha1: str | None = None,
        body: bytes = b"",
        now: float,
        username: str | None = None,
        uri: str | None = None,
    ) -> VerifyResult:
        """Check credentials received in a request.

        Args:
            credentials: Parsed (Proxy-)Authorization credentials for this realm.
            method: The request method.
            password: The user's password; give this or ``ha1``.
            ha1: The stored H(username:realm:password) (:func:`compute_ha1`).
            body: The request body (needed for ``auth-int``).
            now: The current time, on the clock used for :meth:`challenge`.
            username: The plain user name; needed with ``password`` when the credentials use
                ``userhash`` (it is then checked against the hashed name).
            uri: If given, the Request-URI the digest-uri must equal (RFC 7616 §3.4.6).

        Returns:
            A :class:`VerifyResult`. On ``OK`` the nonce count is recorded.

        Raises:
            LocalProtocolError: If neither or both of ``password`` and ``ha1`` are given, or
                ``userhash`` credentials come with a password but no ``username``.
        """
        if (password is None) == (ha1 is None):
            raise _error("give exactly one of password and ha1")
        c = credentials
        if c.realm != self.realm:
            return VerifyResult.INVALID
        algorithm = _canonical_algorithm(c.algorithm or "MD5")
        if algorithm != self.algorithm:
            return VerifyResult.INVALID
        _, hash_name, sess = _lookup(algorithm)
        issued = self._nonce_time(c.nonce)
        if issued is None:
            return VerifyResult.INVALID
        # Downgrade protection: when we offered qop the client must use one of ours.
        if (c.qop is None) != (not self.qop) or (c.qop is not None and c.qop not in self.qop):
            return VerifyResult.INVALID
        if c.qop is not None and (c.nc is None or c.cnonce is None or not 0 < c.nc < 2**32):
            return VerifyResult.INVALID
        if (sess and c.cnonce is None) or (uri is not None and c.uri != uri):
            return VerifyResult.INVALID
        if password is not None:
            name = c.username
            if c.userhash:
                if username is None:
                    raise _error("userhash credentials need username= to check a password")
                if not _same(_h(hash_name, _join(username, self.realm)), c.username):
                    return VerifyResult.INVALID
                name = username
            ha1 = compute_ha1(name, self.realm, password, algorithm)
        assert ha1 is not None
        if not all(ch in _HEX for ch in ha1):
            raise _error("ha1 must be hex")
        expected = compute_response(
            algorithm=algorithm,
            ha1=ha1,
            nonce=c.nonce,
            method=method,
            uri=c.uri,
            qop=c.qop,
            nc=c.nc,
            cnonce=c.cnonce,
            body=body,
        )
        if not _same(expected, c.response):
            return VerifyResult.INVALID
        age = now - issued
        if not 0.0 <= age <= self.nonce_ttl:
            return VerifyResult.STALE
        if c.nc is not None and c.qop is not None:
            # RFC 7616 §3.4 / §5.11: the nonce count must grow for every use of a nonce.
            last = self._nc_seen.pop(c.nonce, 0)
            self._nc_seen[c.nonce] = max(last, c.nc)  # re-insert: most recently used goes last
            if c.nc <= last:
                return VerifyResult.REPLAY
            while len(self._nc_seen) > self.max_tracked_nonces:
                del self._nc_seen[next(iter(self._nc_seen))]
        return VerifyResult.OK
