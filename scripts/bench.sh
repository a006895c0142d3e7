#!/usr/bin/env bash
# Sets everything up (as for the tests: chromium, Node.js) and runs the load-and-play harness,
# bench/startup.py, which prints its tables. Arguments go to the harness, e.g. --seconds 20.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh --tests
exec .venv/bin/python bench/startup.py "$@"
