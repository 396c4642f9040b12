#!/usr/bin/env bash
# Smoke-test a built image with its network off: imports, the self-check, one --test_input job
# that must write playable audio. Used by the image tests and the CI workflows alike.
#   scripts/smoke-image.sh IMAGE
set -euo pipefail
image="$1"
engine="${ENGINE:-podman}"
run() { if [ "$engine" = podman ]; then podman --runtime runc run --rm --network none "$@"; else docker run --rm --network none "$@"; fi; }
out="$(mktemp -d)"; chmod 777 "$out"; trap 'rm -rf "$out"' EXIT

echo "== imports"
run --entrypoint /opt/venv/bin/python "$image" -c \
  "import torch, torchaudio, vocos, runpod, soundfile, handler.worker, handler.service, handler.startup; from handler.f5.modules import load_f5_modules; load_f5_modules(); print('torch', torch.__version__, 'cuda', torch.version.cuda, 'torchaudio', torchaudio.__version__)"
echo "== self-check"
run "$image" --check
echo "== one job"
run -e F5_REQUIRE_GPU=0 -v "$out:/out" "$image" \
  --test_input '{"input": {"text": "Smoke test of the image.", "format": "wav", "seed": 1}}' --save_audio /out/smoke.wav
test -s "$out/smoke.wav"
head -c 4 "$out/smoke.wav" | grep -q RIFF
echo "smoke ok: $(stat -c %s "$out/smoke.wav") bytes of WAV"
