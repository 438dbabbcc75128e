"""Generators for branch parameters, tags and Call-IDs.

RFC 3261 §8.1.1.7 requires branches to be unique across space and time and to
start with the magic cookie ``z9hG4bK``; §19.3 asks for at least 32 bits of
randomness in tags and for Call-IDs that are globally unique. Everything here
comes from the operating system's CSPRNG (:mod:`secrets`) so identifiers
cannot be predicted by a peer on a public server: a guessable branch or tag
would let an attacker inject a CANCEL or BYE.
"""

from __future__ import annotations

import secrets

__all__ = ["MAGIC_COOKIE", "new_branch", "new_call_id", "new_tag"]

#: The RFC 3261 branch prefix (§8.1.1.7).
MAGIC_COOKIE = "z9hG4bK"


def new_branch() -> str:
    """Return a fresh Via branch: the magic cookie and 96 random bits."""
    return MAGIC_COOKIE + secrets.token_hex(12)


def new_tag() -> str:
    """Return a fresh From/To tag with 64 random bits."""
    return secrets.token_hex(8)


def new_call_id(host: str | None = None) -> str:
    """Return a fresh Call-ID with 128 random bits, optionally ``@host``."""
    local = secrets.token_urlsafe(16)
    return f"{local}@{host}" if host else local
