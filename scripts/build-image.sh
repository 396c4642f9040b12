#!/usr/bin/env bash
# Build the image with podman (or docker). Used by the image tests and the CI workflows alike.
#   scripts/build-image.sh TAG [extra build args...]
# Environment: ENGINE (podman|docker, default podman), HF_TOKEN_FILE (a file holding the token,
# passed as the build secret hf_token), NETWORK (podman: host, so a local hub mirror is reachable).
set -euo pipefail
cd "$(dirname "$0")/.."
tag="$1"; shift
engine="${ENGINE:-podman}"
args=(build -t "$tag" -f Dockerfile)
if [ "$engine" = podman ]; then
  engine_cmd=(podman --runtime runc)
  args+=(--network "${NETWORK:-host}" --layers)
else
  engine_cmd=(docker)
fi
if [ -n "${HF_TOKEN_FILE:-}" ]; then
  args+=(--secret "id=hf_token,src=$HF_TOKEN_FILE")
fi
exec "${engine_cmd[@]}" "${args[@]}" "$@" .
