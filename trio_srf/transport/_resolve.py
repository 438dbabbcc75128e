"""RFC 3263 server location: from a SIP URI to an ordered list of transport targets.

Rules this module keeps (RFC 3263 §4):

* The target host is the ``maddr`` parameter if present, else the URI host (§4).
* Transport (§4.1): an explicit ``transport`` parameter wins. Otherwise a
  numeric host or an explicit port means UDP for ``sip:`` and TLS for ``sips:``.
  Otherwise NAPTR records decide (services ``SIP+D2U``, ``SIP+D2T``,
  ``SIPS+D2T``, and RFC 7118's ``SIP+D2W``/``SIPS+D2W``; only flag ``s``),
  ordered by order then preference, restricted to the transports we support and,
  for ``sips:``, to secure ones. Without usable NAPTR records, SRV records are
  queried for each supported transport (``_sips._tcp``, ``_sip._tcp``,
  ``_sip._udp``) in our preference order. Without those either, A/AAAA with the
  default port.
* Port and address (§4.2): an explicit port skips SRV and uses A/AAAA; SRV
  records are ordered by priority and, within a priority, by the RFC 2782
  weighted random selection; a target of ``.`` means "no service here".
* ``sips:`` with ``transport=tcp`` means TLS, with ``transport=ws`` WSS
  (RFC 3261 §26.2.2); ``sips:`` never resolves to UDP.
* Every target carries ``server_name``, the URI's domain: TLS certificates are
  checked against it, not against the SRV target (RFC 5922 §4).

The returned list is the failover order: the engine tries the next target on a
503, a timeout or a transport error (§4.3). Lookup failures (NXDOMAIN, no
answer, timeouts) count as "no records" rather than errors.

DNS data comes from a :class:`DnsSource`: :class:`SystemDns` queries NAPTR/SRV
through dnspython's async resolver (which runs on Trio via sniffio) and A/AAAA
through ``getaddrinfo`` so the hosts file is honoured; :class:`StaticDns`
answers from tables (static configuration, tests).
"""

from __future__ import annotations

import ipaddress
import random
import socket as _stdlib_socket
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

import attrs
import dns.asyncresolver
import dns.exception
import dns.rdatatype
import trio

from ..sip import SipURI
from ._base import DEFAULT_PORTS

__all__ = [
    "DnsSource",
    "NaptrRecord",
    "Resolver",
    "SrvRecord",
    "StaticDns",
    "SystemDns",
    "Target",
    "resolve_targets",
]

#: NAPTR service field -> transport (RFC 3263 §4.1, RFC 7118 §10.3).
NAPTR_SERVICES = {
    "SIP+D2U": "udp",
    "SIP+D2T": "tcp",
    "SIPS+D2T": "tls",
    "SIP+D2W": "ws",
    "SIPS+D2W": "wss",
}

#: SRV owner-name prefixes per transport (RFC 3263 §4.1; RFC 7118 defines none for WS).
SRV_PREFIXES = {"udp": "_sip._udp.", "tcp": "_sip._tcp.", "tls": "_sips._tcp."}

_SECURE = frozenset({"tls", "wss"})


@attrs.frozen
class Target:
    """One place to send a request.

    Attributes:
        transport: ``"udp"``, ``"tcp"``, ``"tls"``, ``"ws"`` or ``"wss"``.
        host: An IP address (IPv6 without brackets).
        port: The port.
        server_name: The SIP domain to verify a TLS certificate against (pass it
            as ``server_hostname`` to ``TransportManager.send``); ``None`` for a
            numeric URI host.
    """

    transport: str
    host: str
    port: int
    server_name: str | None = None


@attrs.frozen
class NaptrRecord:
    """A NAPTR record (RFC 3403) as far as SIP uses it.

    Attributes:
        order: Lower first.
        preference: Lower first among equal ``order``.
        flags: e.g. ``"s"`` (an SRV lookup follows).
        service: e.g. ``"SIP+D2T"``.
        replacement: The SRV owner name to look up next (no trailing dot).
    """

    order: int
    preference: int
    flags: str
    service: str
    replacement: str


@attrs.frozen
class SrvRecord:
    """An SRV record (RFC 2782).

    Attributes:
        priority: Lower first.
        weight: Relative share among equal priorities.
        port: Service port.
        target: Host name (no trailing dot); ``"."`` means no service.
    """

    priority: int
    weight: int
    port: int
    target: str


class DnsSource(Protocol):
    """Where DNS answers come from. Missing data is an empty list, never an exception."""

    async def naptr(self, name: str) -> list[NaptrRecord]:
        """NAPTR records of ``name``."""
        ...

    async def srv(self, name: str) -> list[SrvRecord]:
        """SRV records of ``name``."""
        ...

    async def addresses(self, name: str) -> list[str]:
        """IPv4 and IPv6 addresses of ``name`` in the order to try them."""
        ...


def _strip_dot(name: str) -> str:
    return name[:-1] if name.endswith(".") and name != "." else name


class SystemDns:
    """NAPTR/SRV through dnspython's async resolver; A/AAAA through ``getaddrinfo``.

    Args:
        resolver: A configured dnspython async resolver; by default one reading
            ``/etc/resolv.conf``.
        lifetime: Seconds allowed per NAPTR/SRV query.
    """

    def __init__(
        self, resolver: dns.asyncresolver.Resolver | None = None, *, lifetime: float = 5.0
    ) -> None:
        self._resolver = resolver
        self._lifetime = lifetime

    def _get_resolver(self) -> dns.asyncresolver.Resolver:
        if self._resolver is None:
            self._resolver = dns.asyncresolver.Resolver()
        return self._resolver

    async def _query(self, name: str, rdtype: dns.rdatatype.RdataType) -> list[object]:
        try:
            answer = await self._get_resolver().resolve(
                name, rdtype, lifetime=self._lifetime, search=False
            )
        except dns.exception.DNSException:
            return []
        return list(answer)

    async def naptr(self, name: str) -> list[NaptrRecord]:
        """NAPTR records via DNS (empty on NXDOMAIN, no answer or timeout)."""
        out = []
        for rr in await self._query(name, dns.rdatatype.NAPTR):
            out.append(
                NaptrRecord(
                    order=rr.order,  # type: ignore[attr-defined]
                    preference=rr.preference,  # type: ignore[attr-defined]
                    flags=rr.flags.decode("ascii", "replace"),  # type: ignore[attr-defined]
                    service=rr.service.decode("ascii", "replace"),  # type: ignore[attr-defined]
                    replacement=_strip_dot(rr.replacement.to_text()),  # type: ignore[attr-defined]
                )
            )
        return out

    async def srv(self, name: str) -> list[SrvRecord]:
        """SRV records via DNS (empty on NXDOMAIN, no answer or timeout)."""
        out = []
        for rr in await self._query(name, dns.rdatatype.SRV):
            out.append(
                SrvRecord(
                    priority=rr.priority,  # type: ignore[attr-defined]
                    weight=rr.weight,  # type: ignore[attr-defined]
                    port=rr.port,  # type: ignore[attr-defined]
                    target=_strip_dot(rr.target.to_text()),  # type: ignore[attr-defined]
                )
            )
        return out

    async def addresses(self, name: str) -> list[str]:
        """Addresses via the system resolver (hosts file first), RFC 6724 order."""
        try:
            infos = await trio.socket.getaddrinfo(name, None, type=_stdlib_socket.SOCK_STREAM)
        except OSError:
            return []
        out: list[str] = []
        for _family, _type, _proto, _canon, sockaddr in infos:
            host = str(sockaddr[0])
            if host not in out:
                out.append(host)
        return out


class StaticDns:
    """A DNS source answering from tables (static routing, tests).

    Args:
        naptr: Owner name -> NAPTR records.
        srv: Owner name -> SRV records.
        addresses: Host name -> addresses in order.
    """

    def __init__(
        self,
        naptr: Mapping[str, Sequence[NaptrRecord]] | None = None,
        srv: Mapping[str, Sequence[SrvRecord]] | None = None,
        addresses: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self._naptr = {k.lower(): list(v) for k, v in (naptr or {}).items()}
        self._srv = {k.lower(): list(v) for k, v in (srv or {}).items()}
        self._addresses = {k.lower(): list(v) for k, v in (addresses or {}).items()}
        #: Every query made, as ``(type, name)``, in order.
        self.queries: list[tuple[str, str]] = []

    async def naptr(self, name: str) -> list[NaptrRecord]:
        """The table's NAPTR records for ``name``."""
        self.queries.append(("NAPTR", name))
        await trio.lowlevel.checkpoint()
        return list(self._naptr.get(name.lower(), []))

    async def srv(self, name: str) -> list[SrvRecord]:
        """The table's SRV records for ``name``."""
        self.queries.append(("SRV", name))
        await trio.lowlevel.checkpoint()
        return list(self._srv.get(name.lower(), []))

    async def addresses(self, name: str) -> list[str]:
        """The table's addresses for ``name``."""
        self.queries.append(("A/AAAA", name))
        await trio.lowlevel.checkpoint()
        return list(self._addresses.get(name.lower(), []))


def order_srv(records: Iterable[SrvRecord], rng: random.Random) -> list[SrvRecord]:
    """Order SRV records for use: priority ascending, weighted random within (RFC 2782).

    Records whose target is ``.`` are dropped (the service is not offered).
    """
    by_priority: dict[int, list[SrvRecord]] = {}
    for rec in records:
        if rec.target in (".", ""):
            continue
        by_priority.setdefault(rec.priority, []).append(rec)
    ordered: list[SrvRecord] = []
    for priority in sorted(by_priority):
        # RFC 2782: zero-weight records first, then pick by running weight sums.
        remaining = sorted(by_priority[priority], key=lambda r: r.weight != 0)
        while remaining:
            total = sum(r.weight for r in remaining)
            pick = rng.randint(0, total)
            running = 0
            for index, rec in enumerate(remaining):
                running += rec.weight
                if running >= pick:
                    ordered.append(remaining.pop(index))
                    break
    return ordered


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class Resolver:
    """RFC 3263 resolution of SIP URIs to ordered :class:`Target` lists.

    Args:
        dns: The DNS data source (default :class:`SystemDns`).
        transports: Transports we can use, in preference order for the SRV
            fallback (RFC 3263 §4.1 leaves the preference to the client).
        rng: Random source for SRV weights (seed it for repeatable tests).
    """

    def __init__(
        self,
        dns: DnsSource | None = None,
        *,
        transports: Sequence[str] = ("udp", "tcp", "tls", "ws", "wss"),
        rng: random.Random | None = None,
    ) -> None:
        self.dns: DnsSource = dns if dns is not None else SystemDns()
        self.transports = tuple(transports)
        self._rng = rng if rng is not None else random.Random()

    def resolve_literal(self, uri: SipURI) -> list[Target] | None:
        """The targets of ``uri`` when they need no DNS lookup, else ``None``.

        That is when the host (or ``maddr``) is an IP address (RFC 3263 §4.2),
        or when no target can exist (``sips`` over UDP, an unsupported
        transport: an empty list). The answer never changes for the same URI.
        """
        host = uri.maddr or uri.host
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        transport = self._transport(uri)
        if transport == "":
            return []
        if not _is_ip(host):
            return None
        chosen = transport or ("tls" if uri.scheme == "sips" else "udp")
        return [Target(chosen, host, uri.port or DEFAULT_PORTS[chosen])]

    def _transport(self, uri: SipURI) -> str | None:
        """The URI's transport as we would use it; ``""`` when none of ours can serve it."""
        transport = uri.transport
        if transport is not None and uri.scheme == "sips":
            transport = {"tcp": "tls", "ws": "wss", "udp": ""}.get(transport, transport)
            if transport == "":
                return ""  # sips over UDP does not exist (RFC 3261 §26.2.2)
        if transport is not None and transport not in self.transports:
            return ""
        return transport

    async def resolve(self, uri: SipURI) -> list[Target]:
        """Resolve ``uri`` (a request's next hop) to targets in failover order.

        Returns:
            The targets; empty when nothing resolves or no supported transport fits.
        """
        literal = self.resolve_literal(uri)
        if literal is not None:
            return literal
        secure = uri.scheme == "sips"
        host = uri.maddr or uri.host
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        transport = self._transport(uri)
        default = "tls" if secure else "udp"
        if uri.port is not None:
            return await self._a(transport or default, host, uri.port, host)
        if transport is not None:
            targets = await self._srv(transport, host, host)
            return targets or await self._a(transport, host, DEFAULT_PORTS[transport], host)
        targets = await self._naptr(host, secure)
        if not targets:
            for candidate in self.transports:
                if candidate in SRV_PREFIXES and (not secure or candidate in _SECURE):
                    targets += await self._srv(candidate, host, host)
        if not targets and default in self.transports:
            targets = await self._a(default, host, DEFAULT_PORTS[default], host)
        return _unique(targets)

    async def _naptr(self, host: str, secure: bool) -> list[Target]:
        records = [
            r
            for r in await self.dns.naptr(host)
            if r.flags.lower() == "s"
            and NAPTR_SERVICES.get(r.service.upper()) in self.transports
            and (not secure or NAPTR_SERVICES[r.service.upper()] in _SECURE)
        ]
        records.sort(key=lambda r: (r.order, r.preference))
        targets: list[Target] = []
        for rec in records:
            transport = NAPTR_SERVICES[rec.service.upper()]
            for srv in order_srv(await self.dns.srv(rec.replacement), self._rng):
                targets += await self._a(transport, srv.target, srv.port, host)
        return targets

    async def _srv(self, transport: str, host: str, server_name: str) -> list[Target]:
        prefix = SRV_PREFIXES.get(transport)
        if prefix is None:
            return []
        targets: list[Target] = []
        for srv in order_srv(await self.dns.srv(prefix + host), self._rng):
            targets += await self._a(transport, srv.target, srv.port, server_name)
        return targets

    async def _a(self, transport: str, host: str, port: int, server_name: str) -> list[Target]:
        addresses = [host] if _is_ip(host) else await self.dns.addresses(host)
        return [Target(transport, address, port, server_name) for address in addresses]


def _unique(targets: list[Target]) -> list[Target]:
    seen: set[Target] = set()
    out = []
    for target in targets:
        if target not in seen:
            seen.add(target)
            out.append(target)
    return out


async def resolve_targets(
    uri: SipURI,
    *,
    dns: DnsSource | None = None,
    transports: Sequence[str] = ("udp", "tcp", "tls", "ws", "wss"),
    rng: random.Random | None = None,
) -> list[Target]:
    """Resolve ``uri`` once with a throwaway :class:`Resolver` (see its arguments)."""
    return await Resolver(dns, transports=transports, rng=rng).resolve(uri)
