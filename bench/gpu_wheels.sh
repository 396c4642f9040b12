#!/usr/bin/env bash
# Download the wheels the lent GPU machine lacks to run bench/gpu_bench.py: the worker's engine
# (handler/, via handler/f5_modules.py) and upstream's inference path (f5_tts.infer.utils_infer,
# f5_tts.api) for CPython 3.12 on x86-64 Linux. Usage: bash bench/gpu_wheels.sh [OUT_DIR=.whl]
#
# The machine already has torch 2.11 (CUDA 13), torchaudio, triton, the nvidia-* libraries,
# transformers, huggingface-hub, safetensors, torchdiffeq, numpy, scipy, numba, scikit-learn,
# matplotlib, einops, requests, rich, tqdm, pyyaml, urllib3 and more (see the device notes'
# package list, copied into tests/test_gpu_wheels.py): none of those is downloaded here, and
# torch, torchaudio, triton and nvidia-* never are (a second torch on the path breaks the first).
# Pins come from requirements/worker.txt, requirements/bench.txt and requirements/lock/.
# Every wheel is one version, --no-deps; tests/test_gpu_wheels.py proves that their Requires-Dist
# are met by this folder or the machine. Packages published only as an sdist are built into a
# wheel here, and only if the result is pure Python. The folder is wiped of old wheels first.
# Fails when the wheels add up to more than GPU_WHEELS_MAX_MIB (48) MiB: a device call carries at
# most 64 MiB, the repository included.
set -euo pipefail

OUT_DIR=${1:-.whl}
PYTHON=${PYTHON:-python3}
MAX_MIB=${GPU_WHEELS_MAX_MIB:-48}

# name==version, one per line; what pulls each one in is on its right.
WHEELS="
f5-tts==1.1.22                     # the model code (installed --no-deps: its gradio/wandb/... are unused)
vocos==0.1.0                       # vocoder
x-transformers==2.31.10            # f5_tts.model.modules
einx==0.4.3                        # x-transformers
frozendict==2.5.1                  # einx
loguru==0.7.3                      # x-transformers
torch-einops-utils==0.2.0          # x-transformers
librosa==0.11.0                    # f5_tts.model.modules (librosa.filters.mel)
audioread==3.1.0                   # librosa
decorator==5.3.1                   # librosa
pooch==1.9.0                       # librosa
platformdirs==4.14.7               # pooch
soxr==1.1.0                        # librosa
soundfile==0.14.0                  # worker, librosa, f5_tts.api
lameenc==1.9.0                     # handler.stream_encoder (mp3 streams)
cffi==2.1.1                        # soundfile, cryptography
pycparser==3.12                    # cffi
rjieba==0.2.2                      # f5_tts.model.utils
pypinyin==0.55.0                   # f5_tts.model.utils
num2words==0.5.14                  # handler.text_normalize
cn2an==0.5.24                      # handler.text_normalize
proces==0.1.7                      # cn2an
pydantic==2.14.3                   # handler.schema
pydantic-core==2.50.4              # pydantic
annotated-types==0.8.0             # pydantic
typing-inspection==0.4.5           # pydantic
pydub==0.25.1                      # f5_tts.infer.utils_infer
hydra-core==1.3.8                  # f5_tts.api
omegaconf==2.3.1                   # f5_tts.api, hydra-core
cached-path==1.8.10                # f5_tts.api; imports its s3, r2 and gs clients at import time:
boto3==1.44.5                      #   cached_path.schemes.s3 / r2
botocore==1.44.5                   #   boto3
s3transfer==0.19.3                 #   boto3
jmespath==1.1.0                    #   boto3, botocore
google-cloud-storage==3.17.1       #   cached_path.schemes.gs
google-api-core==2.44.0            #   google-cloud-storage
google-auth==2.63.0                #   google-cloud-storage
google-cloud-core==2.8.0           #   google-cloud-storage
google-resumable-media==2.11.0     #   google-cloud-storage
google-crc32c==1.9.0               #   google-resumable-media
googleapis-common-protos==1.76.0   #   google-api-core
proto-plus==1.29.0                 #   google-api-core
opentelemetry-api==1.45.2          #   google-api-core
pyasn1-modules==0.4.2              #   google-auth
pyasn1==0.6.5                      #   pyasn1-modules
cryptography==50.0.2               #   google-auth
"
# Published on PyPI as an sdist only: built here with `pip wheel`, and must come out pure Python.
SDISTS="
encodec==0.1.1                     # vocos
antlr4-python3-runtime==4.9.3      # omegaconf, hydra-core
docopt==0.6.2                      # num2words
"

pins() { sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' <<<"$1"; }

# pip takes exactly the platforms named (no older glibc implied), preferring them in this order:
# the oldest glibc first, up to 2.28, which torch's own Linux wheels need anyway.
PLATFORMS=(--platform manylinux1_x86_64 --platform manylinux2010_x86_64 --platform manylinux2014_x86_64)
for n in $(seq 17 28); do PLATFORMS+=(--platform "manylinux_2_${n}_x86_64"); done
# pip run quietly, without the warnings about this machine's local extra indexes that lack a name
pip_() {
    "$PYTHON" -m pip "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}

for pin in $(pins "$WHEELS") $(pins "$SDISTS"); do
    case "${pin%%==*}" in
        torch | torchaudio | triton | nvidia-*) echo "gpu_wheels: refusing to carry $pin" >&2; exit 1 ;;
    esac
done

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/wheels"

# shellcheck disable=SC2046  # one word per pin
pip_ download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    "${PLATFORMS[@]}" -d "$stage/wheels" $(pins "$WHEELS")
sdist_names=$(pins "$SDISTS" | sed 's/==.*//' | paste -sd, -)
# shellcheck disable=SC2046
pip_ wheel -q --no-deps --no-binary "$sdist_names" -w "$stage/wheels" $(pins "$SDISTS")

"$PYTHON" - "$stage/wheels" "$MAX_MIB" $(pins "$WHEELS") $(pins "$SDISTS") <<'EOF'
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

for built in $(pins "$SDISTS"); do
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
