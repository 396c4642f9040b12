"""Worker settings, read once from environment variables.

Every variable is documented in README.md ("Configuration"). A malformed value is a StartupError that
names the variable, so a mistyped template fails at start with one clear line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from handler.errors import StartupError


def _text(env: dict, name: str, default: str) -> str:
    value = env.get(name, "").strip()
    return value or default


def _number(env: dict, name: str, default, low, high, kind=float):
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise StartupError(f"{name}={raw!r} is not a {'whole number' if kind is int else 'number'}") from None
    if not low <= value <= high:
        raise StartupError(f"{name}={value} is out of range [{low}, {high}]")
    return value


def _int(env: dict, name: str, default: int, low: int, high: int) -> int:
    return _number(env, name, default, low, high, kind=int)


def _float(env: dict, name: str, default: float, low: float, high: float) -> float:
    return _number(env, name, default, low, high, kind=float)


def _bool(env: dict, name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise StartupError(f"{name}={raw!r} is not a boolean (use 1/0, true/false)")


def _choice(env: dict, name: str, default: str, choices: tuple[str, ...]) -> str:
    value = _text(env, name, default).lower()
    if value not in choices:
        raise StartupError(f"{name}={value!r} is not one of {', '.join(choices)}")
    return value


@dataclass(frozen=True)
class Settings:
    model_dir: Path
    device: str  # auto | cuda | cpu
    require_gpu: bool
    dtype: str  # auto | float32 | float16 | bfloat16
    verify_hashes: bool
    warmup: bool
    max_text_chars: int
    max_batch: int
    batch_memory_gb: float
    concurrency: int
    inline_max_bytes: int
    ref_max_bytes: int
    ref_max_seconds: float
    ref_clip_seconds: float
    url_timeout_s: float
    allow_private_urls: bool
    ref_cache_size: int
    voices_dir: Path | None
    default_voice: str
    presign_expiry_s: int
    handler_mode: str = "stream"  # F5_HANDLER: stream (generator, /runsync answers a list) | plain (one result object)
    # HTTP mode (`python -m handler serve`, F5_MODE=http): see handler/http_serve.py
    http_port: int = 8000  # PORT
    http_health_port: int = 0  # PORT_HEALTH; 0: the same port as PORT
    http_max_inflight: int = 0  # F5_HTTP_MAX_INFLIGHT; 0: 2 x the worker's concurrency
    api_key: str = field(default="", repr=False)  # F5_API_KEY: optional bearer token; never logged

    @classmethod
    def from_env(cls, env: dict | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        voices_dir = _text(env, "F5_VOICES_DIR", "")
        return cls(
            model_dir=Path(_text(env, "F5_MODEL_DIR", "/models")),
            device=_choice(env, "F5_DEVICE", "auto", ("auto", "cuda", "cpu")),
            require_gpu=_bool(env, "F5_REQUIRE_GPU", False),
            dtype=_choice(env, "F5_DTYPE", "auto", ("auto", "float32", "float16", "bfloat16")),
            verify_hashes=_bool(env, "F5_VERIFY_HASHES", True),
            warmup=_bool(env, "F5_WARMUP", True),
            max_text_chars=_int(env, "F5_MAX_TEXT_CHARS", 5000, 1, 100_000),
            max_batch=_int(env, "F5_MAX_BATCH", 0, 0, 64),  # 0: by device (see scheduler.default_bounds)
            batch_memory_gb=_float(env, "F5_BATCH_MEMORY_GB", 0.0, 0.0, 1024.0),  # 0: 70 % of free GPU memory
            concurrency=_int(env, "F5_CONCURRENCY", 0, 0, 64),  # 0: by device (see startup.default_concurrency)
            inline_max_bytes=_int(env, "F5_INLINE_MAX_BYTES", 8_000_000, 1_000, 9_500_000),
            ref_max_bytes=_int(env, "F5_REF_MAX_BYTES", 20_000_000, 1_000, 200_000_000),
            ref_max_seconds=_float(env, "F5_REF_MAX_SECONDS", 60.0, 1.0, 600.0),
            ref_clip_seconds=_float(env, "F5_REF_CLIP_SECONDS", 12.0, 1.0, 30.0),
            url_timeout_s=_float(env, "F5_URL_TIMEOUT", 15.0, 0.5, 300.0),
            allow_private_urls=_bool(env, "F5_ALLOW_PRIVATE_URLS", False),
            ref_cache_size=_int(env, "F5_REF_CACHE_SIZE", 64, 0, 10_000),
            voices_dir=Path(voices_dir) if voices_dir else None,
            default_voice=_text(env, "F5_DEFAULT_VOICE", "en"),
            presign_expiry_s=_int(env, "F5_PRESIGN_EXPIRY", 3600, 60, 7 * 24 * 3600),
            handler_mode=_choice(env, "F5_HANDLER", "stream", ("stream", "plain")),
            http_port=_int(env, "PORT", 8000, 1, 65535),
            http_health_port=_int(env, "PORT_HEALTH", 0, 0, 65535),
            http_max_inflight=_int(env, "F5_HTTP_MAX_INFLIGHT", 0, 0, 10_000),
            api_key=env.get("F5_API_KEY", "").strip(),
        )
