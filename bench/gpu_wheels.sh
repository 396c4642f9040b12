#!/usr/bin/env bash
# Download the wheels the lent GPU machine lacks to run bench/gpu_bench.py: the worker's engine
# (handler/, via handler/f5/modules.py) and upstream's inference path (f5_tts.infer.utils_infer,
# f5_tts.api) for CPython 3.12 on x86-64 Linux. Usage: bash bench/gpu_wheels.sh [OUT_DIR=.whl]
#
# The machine already has torch 2.11 (CUDA 13), torchaudio, triton, the nvidia-* libraries,
# transformers, huggingface-hub, safetensors, torchdiffeq, numpy, scipy, numba, scikit-learn,
# matplotlib, einops, requests, rich, tqdm, pyyaml, urllib3 and more (see the device notes'
# package list, copied into tests/test_gpu_wheels.py): none of those is downloaded here, and
# torch, torchaudio, triton and nvidia-* never are (a second torch on the path breaks the first).
# Versions come from the project's own pins (see WHEELS below); `--pins` prints them and stops.
# Every wheel is one version, --no-deps; tests/test_gpu_wheels.py proves that their Requires-Dist
# are met by this folder or the machine. Packages published only as an sdist are built into a
# wheel here, and only if the result is pure Python. The folder is wiped of old wheels first.
# Fails when the wheels add up to more than GPU_WHEELS_MAX_MIB (48) MiB: a device call carries at
# most 64 MiB, the repository included.
set -euo pipefail

OUT_DIR=${1:-.whl}
PYTHON=${PYTHON:-python3}
MAX_MIB=${GPU_WHEELS_MAX_MIB:-48}
root="$(cd "$(dirname "$0")/.." && pwd)"
default_lock="requirements/lock/image-torch$(PYTHON="$PYTHON" bash "$root/scripts/variants.sh" torch).txt"

# One a line, what pulls each one in on its right. A bare name takes the version the project pins:
# requirements/worker.txt, bench.txt or asr.txt, else the default image's lock (its transitive pins).
# Only a package pinned nowhere there carries name==version here; one pinned there must not.
WHEELS="
f5-tts                             # the model code (installed --no-deps: its gradio/wandb/... are unused)
vocos                              # vocoder
x-transformers                     # f5_tts.model.modules
einx                               # x-transformers
frozendict                         # einx
loguru                             # x-transformers
torch-einops-utils                 # x-transformers
librosa                            # f5_tts.model.modules (librosa.filters.mel)
audioread                          # librosa
decorator                          # librosa
pooch                              # librosa
platformdirs                       # pooch
soxr                               # librosa
soundfile                          # worker, librosa, f5_tts.api
lameenc                            # handler.stream_encoder (mp3 streams)
cffi                               # soundfile, cryptography
pycparser                          # cffi
rjieba                             # f5_tts.model.utils
pypinyin                           # f5_tts.model.utils
num2words                          # handler.text_normalize
cn2an                              # handler.text_normalize
proces                             # cn2an
pydantic                           # handler.schema
pydantic-core                      # pydantic
annotated-types                    # pydantic
typing-inspection                  # pydantic
pydub                              # f5_tts.infer.utils_infer
hydra-core                         # f5_tts.api
omegaconf                          # f5_tts.api, hydra-core
cached-path                        # f5_tts.api; imports its s3, r2 and gs clients at import time:
boto3                              #   cached_path.schemes.s3 / r2
botocore                           #   boto3
s3transfer                         #   boto3
jmespath                           #   boto3, botocore
google-cloud-storage==3.17.1       #   cached_path.schemes.gs
google-api-core==2.44.0            #   google-cloud-storage
google-auth==2.63.0                #   google-cloud-storage
google-cloud-core==2.8.0           #   google-cloud-storage
google-resumable-media==2.11.0     #   google-cloud-storage
google-crc32c==1.9.0               #   google-resumable-media
googleapis-common-protos           #   google-api-core
proto-plus==1.29.0                 #   google-api-core
opentelemetry-api                  #   google-api-core
pyasn1-modules==0.4.2              #   google-auth
pyasn1==0.6.5                      #   pyasn1-modules
cryptography                       #   google-auth
"
# Published on PyPI as an sdist only: built here with `pip wheel`, and must come out pure Python.
SDISTS="
encodec                            # vocos
antlr4-python3-runtime==4.9.3      # omegaconf, hydra-core
docopt                             # num2words
"

entries() { sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' <<<"$1"; }
# name==version for each entry of a list; fails, naming them, on entries that break the rule above
resolve() {
    # shellcheck disable=SC2046  # one word per entry
    "$PYTHON" - "$root" "$default_lock" $(entries "$1") <<'EOF'
import re, sys
from pathlib import Path

root, lock, entries = Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
norm = lambda name: re.sub(r"[-_.]+", "-", name).lower()
sources = [f"requirements/{name}" for name in ("worker.txt", "bench.txt", "asr.txt")] + [lock]
pinned = {}
for source in sources:
    for line in (root / source).read_text().splitlines():
        if match := re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", line):
            pinned.setdefault(norm(match[1]), (match[2], source))
problems = []
for entry in entries:
    name, _, version = entry.partition("==")
    found = pinned.get(norm(name))
    if version and found:
        problems.append(f"{entry}: {found[1]} pins {name}=={found[0]}; list it by name only")
    elif not version and not found:
        problems.append(f"{name} is pinned in none of {', '.join(sources)}; pin it here as {name}==VERSION")
    else:
        print(f"{name}=={version or found[0]}")
for problem in problems:
    print(f"gpu_wheels: {problem}", file=sys.stderr)
sys.exit(1 if problems else 0)
EOF
}
wheels=$(resolve "$WHEELS")
sdists=$(resolve "$SDISTS")
if [ "${1:-}" = "--pins" ]; then
    printf '%s\n' "$wheels" "$sdists"
    exit 0
fi

# pip takes exactly the platforms named (no older glibc implied), preferring them in this order:
# the oldest glibc first, up to 2.28, which torch's own Linux wheels need anyway.
PLATFORMS=(--platform manylinux1_x86_64 --platform manylinux2010_x86_64 --platform manylinux2014_x86_64)
for n in $(seq 17 28); do PLATFORMS+=(--platform "manylinux_2_${n}_x86_64"); done
# pip run quietly, without the warnings about this machine's local extra indexes that lack a name
pip_() {
    "$PYTHON" -m pip "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}

for pin in $wheels $sdists; do
    case "${pin%%==*}" in
        torch | torchaudio | triton | nvidia-*) echo "gpu_wheels: refusing to carry $pin" >&2; exit 1 ;;
    esac
done

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/wheels"

# shellcheck disable=SC2086  # one word per pin
pip_ download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    "${PLATFORMS[@]}" -d "$stage/wheels" $wheels
sdist_names=$(sed 's/==.*//' <<<"$sdists" | paste -sd, -)
# shellcheck disable=SC2086
pip_ wheel -q --no-deps --no-binary "$sdist_names" -w "$stage/wheels" $sdists

"$PYTHON" - "$stage/wheels" "$MAX_MIB" $wheels $sdists <<'EOF'
import re, sys, zipfile
from pathlib import Path

folder, max_mib, pins = Path(sys.argv[1]), float(sys.argv[2]), sys.argv[3:]
norm = lambda name: re.sub(r"[-_.]+", "-", name).lower()
wanted = {norm(p.split("==")[0]): p.split("==")[1] for p in pins}
problems, seen, total = [], {}, 0
for wheel in sorted(folder.glob("*.whl")):
    name, version = wheel.name.split("-")[:2]
    key = norm(name)
    if key in seen:
        problems.append(f"two wheels for {key}: {seen[key]} and {wheel.name}")
    seen[key] = wheel.name
    if wanted.get(key) != version:
        problems.append(f"{wheel.name} was not asked for (pins: {key}=={wanted.get(key)})")
    with zipfile.ZipFile(wheel) as archive:
        meta = next(n for n in archive.namelist() if n.endswith(".dist-info/WHEEL"))
        pure = "Root-Is-Purelib: true" in archive.read(meta).decode()
    if wheel.name.endswith("-none-any.whl") and not pure:
        problems.append(f"{wheel.name} claims none-any but is not purelib")
    total += wheel.stat().st_size
    print(f"{wheel.stat().st_size / 2**20:8.2f} MiB  {wheel.name}")
problems += [f"no wheel for {key}=={version}" for key, version in wanted.items() if key not in seen]
print(f"{total / 2**20:8.2f} MiB  total, {len(seen)} wheels (limit {max_mib:g} MiB)")
if total > max_mib * 2**20:
    problems.append(f"total {total / 2**20:.2f} MiB is over the limit of {max_mib:g} MiB")
for problem in problems:
    print(f"gpu_wheels: {problem}", file=sys.stderr)
sys.exit(1 if problems else 0)
EOF

for built in $sdists; do
    name=$(sed 's/[-.]/_/g' <<<"${built%%==*}")
    ls "$stage/wheels/${name}-${built##*==}-"*-none-any.whl >/dev/null 2>&1 || {
        echo "gpu_wheels: $built did not build into a pure-Python (none-any) wheel" >&2
        exit 1
    }
done

mkdir -p "$OUT_DIR"
rm -f "$OUT_DIR"/*.whl
cp "$stage"/wheels/*.whl "$OUT_DIR"/
echo "gpu_wheels: $(find "$OUT_DIR" -maxdepth 1 -name '*.whl' | wc -l) wheels in $OUT_DIR"
