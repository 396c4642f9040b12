#!/usr/bin/env bash
# The test command the README gives: unit and integration tests on CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m pytest "$@"
