"""The Whisper path for references sent without ref_text, on CPU with a tiny random Whisper saved by
transformers in the real repo's layout (support/random_model.py): loaded offline through
handler.asr.load_transcriber, and through the worker's start-up as its own `asr` step.

Also here: a reference that is not audio is refused with a message a caller can read."""

from __future__ import annotations

import base64
import json
import re
import shutil
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import ROOT, speechlike, wav_bytes, worker_env

from handler.errors import InputError
from support.random_model import add_tiny_whisper, write_tiny_whisper


@pytest.fixture(scope="module")
def tiny_whisper_dir(tmp_path_factory):
    return write_tiny_whisper(tmp_path_factory.mktemp("tiny-whisper"))


@pytest.fixture
def no_network(monkeypatch):
    """Any connection attempt is recorded and refused; the test then checks none was made."""
    attempts = []

    def refuse(self, address, *args, **kwargs):
        attempts.append(address)
        raise ConnectionRefusedError(f"network is off in this test: {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return attempts


def test_tiny_whisper_has_the_real_repo_layout(tiny_whisper_dir):
    # openai/whisper-large-v3-turbo's files, less README.md and .gitattributes
    assert sorted(p.name for p in tiny_whisper_dir.iterdir()) == [
        "added_tokens.json", "config.json", "generation_config.json", "merges.txt", "model.safetensors", "normalizer.json",
        "preprocessor_config.json", "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json", "vocab.json",
    ]
    assert json.loads((tiny_whisper_dir / "config.json").read_text())["model_type"] == "whisper"


def test_load_transcriber_loads_offline_and_transcribes(tiny_whisper_dir, no_network):
    from handler.asr import load_transcriber

    transcribe = load_transcriber(tiny_whisper_dir, torch.device("cpu"), 24_000)
    text = transcribe(speechlike(3.0))  # a prepared reference: mono float32 at 24 kHz
    assert isinstance(text, str) and text  # random weights: garbage, but text
    assert re.fullmatch(r"[a-z ]+", text), text  # the tiny vocabulary: letters F5-TTS can speak
    assert transcribe(speechlike(3.0)) == text  # deterministic
    assert re.fullmatch(r"[a-z ]*", transcribe(np.zeros(12 * 24_000, dtype=np.float32)))  # silence, the longest clip
    assert no_network == []


@pytest.mark.parametrize(
    "missing, error, needle",
    [
        ("config.json", RuntimeError, "size mismatch"),  # transformers falls back to default dimensions
        ("generation_config.json", ValueError, "generation config is outdated"),  # caught by the test clip
        ("preprocessor_config.json", OSError, "preprocessor_config.json"),
        ("model.safetensors", OSError, "model.safetensors"),
    ],
)
def test_a_missing_whisper_file_fails_the_load_without_reaching_for_the_hub(
    tiny_whisper_dir, tmp_path, no_network, missing, error, needle
):
    from handler.asr import load_transcriber

    broken = shutil.copytree(tiny_whisper_dir, tmp_path / "whisper")
    (broken / missing).unlink()
    with pytest.raises(error, match=needle):
        load_transcriber(broken, torch.device("cpu"), 24_000)  # it transcribes a second of silence before returning
    assert no_network == []


def test_the_worker_reports_asr_apart_and_transcribes_a_reference_without_ref_text(tiny_model_dir, tmp_path):
    model_dir = add_tiny_whisper(shutil.copytree(tiny_model_dir, tmp_path / "models"))
    reference = base64.b64encode(wav_bytes(speechlike(2.0, rate=16_000), 16_000)).decode()  # fits one argument
    job = {"input": {"text": "Said in a transcribed voice.", "ref_audio": reference, "nfe_step": 4, "seed": 1}}
    env = worker_env(model_dir, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_ENDPOINT="http://127.0.0.1:9")
    process = subprocess.run(  # noqa: PLW1510 - the test reads returncode
        [sys.executable, "-m", "handler", "--test_input", json.dumps(job), "--save_audio", str(tmp_path / "out.wav")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert process.returncode == 0, process.stderr[-4000:]
    lines = [line for line in process.stderr.splitlines() if line.startswith("[startup]")]
    steps = [line.split()[1] for line in lines]
    assert steps.index("manifest") < steps.index("asr") < steps.index("voices"), lines
    [asr] = [line for line in lines if line.startswith("[startup] asr ok in ")]
    assert re.fullmatch(r"\[startup\] asr ok in \d+\.\d\d s dir=whisper device=cpu", asr), asr
    assert any(line.startswith("[startup] voices ok") and "asr=True" in line for line in lines), lines
    assert "completed successfully" in process.stdout + process.stderr
    assert (tmp_path / "out.wav").stat().st_size > 1000


@pytest.mark.parametrize(
    "data",
    [
        b"this is plain text, not audio",
        b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(40),  # a WAV header with nothing valid behind it
        bytes(range(256)) * 8,
        b"\x89PNG\r\n\x1a\n" + bytes(64),
    ],
    ids=["text", "broken-wav", "bytes", "png"],
)
def test_a_reference_that_is_not_audio_is_refused_without_python_reprs(data):
    from handler.voices import prepare_reference_wave

    with pytest.raises(InputError) as error:
        prepare_reference_wave(data, max_seconds=30, clip_seconds=12, rate=24_000)
    message = str(error.value)
    assert message.startswith("ref_audio could not be decoded as WAV, FLAC, OGG/Opus or MP3 ("), message
    assert message.endswith("); send one of those formats"), message
    assert " at 0x" not in message and "<" not in message and "_io." not in message, message
