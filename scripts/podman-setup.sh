#!/usr/bin/env bash
# Make podman usable on this project's CI machines (no Docker daemon, cgroups crun cannot use):
# install podman, runc and debootstrap, and drop the default ulimits the kernel refuses.
set -euo pipefail
if ! command -v podman >/dev/null || ! command -v runc >/dev/null || ! command -v debootstrap >/dev/null; then
  apt-get update -qq
  apt-get install -y -qq podman runc debootstrap >/dev/null
fi
mkdir -p /etc/containers
if ! grep -q "default_ulimits" /etc/containers/containers.conf 2>/dev/null; then
  printf '[containers]\ndefault_ulimits = []\n' >> /etc/containers/containers.conf
fi
podman --runtime runc info --format '{{.Host.OCIRuntime.Name}} {{.Store.GraphDriverName}}'
