#!/usr/bin/env bash
# Sets everything up (including chromium and Node.js) and runs gymcast's whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh --tests
exec .venv/bin/python -m pytest "$@"
