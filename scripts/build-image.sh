#!/usr/bin/env bash
# Build the image with podman (or docker). Used by the image tests and the CI workflows alike.
#   scripts/build-image.sh TAG [extra build args...]
# Environment: ENGINE (podman | docker | buildx, default podman); HF_TOKEN_FILE (a file holding the
# token) or HF_TOKEN (written to a private temp file), passed only as the build secret hf_token;
# NETWORK (podman: host, so a hub mirror on this machine is reachable).
set -euo pipefail
cd "$(dirname "$0")/.."
tag="$1"; shift
engine="${ENGINE:-podman}"
args=(build -t "$tag" -f Dockerfile)
case "$engine" in
  podman) engine_cmd=(podman --runtime runc); args+=(--network "${NETWORK:-host}" --layers) ;;
  docker) engine_cmd=(docker) ;;
  buildx) engine_cmd=(docker buildx); args+=(--load) ;;
  *) echo "ENGINE must be podman, docker or buildx" >&2; exit 2 ;;
esac
if [ -z "${HF_TOKEN_FILE:-}" ] && [ -n "${HF_TOKEN:-}" ]; then
  HF_TOKEN_FILE="$(umask 077; mktemp)"
  trap 'rm -f "$HF_TOKEN_FILE"' EXIT
  printf '%s' "$HF_TOKEN" > "$HF_TOKEN_FILE"
fi
if [ -n "${HF_TOKEN_FILE:-}" ]; then
  args+=(--secret "id=hf_token,src=$HF_TOKEN_FILE")
fi
"${engine_cmd[@]}" "${args[@]}" "$@" .
