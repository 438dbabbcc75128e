"""Where ``examples/proxy.py``'s CPU goes under SIPp load: ``profile_srf.py`` for the proxy.

``profile_srf.py`` accepts only ``uas.py`` and ``b2bua.py``; this runs the same recording
and summary on ``proxy.py`` (started by ``bench_calls.start_server`` with ``--target`` the
SIPp callee). Options are ``profile_srf.py``'s, without the positional server::

    flock /tmp/bench.lock .venv/bin/python benchmarks/profile_proxy.py --calls 2000
"""

from __future__ import annotations

import sys

import profile_srf
import trio

if __name__ == "__main__":
    args = profile_srf.parse_args(["uas.py", *sys.argv[1:]])
    args.server = "proxy.py"
    sys.exit(trio.run(profile_srf.main, args))
