"""``proxy_request``: hand an incoming request to the agent's stateful proxy (RFC 3261 §16).

Rules this module keeps:

* The proxying itself happens below the Agent boundary (``Agent.proxy``; the
  embedded engine runs ``core/_proxy.py``): branches, forking, best-response
  selection, CANCEL fan-out and Timer C never involve application tasks, so a
  proxied call costs no task per branch here.
* drachtio-srf's call shape is kept (``srf.proxy_request(req, destinations,
  ...)``, destinations as ``host[:port]`` or URIs, defaulting to the
  Request-URI; timeouts as seconds or ``"2s"``/``"1500ms"``), with Python
  names. We differ on purpose in one place: ``forking`` must be
  ``"sequential"`` or ``"simultaneous"`` (``"serial"``/``"parallel"`` are
  accepted as aliases); drachtio silently treats any unknown value as serial.
* The request's Response is marked final before the proxy starts, so the Srf
  handler wrapper never answers a proxied request itself (the final answer
  comes from the proxy).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Protocol

from ..core._events import ProxyOutcome
from ..errors import LocalProtocolError
from ._request import Request

__all__ = ["ProxyOutcome", "normalise_destinations", "parse_duration", "proxy_request"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s)?\s*$")
_FORKING = {
    "sequential": "sequential",
    "serial": "sequential",
    "simultaneous": "simultaneous",
    "parallel": "simultaneous",
}


class _ProxyingAgent(Protocol):
    async def proxy(
        self,
        server_txn: str,
        targets: Sequence[str],
        *,
        record_route: bool = ...,
        forking: str = ...,
        follow_redirects: bool = ...,
        provisional_timeout: float | None = ...,
        final_timeout: float | None = ...,
        headers: Sequence[tuple[str, str]] = ...,
    ) -> ProxyOutcome: ...


def parse_duration(value: float | int | str | None) -> float | None:
    """Seconds from ``2``, ``2.5``, ``"2s"`` or ``"1500ms"``; ``None`` stays ``None``.

    Raises:
        LocalProtocolError: not a non-negative duration.
    """
    if value is None:
        return None
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        m = _DURATION.match(value)
        if m is None:
            raise LocalProtocolError(f"not a duration: {value!r}")
        seconds = float(m.group(1)) / (1000.0 if m.group(2) == "ms" else 1.0)
    if seconds < 0:
        raise LocalProtocolError(f"negative duration: {value!r}")
    return seconds


def normalise_destinations(destinations: str | Sequence[str] | None, default: str) -> list[str]:
    """Targets as URIs: ``host[:port]`` gets ``sip:`` (drachtio's rule); ``None`` -> ``default``."""
    if destinations is None:
        items = [default]
    elif isinstance(destinations, str):
        items = [destinations]
    else:
        items = list(destinations)
    out = []
    for item in items:
        text = item.strip()
        if not text:
            continue
        if not text.lower().startswith(("sip:", "sips:", "tel:")):
            text = f"sip:{text}"
        out.append(text)
    return out


async def proxy_request(
    srf_or_agent: Any,
    req: Request,
    destinations: str | Sequence[str] | None = None,
    *,
    record_route: bool = False,
    forking: str = "sequential",
    follow_redirects: bool = False,
    provisional_timeout: float | str | None = None,
    final_timeout: float | str | None = None,
    headers: Sequence[tuple[str, str]] | dict[str, str] = (),
) -> ProxyOutcome:
    """Proxy ``req`` statefully to ``destinations`` and return how it ended.

    Args:
        srf_or_agent: The serving :class:`~trio_srf.srf.Srf` (or an agent).
        req: The incoming request (not yet answered).
        destinations: One or more URIs or ``host[:port]``; default: ``req.uri``.
        record_route: Stay in the dialog's path (Record-Route with ``lr``).
        forking: ``"sequential"`` (next target after a failure or timeout) or
            ``"simultaneous"`` (all at once; the first 2xx CANCELs the others).
        follow_redirects: Try the Contacts of 3xx answers as new targets.
        provisional_timeout: Give a branch this long for a provisional response
            (seconds, or ``"2s"``/``"1500ms"``).
        final_timeout: Give a ringing branch this long for a final response.
        headers: Headers set on every forwarded request.

    Returns:
        The :class:`ProxyOutcome`: ``status`` (drachtio's ``finalStatus``),
        ``response`` (``finalResponse``), ``connected``, ``target`` and
        ``responses`` (every ``(target, status)`` seen).

    Raises:
        LocalProtocolError: the request was already answered or proxied, or an
            option is invalid.
        NotImplementedError: the agent cannot proxy.
    """
    agent = getattr(srf_or_agent, "agent", srf_or_agent)
    proxy = getattr(agent, "proxy", None)
    if proxy is None:
        raise NotImplementedError(f"{type(agent).__name__} cannot proxy requests")
    mode = _FORKING.get(forking)
    if mode is None:
        raise LocalProtocolError(f"forking must be 'sequential' or 'simultaneous', not {forking!r}")
    targets = normalise_destinations(destinations, req.uri)
    extra = list(headers.items()) if isinstance(headers, dict) else list(headers)
    provisional = parse_duration(provisional_timeout)
    final = parse_duration(final_timeout)
    pending = getattr(srf_or_agent, "_pending", {}).get(req.server_txn)
    if pending is not None:
        res = pending[1]
        if res.final_sent:
            raise LocalProtocolError("the request was already answered")
        res._mark_final()  # the proxy answers from now on, not the handler wrapper
    typed: _ProxyingAgent = agent
    outcome = await typed.proxy(
        req.server_txn,
        targets,
        record_route=record_route,
        forking=mode,
        follow_redirects=follow_redirects,
        provisional_timeout=provisional,
        final_timeout=final,
        headers=extra,
    )
    if outcome.cancelled:
        req._cancelled = True
    return outcome
