"""Worker settings, read once from environment variables.

VARIABLES is the one list of the worker's variables, with their defaults and ranges; docs/configuration.md
documents each, and a test holds that page to this list (the bucket's variables are handler.storage's).
A malformed value is a StartupError that names the variable, so a mistyped template fails at start
with one clear line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from handler.errors import StartupError
from handler.platform_limits import INLINE_CEILING_BYTES


@dataclass(frozen=True)
class Variable:
    name: str  # the environment variable
    attr: str  # the Settings field it sets
    kind: str  # text | int | float | bool | choice | path
    default: Any
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    secret: bool = False  # never logged, never in repr

    def parse(self, env: dict) -> Any:
        raw = env.get(self.name, "").strip()
        if not raw:
            return self.default
        if self.kind == "text":
            return raw
        if self.kind == "path":
            return Path(raw)
        if self.kind == "choice":
            value = raw.lower()
            if value not in self.choices:
                raise StartupError(f"{self.name}={value!r} is not one of {', '.join(self.choices)}")
            return value
        if self.kind == "bool":
            value = raw.lower()
            if value in ("1", "true", "yes", "on"):
                return True
            if value in ("0", "false", "no", "off"):
                return False
            raise StartupError(f"{self.name}={value!r} is not a boolean (use 1/0, true/false)")
        number = int if self.kind == "int" else float
        try:
            value = number(raw)
        except ValueError:
            raise StartupError(f"{self.name}={raw!r} is not a {'whole number' if number is int else 'number'}") from None
        if not self.low <= value <= self.high:
            raise StartupError(f"{self.name}={value} is out of range [{self.low}, {self.high}]")
        return value


VARIABLES: tuple[Variable, ...] = (
    Variable("F5_MODEL_DIR", "model_dir", "path", Path("/models")),
    Variable("F5_BACKEND", "backend", "text", "f5"),  # handler.backends
    Variable("F5_DEVICE", "device", "choice", "auto", choices=("auto", "cuda", "cpu")),
    Variable("F5_REQUIRE_GPU", "require_gpu", "bool", False),
    Variable("F5_DTYPE", "dtype", "choice", "auto", choices=("auto", "float32", "float16", "bfloat16")),
    Variable("F5_VERIFY_HASHES", "verify_hashes", "bool", True),
    Variable("F5_WARMUP", "warmup", "bool", True),
    Variable("F5_MAX_TEXT_CHARS", "max_text_chars", "int", 5000, 1, 100_000),
    Variable("F5_MAX_BATCH", "max_batch", "int", 0, 0, 64),  # 0: by device (handler.batching)
    Variable("F5_BATCH_MEMORY_GB", "batch_memory_gb", "float", 0.0, 0.0, 1024.0),  # 0: by device
    Variable("F5_CONCURRENCY", "concurrency", "int", 0, 0, 64),  # 0: by device
    Variable("F5_INLINE_MAX_BYTES", "inline_max_bytes", "int", 8_000_000, 1_000, INLINE_CEILING_BYTES),
    Variable("F5_REF_MAX_BYTES", "ref_max_bytes", "int", 20_000_000, 1_000, 200_000_000),
    Variable("F5_REF_MAX_SECONDS", "ref_max_seconds", "float", 60.0, 1.0, 600.0),
    Variable("F5_REF_CLIP_SECONDS", "ref_clip_seconds", "float", 12.0, 1.0, 30.0),
    Variable("F5_URL_TIMEOUT", "url_timeout_s", "float", 15.0, 0.5, 300.0),
    Variable("F5_ALLOW_PRIVATE_URLS", "allow_private_urls", "bool", False),
    Variable("F5_REF_CACHE_SIZE", "ref_cache_size", "int", 64, 0, 10_000),
    Variable("F5_VOICES_DIR", "voices_dir", "path", None),
    Variable("F5_DEFAULT_VOICE", "default_voice", "text", "en"),
    Variable("F5_PRESIGN_EXPIRY", "presign_expiry_s", "int", 3600, 60, 7 * 24 * 3600),
    # stored voices (handler.voice_store): a folder or s3://bucket/prefix; none: no voices can be created
    Variable("F5_VOICE_STORE", "voice_store", "text", ""),
    Variable("F5_VOICE_CONSENT", "voice_consent_required", "bool", True),  # creating a voice needs a consent id
    Variable("F5_VOICE_STORE_MAX", "voice_store_max", "int", 1000, 1, 1_000_000),  # voices (and consents) at most
    # a worker checks a cached stored voice against the store again after this long (the delete bound)
    Variable("F5_VOICE_RECHECK_S", "voice_recheck_s", "float", 30.0, 0.0, 60.0),
    # the queue worker's handler shape (handler.worker): stream (a generator) | plain (one result object)
    Variable("F5_HANDLER", "handler_mode", "choice", "stream", choices=("stream", "plain")),
    # which front door `python -m handler` opens without a command (handler.__main__)
    Variable("F5_MODE", "mode", "choice", "queue", choices=("queue", "http")),
    # the HTTP mode (`python -m handler serve`, F5_MODE=http): handler/http_serve.py
    Variable("PORT", "http_port", "int", 8000, 1, 65535),
    Variable("PORT_HEALTH", "http_health_port", "int", 0, 0, 65535),  # 0: the same port as PORT
    Variable("F5_HTTP_MAX_INFLIGHT", "http_max_inflight", "int", 0, 0, 10_000),  # 0: 2 x the concurrency
    Variable("F5_API_KEY", "api_key", "text", "", secret=True),  # optional bearer token
)


@dataclass(frozen=True)
class Settings:
    model_dir: Path
    backend: str
    device: str
    require_gpu: bool
    dtype: str
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
    voice_store: str
    voice_consent_required: bool
    voice_store_max: int
    voice_recheck_s: float
    handler_mode: str
    mode: str
    http_port: int
    http_health_port: int
    http_max_inflight: int
    api_key: str = field(repr=False)

    @classmethod
    def from_env(cls, env: dict | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        return cls(**{variable.attr: variable.parse(env) for variable in VARIABLES})


def variable(name: str) -> Variable:
    return next(v for v in VARIABLES if v.name == name)
