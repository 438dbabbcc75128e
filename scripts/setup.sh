#!/usr/bin/env bash
# Create .venv with trio_srf and its test tools, and install the real peers the
# test suite talks to (SIPp from Debian's sip-tester) when we are allowed to.
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; fi

apt_install() {
  # apt_install PKG... : install Debian packages if apt-get is usable.
  if command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" = 0 ] || [ -n "$SUDO" ]; }; then
    if [ ! -f /tmp/.trio_srf_apt_updated ]; then
      $SUDO apt-get update -qq && touch /tmp/.trio_srf_apt_updated
    fi
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
  else
    echo "setup: cannot install $* (need root or sudo with apt-get); tests needing them will skip" >&2
  fi
}

# Real SIP peer for interop tests.
command -v sipp >/dev/null 2>&1 || apt_install sip-tester

# The interpreter: $PYTHON if set; else Debian's own /usr/bin/python3 when it is 3.11 or newer,
# even if another python3 (pyenv, a source build) comes first on PATH. Debian builds CPython
# with PGO and LTO and links libpython statically; a default pyenv build (no
# --enable-optimizations, --enable-shared) runs trio_srf's parser and engine about 25% slower
# on the same machine (see benchmarks/README.md). Elsewhere, the python3 on PATH.
if [ -n "${PYTHON:-}" ]; then
  PY=$PYTHON
elif [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  PY=/usr/bin/python3
else
  PY=python3
fi
if [ ! -x .venv/bin/python ]; then
  if ! "$PY" -m venv .venv 2>/dev/null; then
    apt_install python3-venv
    rm -rf .venv
    "$PY" -m venv .venv
  fi
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -U pip >/dev/null
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test,bench]'

# The optional mypyc-compiled SIP parser (docs/sip.md, "The compiled parser"): mypyc ships with
# mypy (test extra); the build also needs setuptools, a C compiler and Python's headers. Without
# them, or if the build fails, trio_srf.sip simply runs as pure Python. build_speedups.py does
# nothing when its stamp says the build matches the sources.
.venv/bin/python -c 'import setuptools' 2>/dev/null ||
  .venv/bin/python -m pip install -q --disable-pip-version-check setuptools ||
  echo "setup: could not install setuptools" >&2
if ! .venv/bin/python scripts/build_speedups.py --check-compiler >/dev/null 2>&1; then
  apt_install gcc python3-dev || echo "setup: could not install gcc python3-dev" >&2
fi
if build_out=$(.venv/bin/python scripts/build_speedups.py 2>&1); then
  printf '%s\n' "${build_out##*$'\n'}"
else
  reason=$(printf '%s\n' "$build_out" | sed -n 's/^build_speedups: FAILED: //p' | tail -n 1)
  echo "setup: building the compiled parser failed (${reason:-no reason given}); using pure Python" >&2
fi

# Node.js for the real drachtio-srf (pinned in tests/interop/node/package.json) in the Node
# interop tests: Debian's nodejs/npm when the machine has none.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  apt_install nodejs npm || echo "setup: could not install nodejs/npm" >&2
fi
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
  if [ -f tests/interop/node/package-lock.json ]; then
    (cd tests/interop/node && npm ci --no-audit --no-fund --loglevel=error >/dev/null) ||
      echo "setup: npm ci failed in tests/interop/node; the drachtio-srf interop tests will skip" >&2
  else
    (cd tests/interop/node && npm install --no-audit --no-fund --loglevel=error >/dev/null) ||
      echo "setup: npm install failed in tests/interop/node; those interop tests will skip" >&2
  fi
else
  echo "setup: node/npm not found; the drachtio-srf interop tests will skip" >&2
fi
