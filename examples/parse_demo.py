"""A tour of trio_srf's SIP message layer, and a real call through the embedded engine.

Run with ``bash scripts/demo.sh`` (or ``python examples/parse_demo.py``). It:

1. parses an INVITE (with compact headers and folding) and reads its typed views;
2. shows what malformed input turns into (one exception class, with the status to answer);
3. answers a digest challenge and verifies it server-side (RFC 7616);
4. puts an SDP offer on hold and back (RFC 3264);
5. places a call between two embedded engines over 127.0.0.1 and prints the ladder.

It exits 0 when every step produced what it should. Until the two-stage dialer
demo exists, this is the README's first command.
"""

from __future__ import annotations

import sys
import time

import trio

from trio_srf.agent import AckReceived, DialogEnded, IncomingRequest
from trio_srf.engine import Engine, open_engine
from trio_srf.errors import RemoteProtocolError
from trio_srf.media import SessionDescription
from trio_srf.sip import (
    DigestServer,
    Request,
    VerifyResult,
    answer_challenge,
    new_call_id,
    new_tag,
    parse,
)

INVITE = (
    b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
    b"v: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\r\n"
    b"Max-Forwards: 70\r\n"
    b"t: Bob <sip:bob@biloxi.example.com>\r\n"
    b'f: "Alice" <sip:alice@atlanta.example.com>;tag=1928301774\r\n'
    b"i: a84b4c76e66710@pc33.atlanta.example.com\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"m: <sip:alice@pc33.atlanta.example.com>\r\n"
    b"Subject: a folded\r\n  header value\r\n"
    b"c: application/sdp\r\n"
    b"l: 0\r\n\r\n"
)

failures: list[str] = []


def check(what: str, ok: bool) -> None:
    """Print one result line and remember failures."""
    print(f"  [{'ok' if ok else 'FAIL'}] {what}")
    if not ok:
        failures.append(what)


def message_layer() -> None:
    """Steps 1-4: the sans-IO layer."""
    print("1. parse an INVITE with compact forms and a folded header")
    msg = parse(INVITE)
    assert isinstance(msg, Request)
    print(f"     {msg.method} {msg.uri}")
    print(f"     Call-ID {msg.call_id}  CSeq {msg.cseq.seq} {msg.cseq.method}")
    print(f"     From tag {msg.from_.tag}  To {msg.to.uri}  top Via branch {msg.via[0].branch}")
    print(f"     Subject: {msg.get('Subject')!r}")
    check("typed views read", msg.from_.tag == "1928301774" and msg.cseq.seq == 314159)
    ringing = msg.make_response(180, to_tag=new_tag())
    check("180 built per RFC 3261 §8.2.6.2", ringing.to.tag is not None)

    print("2. malformed input: one exception class, with the answer to send")
    for label, data in [
        ("bad version", INVITE.replace(b"SIP/2.0\r\n", b"SIP/7.0\r\n", 1)),
        ("unknown scheme", INVITE.replace(b"sip:bob@biloxi", b"zz:bob@biloxi", 1)),
        ("garbage", b"\x16\x03\x01 not sip at all\r\n\r\n"),
    ]:
        try:
            parse(data)
            check(f"{label} rejected", False)
        except RemoteProtocolError as err:
            print(f"     {label:15} -> {err.status_hint} ({err}); can answer: {err.can_answer}")
            check(f"{label} rejected", True)

    print("3. digest authentication (RFC 7616)")
    server = DigestServer("atlanta.example.com", secret=b"demo-secret")
    now = time.time()
    challenge = server.challenge(now)
    creds = answer_challenge(
        challenge, username="alice", password="s3cret", method="INVITE", uri=msg.uri
    )
    result = server.verify(creds, method="INVITE", password="s3cret", now=now)
    print(f"     challenge: {str(challenge)[:60]}...")
    print(f"     verify -> {result.name}")
    check("digest verifies", result is VerifyResult.OK)

    print("4. SDP hold and unhold (RFC 3264 §8.4)")
    offer = SessionDescription.build("127.0.0.1", 40000)
    held = offer.hold()
    back = held.unhold()
    print(
        f"     o= version {offer.origin.sess_version} -> {held.origin.sess_version}"
        f" -> {back.origin.sess_version}; held: {held.is_held}, back: {back.is_held}"
    )
    check("hold/unhold round trip", held.is_held and not back.is_held)


async def answer_calls(engine: Engine, ladder: list[str], sdp: bytes) -> None:
    """The callee: answers INVITE 200 + SDP and BYE 200, and logs what it sees."""
    async for notice in engine.incoming:
        if isinstance(notice, IncomingRequest):
            method = notice.request.method
            ladder.append(f"caller  --{method:>7}-->  callee")
            if method == "INVITE":
                response = notice.request.make_response(
                    200, headers=[("Content-Type", "application/sdp")], body=sdp
                )
            else:
                response = notice.request.make_response(200)
            await engine.respond(notice.server_txn, response)
            ladder.append(f"caller  <--{response.status:>4} OK--  callee")
        elif isinstance(notice, AckReceived):
            ladder.append("caller  --    ACK-->  callee")
        elif isinstance(notice, DialogEnded):
            pass


async def call_demo() -> None:
    """Step 5: a call between two embedded engines over UDP on 127.0.0.1."""
    print("5. a call between two embedded engines over 127.0.0.1 (UDP)")
    ladder: list[str] = []
    spec = "sip:127.0.0.1:0;transport=udp"
    with trio.fail_after(10):
        async with open_engine([spec]) as caller, open_engine([spec]) as callee:
            async with trio.open_nursery() as nursery:
                sdp = SessionDescription.build("127.0.0.1", 40002).serialize()
                nursery.start_soon(answer_calls, callee, ladder, sdp)
                port = callee.listening[0].port
                invite = Request(
                    "INVITE",
                    f"sip:bob@127.0.0.1:{port}",
                    [
                        ("From", f"<sip:alice@127.0.0.1>;tag={new_tag()}"),
                        ("To", "<sip:bob@127.0.0.1>"),
                        ("Call-ID", new_call_id()),
                        ("CSeq", "1 INVITE"),
                        ("Content-Type", "application/sdp"),
                    ],
                    SessionDescription.build("127.0.0.1", 40000).serialize(),
                )
                handle = await caller.request(invite)
                final = await handle.final()
                assert handle.dialog_id is not None
                await caller.ack(handle.dialog_id)
                await trio.sleep(0.05)
                bye = await caller.request_in_dialog(handle.dialog_id, "BYE")
                bye_final = await bye.final()
                await trio.sleep(0.05)
                nursery.cancel_scope.cancel()
    for line in ladder:
        print(f"     {line}")
    check("call answered 200 and BYE answered 200", final.status == 200 and bye_final.status == 200)


def main() -> int:
    """Run every step; exit status 0 when all checks passed."""
    message_layer()
    trio.run(call_demo)
    verdict = "all checks passed" if not failures else f"{len(failures)} check(s) FAILED"
    print(f"verdict: {verdict}")
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
