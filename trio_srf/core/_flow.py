"""Where a message came from or goes to: the transport-level identity of a hop.

A :class:`Flow` names one transport, the remote and local socket addresses and,
for connection-oriented transports, the connection. The sans-IO stack never
opens sockets: it receives ``(bytes, Flow)`` and emits ``(bytes, Flow)``, and
the Trio drivers (``trio_srf.transport``) map flows to sockets. A flow with
``conn_id=None`` on a reliable transport means "any connection to that remote
address, or a new one" (RFC 3261 §18.1.1 connection reuse, RFC 5923 style).
"""

from __future__ import annotations

import attrs

__all__ = ["RELIABLE_TRANSPORTS", "TRANSPORTS", "Flow"]

#: Transport names as they appear in a listen spec or a ``transport=`` URI param.
TRANSPORTS = ("udp", "tcp", "tls", "ws", "wss")

#: Transports that retransmit by themselves (Timers E/G/A stop; D/I/J/K are 0).
RELIABLE_TRANSPORTS = frozenset({"tcp", "tls", "ws", "wss"})


@attrs.frozen
class Flow:
    """One hop's transport identity.

    Attributes:
        transport: ``"udp"``, ``"tcp"``, ``"tls"``, ``"ws"`` or ``"wss"``.
        remote: The peer's ``(host, port)``; IPv6 hosts without brackets.
        local: Our ``(host, port)`` for this hop (the listening socket for UDP).
        conn_id: The connection's id on stream transports, ``None`` for UDP or
            when any (or a new) connection to ``remote`` will do.
    """

    transport: str
    remote: tuple[str, int]
    local: tuple[str, int] = ("", 0)
    conn_id: int | None = None

    @property
    def reliable(self) -> bool:
        """Whether the transport is reliable (RFC 3261 §17: no retransmissions)."""
        return self.transport in RELIABLE_TRANSPORTS

    @property
    def secure(self) -> bool:
        """Whether the transport is TLS-protected (needed for sips:)."""
        return self.transport in ("tls", "wss")

    @property
    def via_transport(self) -> str:
        """The transport token for a Via header (``UDP``, ``TCP``, ``TLS``, ``WS``, ``WSS``)."""
        return self.transport.upper()
