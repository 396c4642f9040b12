"""The one start-up path of every front door (queue worker, HTTP mode, `say`, `--check`).

versions → manifest → model → scheduler → [asr] → voices → storage → warm-up, each step one flushed
log line with its duration. `start()` never raises: any failure, a bad setting included, prints the
one `[startup] FAILED: ...` line (`fail`, the only place that prints it) and comes back as
`Started.failure`; the front door then exits with code 1 through `python -m handler`.
"""

from __future__ import annotations

import platform
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

from handler.config import Settings
from handler.errors import StartupError


def say(message: str) -> None:
    print(f"[startup] {message}", file=sys.stderr, flush=True)


def fail(reason: str) -> None:
    say(f"FAILED: {reason}")


def reason_of(exc: BaseException) -> str:
    """One line that names the cause, whatever was raised (an import error, a bug)."""
    if isinstance(exc, StartupError):
        return str(exc)
    return f"{type(exc).__name__}: {' '.join(str(exc).split())[:600]}"


@contextmanager
def step(name: str):
    started = time.perf_counter()
    details: dict = {}
    try:
        yield details
    except StartupError as exc:
        raise StartupError(f"{name}: {exc}") from None
    except Exception as exc:
        raise StartupError(f"{name}: {reason_of(exc)}") from exc
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


def resolve_device(requested: str):
    import torch

    if requested == "cuda" or (requested == "auto" and torch.cuda.is_available()):
        return torch.device("cuda")
    return torch.device("cpu")


def resolve_dtype(requested: str, device):
    import torch

    if requested != "auto":
        return getattr(torch, requested)
    if device.type == "cuda" and torch.cuda.get_device_capability(device)[0] >= 7:
        return torch.float16  # what upstream f5-tts uses on Volta and newer
    return torch.float32


def build_service(settings: Settings, verify_hashes: bool | None = None):
    """Everything a worker needs before its first job. Returns a ready Service; raises StartupError."""
    with step("versions") as details:
        import torch

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
        from handler.backends import backend_module
        from handler.manifest import read_manifest, verify_files

        backend_kind = backend_module(settings.backend)
        manifest = read_manifest(settings.model_dir)
        check = settings.verify_hashes if verify_hashes is None else verify_hashes
        # files the backend hashes itself from the bytes it loads (the checkpoint): read once
        total = verify_files(manifest, check_hashes=check, defer=backend_kind.check(manifest))
        details.update(model=manifest.model_name, files=len(manifest.files), mb=f"{total / 1e6:.1f}", sha256=check)

    with step("model") as details:
        backend = backend_kind.load(manifest, device, dtype)
        details.update(backend.describe())

    with step("scheduler") as details:
        from handler.batching import batching_policy
        from handler.scheduler import Scheduler

        policy = batching_policy(backend.device_kind, backend.free_memory_bytes(), concurrency=settings.concurrency,
                                 max_batch=settings.max_batch, batch_memory_gb=settings.batch_memory_gb)
        scheduler = Scheduler(backend, policy.bounds)
        details.update(policy.describe())
        from handler import metrics

        metrics.watch(lambda: scheduler.waiting, backend.device_memory if backend.device_kind == "cuda" else None)

    transcribe = None
    if manifest.asr_dir is not None:
        with step("asr") as details:  # its own line: Whisper's load time, apart from the voices'
            from handler.asr import load_transcriber

            transcribe = load_transcriber(manifest.asr_dir, device, backend.sample_rate)
            details.update(dir=manifest.asr_dir.name, device=device.type)

    with step("voices") as details:
        from handler.storage import BucketConfig
        from handler.voice_store import VoiceStore, open_blobs
        from handler.voices import VoiceLibrary

        store = None
        if settings.voice_store:
            try:
                store = VoiceStore(open_blobs(settings.voice_store, BucketConfig.from_env()), settings.voice_store_max)
            except ValueError as exc:
                raise StartupError(str(exc)) from None
        voices = VoiceLibrary.from_settings(backend, settings, transcribe, store)
        if settings.default_voice not in voices.presets:
            known = ", ".join(sorted(voices.presets))
            raise StartupError(f"F5_DEFAULT_VOICE={settings.default_voice!r} is not a preset ({known})")
        voices.preset(settings.default_voice)  # decode and cache the default voice's features now
        details.update(presets=",".join(sorted(voices.presets)), asr=transcribe is not None,
                       store=store.where if store else "none")

    with step("storage") as details:
        from handler.delivery import Delivery
        from handler.storage import BucketConfig, Uploader

        bucket = BucketConfig.from_env()
        delivery = Delivery(Uploader(bucket, settings.presign_expiry_s) if bucket else None, settings.inline_max_bytes)
        details.update(bucket=bucket.bucket if bucket else "none")

    from handler.service import Service
    from handler.voice_api import VoiceApi

    voice_api = VoiceApi(voices, store, consent_required=settings.voice_consent_required,
                         max_seconds=settings.ref_max_seconds)
    service = Service(settings, backend, scheduler, voices, delivery, policy, model_name=manifest.model_name,
                      voice_api=voice_api)
    if settings.warmup:
        with step("warmup") as details:
            timings = service.warmup()
            details.update(synth_s=timings["total_s"])
    return service


@dataclass(frozen=True)
class Started:
    settings: Settings | None = None
    service: object | None = None  # a ready handler.service.Service
    failure: str | None = None  # the reason, already printed


def start(settings: Settings | None = None, *, adjust: Callable[[Settings], Settings] | None = None,
          verify_hashes: bool | None = None) -> Started:
    """Read the settings (unless given), adjust them for the front door, build the service. Never
    raises; prints `ready in ...` or the one FAILED line."""
    started = time.perf_counter()
    try:
        settings = settings or Settings.from_env()
        if adjust is not None:
            settings = adjust(settings)
        service = build_service(settings, verify_hashes)
    except Exception as exc:  # noqa: BLE001 - an import error or a bug must still end in one clear line
        reason = reason_of(exc)
        fail(reason)
        return Started(settings=settings, failure=reason)
    say(f"ready in {time.perf_counter() - started:.2f} s")
    return Started(settings=settings, service=service)
