"""Srf routing: middleware order, error middleware, 405 with Allow, 500 on handler failure."""

from __future__ import annotations

import trio

from trio_srf.srf import Request, Response, Srf

from .conftest import AgentFactory, drained, serving, uri_of


async def _settled(seen: list[str], last: str) -> None:
    with trio.fail_after(2):
        while last not in seen:
            await trio.sleep(0.005)


async def test_middleware_order_and_error_middleware(agent_factory: AgentFactory) -> None:
    seen: list[str] = []
    b = Srf()

    async def first(req: Request, res: Response, next: object) -> None:
        seen.append(f"first:{req.method}")
        req.locals["user"] = req.calling_number
        await next()  # type: ignore[operator]
        seen.append("first:after")

    async def boom(req: Request, res: Response, next: object) -> None:
        seen.append("boom")
        if req.get("X-Fail") == "yes":
            raise ValueError("bad request")
        await next()  # type: ignore[operator]

    async def skipped_error(err: BaseException, req: Request, res: Response, next: object) -> None:
        seen.append("never: no error pending")

    async def on_error(err: BaseException, req: Request, res: Response, next: object) -> None:
        seen.append(f"error:{err}")
        await res.send(503, "Oops", headers={"X-Error": type(err).__name__})

    b.use(first)
    b.use(skipped_error)
    b.use("options", boom)

    @b.options
    async def options(req: Request, res: Response) -> None:
        seen.append(f"handler:{req.locals['user']}")
        await res.send(200, headers=[("X-Handled", "1")])

    b.use(on_error)

    a = Srf()
    with trio.fail_after(10):
        async with serving(agent_factory, a, b):
            ok = await a.request(uri_of(b), method="OPTIONS", headers={"From": "<sip:1234@x>"})
            assert (ok.status, ok.get("X-Handled")) == (200, "1")
            # The answer can overtake the unwinding of B's middleware chain.
            await _settled(seen, "first:after")
            assert seen == ["first:OPTIONS", "boom", "handler:1234", "first:after"]
            seen.clear()
            bad = await a.request(uri_of(b), method="OPTIONS", headers={"X-Fail": "yes"})
            assert (bad.status, bad.reason, bad.get("X-Error")) == (503, "Oops", "ValueError")
            await _settled(seen, "first:after")
            assert seen == ["first:OPTIONS", "boom", "error:bad request", "first:after"]
            await drained(a, b)


async def test_unrouted_method_gets_405_with_allow(agent_factory: AgentFactory) -> None:
    b = Srf()

    @b.invite
    async def invite(req: Request, res: Response) -> None:
        await res.send(486)

    @b.on("options")
    async def options(req: Request, res: Response) -> None:
        await res.send(200)

    a = Srf()
    with trio.fail_after(10):
        async with serving(agent_factory, a, b):
            response = await a.request(uri_of(b), method="MESSAGE", body="hello")
            assert response.status == 405
            assert response.get("Allow") == "ACK, BYE, CANCEL, INVITE, OPTIONS"
            assert b.methods == frozenset({"INVITE", "OPTIONS"})
            await drained(a, b)


async def test_handler_exception_and_silence_get_500(agent_factory: AgentFactory) -> None:
    b = Srf()

    @b.message
    async def message(req: Request, res: Response) -> None:
        if req.text == "raise":
            raise RuntimeError("handler bug")
        # returns without answering

    a = Srf()
    with trio.fail_after(10):
        async with serving(agent_factory, a, b):
            raised = await a.request(uri_of(b), method="MESSAGE", body="raise")
            silent = await a.request(uri_of(b), method="MESSAGE", body="silent")
            assert (raised.status, silent.status) == (500, 500)
            stats = b.statistics()
            assert (stats.handler_errors, stats.unanswered, stats.requests) == (1, 1, 2)
            await drained(a, b)


async def test_response_guards(agent_factory: AgentFactory) -> None:
    b = Srf()
    errors: list[str] = []

    @b.message
    async def message(req: Request, res: Response) -> None:
        await res.send(180)
        sent = await res.send(202, headers={"X-Tag": "a"})
        assert sent.to.tag is not None and res.final_sent
        for status in (200, 183):
            try:
                await res.send(status)
            except Exception as exc:
                errors.append(type(exc).__name__)

    a = Srf()
    with trio.fail_after(10):
        async with serving(agent_factory, a, b):
            response = await a.request(uri_of(b), method="MESSAGE", body="x")
            assert (response.status, response.get("X-Tag")) == (202, "a")
            await drained(a, b)
    assert errors == ["LocalProtocolError", "LocalProtocolError"]


async def test_request_accessors(agent_factory: AgentFactory) -> None:
    b = Srf()
    got: dict[str, object] = {}

    @b.message
    async def message(req: Request, res: Response) -> None:
        got.update(
            method=req.method,
            called=req.called_number,
            calling=req.calling_number,
            name=req.calling_name,
            protocol=req.protocol,
            source=req.source_address,
            has=req.has("x-custom"),
            custom=req.get("X-CUSTOM"),
            cseq=req.get_parsed_header("CSeq").method,
            body=req.body,
            call_id=req.call_id == req.get("Call-ID"),
        )
        await res.send(200)

    a = Srf()
    with trio.fail_after(10):
        async with serving(agent_factory, a, b):
            await a.request(
                uri_of(b, "5551234"),
                method="MESSAGE",
                headers={
                    "X-Custom": "v",
                    "Content-Type": "text/plain",
                    "P-Asserted-Identity": '"Alice" <sip:+15550000@example.com>',
                },
                body=b"hi",
            )
            await drained(a, b)
    assert got == {
        "method": "MESSAGE",
        "called": "5551234",
        "calling": "+15550000",
        "name": "Alice",
        "protocol": "udp",
        "source": "127.0.0.1",
        "has": True,
        "custom": "v",
        "cseq": "MESSAGE",
        "body": b"hi",
        "call_id": True,
    }
