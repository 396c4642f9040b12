#!/usr/bin/env bash
# Print values from build/variants.json, the one list of the image's torch/CUDA variants (the first
# is the default image). The other scripts read the variants through this instead of repeating them.
#   bash scripts/variants.sh FIELD          FIELD of the default variant (torch, torchaudio, cuda, driver, suffix, name)
#   bash scripts/variants.sh FIELD all      FIELD of every variant, one a line, the default first
#   bash scripts/variants.sh FIELD TORCH    FIELD of the variant whose torch is TORCH (exit 1 if there is none)
#   bash scripts/variants.sh cpu_dev.torch  the CPU development pair (cpu_dev.torch, cpu_dev.torchaudio)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
exec "${PYTHON:-python3}" - "$root/build/variants.json" "$@" <<'EOF'
import json
import sys

path, field, which = sys.argv[1], sys.argv[2], (sys.argv[3] if len(sys.argv) > 3 else "")
data = json.load(open(path, encoding="utf-8"))
if field.startswith("cpu_dev."):
    print(data["cpu_dev"][field.removeprefix("cpu_dev.")])
    sys.exit(0)
variants = data["variants"]
if which == "all":
    chosen = variants
elif which:
    chosen = [v for v in variants if v["torch"] == which]
    if not chosen:
        sys.exit(f"variants.sh: no variant with torch {which} in {path}")
else:
    chosen = variants[:1]
for variant in chosen:
    if field not in variant:
        sys.exit(f"variants.sh: variants have no field {field!r} (fields: {', '.join(variant)})")
    print(variant[field])
EOF
