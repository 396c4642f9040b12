#!/usr/bin/env bash
# Regenerate the image's hash-locked dependency files (uv pip compile, for Debian bookworm's
# Python 3.11 on x86_64). One lock per torch/torchaudio pair:
#   bash scripts/lock.sh            # every variant in build/variants.json
#   bash scripts/lock.sh 2.9.1      # another matched pair; build with --build-arg TORCH_VERSION=2.9.1
# The pins come from requirements/worker.txt, requirements/asr.txt (BAKE_ASR=1) and
# requirements/fetch.txt; the torch pair from build/variants.json (torchaudio of the same version
# for a pair not listed there). tests/test_facts.py checks that the locks hold those pins.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -gt 0 ]; then
  versions=("$@")
else
  # the default last, so that the inputs left in requirements/lock/in/ are the default image's
  mapfile -t versions < <(bash scripts/variants.sh torch all | tac)
fi
UV=(.venv/bin/python -m uv pip compile --generate-hashes --python-version 3.11
    --python-platform x86_64-manylinux_2_28 --index-url https://pypi.org/simple --no-header --quiet)
.venv/bin/python -m pip install -q uv==0.13.9
tmp=requirements/lock/in  # the inputs, kept beside the locks for review
mkdir -p "$tmp"
for torch in "${versions[@]}"; do
  torchaudio=$(bash scripts/variants.sh torchaudio "$torch" 2>/dev/null || echo "$torch")
  grep -vE '^(#|f5-tts==|$)' requirements/worker.txt > "$tmp/worker.in"
  printf 'torch==%s\ntorchaudio==%s\n' "$torch" "$torchaudio" >> "$tmp/worker.in"
  "${UV[@]}" "$tmp/worker.in" -o "requirements/lock/image-torch$torch.txt"
  # with the Whisper ASR model baked: the same set plus transformers, resolved together
  cp "$tmp/worker.in" "$tmp/asr.in"; grep -vE '^(#|$)' requirements/asr.txt >> "$tmp/asr.in"
  "${UV[@]}" "$tmp/asr.in" -o "requirements/lock/image-torch$torch-asr.txt"
done
# installed with --no-deps (see requirements/README.md)
grep -E '^f5-tts==' requirements/worker.txt > "$tmp/f5.in"
"${UV[@]}" --no-deps "$tmp/f5.in" -o requirements/lock/f5-tts.txt
# the weights stage: the hub client, and f5-tts for its model configs and vocab
{ grep -vE '^(#|$)' requirements/fetch.txt; grep -E '^pyyaml==' requirements/worker.txt; } > "$tmp/fetch.in"
"${UV[@]}" "$tmp/fetch.in" -o requirements/lock/fetch.txt
ls -la requirements/lock
