#!/usr/bin/env bash
# The workflow's build step: scripts/build-image.sh with the registry cache and OCI labels.
# Env: SMOKE_TAG, CACHE_REF, WRITE_CACHE (true|false), VERSION, REVISION, SOURCE, HF_TOKEN (optional),
# TORCH_VERSION (the variant's torch, one of build/variants.json; default: the default variant's).
set -euo pipefail
cd "$(dirname "$0")/.."
torch="${TORCH_VERSION:-$(bash scripts/variants.sh torch)}"
cache_ref="$(printf '%s' "$CACHE_REF" | tr '[:upper:]' '[:lower:]')"  # registries want lower case
args=(--cache-from "type=registry,ref=$cache_ref")
if [ "${WRITE_CACHE:-false}" = "true" ]; then
  args+=(--cache-to "type=registry,ref=$cache_ref,mode=max")
fi
exec bash scripts/build-image.sh "$SMOKE_TAG" "${args[@]}" --build-arg "TORCH_VERSION=$torch" \
  --build-arg "VERSION=${VERSION:-dev}" --build-arg "REVISION=${REVISION:-unknown}" --build-arg "SOURCE=${SOURCE:-}"
