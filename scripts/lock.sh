#!/usr/bin/env bash
# Regenerate the image's hash-locked dependency files (uv pip compile, for Debian bookworm's
# Python 3.11 on x86_64). One lock per torch/torchaudio pair:
#   bash scripts/lock.sh            # torch 2.8.0 (CUDA 12.8), the default
#   bash scripts/lock.sh 2.9.1      # another matched pair; build with --build-arg TORCH_VERSION=2.9.1
set -euo pipefail
cd "$(dirname "$0")/.."
TORCH_VERSION="${1:-2.8.0}"
UV=(.venv/bin/python -m uv pip compile --generate-hashes --python-version 3.11
    --python-platform x86_64-manylinux_2_28 --index-url https://pypi.org/simple --no-header --quiet)
.venv/bin/python -m pip install -q uv==0.13.9
tmp=requirements/lock/in  # the inputs, kept beside the locks for review
mkdir -p "$tmp"
grep -vE '^(#|f5-tts==|$)' requirements/worker.txt > "$tmp/worker.in"
printf 'torch==%s\ntorchaudio==%s\n' "$TORCH_VERSION" "$TORCH_VERSION" >> "$tmp/worker.in"
"${UV[@]}" "$tmp/worker.in" -o "requirements/lock/image-torch$TORCH_VERSION.txt"
# with the Whisper ASR model baked: the same set plus transformers, resolved together
cp "$tmp/worker.in" "$tmp/asr.in"; echo "transformers==4.57.6" >> "$tmp/asr.in"
"${UV[@]}" "$tmp/asr.in" -o "requirements/lock/image-torch$TORCH_VERSION-asr.txt"
# installed with --no-deps (see requirements/README.md)
grep -E '^f5-tts==' requirements/worker.txt > "$tmp/f5.in"
"${UV[@]}" --no-deps "$tmp/f5.in" -o requirements/lock/f5-tts.txt
# the weights stage: the hub client, and f5-tts for its model configs and vocab
printf 'huggingface-hub==2.4.0\npyyaml==6.0.3\n' > "$tmp/fetch.in"
"${UV[@]}" "$tmp/fetch.in" -o requirements/lock/fetch.txt
ls -la requirements/lock
