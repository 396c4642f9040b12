"""Start-up per step, warm-up excluded: this tree against other checkouts of the project, same run.

Each run is a fresh process that builds the worker's service exactly as the worker does
(`handler.startup.build_service`, `F5_WARMUP=0`) and prints its `[startup]` lines; runs of the
trees being compared are interleaved, so that a busy machine slows them alike. Reported: each
step's median, min and max, and the process's wall time (Python start and `import torch` included).

    python bench/startup_bench.py --model-dir DIR [--runs 3] [--tree NAME=PATH:MODEL_DIR ...]
    python bench/startup_bench.py --image IMAGE [--runs 3] [--tree NAME=PATH ...]

`--tree` adds another checkout (e.g. `git worktree add /tmp/before <commit>`), with its own model
folder when the checkpoint format differs (an older tree with a float32 checkpoint, say). All
trees run on this tree's interpreter and packages. With `--image`, every run is a container of that
image (podman, network off, on the CPU) with the tree's `handler/` mounted over the image's: the
image's own venv and baked model, each tree's code.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

from harness import ROOT, table, write_json

LINE = re.compile(r"^\[startup\] (\w+) ok in ([0-9.]+) s")
BUILD = "import os; from handler.config import Settings; from handler.startup import build_service; " \
        "build_service(Settings.from_env(os.environ))"


def host_command(tree: Path, model_dir: Path) -> tuple[list[str], dict]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("F5_", "RUNPOD_", "BUCKET_"))}
    env.update(F5_MODEL_DIR=str(model_dir), F5_DEVICE=os.environ.get("F5_DEVICE", "cpu"), F5_WARMUP="0")
    return [sys.executable, "-c", BUILD], env


def image_command(image: str, tree: Path) -> tuple[list[str], None]:
    # the handler's bytecode comes from the tree (compiled by an earlier host run or compileall),
    # so every tree starts with its bytecode as the image's own code does
    return ["podman", "--runtime", "runc", "run", "--rm", "--network", "none",
            "-e", "F5_WARMUP=0", "-e", "F5_DEVICE=cpu", "-e", "F5_REQUIRE_GPU=0",
            "-v", f"{tree.resolve() / 'handler'}:/app/handler:ro",
            "--entrypoint", "/opt/venv/bin/python", image, "-c", BUILD], None


def one_run(command: list[str], env: dict | None, cwd: Path) -> dict:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"start-up failed in {cwd}:\n{done.stderr[-3000:]}")
    steps = {m.group(1): float(m.group(2)) for m in map(LINE.match, done.stderr.splitlines()) if m}
    return {"steps": steps, "wall_s": wall}


def summary(runs: list[dict]) -> dict:
    names = list(dict.fromkeys(name for run in runs for name in run["steps"]))
    out = {}
    for name in [*names, "steps_total", "wall_s"]:
        if name == "wall_s":
            values = [run["wall_s"] for run in runs]
        elif name == "steps_total":
            values = [sum(run["steps"].values()) for run in runs]
        else:
            values = [run["steps"].get(name, 0.0) for run in runs]
        out[name] = {"median": round(statistics.median(values), 2), "min": round(min(values), 2), "max": round(max(values), 2)}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--model-dir", type=Path, help="on this machine, with this model folder")
    target.add_argument("--image", help="in containers of this image (podman), with its baked model")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tree", action="append", default=[], help="NAME=PATH[:MODEL_DIR]")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    trees = {"this tree": (ROOT, args.model_dir)}
    for spec in args.tree:
        name, _, rest = spec.partition("=")
        path, _, model = rest.partition(":")
        trees[name] = (Path(path), Path(model) if model else args.model_dir)
    runs: dict[str, list] = {name: [] for name in trees}
    if args.image:
        subprocess.run([sys.executable, "-m", "compileall", "-q", *(str(t / "handler") for t, _ in trees.values())],
                       check=True)
    for _ in range(args.runs):
        for name, (tree, model_dir) in trees.items():
            command, env = image_command(args.image, tree) if args.image else host_command(tree, model_dir)
            runs[name].append(one_run(command, env, tree))
    report = {
        "date": time.strftime("%Y-%m-%d"),
        "where": f"image {args.image}" if args.image else f"this machine, model {args.model_dir}",
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "load_average": os.getloadavg(),
        "trees": {name: summary(rows) for name, rows in runs.items()},
    }
    names = list(trees)
    steps = list(dict.fromkeys(step for name in names for step in report["trees"][name]))

    def cell(name: str, step: str) -> str:
        figures = report["trees"][name].get(step)
        return f"{figures['median']} ({figures['min']} to {figures['max']})" if figures else ""

    print(table(["step (s), median (min to max)", *names], [[step, *(cell(name, step) for name in names)]
                                                           for step in steps]))
    write_json(args.out, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
