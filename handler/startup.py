"""Bring the worker to ready, step by step, each step one flushed log line with its duration.

versions → manifest → model → voices → warm-up. Any failure raises StartupError with one line that
names the cause; `handler.__main__` prints it and exits non-zero before any job is taken.
"""

from __future__ import annotations

import platform
import sys
import time
from contextlib import contextmanager

from handler.config import Settings
from handler.errors import StartupError


def say(message: str) -> None:
    print(f"[startup] {message}", file=sys.stderr, flush=True)


@contextmanager
def step(name: str):
    started = time.perf_counter()
    details: dict = {}
    try:
        yield details
    except StartupError as exc:
        raise StartupError(f"{name}: {exc}") from None
    except Exception as exc:
        detail = " ".join(str(exc).split())  # one line, however many the exception had
        raise StartupError(f"{name}: {type(exc).__name__}: {detail[:600]}") from exc
    extra = " ".join(f"{key}={value}" for key, value in details.items())
    say(f"{name} ok in {time.perf_counter() - started:.2f} s {extra}".rstrip())


def describe_versions(device) -> dict:
    import torch

    info = {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda or "none"}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        free, total = torch.cuda.mem_get_info(device)
        info.update(
            gpu=f"'{props.name}'",
            capability=f"{props.major}.{props.minor}",
            driver=_driver_version(),
            vram_free_gb=f"{free / 2**30:.1f}/{total / 2**30:.1f}",
        )
    else:
        info["gpu"] = "none"
    return info


def _driver_version() -> str:
    try:
        import ctypes

        lib = ctypes.CDLL("libcuda.so.1")
        version = ctypes.c_int()
        lib.cuDriverGetVersion(ctypes.byref(version))
        return f"cuda{version.value // 1000}.{(version.value % 1000) // 10}"
    except OSError:
        return "unknown"


MAX_PENDING = 256  # chunks waiting for the model; a request beyond it waits to submit, never dropped


def default_concurrency(requested: int, device) -> int:
    """Jobs one worker takes at once, when F5_CONCURRENCY is 0. A GPU serves several at once by
    batching their chunks (8: an estimate until bench/gpu_bench.py measures it, see bench/RESULTS.md);
    a CPU gains nothing from padded batches, so one."""
    if requested > 0:
        return requested
    return 8 if device.type == "cuda" else 1


def build_service(settings: Settings, verify_hashes: bool | None = None):
    """Everything a worker needs before its first job. Returns a ready Service."""
    with step("versions") as details:
        import torch

        from handler.backend import resolve_device, resolve_dtype

        if settings.device == "cuda" and not torch.cuda.is_available():
            raise StartupError("F5_DEVICE=cuda but no CUDA GPU is visible (check --gpus / the host driver)")
        device = resolve_device(settings.device)
        if settings.require_gpu and device.type != "cuda":
            raise StartupError("F5_REQUIRE_GPU=1 but no CUDA GPU is visible (check --gpus / the host driver)")
        if device.type == "cuda":
            torch.zeros(1, device=device)  # initialise CUDA now: a broken driver fails here, not in a job
        dtype = resolve_dtype(settings.dtype, device)
        details.update(describe_versions(device), device=device.type, dtype=str(dtype).removeprefix("torch."))

    with step("manifest") as details:
        from handler.manifest import read_manifest, verify_files

        manifest = read_manifest(settings.model_dir)
        check = settings.verify_hashes if verify_hashes is None else verify_hashes
        # the checkpoint's sha256 is checked in the model step, from the bytes it loads: one read
        total = verify_files(manifest, check_hashes=check, defer=(manifest.checkpoint,))
        details.update(model=manifest.model_name, files=len(manifest.files), mb=f"{total / 1e6:.1f}", sha256=check)

    with step("model") as details:
        from handler.backend import ModelBackend

        checkpoint = manifest.entry_for(manifest.checkpoint) or {}
        hashed = manifest.checkpoint in manifest.pending_sha256
        backend = ModelBackend.load(manifest, device, dtype)
        params = sum(p.numel() for p in backend.model.parameters())
        details.update(params_m=f"{params / 1e6:.1f}", vocab=len(backend.vocab_char_map),
                       checkpoint=checkpoint.get("dtype", "as-published"), sha256=hashed)

    with step("scheduler") as details:
        from handler.scheduler import Scheduler, cost_model, default_bounds

        concurrency = default_concurrency(settings.concurrency, device)
        bounds = default_bounds(backend, settings.max_batch, settings.batch_memory_gb, max_pending=MAX_PENDING)
        scheduler = Scheduler(backend, bounds, cost_model(backend))
        memory = "none" if bounds.memory_bytes == float("inf") else f"{bounds.memory_bytes / 2**30:.1f}"
        details.update(concurrency=concurrency, max_batch=bounds.max_items, batch_memory_gb=memory)

    transcribe = None
    if manifest.asr_dir is not None:
        with step("asr") as details:  # its own line: Whisper's load time, apart from the voices'
            from handler.asr import load_transcriber

            transcribe = load_transcriber(manifest.asr_dir, device)
            details.update(dir=manifest.asr_dir.name, device=device.type)

    with step("voices") as details:
        from handler.voices import VoiceLibrary

        voices = VoiceLibrary.from_settings(backend, settings, transcribe)
        if settings.default_voice not in voices.presets:
            known = ", ".join(sorted(voices.presets))
            raise StartupError(f"F5_DEFAULT_VOICE={settings.default_voice!r} is not a preset ({known})")
        voices.preset(settings.default_voice)  # decode and cache the default voice's features now
        details.update(presets=",".join(sorted(voices.presets)), asr=transcribe is not None)

    with step("storage") as details:
        from handler.storage import BucketConfig, Uploader

        bucket = BucketConfig.from_env()
        uploader = Uploader(bucket, settings.presign_expiry_s) if bucket else None
        details.update(bucket=bucket.bucket if bucket else "none")

    from handler.service import Service

    service = Service(settings, backend, scheduler, voices, uploader, concurrency)
    if settings.warmup:
        with step("warmup") as details:
            timings = service.warmup()
            details.update(synth_s=timings["total_s"])
    return service
