#!/usr/bin/env bash
# Free space on a GitHub-hosted runner before building a ~9 GB image. Refuses to run elsewhere.
set -euo pipefail
if [ "${GITHUB_ACTIONS:-}" != "true" ]; then
  echo "ci-free-disk.sh only runs on GitHub Actions runners" >&2; exit 1
fi
df -h /
sudo rm -rf /usr/share/dotnet /usr/local/lib/android /opt/ghc /usr/local/.ghcup /opt/hostedtoolcache/CodeQL /usr/local/share/boost
docker image prune --all --force >/dev/null
df -h /
