"""What every benchmark shares, one of each: the project's import paths, a model folder (given, or a
random one written to a temporary folder), the worker's service and upstream's model on the same
files, one request's RunPod messages, timing and percentiles, the description of the machine, markdown
tables and JSON results.

Importing this module imports only the standard library (bench/gpu_bench.py times `import torch`
first, and bench/venv_trace.py traces what the worker opens); everything else is imported where used.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if (ROOT / "handler").is_dir():  # a checkout; in an image bench/ is mounted alone and the worker is on PYTHONPATH
    for _path in (ROOT, ROOT / "bench"):
        if str(_path) not in sys.path:
            sys.path.insert(0, str(_path))

# a paragraph of plain sentences: cpu_bench speaks all eight, gpu_bench the first six
SENTENCES = (
    "The quick brown fox jumps over the lazy dog, and then it runs back to the forest.",
    "Benchmarks should measure what users wait for, not what is easy to count.",
    "Every request carries a reference voice, a text, and a handful of parameters.",
    "Long texts are split into chunks that the model can speak in one go.",
    "Those chunks are joined again with a short cross-fade between them.",
    "A worker that starts fast and answers fast costs less on every request.",
    "This paragraph is long enough to need several chunks on a short reference.",
    "The end of the paragraph is near, and so is the end of this benchmark case.",
)


# ---- the model and the two sides -------------------------------------------------------------------
@contextmanager
def model_folder(model_dir: Path | None, size: str = "tiny") -> Iterator[Path]:
    """`model_dir` as given, or a random model of `size` in a temporary folder, deleted afterwards."""
    if model_dir is not None:
        yield model_dir
        return
    from support.random_model import write_random_model

    with tempfile.TemporaryDirectory(prefix=f"f5-bench-{size}-") as scratch:
        yield write_random_model(Path(scratch) / "model", size)


def model_label(model_dir: Path | None, size: str = "tiny") -> str:
    """What a report says the model was."""
    return str(model_dir) if model_dir else f"random {size} (support/random_model.py)"


def worker_service(model_dir: Path, device: str, extra: dict | None = None):
    """A service built exactly as the worker builds it, from environment settings (none of the
    caller's F5_ or BUCKET_ variables); stderr keeps its `[startup] <step> ok in X s` lines."""
    from handler.config import Settings
    from handler.startup import build_service

    env = {k: v for k, v in os.environ.items() if not k.startswith(("F5_", "BUCKET_"))}
    env.update(F5_MODEL_DIR=str(model_dir), F5_DEVICE=device, **(extra or {}))
    return build_service(Settings.from_env(env))


def upstream_model(model_dir: Path, device: str = "cpu"):
    """Upstream's F5TTS object and its `utils_infer` module, holding the same weights as the worker,
    built the way its __init__ would (which only builds full-size configs).

    Upstream's code is imported through support/upstream.py (the same import the parity tests use);
    `torchaudio.load` reads WAV through soundfile (no torchcodec on a CPU torch 2.11)."""
    import soundfile as sf
    import torch
    import torchaudio

    from handler.f5.files import f5_files
    from handler.f5.modules import load_f5_modules
    from handler.manifest import read_manifest
    from support.upstream import utils_infer as upstream_utils_infer

    def load_wav(path, *args, **kwargs):
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
        return torch.from_numpy(data.T.copy()), rate

    torchaudio.load = load_wav
    utils_infer = upstream_utils_infer()
    from f5_tts.api import F5TTS

    files = f5_files(read_manifest(model_dir))
    f5 = load_f5_modules()
    model = F5TTS.__new__(F5TTS)
    model.mel_spec_type, model.target_sample_rate = "vocos", 24000
    model.ode_method, model.use_ema, model.device = "euler", True, device
    model.vocoder = utils_infer.load_vocoder("vocos", True, str(files.vocoder_dir), device)
    model.ema_model = utils_infer.load_model(
        f5.backbones[files.backbone], files.arch, str(files.checkpoint), "vocos", str(files.vocab), device=device
    )
    return model, utils_infer


def ask(service, job: dict, job_id: str = "bench") -> Iterator[dict[str, Any]]:
    """One request's messages as the queue worker sends them (RunPod JSON, audio in base64)."""
    from handler.worker import messages

    return messages(service.events(job, job_id))


# ---- timing --------------------------------------------------------------------------------------------
def timed(fn: Callable[[], Any], repeats: int, sync: Callable[[], None] | None = None) -> tuple[list[float], Any]:
    """`fn` run `repeats` times: the seconds of each run (after `sync`, which waits for the device)
    and the last run's result."""
    seconds, result = [], None
    for _ in range(repeats):
        began = time.perf_counter()
        result = fn()
        if sync is not None:
            sync()
        seconds.append(time.perf_counter() - began)
    return seconds, result


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100): an observed value, honest for few samples."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def quantiles(values: list[float]) -> dict:
    return {"p50_s": round(statistics.median(values), 4), "p95_s": round(percentile(values, 95), 4)}


def playback(arrivals: list[tuple[float, float]]) -> dict:
    """A player that starts at the first audio and plays in real time: `arrivals` are (seconds since the
    request was sent, seconds of audio received so far). Returns when it started, how long it stalled
    waiting for audio (underruns) and how many times."""
    arrivals = sorted(arrivals)
    started, _ = arrivals[0]
    clock, position, buffered, stalled, stalls = started, 0.0, 0.0, 0.0, 0
    for at, received in arrivals:
        playable = buffered - position
        if at - clock > playable + 1e-9:  # the buffer ran dry before this arrival
            stalled += at - clock - playable
            stalls += 1
            position = buffered
        else:
            position += at - clock
        clock, buffered = at, received
    return {"first_audio_s": round(started, 4), "stalled_s": round(stalled, 4), "stalls": stalls,
            "audio_s": round(buffered, 3)}


# ---- the report ------------------------------------------------------------------------------------------
def machine(device: str = "cpu") -> str:
    """The machine a run measured, said the same way by every benchmark."""
    import torch

    where = f"device {device}"
    if device == "cuda" and torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        where += f" ({props.name}, {props.total_memory / 2**30:.0f} GiB, CUDA {torch.version.cuda})"
    return (f"{platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}, "
            f"torch {torch.__version__}, {torch.get_num_threads()} threads, {where}")


def utc_stamp() -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())


def table(header: Sequence[Any], rows: Sequence[Sequence[Any]]) -> str:
    """A markdown table; an empty cell is written `| |`."""

    def line(cells: Sequence[Any]) -> str:
        return "|" + "".join(f" {cell} |" if str(cell) else " |" for cell in cells)

    return "\n".join([line(header), line(["---"] * len(header)), *(line(row) for row in rows)])


def write_json(path: Path | None, data: Any) -> None:
    """The results as indented JSON (values JSON has no type for as their str); no file when `path` is None."""
    if path is not None:
        path.write_text(json.dumps(data, indent=2, default=str) + "\n")
