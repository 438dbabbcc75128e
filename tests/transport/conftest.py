"""Fixtures for the transport tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import trio

Connect = Callable[..., Awaitable[trio.SocketStream]]


@pytest.fixture
async def connect() -> AsyncIterator[Connect]:
    """Open raw TCP client streams that are closed when the test ends."""
    streams: list[trio.SocketStream] = []

    async def _connect(port: int, host: str = "127.0.0.1") -> trio.SocketStream:
        stream = await trio.open_tcp_stream(host, port)
        streams.append(stream)
        return stream

    yield _connect
    for stream in streams:
        await trio.aclose_forcefully(stream)
