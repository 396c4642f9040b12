#!/usr/bin/env bash
# Image size: this project's two images (default F5TTS_v1_Base build, CUDA 12.8 and CUDA 13 variants,
# with a random checkpoint of the real size served by a local stand-in for the hub) next to a naive
# single-stage `pip install f5-tts` image of the same base. Prints the totals, the largest layers and
# how long each build took, then removes the images. NAIVE=0 leaves the naive image out.
#   bash bench/image_size.sh
set -euo pipefail
cd "$(dirname "$0")/.."
podman() { command podman --runtime runc "$@"; }
bash scripts/podman-setup.sh >/dev/null
bash scripts/base-image.sh >/dev/null
work="$(mktemp -d /var/tmp/imgsize.XXXXXX)"
trap 'kill "$hub_pid" 2>/dev/null || true; rm -rf "$work"; podman rmi -f localhost/f5-size:ours localhost/f5-size:cu13 localhost/f5-size:naive >/dev/null 2>&1 || true' EXIT
.venv/bin/python -m support.random_model "$work/model" --size full >/dev/null
.venv/bin/python -m support.fake_hub "$work/model" 18556 > "$work/hub.log" 2>&1 &
hub_pid=$!
sleep 3
timed() { local started=$SECONDS; "$@" >/dev/null; echo "$((SECONDS - started))"; }
ours_s=$(timed bash scripts/build-image.sh localhost/f5-size:ours --build-arg HF_ENDPOINT=http://127.0.0.1:18556)
cu13_s=$(timed bash scripts/build-image.sh localhost/f5-size:cu13 --build-arg HF_ENDPOINT=http://127.0.0.1:18556 \
  --build-arg TORCH_VERSION=2.11.0)
if [ "${NAIVE:-1}" = "1" ]; then
  naive_s=$(timed podman build --runtime runc --network host -t localhost/f5-size:naive -f bench/naive.Dockerfile bench)
fi
report() {
  echo "### $1: $(podman image inspect --format '{{.Size}}' "$2" | awk '{printf "%.2f GB", $1/1e9}')"
  echo
  echo "| layer size | created by |"
  echo "| --- | --- |"
  # podman prints sizes as "7.55 GB": turn them into bytes to sort, largest first
  podman history --no-trunc --format '{{.Size}}|{{.CreatedBy}}' "$2" |
    awk -F'|' '{ split($1, s, " "); m = (s[2]=="GB") ? 1e9 : (s[2]=="MB") ? 1e6 : (s[2]=="kB") ? 1e3 : 1;
                 cmd=$2; if (length(cmd) > 90) cmd=substr(cmd,1,87) "..."; printf "%.0f\t| %s | `%s` |\n", s[1]*m, $1, cmd }' |
    sort -t$'\t' -k1 -n -r | head -5 | cut -f2-
  echo
}
echo "Measured on $(date -u +%Y-%m-%d) on $(nproc) cores, podman $(podman --version | awk '{print $3}')"
echo
echo "Build times (layer cache as found): default ${ours_s} s, cu13 ${cu13_s} s, naive ${naive_s:-not built} s"
echo
report "this project, default: torch 2.8.0, CUDA 12.8 (F5TTS_v1_Base-size checkpoint baked)" localhost/f5-size:ours
report "this project, -cu13: torch 2.11.0, CUDA 13.0 (same checkpoint)" localhost/f5-size:cu13
for tag in ours cu13; do
  echo "venv of $tag, largest folders (du -sm):"
  podman run --rm --network none --entrypoint sh "localhost/f5-size:$tag" -c \
    'du -sm /opt/venv /models/f5/*; du -sm /opt/venv/lib/python3.11/site-packages/* | sort -rn | head -12'
  echo
done
if [ "${NAIVE:-1}" = "1" ]; then
  report "naive single stage: pip install f5-tts (no weights)" localhost/f5-size:naive
fi
# what the default image's venv holds that the worker never opens or maps (start-up per step in the
# image on CPU, warm-up off, then one request per output format, a stream and Chinese)
echo "venv trace of the default image (bench/venv_trace.py, network off):"
podman run --rm --network none -v "$PWD/bench:/bench:ro" -e PYTHONPATH=/app -e F5_REQUIRE_GPU=0 -e F5_WARMUP=0 \
  --entrypoint /opt/venv/bin/python localhost/f5-size:ours /bench/venv_trace.py 2>&1 | grep -v '^\s*$' | grep -v 'INFO\|WARNING' || true
