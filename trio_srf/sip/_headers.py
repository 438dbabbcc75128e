"""An ordered, case-insensitive multi-map of raw SIP header fields.

Rules this module keeps (RFC 3261 §7.3):

* Header names are case-insensitive; the compact forms of §7.3.3 (``i`` for
  Call-ID, ``v`` for Via, ...) are the same header as their long form. Each
  entry keeps the name *as written* (so a message serializes back the way it
  arrived) and a canonical lowercase long-form key used for every lookup.
* Order is kept, and so are repeated headers: ``Via`` and ``Route`` order is
  meaning, and a proxy must not reorder them (§7.3.1).
* Values are stored raw (unfolded, stripped of surrounding whitespace). Typed
  views are parsed on first use and cached here per header (see
  :meth:`Headers.parsed`); a view depends only on the lines of its own header,
  so changing a header drops that header's view, and a view never goes stale.
* ``Content-Length`` is never stored: it is derived from the body when a
  message is serialized, so it can never disagree with it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from ..errors import LocalProtocolError

__all__ = ["COMPACT_FORMS", "Headers", "canonical_name", "header_key"]

T = TypeVar("T")

#: Compact header forms (RFC 3261 §7.3.3 and later RFCs' registrations).
COMPACT_FORMS: dict[str, str] = {
    "a": "accept-contact",
    "b": "referred-by",
    "c": "content-type",
    "d": "request-disposition",
    "e": "content-encoding",
    "f": "from",
    "i": "call-id",
    "j": "reject-contact",
    "k": "supported",
    "l": "content-length",
    "m": "contact",
    "n": "identity-info",
    "o": "event",
    "r": "refer-to",
    "s": "subject",
    "t": "to",
    "u": "allow-events",
    "v": "via",
    "x": "session-expires",
    "y": "identity",
}

# Display spelling for canonical keys whose capitalisation is not simply
# "each dash-separated word capitalised".
_SPECIAL_SPELLING: dict[str, str] = {
    "call-id": "Call-ID",
    "cseq": "CSeq",
    "www-authenticate": "WWW-Authenticate",
    "mime-version": "MIME-Version",
    "rack": "RAck",
    "rseq": "RSeq",
    "sip-etag": "SIP-ETag",
    "sip-if-match": "SIP-If-Match",
    "p-asserted-identity": "P-Asserted-Identity",
}

_TOKEN_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+\Z")
_BAD_VALUE_RE = re.compile(r"[\x00\r\n]")

_key_cache: dict[str, str] = {}
_MISSING: Any = object()


def header_key(name: str) -> str:
    """Return the canonical lookup key for a header name (lowercase, long form)."""
    key = _key_cache.get(name)
    if key is None:
        low = name.lower()
        key = COMPACT_FORMS.get(low, low) if len(low) == 1 else low
        if len(_key_cache) < 4096:
            _key_cache[name] = key
    return key


def canonical_name(name: str) -> str:
    """Return the conventional spelling of a header name (``call-id`` -> ``Call-ID``)."""
    key = header_key(name)
    special = _SPECIAL_SPELLING.get(key)
    if special is not None:
        return special
    return "-".join(part.capitalize() for part in key.split("-"))


def _check(name: str, value: str) -> None:
    if not _TOKEN_RE.match(name):
        raise LocalProtocolError(f"invalid header name {name!r}")
    if _BAD_VALUE_RE.search(value):
        raise LocalProtocolError(f"header {name} value contains CR, LF or NUL")


class Headers:
    """Ordered multi-map of SIP headers with case-insensitive, compact-aware lookup.

    Example::

        h = Headers([("Via", "SIP/2.0/UDP a.example.com;branch=z9hG4bK1"), ("i", "abc")])
        h.get("Call-ID")  # -> "abc"
        h.add("Route", "<sip:p1.example.com;lr>")

    Values passed in by the application are checked: a name must be a token,
    a value must not contain CR, LF or NUL (header injection).
    """

    __slots__ = ("_cache", "_items")

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        entries: list[tuple[str, str, str]] = []
        for name, value in items:
            value = value.strip()
            _check(name, value)
            key = header_key(name)
            if key != "content-length":
                entries.append((key, name, value))
        self._items = entries
        self._cache: dict[str, Any] = {}

    @classmethod
    def _trusted(cls, entries: list[tuple[str, str, str]]) -> Headers:
        """Build from (key, name, value) triples the parser already validated."""
        self = cls()  # empty; mypyc-compiled classes have no usable cls.__new__
        self._items = entries
        return self

    # -- reading -------------------------------------------------------------

    def get(self, name: str, default: str | None = None) -> str | None:
        """Return the first value of ``name``, or ``default`` if absent."""
        key = header_key(name)
        for k, _, v in self._items:
            if k == key:
                return v
        return default

    def get_all(self, name: str) -> list[str]:
        """Return every value of ``name`` in order (one entry per header line)."""
        key = header_key(name)
        return [v for k, _, v in self._items if k == key]

    def has(self, name: str) -> bool:
        """Return whether at least one ``name`` header is present."""
        key = header_key(name)
        return any(k == key for k, _, _ in self._items)

    def __contains__(self, name: object) -> bool:
        # A method of its own, not an alias of has(): mypyc does not compile aliases.
        return isinstance(name, str) and self.has(name)

    def items(self) -> list[tuple[str, str]]:
        """Return ``(name as written, value)`` pairs in order."""
        return [(n, v) for _, n, v in self._items]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.items())

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return [(k, v) for k, _, v in self._items] == [(k, v) for k, _, v in other._items]

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Headers({self.items()!r})"

    def parsed(self, key: str, parse: Callable[[list[str]], T]) -> T:
        """Return ``parse(values)`` for canonical ``key``, cached until that header changes.

        ``parse`` must depend on nothing but the values of ``key`` (in order):
        changing another header keeps the cached result.
        """
        cache = self._cache
        result = cache.get(key, _MISSING)
        if result is _MISSING:
            # A dict lookup with a sentinel: raising KeyError on every first
            # access cost more than the lookup itself.
            result = parse([v for k, _, v in self._items if k == key])
            cache[key] = result
        return result  # type: ignore[no-any-return]

    # -- writing -------------------------------------------------------------

    def add(self, name: str, value: str) -> None:
        """Append a header line after all existing ones."""
        value = value.strip()
        _check(name, value)
        key = header_key(name)
        if key == "content-length":
            return
        self._items.append((key, name, value))
        self._cache.pop(key, None)

    def prepend(self, name: str, value: str) -> None:
        """Insert a header line before the first ``name`` line (top of the list).

        This is how a proxy adds its Via and Record-Route (RFC 3261 §16.6).
        If no ``name`` line exists the header is inserted first.
        """
        value = value.strip()
        _check(name, value)
        key = header_key(name)
        if key == "content-length":
            return
        pos = 0
        for i, (k, _, _) in enumerate(self._items):
            if k == key:
                pos = i
                break
        self._items.insert(pos, (key, name, value))
        self._cache.pop(key, None)

    def set(self, name: str, value: str) -> None:
        """Replace every ``name`` line with one line holding ``value``.

        The new line takes the place of the first old one (or goes last).
        """
        value = value.strip()
        _check(name, value)
        key = header_key(name)
        if key == "content-length":
            return
        out: list[tuple[str, str, str]] = []
        placed = False
        for entry in self._items:
            if entry[0] == key:
                if not placed:
                    out.append((key, name, value))
                    placed = True
            else:
                out.append(entry)
        if not placed:
            out.append((key, name, value))
        self._items = out
        self._cache.pop(key, None)

    def remove(self, name: str) -> int:
        """Remove every ``name`` line; return how many were removed."""
        key = header_key(name)
        before = len(self._items)
        self._items = [e for e in self._items if e[0] != key]
        self._cache.pop(key, None)
        return before - len(self._items)

    def pop_first(self, name: str) -> str | None:
        """Remove and return the first ``name`` line's value (a proxy popping a Route)."""
        key = header_key(name)
        for i, (k, _, v) in enumerate(self._items):
            if k == key:
                del self._items[i]
                self._cache.pop(key, None)
                return v
        return None

    def copy(self) -> Headers:
        """Return an independent copy."""
        return Headers._trusted(list(self._items))

    def _serialize_into(self, out: list[str]) -> None:
        out.append(self._serialized())

    def _serialized(self) -> str:
        """Every line as ``Name: value`` CRLF, in order (one join, no per-line appends)."""
        return "".join([f"{n}: {v}\r\n" for _, n, v in self._items])
