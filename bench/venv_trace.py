"""Which files of the image's virtual environment does the worker use? Run inside the image.

It records every file Python opens (audit hook: sources, bytecode, data files), every shared
library mapped into the process (/proc/self/maps: extensions and what they link), while it starts
the worker exactly as the image does (handler.startup) and serves requests in every output format,
streamed and not, English and Chinese, with text normalisation, and imports the RunPod and HTTP
front ends. Then it sums the venv's files that were never touched, by kind and by package.

On a CPU this is a lower bound of what a GPU run needs: CUDA libraries loaded on demand (cuDNN's
engine libraries, cuSOLVER, ...) are not mapped here, so a shared library is never counted as
removable from this trace alone; only kinds of file no inference ever reads (C/C++ headers, static
libraries, CMake files) are pruned by the Dockerfile.

    podman run --rm --network none -v "$PWD/bench:/bench:ro" -e PYTHONPATH=/app -e F5_REQUIRE_GPU=0 -e F5_WARMUP=0 \
      --entrypoint /opt/venv/bin/python IMAGE /bench/venv_trace.py [--json OUT]
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from pathlib import Path

from harness import ask, table, write_json

OPENED: set[str] = set()


def _audit(event: str, args: tuple) -> None:
    if event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
        path = os.fsdecode(args[0])
        if path.startswith(sys.prefix):
            OPENED.add(os.path.realpath(path))


sys.addaudithook(_audit)


def mapped_files() -> set[str]:
    files = set()
    with open("/proc/self/maps") as maps:
        for line in maps:
            parts = line.split(maxsplit=5)
            if len(parts) == 6 and parts[5].startswith("/"):
                files.add(os.path.realpath(parts[5].strip()))
    return files


def exercise() -> int:
    """Start the worker as the image does and serve a request of each kind; returns requests served."""
    import base64

    import handler.http_app  # the HTTP front end's imports
    import handler.worker  # noqa: F401 - the RunPod front end's imports (the SDK)
    from handler.config import Settings
    from handler.startup import build_service

    service = build_service(Settings.from_env(os.environ))
    jobs = [{"text": "Hello there, one, two, 3.", "format": fmt, "nfe_step": 4, "seed": 1}
            for fmt in ("wav", "mp3", "ogg", "opus", "flac")]
    jobs += [
        {"text": "Hello there, streamed.", "format": "mp3", "stream": True, "nfe_step": 4, "seed": 1},
        {"text": "你好，世界。今天是2026年。", "voice": "zh", "nfe_step": 4, "seed": 1},
    ]
    for job in jobs:
        messages = list(ask(service, job, "trace"))
        errors = [m["error"] for m in messages if "error" in m]
        if errors:
            raise SystemExit(f"request {job} failed: {errors}")
        audio = [m for m in messages if "audio_base64" in m]
        assert audio and base64.b64decode(audio[0]["audio_base64"]), job
    service.scheduler.close()
    return len(jobs)


def kind_of(path: Path) -> str:
    name = path.name
    if name.endswith((".h", ".hpp", ".hxx", ".cuh", ".inl")) or "/include/" in str(path):
        return "C/C++ headers"
    if name.endswith(".a"):
        return "static libraries"
    if ".so" in name:
        return "shared libraries"
    if name.endswith((".py", ".pyc", ".pyi")):
        return "Python sources and bytecode"
    if ".dist-info" in str(path):
        return "package metadata"
    return "other data"


def package_of(path: Path, site: Path) -> str:
    try:
        parts = path.relative_to(site).parts
    except ValueError:
        return str(path.parent)
    return "/".join(parts[:2]) if parts[0] == "nvidia" and len(parts) > 2 else parts[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    served = exercise()
    touched = OPENED | mapped_files()
    site = Path(sys.prefix) / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"
    total = used = 0
    unused_by_kind: Counter = Counter()
    unused_by_package: Counter = Counter()
    for root, _, names in os.walk(sys.prefix):
        for name in names:
            path = Path(root) / name
            if path.is_symlink():
                continue
            size = path.stat().st_size
            total += size
            if str(path) in touched:
                used += size
                continue
            unused_by_kind[kind_of(path)] += size
            unused_by_package[package_of(path, site)] += size
    report = {
        "requests_served": served,
        "venv_mb": round(total / 1e6, 1),
        "touched_mb": round(used / 1e6, 1),
        "untouched_by_kind_mb": {k: round(v / 1e6, 1) for k, v in unused_by_kind.most_common()},
        "untouched_by_package_mb": {k: round(v / 1e6, 1) for k, v in unused_by_package.most_common(25)},
    }
    print(f"venv {report['venv_mb']} MB; opened or mapped while serving {served} requests: {report['touched_mb']} MB")
    print()
    print(table(["never touched, by kind", "MB"], list(report["untouched_by_kind_mb"].items())))
    print()
    print(table(["never touched, by package (largest)", "MB"], list(report["untouched_by_package_mb"].items())))
    write_json(args.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
