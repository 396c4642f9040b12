#!/usr/bin/env bash
# Provide debian:bookworm-slim to podman: pulled when a registry answers, otherwise bootstrapped
# from Debian's mirror with debootstrap, with this host's extra CA certificates, so the unchanged
# Dockerfile builds on machines that reach no container registry.
set -euo pipefail
IMAGE="${BASE_IMAGE:-debian:bookworm-slim}"
podman() { command podman --runtime runc "$@"; }
if podman image exists "$IMAGE"; then
  echo "base image $IMAGE present"; exit 0
fi
if timeout 60 podman pull -q "docker.io/library/$IMAGE" >/dev/null 2>&1; then
  podman tag "docker.io/library/$IMAGE" "$IMAGE"; echo "base image $IMAGE pulled"; exit 0
fi
root="$(mktemp -d /var/tmp/bookworm.XXXXXX)"
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase bookworm "$root" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" >/dev/null
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
  mkdir -p "$root/usr/local/share/ca-certificates"
  cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
fi
# apt sources as the Docker image has them, and no cached package lists in the base
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin
tar -C "$root" -c . | podman import - "$IMAGE" >/dev/null
echo "base image $IMAGE bootstrapped with debootstrap"
