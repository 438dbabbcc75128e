"""The middleware chain: connect-style layers run as awaited coroutines.

Rules this module keeps (drachtio-srf's ``lib/connect.js`` behaviour, Trio style):

* A layer is ``async def mw(req, res, next)``; it continues the chain with
  ``await next()`` and stops it by answering (or by simply not calling
  ``next``). ``await next(err)`` passes an error on.
* A layer with four positional parameters ``(err, req, res, next)`` is an
  *error* layer: it runs only while an error is pending and is skipped
  otherwise; ordinary layers are skipped while an error is pending.
* A route handler is a layer with two parameters ``(req, res)``; it ends the
  chain (it gets no ``next``).
* A layer mounted on a method runs only for that method (case-insensitive,
  exact match: drachtio's prefix match is a quirk we do not copy).
* An ``Exception`` raised by a layer becomes the pending error from that layer
  on, as if it had called ``next(err)``; it does not unwind through the
  ``await next()`` of earlier layers. ``trio.Cancelled`` and other
  ``BaseException`` s are never caught.
* What happens past the last layer is the caller's ``tail`` (405/404/500).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

import attrs

from ._request import Request
from ._response import Response

__all__ = ["Layer", "Next", "arity", "make_layer", "run_chain"]

#: ``await next()`` / ``await next(err)``.
Next = Callable[..., Awaitable[None]]
#: The tail: called with the pending error (or ``None``) when the chain runs out.
Tail = Callable[[BaseException | None], Awaitable[None]]


def arity(fn: Callable[..., Any]) -> int:
    """Number of positional parameters of ``fn`` (``*args`` counts as 3)."""
    count = 0
    for param in inspect.signature(fn).parameters.values():
        if param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
            count += 1
        elif param.kind is param.VAR_POSITIONAL:
            return max(count, 3)
    return count


@attrs.frozen
class Layer:
    """One entry of the chain.

    Attributes:
        method: Upper-case method it is mounted on, or ``None`` for all.
        fn: The coroutine function.
        kind: ``"handler"`` (req, res), ``"middleware"`` (req, res, next) or
            ``"error"`` (err, req, res, next).
    """

    method: str | None
    fn: Callable[..., Awaitable[None]]
    kind: str


def make_layer(method: str | None, fn: Callable[..., Awaitable[None]]) -> Layer:
    """Classify ``fn`` by its signature.

    Raises:
        TypeError: ``fn`` is not a coroutine function of 2, 3 or 4 parameters.
    """
    if not inspect.iscoroutinefunction(fn) and not inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 - callable objects with async __call__
    ):
        raise TypeError(f"{fn!r} must be an async function")
    n = arity(fn)
    kinds = {2: "handler", 3: "middleware", 4: "error"}
    if n not in kinds:
        raise TypeError(f"{fn!r} takes {n} parameters; expected 2, 3 or 4")
    return Layer(method.upper() if method else None, fn, kinds[n])


async def run_chain(layers: list[Layer], req: Request, res: Response, tail: Tail) -> None:
    """Run ``layers`` for ``req``; call ``tail`` if the chain falls off its end."""
    method = req.method

    async def dispatch(index: int, err: BaseException | None) -> None:
        while index < len(layers):
            layer = layers[index]
            index += 1
            if layer.method is not None and layer.method != method:
                continue
            if (layer.kind == "error") != (err is not None):
                continue
            try:
                if layer.kind == "handler":
                    await layer.fn(req, res)
                elif layer.kind == "middleware":
                    await layer.fn(req, res, _next_for(index))
                else:
                    await layer.fn(err, req, res, _next_for(index))
            except Exception as exc:  # a layer's failure is the next error layer's business
                err = exc
                continue
            return
        await tail(err)

    def _next_for(index: int) -> Next:
        called = False

        async def next_(err: BaseException | None = None) -> None:
            nonlocal called
            if called:
                raise RuntimeError("next() called twice")
            called = True
            await dispatch(index, err)

        return next_

    await dispatch(0, None)
