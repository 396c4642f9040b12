"""Shared fixtures: a tiny random F5-TTS model on disk, a ready Service, helpers to read audio."""

from __future__ import annotations

import base64
import io
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import settings

ROOT = Path(__file__).resolve().parent.parent
for _path in (ROOT, ROOT / "tests"):  # the support package, and the tests' own helpers (tone_backend, s3_server)
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from support.random_model import write_random_model  # noqa: E402
from support.servers import LocalApi, free_port, local_api, wait_for_port, worker_env  # noqa: E402, F401

# Property tests draw the same examples on every run (seeded by the test's name), so that a run that
# passed passes again and CI never fails on luck; HYPOTHESIS_PROFILE=explore draws new ones each run
# (docs/testing.md: how to search for new failures before a change lands).
settings.register_profile("repeatable", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    return write_random_model(tmp_path_factory.mktemp("tiny-model"), "tiny", seed=0)


def load_f5(model_dir: Path, dtype=None):
    """The F5-TTS backend on CPU, loaded from a model folder as the worker loads it."""
    import torch

    import handler.f5
    from handler.manifest import read_manifest

    return handler.f5.load(read_manifest(model_dir), torch.device("cpu"), dtype or torch.float32)


@pytest.fixture(scope="session")
def backend(tiny_model_dir):
    """The tiny model loaded on CPU in float32, shared by the backend, scheduler and parity tests."""
    return load_f5(tiny_model_dir)


@pytest.fixture(scope="session")
def tone_model_dir(tmp_path_factory) -> Path:
    from tone_backend import write_tone_model

    return write_tone_model(tmp_path_factory.mktemp("tone-model"))


def tone_env(model_dir: Path, **extra: str) -> dict[str, str]:
    """Environment for a worker process that serves the tone backend (tests/tone_backend.py), from
    this checkout whatever the process's working folder."""
    path = os.pathsep.join(filter(None, [str(ROOT), str(ROOT / "tests"), os.environ.get("PYTHONPATH")]))
    return worker_env(model_dir, F5_BACKEND="tone_backend", PYTHONPATH=path, **extra)


def make_settings(model_dir: Path, **extra: str):
    from handler.config import Settings

    return Settings.from_env(worker_env(model_dir, **extra))


@pytest.fixture(scope="session")
def service(tiny_model_dir):
    from handler.startup import build_service

    return build_service(make_settings(tiny_model_dir))


def answer(service, job_input, job_id: str = "test-job") -> list[dict]:
    """A request's RunPod messages, as the queue worker sends them (handler.worker)."""
    from handler.worker import messages

    return list(messages(service.events(job_input, job_id)))


def only(service, job_input) -> dict:
    """The one message of a whole (not streamed) request: its result or its error."""
    messages = answer(service, job_input)
    assert len(messages) == 1, messages
    return messages[0]


def decode_b64_audio(value: str) -> tuple[np.ndarray, int]:
    data, rate = sf.read(io.BytesIO(base64.b64decode(value)), dtype="float32")
    return data, rate


_CONTAINER_MAGIC = (b"RIFF", b"fLaC", b"OggS", b"ID3")


def assert_audio_format(data: bytes, fmt: str, samples: int | None = None) -> None:
    """Assert that `data` is a file in output format `fmt` (handler.audio_codec.OUTPUT_FORMATS), read
    from the bytes themselves: the container's magic and the codec libsndfile finds in it. A decoder
    finds the container from the content, so "it decodes" alone would pass a WAV sent as any format.
    Raw pcm: no container at all, 16 bits a sample (`samples`, when given: exactly that many)."""
    from handler.audio_codec import OUTPUT_FORMATS

    spec = OUTPUT_FORMATS[fmt]
    assert data, f"no {fmt} bytes"
    if spec.soundfile_format is None:
        head = data[:16]
        assert not any(head.startswith(magic) for magic in _CONTAINER_MAGIC), f"raw {fmt} has a container header: {head!r}"
        assert len(data) % 2 == 0, f"raw {fmt}: {len(data)} bytes is not whole 16-bit samples"
        if samples is not None:
            assert len(data) == 2 * samples, (len(data), samples)
        return
    head = data[:64]
    magic = {
        "WAV": head[:4] == b"RIFF" and head[8:12] == b"WAVE",
        "FLAC": head[:4] == b"fLaC",
        "MP3": head[:3] == b"ID3" or (head[0] == 0xFF and head[1] & 0xE0 == 0xE0),  # a tag or an MPEG frame sync
        "OGG": head[:4] == b"OggS" and {"OPUS": b"OpusHead", "VORBIS": b"\x01vorbis"}[spec.subtype] in head,
    }[spec.soundfile_format]
    assert magic, f"not {fmt} ({spec.soundfile_format}/{spec.subtype}): starts {data[:16]!r}"
    info = sf.info(io.BytesIO(data))
    assert (info.format, info.subtype) == (spec.soundfile_format, spec.subtype), (fmt, info.format, info.subtype)
    assert info.channels == 1, info.channels


def wav_bytes(wave: np.ndarray, rate: int, fmt: str = "WAV", subtype: str | None = "PCM_16") -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, wave, rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


def flip_a_byte(path: Path) -> Path:
    """Corrupt a file without changing its size (one byte near the end), so only its hash can tell."""
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


def speechlike(seconds: float, rate: int = 24_000, seed: int = 0) -> np.ndarray:
    """Bursts of noisy tones separated by short pauses: 'sound' as the preprocessing judges it."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    wave = 0.3 * np.sin(2 * np.pi * 180 * t) * (np.sin(2 * np.pi * 2.5 * t) > -0.3)
    return (wave + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


@pytest.fixture(scope="session")
def api(tiny_model_dir):
    # batches of up to 4 on CPU too, so that concurrent jobs share model calls as on a GPU
    with local_api(tiny_model_dir, F5_CONCURRENCY="4", F5_MAX_BATCH="4") as url:
        yield url


class FaultyBackend:
    """The real backend, except that every sampling call raises what `fault()` makes."""

    def __init__(self, backend, fault):
        self._backend, self._fault = backend, fault

    def __getattr__(self, name):
        return getattr(self._backend, name)

    def sample(self, items):
        raise self._fault()


def service_with_scheduler(service, backend=None, settings=None, voices=None, uploader=None, max_items=1):
    """A Service sharing the loaded model, with a scheduler of its own (over `backend` if given)."""
    from handler.batching import BatchBounds
    from handler.delivery import Delivery
    from handler.scheduler import Scheduler
    from handler.service import Service

    settings = settings or service.settings
    scheduler = Scheduler(backend or service.backend, BatchBounds(max_items, float("inf"), 64))
    delivery = Delivery(uploader, settings.inline_max_bytes)
    return Service(settings, service.backend, scheduler, voices or service.voices, delivery)
