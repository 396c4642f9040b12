#!/usr/bin/env bash
# Create .venv with everything the worker and its tests need, on CPU. Idempotent.
#   TORCH / TORCHAUDIO: the matched pair to install (defaults suit this project's CPU machines;
#   elsewhere use e.g. TORCH=torch==2.8.0 TORCHAUDIO=torchaudio==2.8.0).
set -euo pipefail
cd "$(dirname "$0")/.."
TORCH="${TORCH:-torch==2.13.0}"
TORCHAUDIO="${TORCHAUDIO:-torchaudio==2.11.0}"
PYTHON="${PYTHON:-python3}"

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
pip() { .venv/bin/python -m pip "$@"; }
pip install -q --upgrade pip
pip install -q "$TORCH"
# torchaudio must not pull in another torch; f5-tts must not pull in gradio/wandb/datasets
pip install -q --no-deps "$TORCHAUDIO" $(grep -E '^f5-tts==' requirements/worker.txt)
pip install -q $(grep -vE '^(#|f5-tts==|$)' requirements/worker.txt) -r requirements/dev.txt
pip install -q --no-deps -e .

# A CPU torch cannot load torchaudio's CUDA-linked extension; without it torchaudio runs its
# pure-Python path, which is all inference uses (see requirements/README.md).
if ! .venv/bin/python -c "import torch, sys; sys.exit(0 if torch.version.cuda else 1)"; then
  rm -f .venv/lib/python*/site-packages/torchaudio/lib/*.so
fi
.venv/bin/python -c "import torch, torchaudio, vocos, runpod; import handler.f5_modules as m; m.load_f5_modules(); print('dev setup ok: torch', torch.__version__, 'torchaudio', torchaudio.__version__)"

# A real S3-compatible server for the upload tests
if command -v npm >/dev/null; then
  mkdir -p .cache/s3rver
  (cd .cache/s3rver && [ -x node_modules/.bin/s3rver ] || npm install --no-audit --no-fund --silent s3rver@3.7.1)
fi

# A tiny randomly initialised model in ./models, so the worker runs without downloading weights.
# Its voice is noise: it proves the plumbing, not the sound. Bake or fetch the real checkpoint for speech.
if [ ! -f models/manifest.json ]; then
  .venv/bin/python tests/random_model.py models --size tiny >/dev/null
  echo "wrote a tiny random model to ./models (F5_MODEL_DIR=models)"
fi
