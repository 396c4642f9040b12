#!/usr/bin/env bash
# pip-audit over the image's hash-locked dependencies. Needs PyPI's JSON API, which the GitHub
# runners reach and this project's own machines do not (so it runs in the workflow, not in .ci/run).
# Accepted findings are listed in requirements/audit-ignore.txt, one ID per line with its reason.
set -euo pipefail
cd "$(dirname "$0")/.."
ignores=()
while read -r id _; do
  [ -n "$id" ] && [ "${id#\#}" = "$id" ] && ignores+=(--ignore-vuln "$id")
done < requirements/audit-ignore.txt
.venv/bin/python -m pip install -q pip-audit==2.10.1
# every published variant (build/variants.json), each lock on its own: they pin different torches
status=0
for torch in $(bash scripts/variants.sh torch all); do
  echo "== pip-audit: requirements/lock/image-torch$torch.txt + f5-tts.txt"
  .venv/bin/pip-audit --disable-pip --require-hashes --progress-spinner off "${ignores[@]}" \
    -r "requirements/lock/image-torch$torch.txt" -r requirements/lock/f5-tts.txt || status=1
done
exit $status
