"""Shared test configuration.

Hypothesis profiles: ``dev`` (default, quick) and ``ci`` (selected by
``HYPOTHESIS_PROFILE=ci``, which ``.ci/run`` sets): derandomized so CI is
repeatable, no deadline because the shared CI machine is noisy. Tests that
must run a fixed number of examples set ``max_examples`` themselves.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile("dev", deadline=None)
settings.register_profile(
    "ci", deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
