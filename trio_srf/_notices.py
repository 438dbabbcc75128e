"""Fan-out of agent notices, shared by both Agent implementations (engine and drachtio).

A notice for a dialog goes to that dialog's channel when one is attached and has
room; otherwise, or for out-of-dialog notices, it goes to the agent's ``incoming``
channel. Never blocks (ARCHITECTURE §1: a reader task never awaits a slow
consumer): a notice nobody can take is dropped.
"""

from __future__ import annotations

import contextlib

import trio

from .agent import Notice

__all__ = ["deliver_notice"]

_GONE = (trio.BrokenResourceError, trio.ClosedResourceError)


def deliver_notice(
    dialog_chans: dict[str, trio.MemorySendChannel[Notice]],
    incoming: trio.MemorySendChannel[Notice],
    key: str | None,
    notice: Notice,
) -> None:
    """Send ``notice`` to dialog ``key``'s channel, else to ``incoming``; forget dead channels."""
    chan = dialog_chans.get(key) if key is not None else None
    if chan is not None:
        try:
            chan.send_nowait(notice)
            return
        except trio.WouldBlock:
            pass
        except _GONE:
            dialog_chans.pop(key or "", None)
    with contextlib.suppress(trio.WouldBlock, *_GONE):
        incoming.send_nowait(notice)
