"""bench/gpu_wheels.sh fetches the wheels the lent GPU machine lacks, and nothing else.

The machine (CPython 3.12 on x86-64 Linux, no network) has torch, torchaudio and the packages in
MACHINE below; bench/gpu_bench.py there also needs the worker's engine and upstream f5-tts's
inference path. The script runs for real against PyPI, then: the wheels fit the size budget, one
version each, none of torch/torchaudio/triton/nvidia-*; they install with no index for CPython
3.12 on manylinux 2.28; every Requires-Dist of every wheel (markers read for that machine) is met
by another wheel or by the machine; every wheel is needed by the worker or the upstream path; and
the pins match requirements/worker.txt and requirements/bench.txt.

Without the network: the script names most packages without a version and takes it from the
project's pins (requirements/*.txt, then the default image's lock); `--pins` shows the result, and a
copy of the script and its sources, broken on purpose, shows that a changed pin follows and that a
second copy of a pin is refused.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
from conftest import ROOT
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version

SCRIPT = ROOT / "bench" / "gpu_wheels.sh"
MAX_BYTES = 48 * 2**20
PLATFORMS = ["manylinux1_x86_64", "manylinux2010_x86_64", "manylinux2014_x86_64"] + [
    f"manylinux_2_{n}_x86_64" for n in range(17, 29)
]
# Requires-Dist markers as the GPU machine reads them (python3 there is CPython 3.12.3).
MACHINE_ENV = {
    "implementation_name": "cpython", "implementation_version": "3.12.3", "os_name": "posix",
    "platform_machine": "x86_64", "platform_python_implementation": "CPython", "platform_release": "",
    "platform_system": "Linux", "platform_version": "", "python_full_version": "3.12.3",
    "python_version": "3.12", "sys_platform": "linux", "extra": "",
}  # fmt: skip
# The GPU machine's Python packages, from the device notes (image 'cuda', read 2026-11-17).
MACHINE = {
    'absl-py', 'accelerate', 'aiofiles', 'aiohappyeyeballs', 'aiohttp', 'aiosignal', 'annotated-doc', 'anyio',
    'attrs', 'botorch', 'build', 'certifi', 'charset-normalizer', 'chex', 'click', 'cloudpickle', 'cmake',
    'colorama', 'contourpy', 'coverage', 'cuda-bindings', 'cuda-core', 'cuda-pathfinder', 'cuda-toolkit',
    'cupy-cuda13x', 'cycler', 'cython', 'diffrax', 'e3nn', 'einops', 'equinox', 'etils', 'execnet', 'filelock',
    'flatbuffers', 'flax', 'fonttools', 'formulaic', 'frozenlist', 'fsspec', 'gpytorch', 'grpcio', 'h11', 'h5py',
    'hf-xet', 'httpcore', 'httpx', 'huggingface-hub', 'humanize', 'hypothesis', 'idna', 'imageio', 'iniconfig',
    'interface-meta', 'jax', 'jax-cuda13-pjrt', 'jax-cuda13-plugin', 'jaxlib', 'jaxtyping', 'jinja2', 'joblib',
    'kiwisolver', 'lazy-loader', 'lightning', 'lightning-utilities', 'linear-operator', 'lineax', 'llvmlite', 'lxml',
    'markdown', 'markdown-it-py', 'markupsafe', 'matplotlib', 'mdurl', 'meson', 'ml-dtypes', 'mpi4py', 'mpmath',
    'msgpack', 'multidict', 'multipledispatch', 'mypy-extensions', 'nanobind', 'narwhals', 'networkx', 'ninja',
    'numba', 'numba-cuda', 'numpy', 'numpyro', 'nvidia-cublas', 'nvidia-cuda-cupti', 'nvidia-cuda-nvrtc',
    'nvidia-cuda-runtime', 'nvidia-cudnn-cu13', 'nvidia-cufft', 'nvidia-cufile', 'nvidia-curand', 'nvidia-cusolver',
    'nvidia-cusparse', 'nvidia-cusparselt-cu13', 'nvidia-ml-py', 'nvidia-nccl-cu13', 'nvidia-nvjitlink',
    'nvidia-nvshmem-cu13', 'nvidia-nvtx', 'onnx', 'onnx-ir', 'onnxruntime', 'onnxscript', 'opencv-python-headless',
    'opt-einsum', 'opt-einsum-fx', 'optax', 'optimistix', 'orbax-checkpoint', 'packaging', 'pandas', 'pathspec',
    'patsy', 'peft', 'pillow', 'pip', 'pluggy', 'portalocker', 'prometheus-client', 'propcache', 'protobuf',
    'psutil', 'py-cpuinfo', 'pyarrow', 'pybind11', 'pygments', 'pyparsing', 'pyproject-hooks', 'pyre-extensions',
    'pytest', 'pytest-benchmark', 'pytest-cov', 'pytest-mock', 'pytest-timeout', 'pytest-xdist', 'python-dateutil',
    'pytorch-lightning', 'pyyaml', 'regex', 'requests', 'rich', 'sacrebleu', 'safetensors', 'scikit-build-core',
    'scikit-image', 'scikit-learn', 'scipy', 'seaborn', 'sentence-transformers', 'sentencepiece', 'setuptools',
    'shellingham', 'simplejson', 'six', 'sortedcontainers', 'statsmodels', 'sympy', 'tabulate', 'tensorboard',
    'tensorboard-data-server', 'tensorstore', 'threadpoolctl', 'tifffile', 'tiktoken', 'timm', 'tokenizers', 'toolz',
    'torch', 'torch-geometric', 'torchaudio', 'torchdiffeq', 'torchmetrics', 'torchvision', 'tqdm', 'transformers',
    'treescope', 'triton', 'typer', 'typing-extensions', 'typing-inspect', 'urllib3', 'uvloop', 'wadler-lindig',
    'werkzeug', 'wheel', 'wrapt', 'xarray', 'xxhash', 'yarl', 'zipp',
}  # fmt: skip
# Versions seen there (a session's pip list); the others are checked by name only.
MACHINE_VERSIONS = {
    "accelerate": "1.15.0", "huggingface-hub": "1.33.0", "numpy": "2.5.2", "safetensors": "0.8.0",
    "tokenizers": "0.23.2", "torch": "2.11.0", "torchaudio": "2.11.0", "torchdiffeq": "0.2.5",
    "transformers": "5.17.0", "triton": "3.6.0",
}  # fmt: skip
NEVER_CARRIED = re.compile(r"^(torch|torchaudio|triton|nvidia-.*)$")
# f5-tts is installed --no-deps: what its metadata lists that neither the worker's engine
# (handler/f5/modules.py skips the trainer) nor f5_tts.infer.utils_infer / f5_tts.api imports.
F5_UNUSED = {
    "bitsandbytes", "datasets", "ema-pytorch", "gradio", "tomli", "torchcodec", "transformers-stream-generator",
    "unidecode", "wandb",
}  # fmt: skip
# Named in requirements/worker.txt but imported only by the RunPod glue and the HTTP mode, not by the benchmark.
WORKER_GLUE = {"runpod", "uvicorn", "starlette", "python-multipart"}  # the RunPod glue and the HTTP mode


def pins(path: Path) -> dict[str, str]:
    """name==version lines of a requirements file, following its `-r other.txt` lines."""
    found = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line.startswith("-r "):
            found.update(pins(path.parent / line.removeprefix("-r ").strip()))
        elif line:
            name, version = line.split("==")
            found[canonicalize_name(name)] = version
    return found


def lock_pins(path: Path) -> dict[str, str]:
    """name==version of a hash-locked file (requirements/lock/*.txt)."""
    found = {}
    for line in path.read_text().splitlines():
        if match := re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", line):
            found[canonicalize_name(match[1])] = match[2]
    return found


DEFAULT_TORCH = json.loads((ROOT / "build" / "variants.json").read_text())["variants"][0]["torch"]
# what the script takes a bare name's version from, in this order
PIN_SOURCES = [ROOT / "requirements" / name for name in ("worker.txt", "bench.txt", "asr.txt")]
DEFAULT_LOCK = ROOT / "requirements" / "lock" / f"image-torch{DEFAULT_TORCH}.txt"


def metadata(wheel: Path):
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA") and n.count("/") == 1)
        return Parser().parsestr(archive.read(name).decode())


def requirements(wheel: Path) -> list[Requirement]:
    """The wheel's Requires-Dist that apply on the GPU machine (no extras)."""
    reqs = [Requirement(text) for text in metadata(wheel).get_all("Requires-Dist") or []]
    return [req for req in reqs if req.marker is None or req.marker.evaluate(MACHINE_ENV)]


def run_script(out: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(SCRIPT), str(out)], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
        env={**os.environ, "PYTHON": sys.executable, **env},
    )  # fmt: skip


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory) -> tuple[dict[str, Path], str]:
    out = tmp_path_factory.mktemp("whl")
    (out / "stale_pkg-0.1-py3-none-any.whl").write_bytes(b"left by an earlier run")
    result = run_script(out)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    wheels = {}
    for wheel in sorted(out.glob("*.whl")):
        name = canonicalize_name(parse_wheel_filename(wheel.name)[0])
        assert name not in wheels, f"two versions of {name}: {wheels[name].name}, {wheel.name}"
        wheels[name] = wheel
    return wheels, result.stdout


def test_wheels_fit_the_budget_one_version_each_and_never_torch(wheelhouse):
    wheels, stdout = wheelhouse
    total = sum(wheel.stat().st_size for wheel in wheels.values())
    assert total <= MAX_BYTES, f"{total / 2**20:.1f} MiB"
    assert f"{total / 2**20:8.2f} MiB  total, {len(wheels)} wheels" in stdout
    assert "stale-pkg" not in wheels  # the folder was emptied of old wheels first
    assert not [name for name in wheels if NEVER_CARRIED.match(name)]
    assert not set(wheels) & MACHINE, "carries a package the machine already has"


def test_pins_are_the_projects(wheelhouse):
    wheels, _ = wheelhouse
    wanted = {**pins(ROOT / "requirements" / "worker.txt"), **pins(ROOT / "requirements" / "bench.txt")}
    dev_only = set(pins(ROOT / "requirements" / "dev.txt"))
    for name, version in wanted.items():
        if name in MACHINE or name in WORKER_GLUE or name in dev_only:
            continue
        assert name in wheels, f"{name}=={version} (requirements/) is neither on the machine nor carried"
        assert str(parse_wheel_filename(wheels[name].name)[1]) == version, wheels[name].name


def test_installs_with_no_index_for_cpython_312(wheelhouse, tmp_path):
    wheels, _ = wheelhouse
    platforms = [arg for platform in PLATFORMS for arg in ("--platform", platform)]
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--isolated", "--no-index", "--find-links", str(next(iter(wheels.values())).parent),
         "--no-deps", "--no-compile", "--target", str(tmp_path / "site"), "--python-version", "3.12",
         "--implementation", "cp", "--only-binary=:all:", *platforms, *sorted(wheels)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    installed = {
        canonicalize_name(d.name.removesuffix(".dist-info").rsplit("-", 1)[0])
        for d in (tmp_path / "site").glob("*.dist-info")
    }
    assert installed == set(wheels)


def test_every_requirement_is_met_and_every_wheel_is_needed(wheelhouse):
    wheels, _ = wheelhouse
    versions = {name: parse_wheel_filename(wheel.name)[1] for name, wheel in wheels.items()}
    unmet, by_name_only = [], set()
    graph = {}
    for name, wheel in wheels.items():
        graph[name] = set()
        for req in requirements(wheel):
            dep = canonicalize_name(req.name)
            if name == "f5-tts" and dep in F5_UNUSED:
                continue
            graph[name].add(dep)
            if dep in versions:
                ok = req.specifier.contains(versions[dep], prereleases=True)
            elif dep in MACHINE_VERSIONS:
                ok = req.specifier.contains(Version(MACHINE_VERSIONS[dep]), prereleases=True)
            elif dep in MACHINE:
                ok = True
                if req.specifier:
                    by_name_only.add(f"{dep}{req.specifier}")
            else:
                ok = False
            if not ok:
                unmet.append(f"{name} needs {req}")
    assert not unmet, unmet
    print("machine versions not known here, bounds unchecked:", ", ".join(sorted(by_name_only)))

    # every wheel is reachable from what the worker and upstream's inference path import
    roots = set(pins(ROOT / "requirements" / "worker.txt")) | set(pins(ROOT / "requirements" / "bench.txt"))
    reached, todo = set(), [name for name in roots if name in wheels]
    while todo:
        name = todo.pop()
        if name not in reached:
            reached.add(name)
            todo += [dep for dep in graph[name] if dep in wheels]
    assert reached == set(wheels), f"carried but not needed: {sorted(set(wheels) - reached)}"


def test_over_the_budget_fails_and_leaves_the_folder_alone(tmp_path):
    keep = tmp_path / "keep_me-1.0-py3-none-any.whl"
    keep.write_bytes(b"an earlier wheel")
    result = run_script(tmp_path, GPU_WHEELS_MAX_MIB="1")
    assert result.returncode != 0
    assert "over the limit of 1 MiB" in result.stderr
    assert [p.name for p in tmp_path.iterdir()] == [keep.name]


def script_pins(root: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(root / "bench" / "gpu_wheels.sh"), "--pins"], capture_output=True, text=True, timeout=60,
        check=False, env={**os.environ, "PYTHON": sys.executable},
    )  # fmt: skip


def test_pins_come_from_the_project_without_the_network():
    result = script_pins()
    assert result.returncode == 0, result.stderr
    carried = dict(line.split("==") for line in result.stdout.split())
    carried = {canonicalize_name(name): version for name, version in carried.items()}
    direct = {}
    for source in PIN_SOURCES:
        direct = {**pins(source), **direct}
    locked = lock_pins(DEFAULT_LOCK)
    script = SCRIPT.read_text()
    for name, version in carried.items():
        if name in direct:
            assert version == direct[name], f"{name}: carried {version}, requirements/ pin {direct[name]}"
        elif name in locked:
            assert version == locked[name], f"{name}: carried {version}, {DEFAULT_LOCK.name} has {locked[name]}"
        else:  # pinned nowhere else: the script is the one source of this pin
            assert re.search(rf"^{re.escape(name)}=={re.escape(version)}\s", script, re.M | re.I), name
    assert not [name for name in carried if NEVER_CARRIED.match(name)]


@pytest.fixture
def script_copy(tmp_path) -> Path:
    """The script and everything it reads, in a folder of their own, to break on purpose."""
    for relative in ["bench/gpu_wheels.sh", "scripts/variants.sh", "build/variants.json",
                     *(f"requirements/{p.name}" for p in PIN_SOURCES), f"requirements/lock/{DEFAULT_LOCK.name}"]:
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / relative, tmp_path / relative)
    return tmp_path


def test_a_changed_pin_is_followed_and_a_second_copy_of_a_pin_is_refused(script_copy):
    worker = script_copy / "requirements" / "worker.txt"
    vocos = pins(worker)["vocos"]
    worker.write_text(worker.read_text().replace(f"vocos=={vocos}", "vocos==9.9.9"))
    result = script_pins(script_copy)
    assert result.returncode == 0 and "vocos==9.9.9" in result.stdout.split(), result.stderr

    script = script_copy / "bench" / "gpu_wheels.sh"
    text = script.read_text()
    script.write_text(text.replace("\nvocos ", "\nvocos==0.1.0 ", 1))
    result = script_pins(script_copy)
    assert result.returncode != 0
    assert "vocos==0.1.0: requirements/worker.txt pins vocos==9.9.9; list it by name only" in result.stderr

    script.write_text(text.replace("\nvocos ", "\nnot-pinned-anywhere ", 1))
    result = script_pins(script_copy)
    assert result.returncode != 0 and "not-pinned-anywhere is pinned in none of" in result.stderr
