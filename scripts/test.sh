#!/usr/bin/env bash
# Set up everything the test suite needs (see setup.sh), then run the whole suite.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k parser -x`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest "$@"
