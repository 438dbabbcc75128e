"""Parse/read/serialize throughput of trio_srf's SIP parser against other pure-Python parsers.

What is measured, per library and per message (a ~900-byte INVITE with an SDP
offer and a 200 OK with an SDP answer):

* ``parse+read+serialize``: parse the datagram bytes, read the fields a
  transaction and dialog layer needs through the library's *typed* API (top
  Via branch and host, From tag and URI host, To URI host, Call-ID, CSeq
  number and method), then serialize the message back to bytes.
* ``parse+read``: the same without serializing (what a UAS does with most
  requests it receives).

Every library starts from ``bytes`` and ends with ``bytes``: a library that
works on ``str`` pays for the decode/encode, as it would on a real socket.
Before timing, each library's answers are checked against the expected field
values, and its serialized output must still hold the Call-ID and the SDP
body; a library that fails is reported (with the reason) and skipped.

Method: pin the process to one CPU when the OS allows it, warm up, then run
``--rounds`` rounds; in each round every (workload, library) case runs for
``--seconds`` of wall time (cases are interleaved so that machine noise hits
them alike). The figure reported is the MEDIAN of the per-round rates, timed
with :func:`time.perf_counter`.

Run from the repository root::

    .venv/bin/python benchmarks/bench_parse.py [--rounds 7] [--seconds 1.0] [--json]
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Let the script run from a checkout without installing trio_srf.
_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

# -- the messages -------------------------------------------------------------------------------
#
# Each benchmark message comes in VARIANTS versions that differ, as real traffic does, in the
# per-call and per-transaction values (Via branches, tags, Call-ID, CSeq number) and in the
# caller and callee user names, so a library cannot win by caching parse results keyed on the
# raw header or URI text. Hosts and the rest stay the same, as between the same two proxies.

VARIANTS = 256

_INVITE_SDP = (
    "v=0\r\n"
    "o=alice 2890844526 2890844526 IN IP4 pc33.atlanta.example.com\r\n"
    "s=-\r\n"
    "c=IN IP4 192.0.2.101\r\n"
    "t=0 0\r\n"
    "m=audio 49172 RTP/AVP 0 8 101\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=fmtp:101 0-16\r\n"
    "a=ptime:20\r\n"
    "a=sendrecv\r\n"
)

_INVITE_HEAD = (
    "INVITE sip:{callee}@biloxi.example.com SIP/2.0\r\n"
    "Via: SIP/2.0/UDP proxy.atlanta.example.com:5060;branch={branch1};received=192.0.2.10\r\n"
    "Via: SIP/2.0/UDP pc33.atlanta.example.com:5060;branch={branch2};rport=5060\r\n"
    "Max-Forwards: 69\r\n"
    'From: "Alice Liddell" <sip:{caller}@atlanta.example.com>;tag={from_tag}\r\n'
    'To: "Bob Builder" <sip:{callee}@biloxi.example.com>\r\n'
    "Call-ID: {call_id}\r\n"
    "CSeq: {cseq} INVITE\r\n"
    "Contact: <sip:{caller}@pc33.atlanta.example.com:5060;transport=udp>\r\n"
    "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, REFER, NOTIFY\r\n"
    "Supported: replaces, timer, 100rel\r\n"
    "User-Agent: ExamplePhone/4.2.1 (build 1187)\r\n"
    "Content-Type: application/sdp\r\n"
    "Content-Length: {length}\r\n"
    "\r\n"
)

_OK_SDP = (
    "v=0\r\n"
    "o=bob 2808844564 2808844564 IN IP4 pc12.biloxi.example.com\r\n"
    "s=-\r\n"
    "c=IN IP4 192.0.2.201\r\n"
    "t=0 0\r\n"
    "m=audio 3456 RTP/AVP 0 101\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=fmtp:101 0-16\r\n"
    "a=ptime:20\r\n"
    "a=sendrecv\r\n"
)

_OK_HEAD = (
    "SIP/2.0 200 OK\r\n"
    "Via: SIP/2.0/UDP proxy.atlanta.example.com:5060;branch={branch1};received=192.0.2.10\r\n"
    "Via: SIP/2.0/UDP pc33.atlanta.example.com:5060;branch={branch2};rport=5060\r\n"
    'From: "Alice Liddell" <sip:{caller}@atlanta.example.com>;tag={from_tag}\r\n'
    'To: "Bob Builder" <sip:{callee}@biloxi.example.com>;tag={to_tag}\r\n'
    "Call-ID: {call_id}\r\n"
    "CSeq: {cseq} INVITE\r\n"
    "Contact: <sip:{callee}@pc12.biloxi.example.com:5060;transport=udp>\r\n"
    "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, REFER, NOTIFY\r\n"
    "Supported: replaces, timer\r\n"
    "Server: ExampleSwitch/7.0.3\r\n"
    "Content-Type: application/sdp\r\n"
    "Content-Length: {length}\r\n"
    "\r\n"
)

# What every library must read: (top Via branch, top Via host, From tag,
# From URI host, To URI host, Call-ID, CSeq number, CSeq method).
Fields = tuple[object, ...]


def _variant_values(i: int) -> dict[str, Any]:
    """The per-call values of variant ``i`` (deterministic, distinct for each ``i``)."""
    h = hashlib.sha256(str(i).encode()).hexdigest()
    return {
        "branch1": f"z9hG4bK{h[0:10]}.1",
        "branch2": f"z9hG4bK{h[10:24]}",
        "from_tag": h[24:34],
        "to_tag": h[34:41],
        "call_id": f"{h[41:57]}@pc33.atlanta.example.com",
        "cseq": 100000 + i * 37,
        "caller": f"alice.{i:03d}",
        "callee": f"bob.{(i * 7) % VARIANTS:03d}",
    }


def _build(head: str, body: str, values: dict[str, Any]) -> bytes:
    return (head.format(length=len(body.encode()), **values) + body).encode()


def _expected(values: dict[str, Any]) -> Fields:
    return (
        values["branch1"],
        "proxy.atlanta.example.com",
        values["from_tag"],
        "atlanta.example.com",
        "biloxi.example.com",
        values["call_id"],
        values["cseq"],
        "INVITE",
    )


_VALUES = [_variant_values(i) for i in range(VARIANTS)]
#: label -> the VARIANTS datagrams of that message.
MESSAGES: dict[str, list[bytes]] = {
    "INVITE": [_build(_INVITE_HEAD, _INVITE_SDP, v) for v in _VALUES],
    "200 OK": [_build(_OK_HEAD, _OK_SDP, v) for v in _VALUES],
}
#: The fields each variant must yield (the same for both messages).
EXPECTED: list[Fields] = [_expected(v) for v in _VALUES]
INVITE = MESSAGES["INVITE"][0]
OK_200 = MESSAGES["200 OK"][0]

# -- one adapter per library ----------------------------------------------------------------------


class Adapter:
    """How one library parses, reads the fields, and serializes.

    Attributes:
        name: Library name as printed.
        version: Library version (for the report).
        read: ``read(data) -> Fields``: parse then read through the typed API.
        read_serialize: ``read_serialize(data) -> bytes``: parse, read, serialize.
    """

    def __init__(
        self,
        name: str,
        version: str,
        read: Callable[[bytes], Fields],
        read_serialize: Callable[[bytes], bytes],
    ) -> None:
        self.name = name
        self.version = version
        self.read = read
        self.read_serialize = read_serialize


# Each adapter has ``fields(msg)``, the typed reads, shared by both workloads so that
# parse+read and parse+read+serialize do exactly the same reads.


def _trio_srf_adapter() -> Adapter:
    import trio_srf
    from trio_srf.sip import Request, Response, parse

    def fields(msg: Request | Response) -> Fields:
        via = msg.via[0]
        from_ = msg.from_
        cseq = msg.cseq
        return (
            via.branch,
            via.host,
            from_.tag,
            from_.uri.host,  # type: ignore[union-attr]
            msg.to.uri.host,  # type: ignore[union-attr]
            msg.call_id,
            cseq.seq,
            cseq.method,
        )

    def read(data: bytes) -> Fields:
        return fields(parse(data))

    def read_serialize(data: bytes) -> bytes:
        msg = parse(data)
        fields(msg)
        return msg.serialize()

    return Adapter("trio_srf", getattr(trio_srf, "__version__", "dev"), read, read_serialize)


def _sippy_adapter() -> Adapter:
    # sippy works on str: its transaction manager decodes each datagram and
    # hands it to SipRequest/SipResponse, and sends ``msg.localStr(...)`` encoded.
    from importlib.metadata import version

    from sippy.SipRequest import SipRequest  # type: ignore[import-untyped]
    from sippy.SipResponse import SipResponse  # type: ignore[import-untyped]

    def parse(data: bytes) -> Any:
        text = data.decode()
        if text.startswith("SIP/2.0 "):
            return SipResponse(text)
        return SipRequest(text)

    def fields(msg: Any) -> Fields:
        via = msg.getHFBody("via")
        from_ = msg.getHFBody("from")
        seq, method = msg.getHFBody("cseq").getCSeq()
        return (
            via.getBranch(),
            via.hostname,
            from_.getTag(),
            from_.getUrl().host,
            msg.getHFBody("to").getUrl().host,
            str(msg.getHFBody("call-id")),
            seq,
            method,
        )

    def read(data: bytes) -> Fields:
        return fields(parse(data))

    def read_serialize(data: bytes) -> bytes:
        msg = parse(data)
        fields(msg)
        return msg.localStr().encode()  # type: ignore[no-any-return]

    return Adapter("sippy", version("sippy"), read, read_serialize)


def _sipmessage_adapter() -> Adapter:
    from importlib.metadata import version

    from sipmessage import Message, Request, Response

    def fields(msg: Request | Response) -> Fields:
        via = msg.via[0]
        from_ = msg.from_address
        cseq = msg.cseq
        return (
            via.parameters["branch"],
            via.host,
            from_.parameters["tag"],
            from_.uri.host,
            msg.to_address.uri.host,
            msg.call_id,
            cseq.sequence,
            cseq.method,
        )

    def read(data: bytes) -> Fields:
        return fields(Message.parse(data))

    def read_serialize(data: bytes) -> bytes:
        msg = Message.parse(data)
        fields(msg)
        return bytes(msg)

    return Adapter("sipmessage", version("sipmessage"), read, read_serialize)


FACTORIES: dict[str, Callable[[], Adapter]] = {
    "trio_srf": _trio_srf_adapter,
    "sippy": _sippy_adapter,
    "sipmessage": _sipmessage_adapter,
}

# -- checking ----------------------------------------------------------------------------------


def check(adapter: Adapter) -> str | None:
    """Return why ``adapter`` cannot run the benchmark, or None if it answers correctly."""
    for label, variants in MESSAGES.items():
        for data, want in zip(variants, EXPECTED, strict=True):
            try:
                got = adapter.read(data)
            except Exception as exc:
                return f"{label}: parse/read raised {type(exc).__name__}: {exc}"
            if tuple(got) != want:
                return f"{label}: read {got!r}, expected {want!r}"
            try:
                out = adapter.read_serialize(data)
            except Exception as exc:
                return f"{label}: serialize raised {type(exc).__name__}: {exc}"
            if not isinstance(out, bytes):
                return f"{label}: serialize returned {type(out).__name__}, not bytes"
            body = data.split(b"\r\n\r\n", 1)[1]
            if str(want[5]).encode() not in out or not out.endswith(body):
                return f"{label}: serialized output lost the Call-ID or the body: {out[:120]!r}..."
    return None


# -- timing ------------------------------------------------------------------------------------


def _run(
    fn: Callable[[bytes], object], variants: list[bytes], seconds: float
) -> tuple[int, float, float]:
    """Call ``fn`` on each variant in turn for about ``seconds``.

    Returns:
        (calls, wall seconds by ``perf_counter``, CPU seconds by ``process_time``).
    """
    clock = time.perf_counter
    cpu = time.process_time
    count = 0
    cpu0 = cpu()
    start = clock()
    deadline = start + seconds
    now = start
    while now < deadline:
        for data in variants:
            fn(data)
        count += len(variants)
        now = clock()
    return count, now - start, cpu() - cpu0


def _pin_cpu(cpu: int | None) -> str:
    setaff = getattr(os, "sched_setaffinity", None)
    getaff = getattr(os, "sched_getaffinity", None)
    if setaff is None or getaff is None:
        return "not pinned (os.sched_setaffinity unavailable)"
    allowed = sorted(getaff(0))
    target = allowed[-1] if cpu is None else cpu
    try:
        setaff(0, {target})
    except OSError as exc:
        return f"not pinned ({exc})"
    return f"pinned to CPU {target} (of {len(allowed)} allowed)"


Case = tuple[str, str, str]  # (message label, workload, library)


def _sip_mode() -> str:
    """Say whether trio_srf.sip runs compiled by mypyc or as pure Python (and why)."""
    try:
        from trio_srf.sip import _accel
    except ImportError as exc:
        return f"unknown ({exc})"
    if _accel.compiled():
        return "compiled (mypyc)"
    return f"pure Python ({_accel.reason()})"


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the benchmark and print the report; return the results as a dict."""
    pinned = _pin_cpu(args.cpu)
    print(f"Python {platform.python_version()} ({platform.python_implementation()}), {pinned}")
    print(f"INVITE: {len(INVITE)} bytes, 200 OK: {len(OK_200)} bytes")
    print(f"{args.rounds} rounds x {args.seconds:.2f} s per case, median reported")

    adapters: dict[str, Adapter] = {}
    failures: dict[str, str] = {}
    for name in args.libs:
        try:
            adapter = FACTORIES[name]()
        except Exception as exc:
            failures[name] = f"import failed: {type(exc).__name__}: {exc}"
            print(f"{name}: SKIPPED, {failures[name]}")
            continue
        why = check(adapter)
        if why is not None:
            failures[name] = why
            print(f"{name}: SKIPPED, {why}")
            continue
        adapters[name] = adapter
        print(f"{name} {adapter.version}: checked OK")
    sip_mode = _sip_mode()
    print(f"trio_srf.sip: {sip_mode}")

    cases: list[Case] = []
    for label in MESSAGES:
        for name in adapters:
            cases.append((label, "parse+read+serialize", name))
    for name in adapters:
        cases.append(("INVITE", "parse+read", name))

    def fn_for(case: Case) -> Callable[[bytes], object]:
        adapter = adapters[case[2]]
        return adapter.read_serialize if case[1] == "parse+read+serialize" else adapter.read

    for case in cases:  # warm-up
        _run(fn_for(case), MESSAGES[case[0]], min(0.2, args.seconds))

    # A round gives each case ``seconds`` in SLICES short turns, all cases taking
    # turns, so that a burst of background load hits every case alike.
    slices = max(1, round(args.seconds / 0.1))
    samples: dict[Case, list[float]] = {case: [] for case in cases}
    cpu_samples: dict[Case, list[float]] = {case: [] for case in cases}
    for rnd in range(args.rounds):
        totals: dict[Case, list[float]] = {case: [0.0, 0.0, 0.0] for case in cases}
        for _ in range(slices):
            for case in cases:
                run = _run(fn_for(case), MESSAGES[case[0]], args.seconds / slices)
                t = totals[case]
                for i in range(3):
                    t[i] += run[i]
        for case, (calls, wall_s, cpu_s) in totals.items():
            samples[case].append(calls / wall_s)
            cpu_samples[case].append(calls / cpu_s if cpu_s > 0 else float("nan"))
        gc.collect()
        if args.verbose:
            print(f"round {rnd + 1}/{args.rounds} done")

    medians = {case: statistics.median(s) for case, s in samples.items()}

    cpu_medians = {case: statistics.median(s) for case, s in cpu_samples.items()}

    print()
    header = ("message", "workload", "library", "median msg/s", "min", "max", "CPU-time msg/s")
    print("{:<8} {:<22} {:<11} {:>13} {:>9} {:>9} {:>15}".format(*header))
    for case in cases:
        s = samples[case]
        print(
            f"{case[0]:<8} {case[1]:<22} {case[2]:<11} {medians[case]:>13,.0f}"
            f" {min(s):>9,.0f} {max(s):>9,.0f} {cpu_medians[case]:>15,.0f}"
        )
    print("(msg/s by wall clock, perf_counter; the last column divides by the process's CPU")
    print(" time instead, which ignores time the OS gave to other processes)")

    def ratio(label: str, workload: str) -> float | None:
        ours = medians.get((label, workload, "trio_srf"))
        others = [
            v
            for (lb, wl, lib), v in medians.items()
            if (lb, wl) == (label, workload) and lib != "trio_srf"
        ]
        if ours is None or not others:
            return None
        return ours / max(others)

    print()
    for label in MESSAGES:
        for workload in ("parse+read+serialize", "parse+read"):
            r = ratio(label, workload)
            if r is not None:
                print(f"ratio trio_srf/fastest_other ({label} {workload}): {r:.2f}")

    # The summary lines (kept last, in a fixed shape).
    print()
    for name in args.libs:
        m = medians.get(("INVITE", "parse+read+serialize", name))
        if m is not None:
            print(f"{name} INVITE parse+read+serialize: {m:,.0f} msg/s")
        else:
            print(f"{name} INVITE parse+read+serialize: n/a ({failures.get(name, 'not run')})")
    main_ratio = ratio("INVITE", "parse+read+serialize")
    if main_ratio is None:
        print("ratio trio_srf/fastest_other: n/a (goal >= 2.0)")
    else:
        print(f"ratio trio_srf/fastest_other: {main_ratio:.2f} (goal >= 2.0)")
    ours_read = medians.get(("INVITE", "parse+read", "trio_srf"))
    if ours_read is None:
        print("trio_srf INVITE parse+read: n/a (goal >= 40000)")
    else:
        print(f"trio_srf INVITE parse+read: {ours_read:,.0f} msg/s (goal >= 40000)")

    return {
        "python": platform.python_version(),
        "trio_srf_sip": sip_mode,
        "pinning": pinned,
        "rounds": args.rounds,
        "seconds": args.seconds,
        "message_bytes": {label: len(v[0]) for label, v in MESSAGES.items()},
        "versions": {name: a.version for name, a in adapters.items()},
        "failures": failures,
        "median_msg_per_s": {
            f"{lib} {label} {workload}": round(v, 1)
            for (label, workload, lib), v in medians.items()
        },
        "ratio_trio_srf_fastest_other": None if main_ratio is None else round(main_ratio, 3),
        "trio_srf_invite_parse_read": None if ours_read is None else round(ours_read, 1),
        "goals_met": {
            "ratio_ge_2": main_ratio is not None and main_ratio >= 2.0,
            "invite_parse_read_ge_40000": ours_read is not None and ours_read >= 40000,
        },
    }


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="timed rounds per case (default 7)")
    parser.add_argument(
        "--seconds", type=float, default=1.0, help="seconds per case per round (default 1.0)"
    )
    parser.add_argument("--json", action="store_true", help="also print one JSON line at the end")
    parser.add_argument(
        "--pure",
        action="store_true",
        help="run trio_srf's pure-Python parser even when the compiled one is built"
        " (sets TRIO_SRF_PURE=1)",
    )
    parser.add_argument("--cpu", type=int, default=None, help="CPU to pin to (default: last one)")
    parser.add_argument(
        "--libs",
        default="trio_srf,sippy,sipmessage",
        help="comma-separated libraries to run (default: trio_srf,sippy,sipmessage)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="print progress per round")
    args = parser.parse_args(argv)
    args.libs = [n.strip() for n in args.libs.split(",") if n.strip()]
    unknown = [n for n in args.libs if n not in FACTORIES]
    if unknown:
        parser.error(f"unknown libraries {unknown}; choose from {sorted(FACTORIES)}")
    if args.rounds < 1 or args.seconds <= 0:
        parser.error("--rounds must be >= 1 and --seconds > 0")
    if args.pure:
        os.environ["TRIO_SRF_PURE"] = "1"  # read when trio_srf.sip is first imported
    result = run(args)
    if args.json:
        print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
