"""Shared test configuration.

Hypothesis profiles: ``dev`` (default, quick) and ``ci`` (selected by
``HYPOTHESIS_PROFILE=ci``, which ``.ci/run`` sets): derandomized so CI is
repeatable, no deadline because the shared CI machine is noisy. Tests that
must run a fixed number of examples set ``max_examples`` themselves.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("dev", deadline=None)
settings.register_profile(
    "ci", deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


# -- SIPp statistics in the run's summary ------------------------------------------------
# Interop tests print each SIPp run's statistics line (``SippResult.summary()``), but pytest
# captures the output of passing tests. Collect those lines and print them at the end, so CI
# logs show the statistics every interop test judged.

_SIPP_LINES: list[tuple[str, str]] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when != "call":
        return
    for line in report.capstdout.splitlines():
        if "SIPp[" in line:
            _SIPP_LINES.append((report.nodeid, line.strip()))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _SIPP_LINES:
        return
    terminalreporter.section("SIPp statistics judged by the interop tests")
    for nodeid, line in _SIPP_LINES:
        terminalreporter.write_line(f"{nodeid}: {line}")
