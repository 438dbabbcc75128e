#!/usr/bin/env bash
# Set up .venv (see setup.sh) and run the main demo on the embedded engine.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python examples/parse_demo.py "$@"
