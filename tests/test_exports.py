"""The public surface of the top-level package is pinned, and every name resolves."""

from __future__ import annotations

import trio_srf

EXPECTED = {
    "AgentError",
    "AgentLost",
    "AuthenticationFailed",
    "Dialog",
    "DialogError",
    "DialogState",
    "EngineConfig",
    "LocalProtocolError",
    "ProtocolError",
    "RemoteProtocolError",
    "Request",
    "RequestTimeout",
    "Response",
    "SipError",
    "Srf",
    "SrfError",
    "Termination",
    "TransportFailure",
    "__version__",
    "errors",
    "open_drachtio",
    "open_engine",
    "open_srf",
    "serve_drachtio",
}


def test_all_is_pinned() -> None:
    assert set(trio_srf.__all__) == EXPECTED


def test_every_name_resolves() -> None:
    for name in trio_srf.__all__:
        assert getattr(trio_srf, name) is not None, name
    assert trio_srf.Srf is __import__("trio_srf.srf", fromlist=["Srf"]).Srf
