#!/usr/bin/env bash
# Set up .venv (see setup.sh) and run the main demo: the two-stage dialer, a scripted caller and
# a scripted gateway in one process over 127.0.0.1, printed as a ladder diagram with a verdict.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python examples/two_stage_dialer.py --demo "$@"
