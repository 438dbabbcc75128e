"""Run the real SIPp binary from Trio code, for interop tests and benchmarks.

Rules this module keeps:

* SIPp always runs in the foreground as a child process, never with ``-bg``: it gets
  ``-nostdin`` and ``/dev/null`` on stdin (it needs no tty), its stdout/stderr go to files in
  a private work directory (so a chatty SIPp can never block on a full pipe), it dumps
  statistics with ``-trace_stat -stf FILE -fd 1`` (one row per second plus a final row at
  exit) and unexpected messages with ``-trace_err -error_file FILE``.
* Every run is bounded twice: SIPp's own global ``-timeout`` (with ``-timeout_error``, so a
  run that hits it exits 255 instead of looking like a normal stop), and a hard Trio deadline
  a few seconds later that SIGKILLs the process. Cancellation of the caller also kills and
  reaps the child; no SIPp process outlives the call or the ``async with`` block.
* ``local_port=0`` means this module picks a port that is free for both UDP and TCP on
  ``local_ip`` and passes it with ``-p`` (SIPp's own ``-p 0`` tries 5060 first), so the port is
  known before SIPp starts and is reported in the result.
* A UAS started with :func:`start_sipp` is "ready" once its port is taken: we probe by trying
  to bind the same address ourselves (no packet is sent to SIPp).

SIPp behaviour found with SIPp v3.6.1 (Debian ``sip-tester``), which the code relies on:

* ``SIGUSR1`` is a soft exit: no new calls, running calls finish, then SIPp exits and writes a
  final statistics row. Calls sitting in a ``<timewait>`` count as running, so the built-in
  ``uas`` scenario (``timewait`` 4000 ms) needs about 4 s after the last BYE; that is why
  :meth:`SippProcess.stop` waits up to ``stop_grace_s`` (10 s) before SIGKILL.
* ``SIGTERM`` exits at once and writes a final row, but calls still in timewait are then
  counted as current, not successful. :meth:`SippProcess.stop` therefore uses SIGUSR1.
* Exit codes: 0 all calls successful, 1 at least one failed (also scenario load errors), 97
  exit on internal command (e.g. ``-timeout`` without ``-timeout_error``), 99 no call processed,
  255 fatal error (``-timeout_error`` expiry), 254 socket bind error.
* The statistics file is ``;``-separated with a trailing ``;`` on every line; time stamps in
  it contain tab characters; ``(P)`` columns are periodic, ``(C)`` cumulative.
* Scenario keywords that SIPp does not know are looked up in ``-key`` values; an unknown one
  is a load error (exit 1, "Unsupported keyword"). ``[transport]`` expands upper case
  (``UDP``), which some peers mishandle in a Contact; this runner therefore always passes
  ``-key transport_lc udp|tcp|tls`` so scenarios can write ``transport=[transport_lc]``.
* TLS (``-t l1``) exists only in builds with OpenSSL; their version string (``sipp -v``)
  carries a ``TLS`` feature tag. Debian's v3.6.1 is ``-SCTP-PCAP-RTPSTREAM``: no TLS.
"""

from __future__ import annotations

import errno
import functools
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import attrs
import trio

if TYPE_CHECKING:
    import pytest

__all__ = [
    "BUILTIN_SCENARIOS",
    "DEFAULT_BUFF_SIZE",
    "SippError",
    "SippProcess",
    "SippResult",
    "pick_free_port",
    "requires_sipp",
    "run_sipp",
    "sipp_available",
    "sipp_path",
    "sipp_supports_transport",
    "sipp_version",
    "start_sipp",
]

#: Environment variable that names another SIPp binary (default: ``sipp`` on ``PATH``).
SIPP_ENV_VAR = "TRIO_SRF_SIPP"
#: Socket buffer size handed to SIPp; its 64 KiB default drops datagrams from ~2,000 calls/s.
DEFAULT_BUFF_SIZE = 4_194_304
#: Scenario names SIPp has built in (``-sn``); anything else is a path (``-sf``).
BUILTIN_SCENARIOS = frozenset(
    {"uac", "uas", "regexp", "branchc", "branchs", "3pcc-C-A", "3pcc-C-B", "3pcc-A", "3pcc-B"}
)
# SIPp transport mode -> lower-case transport name for the ``transport_lc`` key.
_TRANSPORTS = {"u1": "udp", "un": "udp", "t1": "tcp", "tn": "tcp", "l1": "tls", "ln": "tls"}
# Extra seconds between SIPp's own -timeout and our SIGKILL.
_KILL_SLACK_S = 5.0
# How much of stdout/stderr/error log a result keeps.
_TAIL_BYTES = 4096


class SippError(RuntimeError):
    """SIPp is missing, cannot run the requested transport, or did not start."""


# --------------------------------------------------------------------------- discovery


def sipp_path() -> str | None:
    """Return the SIPp executable to use, or None when there is none.

    ``$TRIO_SRF_SIPP`` overrides the default ``sipp`` looked up on ``PATH``.
    """
    return shutil.which(os.environ.get(SIPP_ENV_VAR, "sipp"))


@functools.cache
def _version_for(path: str) -> str | None:
    try:
        done = subprocess.run(
            [path, "-v"], stdin=subprocess.DEVNULL, capture_output=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"SIPp v\S+", done.stdout.decode("utf-8", "replace"))
    return match.group(0) if match else None


def sipp_version() -> str | None:
    """Return SIPp's version banner, e.g. ``"SIPp v3.6.1-SCTP-PCAP-RTPSTREAM"``, or None."""
    path = sipp_path()
    return _version_for(path) if path else None


def sipp_available() -> bool:
    """Tell whether a working SIPp binary is installed (it answers ``sipp -v``)."""
    return sipp_version() is not None


def sipp_supports_transport(transport: str) -> bool:
    """Tell whether the installed SIPp can run ``transport`` (``u1``, ``t1``, ``l1``...).

    TLS modes need a build with OpenSSL, recognised by ``TLS`` among the version's
    dash-separated feature tags.
    """
    version = sipp_version()
    if version is None or transport not in _TRANSPORTS:
        return False
    if _TRANSPORTS[transport] == "tls":
        return "TLS" in version.split("-")[1:]
    return True


def requires_sipp(transport: str = "u1") -> pytest.MarkDecorator:
    """Return a pytest ``skipif`` marker for tests that need SIPp (and ``transport``).

    Usage: ``pytestmark = [pytest.mark.interop, requires_sipp()]``. The reason names what
    is missing so a skipped CI run is easy to diagnose.
    """
    import pytest  # test-only dependency, imported lazily

    if not sipp_available():
        reason = "SIPp not installed (Debian package sip-tester; scripts/setup.sh installs it)"
        return pytest.mark.skipif(True, reason=reason)
    if not sipp_supports_transport(transport):
        return pytest.mark.skipif(True, reason=f"{sipp_version()} cannot run transport {transport}")
    return pytest.mark.skipif(False, reason="SIPp available")


def _family(ip: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in ip else socket.AF_INET


def _bind_probe(ip: str, port: int, kind: socket.SocketKind) -> socket.socket | None:
    sock = socket.socket(_family(ip), kind)
    try:
        sock.bind((ip, port))
    except OSError:
        sock.close()
        return None
    return sock


def pick_free_port(ip: str = "127.0.0.1") -> int:
    """Return a port that is currently free on ``ip`` for both UDP and TCP.

    Raises:
        SippError: no such port was found after a few attempts.
    """
    for _ in range(50):
        udp = _bind_probe(ip, 0, socket.SOCK_DGRAM)
        if udp is None:
            break
        port = int(udp.getsockname()[1])
        tcp = _bind_probe(ip, port, socket.SOCK_STREAM)
        udp.close()
        if tcp is not None:
            tcp.close()
            return port
    raise SippError(f"no port free for both UDP and TCP on {ip}")


def _port_taken(ip: str, port: int, transport: str) -> bool:
    kind = socket.SOCK_DGRAM if _TRANSPORTS[transport] == "udp" else socket.SOCK_STREAM
    sock = socket.socket(_family(ip), kind)
    try:
        sock.bind((ip, port))
    except OSError as exc:
        return exc.errno == errno.EADDRINUSE
    finally:
        sock.close()
    return False


# --------------------------------------------------------------------------- results


def _tail(path: Path, limit: int = _TAIL_BYTES) -> str:
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - limit))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _parse_stats(path: Path) -> dict[str, str]:
    """Return SIPp's last statistics row as ``{column: value}`` (empty if there is none)."""
    try:
        lines = [ln for ln in path.read_text("utf-8", "replace").splitlines() if ln.strip()]
    except OSError:
        return {}
    if len(lines) < 2:
        return {}
    header = lines[0].split(";")
    row = lines[-1].split(";")
    return {name: value for name, value in zip(header, row, strict=False) if name}


def _as_int(text: str | None) -> int:
    try:
        return int(text) if text else 0
    except ValueError:
        return 0


@attrs.frozen
class SippResult:
    """What one SIPp run did, taken from its exit status and final statistics row.

    Attributes:
        command: The argv that was run.
        scenario: The scenario name or file given to the runner.
        remote: The remote ``host:port`` or None.
        transport: The SIPp transport mode (``u1``, ``t1``...).
        local_port: The SIP port SIPp used.
        returncode: SIPp's exit status (negative: killed by that signal).
        successful: ``SuccessfulCall(C)``.
        failed: ``FailedCall(C)``.
        retransmissions: ``Retransmissions(C)``.
        total_calls: ``TotalCallCreated`` (incoming plus outgoing).
        elapsed: Wall-clock seconds from start to exit, measured by the runner.
        timed_out: SIPp hit its global timeout or the hard deadline killed it.
        stats: The whole last statistics row.
        stdout: Tail of SIPp's stdout (its final screen).
        stderr: Tail of SIPp's stderr.
        errors: Tail of the ``-trace_err`` log (unexpected messages), or "".
    """

    command: tuple[str, ...]
    scenario: str
    remote: str | None
    transport: str
    local_port: int
    returncode: int
    successful: int
    failed: int
    retransmissions: int
    total_calls: int
    elapsed: float
    timed_out: bool
    stats: Mapping[str, str]
    stdout: str
    stderr: str
    errors: str

    def counter(self, name: str) -> int:
        """Return an integer statistic by base name: ``counter("OutgoingCall")`` reads the
        cumulative ``OutgoingCall(C)`` column, or the column ``name`` itself (e.g.
        ``CurrentCall``); 0 when absent."""
        return _as_int(self.stats.get(f"{name}(C)", self.stats.get(name)))

    @property
    def call_rate(self) -> float:
        """Average call rate over the run (``CallRate(C)``), calls per second."""
        try:
            return float(self.stats.get("CallRate(C)", "0") or 0)
        except ValueError:
            return 0.0

    def failure_reasons(self) -> dict[str, int]:
        """Return the non-zero ``Failed...(C)`` counters other than ``FailedCall`` itself."""
        out: dict[str, int] = {}
        for column, value in self.stats.items():
            if column.startswith("Failed") and column.endswith("(C)"):
                name = column[len("Failed") : -len("(C)")]
                if name != "Call" and _as_int(value):
                    out[name] = _as_int(value)
        return out

    def summary(self) -> str:
        """One line with the statistics a test judges, for printing next to its asserts."""
        target = f" -> {self.remote}" if self.remote else ""
        reasons = self.failure_reasons()
        why = " (" + ", ".join(f"{k}={v}" for k, v in sorted(reasons.items())) + ")"
        return (
            f"SIPp[{Path(self.scenario).name} {self.transport} :{self.local_port}{target}] "
            f"rc={self.returncode} calls={self.total_calls} "
            f"in={self.counter('IncomingCall')} out={self.counter('OutgoingCall')} "
            f"ok={self.successful} failed={self.failed}{why if reasons else ''} "
            f"retrans={self.retransmissions} dead={self.counter('DeadCallMsgs')} "
            f"ooc={self.counter('OutOfCallMsgs')} rate={self.call_rate:.1f}cps "
            f"elapsed={self.elapsed:.2f}s{' TIMED-OUT' if self.timed_out else ''}"
        )


# --------------------------------------------------------------------------- running


def _build_argv(
    *,
    scenario: str | os.PathLike[str],
    remote: str | None,
    transport: str,
    local_ip: str,
    local_port: int,
    calls: int | None,
    rate: float | None,
    rate_period_ms: int | None,
    max_concurrent: int | None,
    lost_percent: float | None,
    timeout_s: float | None,
    buff_size: int | None,
    keys: Mapping[str, str] | None,
    variables: Mapping[str, str] | None,
    service: str | None,
    auth_username: str | None,
    auth_password: str | None,
    cpu: int | None,
    extra_args: Sequence[str],
    workdir: Path,
) -> list[str]:
    exe = sipp_path()
    if exe is None:
        raise SippError("SIPp is not installed (Debian package sip-tester)")
    if transport not in _TRANSPORTS:
        raise ValueError(f"unknown SIPp transport mode {transport!r}")
    if not sipp_supports_transport(transport):
        raise SippError(f"{sipp_version()} cannot run transport {transport}")
    name = os.fspath(scenario)
    if name in BUILTIN_SCENARIOS:
        argv = [exe, "-sn", name]
    else:
        path = Path(name)
        if not path.is_file():
            raise ValueError(f"no SIPp scenario file {name!r}")
        argv = [exe, "-sf", str(path.resolve())]
    if remote is not None:
        argv.append(remote)
    argv += ["-t", transport, "-i", local_ip, "-p", str(local_port), "-bind_local"]
    argv += ["-nostdin", "-trace_stat", "-stf", str(workdir / "stats.csv"), "-fd", "1"]
    argv += ["-trace_err", "-error_file", str(workdir / "errors.log")]
    if calls is not None:
        argv += ["-m", str(calls)]
    if rate is not None:
        argv += ["-r", f"{rate:g}"]
    if rate_period_ms is not None:
        argv += ["-rp", f"{rate_period_ms}ms"]
    if max_concurrent is not None:
        argv += ["-l", str(max_concurrent)]
    if lost_percent is not None:
        argv += ["-lost", f"{lost_percent:g}"]
    if timeout_s is not None:
        # SIPp's -timeout has one-second granularity in practice ("1500ms" stops after 1 s).
        argv += ["-timeout", f"{max(1, math.ceil(timeout_s))}s", "-timeout_error"]
    if buff_size is not None:
        argv += ["-buff_size", str(buff_size)]
    if service is not None:
        argv += ["-s", service]
    if auth_username is not None:
        argv += ["-au", auth_username]
    if auth_password is not None:
        argv += ["-ap", auth_password]
    all_keys = {"transport_lc": _TRANSPORTS[transport], **(keys or {})}
    for key, value in all_keys.items():
        argv += ["-key", key, value]
    for var, value in (variables or {}).items():
        argv += ["-set", var, value]
    argv += list(extra_args)
    if cpu is not None:
        taskset = shutil.which("taskset")
        if taskset is None:
            raise SippError("cpu pinning asked for but taskset (util-linux) is missing")
        argv = [taskset, "-c", str(cpu), *argv]
    return argv


class SippProcess:
    """A running SIPp child; made by :func:`start_sipp` (and used inside :func:`run_sipp`).

    Attributes:
        command: The argv being run.
        local_ip: The address SIPp is bound to.
        local_port: The SIP port SIPp is bound to.
        transport: The SIPp transport mode.
        result: The :class:`SippResult` once SIPp has exited and been collected, else None.
    """

    def __init__(
        self,
        *,
        process: trio.Process,
        command: Sequence[str],
        scenario: str,
        remote: str | None,
        local_ip: str,
        local_port: int,
        transport: str,
        workdir: Path,
        hard_deadline: float,
    ) -> None:
        self._process = process
        self.command = tuple(command)
        self._scenario = scenario
        self._remote = remote
        self.local_ip = local_ip
        self.local_port = local_port
        self.transport = transport
        self._workdir = workdir
        self._hard_deadline = hard_deadline
        self._started = time.monotonic()
        self._ended: float | None = None
        self._killed_at_deadline = False
        self.result: SippResult | None = None

    @property
    def pid(self) -> int:
        """The SIPp process id (``taskset`` execs SIPp, so also right when pinned)."""
        return self._process.pid

    @property
    def address(self) -> str:
        """``"ip:port"`` to hand to a peer, with brackets for IPv6."""
        ip = f"[{self.local_ip}]" if ":" in self.local_ip else self.local_ip
        return f"{ip}:{self.local_port}"

    @property
    def running(self) -> bool:
        """True until the child has exited."""
        return self._process.returncode is None

    async def _wait_exit(self) -> None:
        """Wait for exit, SIGKILLing at the hard deadline."""
        with trio.move_on_at(self._hard_deadline):
            await self._process.wait()
        if self._process.returncode is None:
            self._killed_at_deadline = True
            self._process.kill()
            await self._process.wait()
        if self._ended is None:
            self._ended = time.monotonic()

    async def wait(self) -> SippResult:
        """Wait until SIPp exits on its own (``-m`` reached, timeout, error) and collect it."""
        await self._wait_exit()
        return self._collect()

    async def stop(self, *, grace_s: float = 10.0) -> SippResult:
        """Ask SIPp to finish (SIGUSR1), SIGKILL it after ``grace_s``, and collect the result.

        SIGUSR1 lets running calls end (including their ``timewait``) so they count as
        successful, and SIPp still writes its final statistics row.
        """
        if self._process.returncode is None:
            self._process.send_signal(signal.SIGUSR1)
            with trio.move_on_after(grace_s):
                await self._process.wait()
            if self._process.returncode is None:
                self._process.kill()
        await self._wait_exit()
        return self._collect()

    async def _abort(self) -> None:
        """Kill and reap the child, shielded from cancellation (used on error paths)."""
        with trio.CancelScope(shield=True):
            if self._process.returncode is None:
                self._process.kill()
            with trio.move_on_after(5):
                await self._process.wait()
            if self._ended is None:
                self._ended = time.monotonic()

    def _collect(self) -> SippResult:
        if self.result is not None:
            return self.result
        stats = _parse_stats(self._workdir / "stats.csv")
        stderr = _tail(self._workdir / "stderr.log")
        returncode = self._process.returncode
        assert returncode is not None
        self.result = SippResult(
            command=self.command,
            scenario=self._scenario,
            remote=self._remote,
            transport=self.transport,
            local_port=self.local_port,
            returncode=returncode,
            successful=_as_int(stats.get("SuccessfulCall(C)")),
            failed=_as_int(stats.get("FailedCall(C)")),
            retransmissions=_as_int(stats.get("Retransmissions(C)")),
            total_calls=_as_int(stats.get("TotalCallCreated")),
            elapsed=(self._ended or time.monotonic()) - self._started,
            timed_out=self._killed_at_deadline or " timed out after " in stderr,
            stats=stats,
            stdout=_tail(self._workdir / "stdout.log"),
            stderr=stderr,
            errors=_tail(self._workdir / "errors.log"),
        )
        return self.result


@asynccontextmanager
async def _launched(
    *,
    scenario: str | os.PathLike[str],
    remote: str | None,
    transport: str,
    local_ip: str,
    local_port: int,
    timeout_s: float | None,
    env: Mapping[str, str] | None,
    workdir: str | os.PathLike[str] | None,
    argv_options: dict[str, object],
) -> AsyncIterator[SippProcess]:
    with tempfile.TemporaryDirectory(prefix="trio-srf-sipp-") as tmp:
        wd = Path(workdir) if workdir is not None else Path(tmp)
        wd.mkdir(parents=True, exist_ok=True)
        if local_port and _port_taken(local_ip, local_port, transport):
            raise SippError(f"port {local_port} on {local_ip} is already in use ({transport})")
        port = local_port or pick_free_port(local_ip)
        argv = _build_argv(
            scenario=scenario,
            remote=remote,
            transport=transport,
            local_ip=local_ip,
            local_port=port,
            timeout_s=timeout_s,
            workdir=wd,
            **argv_options,  # type: ignore[arg-type]
        )
        full_env = {**os.environ, **env} if env is not None else None
        with (wd / "stdout.log").open("wb") as out, (wd / "stderr.log").open("wb") as err:
            process = await trio.lowlevel.open_process(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=wd, env=full_env
            )
        limit = math.inf if timeout_s is None else timeout_s + _KILL_SLACK_S
        proc = SippProcess(
            process=process,
            command=argv,
            scenario=os.fspath(scenario),
            remote=remote,
            local_ip=local_ip,
            local_port=port,
            transport=transport,
            workdir=wd,
            hard_deadline=trio.current_time() + limit,
        )
        try:
            yield proc
        finally:
            await proc._abort()
            proc._collect()  # read the files before the temporary directory goes


async def run_sipp(
    *,
    scenario: str | os.PathLike[str],
    remote: str | None = None,
    transport: str = "u1",
    local_ip: str = "127.0.0.1",
    local_port: int = 0,
    calls: int | None = None,
    rate: float | None = None,
    rate_period_ms: int | None = None,
    max_concurrent: int | None = None,
    lost_percent: float | None = None,
    timeout_s: float | None = 30.0,
    buff_size: int | None = DEFAULT_BUFF_SIZE,
    extra_args: Sequence[str] = (),
    cpu: int | None = None,
    keys: Mapping[str, str] | None = None,
    variables: Mapping[str, str] | None = None,
    service: str | None = None,
    auth_username: str | None = None,
    auth_password: str | None = None,
    env: Mapping[str, str] | None = None,
    workdir: str | os.PathLike[str] | None = None,
) -> SippResult:
    """Run SIPp to completion and return its result.

    Args:
        scenario: Built-in name (``"uac"``, ``"uas"``... -> ``-sn``) or XML path (``-sf``).
        remote: ``"host:port"`` of the peer; None for a UAS.
        transport: SIPp mode: ``"u1"`` UDP one socket, ``"t1"`` TCP, ``"l1"`` TLS (only if the
            build has OpenSSL, see :func:`sipp_supports_transport`), ``"un"``/``"tn"``.
        local_ip: Address for ``-i`` (also bound with ``-bind_local``).
        local_port: ``-p``; 0 picks a free port first (reported as ``result.local_port``).
        calls: ``-m``, stop after this many calls.
        rate: ``-r`` calls per rate period.
        rate_period_ms: ``-rp`` in milliseconds (default period is 1 s).
        max_concurrent: ``-l``.
        lost_percent: ``-lost``, percentage of messages SIPp itself drops at random.
        timeout_s: SIPp's ``-timeout`` (rounded up to whole seconds, with
            ``-timeout_error``); SIGKILL 5 s later. None: unbounded (benchmarks only).
        buff_size: ``-buff_size`` socket buffer bytes; None leaves SIPp's default.
        extra_args: Appended verbatim.
        cpu: Pin to this CPU with ``taskset -c``.
        keys: ``-key name value`` pairs (``[name]`` in scenarios). ``transport_lc`` is
            always set to ``udp``/``tcp``/``tls`` unless given here.
        variables: ``-set name value`` (the scenario must declare them global).
        service: ``-s``, user part of the Request-URI (default ``service``).
        auth_username: ``-au``, user for ``[authentication]`` (SIPp's default: the service).
        auth_password: ``-ap``, password for ``[authentication]`` (SIPp's default: password).
        env: Extra environment variables, layered over ``os.environ``.
        workdir: Keep SIPp's files (stats.csv, errors.log, stdout.log, stderr.log) here
            instead of in a temporary directory removed afterwards.

    Returns:
        The :class:`SippResult`.

    Raises:
        SippError: SIPp is missing or cannot run ``transport``.
        ValueError: Unknown transport or missing scenario file.
    """
    opts: dict[str, object] = {
        "calls": calls,
        "rate": rate,
        "rate_period_ms": rate_period_ms,
        "max_concurrent": max_concurrent,
        "lost_percent": lost_percent,
        "buff_size": buff_size,
        "keys": keys,
        "variables": variables,
        "service": service,
        "auth_username": auth_username,
        "auth_password": auth_password,
        "cpu": cpu,
        "extra_args": extra_args,
    }
    async with _launched(
        scenario=scenario,
        remote=remote,
        transport=transport,
        local_ip=local_ip,
        local_port=local_port,
        timeout_s=timeout_s,
        env=env,
        workdir=workdir,
        argv_options=opts,
    ) as proc:
        await proc.wait()
    assert proc.result is not None
    return proc.result


@asynccontextmanager
async def start_sipp(
    *,
    scenario: str | os.PathLike[str] = "uas",
    remote: str | None = None,
    transport: str = "u1",
    local_ip: str = "127.0.0.1",
    local_port: int = 0,
    calls: int | None = None,
    rate: float | None = None,
    rate_period_ms: int | None = None,
    max_concurrent: int | None = None,
    lost_percent: float | None = None,
    timeout_s: float | None = 30.0,
    buff_size: int | None = DEFAULT_BUFF_SIZE,
    extra_args: Sequence[str] = (),
    cpu: int | None = None,
    keys: Mapping[str, str] | None = None,
    variables: Mapping[str, str] | None = None,
    service: str | None = None,
    auth_username: str | None = None,
    auth_password: str | None = None,
    env: Mapping[str, str] | None = None,
    workdir: str | os.PathLike[str] | None = None,
    ready_timeout_s: float = 5.0,
    stop_grace_s: float = 10.0,
) -> AsyncIterator[SippProcess]:
    """Start SIPp (typically a UAS) that keeps running while the block drives calls into it.

    The block is entered once SIPp holds its port. On a normal exit SIPp is sent SIGUSR1
    (finish running calls, write final statistics) and SIGKILLed after ``stop_grace_s``; the
    result is then in ``proc.result`` (or returned by an explicit ``await proc.stop()``). On
    an exception or cancellation SIPp is killed at once. Arguments are those of
    :func:`run_sipp`.

    Raises:
        SippError: SIPp exited or did not bind its port within ``ready_timeout_s``.
    """
    opts: dict[str, object] = {
        "calls": calls,
        "rate": rate,
        "rate_period_ms": rate_period_ms,
        "max_concurrent": max_concurrent,
        "lost_percent": lost_percent,
        "buff_size": buff_size,
        "keys": keys,
        "variables": variables,
        "service": service,
        "auth_username": auth_username,
        "auth_password": auth_password,
        "cpu": cpu,
        "extra_args": extra_args,
    }
    async with _launched(
        scenario=scenario,
        remote=remote,
        transport=transport,
        local_ip=local_ip,
        local_port=local_port,
        timeout_s=timeout_s,
        env=env,
        workdir=workdir,
        argv_options=opts,
    ) as proc:
        await _wait_ready(proc, ready_timeout_s)
        try:
            async with trio.open_nursery() as nursery:
                # Enforce the hard deadline while the caller's block runs.
                nursery.start_soon(proc._wait_exit)
                yield proc
                await proc.stop(grace_s=stop_grace_s)
        except BaseExceptionGroup as group:
            # Hand the caller's own exception back unwrapped (the nursery is ours, not
            # theirs): an AssertionError in the block stays an AssertionError.
            if len(group.exceptions) == 1:
                raise group.exceptions[0] from None
            raise


async def _wait_ready(proc: SippProcess, timeout_s: float) -> None:
    with trio.move_on_after(timeout_s):
        while proc.running:
            if _port_taken(proc.local_ip, proc.local_port, proc.transport):
                # Still alive a moment later: it is SIPp that holds the port.
                await trio.sleep(0.05)
                if proc.running:
                    return
                break
            await trio.sleep(0.01)
    await proc._abort()
    result = proc._collect()
    raise SippError(
        f"SIPp did not come up on {proc.address} ({proc.transport}); rc={result.returncode}; "
        f"stderr: {result.stderr.strip()[-800:]}"
    )
