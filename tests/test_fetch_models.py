"""build/fetch_models.py against a local stand-in for the Hugging Face hub (no container)."""

import hashlib
import importlib.util
import re
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT

from handler.f5.files import f5_files
from handler.manifest import read_manifest, verify_files
from support.fake_hub import WHISPER_REPO, FakeHub, Repo, default_layout, repos_from_model_dir, whisper_repo
from support.random_model import write_tiny_whisper

# The defaults and pins, from their one source (build/fetch_models.py itself)
_spec = importlib.util.spec_from_file_location("fetch_models", ROOT / "build" / "fetch_models.py")
fetch_models = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fetch_models)
DEFAULT_REPO, DEFAULT_FILE = fetch_models.PRESETS[fetch_models.DEFAULT_MODEL]
VOCODER_REPO = fetch_models.VOCODER_REPO
PIN = fetch_models.PINNED_REVISIONS


@pytest.fixture(scope="module")
def tiny_whisper_dir(tmp_path_factory):
    return write_tiny_whisper(tmp_path_factory.mktemp("tiny-whisper"))


@pytest.fixture(scope="module")
def hub_repos(tiny_model_dir, tiny_whisper_dir):
    repos = repos_from_model_dir(tiny_model_dir)
    repos[WHISPER_REPO] = whisper_repo(tiny_whisper_dir)  # the real repo's layout, tiny random weights
    # the default model's real layout: SWivid/F5-TTS → F5TTS_v1_Base/model_1250000.safetensors
    repos[DEFAULT_REPO] = Repo(files={DEFAULT_FILE: repos["test-org/tiny-f5"].files["model.safetensors"]})
    repos["openai/whisper-tiny-fake"] = Repo(
        files={"config.json": b"{}", "model.safetensors": b"x" * 4096, "tokenizer.json": b"{}", "sub/ignored.bin": b"y"}
    )
    return repos


def fetch(hub, out, *args, token=None):
    env = {"HF_ENDPOINT": hub.url, "HF_HUB_DISABLE_TELEMETRY": "1", "PATH": "/usr/bin:/bin"}
    if token:
        env["HF_TOKEN"] = token
    return subprocess.run(  # noqa: PLW1510 - the tests read returncode
        [sys.executable, str(ROOT / "build" / "fetch_models.py"), "--out", str(out), *args],
        capture_output=True, text=True, env=env, timeout=120,
    )


def test_the_stand_in_hub_publishes_the_default_repositories(tiny_model_dir):
    """support/fake_hub.py's repos are the defaults of build/fetch_models.py (their one source)."""
    assert WHISPER_REPO == fetch_models.ASR_REPO
    assert VOCODER_REPO in repos_from_model_dir(tiny_model_dir)
    assert set(default_layout({"test-org/tiny-f5": Repo(files={"model.safetensors": b"w"})})[DEFAULT_REPO].files) == {DEFAULT_FILE}


def test_default_model_layout_and_manifest(hub_repos, tmp_path):
    hub = FakeHub(hub_repos)
    try:
        result = fetch(hub, tmp_path / "m")
    finally:
        hub.stop()
    assert result.returncode == 0, result.stderr
    # the pinned commits were asked for, not main
    assert f"/api/models/{DEFAULT_REPO}/revision/{PIN[DEFAULT_REPO]}" in hub.paths
    assert f"/api/models/{VOCODER_REPO}/revision/{PIN[VOCODER_REPO]}" in hub.paths
    manifest = read_manifest(tmp_path / "m")
    files = f5_files(manifest)
    assert manifest.model_name == fetch_models.DEFAULT_MODEL and files.backbone == "DiT"
    assert files.arch["dim"] == 1024 and files.arch["depth"] == 22  # from f5-tts's own config
    assert files.checkpoint.name == "model_1250000.fp16.safetensors"  # float16 by default
    assert verify_files(manifest, check_hashes=True) > 0
    by_path = {entry["path"]: entry for entry in manifest.files}
    baked = by_path["f5/model_1250000.fp16.safetensors"]
    assert baked["revision"] == hub_repos[DEFAULT_REPO].commit and baked["dtype"] == "float16"
    assert baked["file"] == DEFAULT_FILE
    published = hub_repos[DEFAULT_REPO].files[DEFAULT_FILE]
    # the source: the file the hub vouched for, before conversion
    assert baked["source"] == {"path": "f5/model_1250000.safetensors", "size": len(published),
                               "sha256": hashlib.sha256(published).hexdigest()}
    assert by_path["f5/vocab.txt"]["repo"] == "f5-tts (package)"
    assert set(by_path) == {"f5/model_1250000.fp16.safetensors", "f5/vocab.txt", "vocos/config.yaml", "vocos/pytorch_model.bin"}
    assert "-> f5/model_1250000.fp16.safetensors" in result.stdout


def test_float32_keeps_the_checkpoint_as_published_and_halving_later_gives_the_same_file(hub_repos, tmp_path):
    hub = FakeHub(hub_repos)
    try:
        kept = fetch(hub, tmp_path / "fp32", "--checkpoint-dtype", "float32")
        halved = fetch(hub, tmp_path / "fp16")
    finally:
        hub.stop()
    assert kept.returncode == 0 and halved.returncode == 0, kept.stderr + halved.stderr
    manifest = read_manifest(tmp_path / "fp32")
    checkpoint = f5_files(manifest).checkpoint
    published = hub_repos[DEFAULT_REPO].files[DEFAULT_FILE]
    assert checkpoint.read_bytes() == published
    assert "dtype" not in manifest.entry_for(checkpoint) and "source" not in manifest.entry_for(checkpoint)
    # the Dockerfile's two steps (fetch float32, then --halve-existing) give what one fetch gives
    later = subprocess.run([sys.executable, str(ROOT / "build" / "fetch_models.py"), "--out", str(tmp_path / "fp32"),
                            "--halve-existing"], capture_output=True, text=True, timeout=120, check=False)
    assert later.returncode == 0, later.stderr
    assert (tmp_path / "fp32" / "manifest.json").read_text() == (tmp_path / "fp16" / "manifest.json").read_text()
    name = "f5/model_1250000.fp16.safetensors"
    assert (tmp_path / "fp32" / name).read_bytes() == (tmp_path / "fp16" / name).read_bytes()


def test_custom_checkpoint_with_its_own_config_and_vocab_loads(hub_repos, tmp_path):
    hub = FakeHub(hub_repos)
    try:
        result = fetch(hub, tmp_path / "m", "--model", "custom", "--custom-repo", "test-org/tiny-f5",
                       "--custom-checkpoint", "model.safetensors", "--custom-config", "config.yaml",
                       "--custom-vocab", "vocab.txt", token="hf_secret_token")
    finally:
        hub.stop()
    assert result.returncode == 0, result.stderr
    assert "Bearer hf_secret_token" in hub.authorizations
    manifest = read_manifest(tmp_path / "m")
    assert f5_files(manifest).arch["dim"] == 64
    import torch

    import handler.f5

    handler.f5.load(manifest, torch.device("cpu"), torch.float32)  # the fetched folder is what the worker loads


def test_a_file_whose_hash_does_not_match_is_refused(hub_repos, tmp_path):
    hub_repos[VOCODER_REPO].lie_about = {"pytorch_model.bin"}
    hub = FakeHub(hub_repos)
    try:
        result = fetch(hub, tmp_path / "m")
    finally:
        hub.stop()
        hub_repos[VOCODER_REPO].lie_about = set()
    assert result.returncode == 1
    [line] = [text for text in result.stderr.splitlines() if text.startswith("[fetch] FAILED")]
    assert f"{VOCODER_REPO}: pytorch_model.bin has sha256" in line and "refusing to bake it" in line


def test_a_pinned_sha256_must_match_too(hub_repos, tmp_path):
    hub = FakeHub(hub_repos)
    try:
        result = fetch(hub, tmp_path / "m", "--expect-sha256", "config.yaml=" + "1" * 64)
    finally:
        hub.stop()
    assert result.returncode == 1 and "does not match its pinned sha256" in result.stderr


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--model", "custom", "--custom-repo", "nobody/none", "--custom-checkpoint", "x.pt"], "nobody/none@main: repository or revision not reachable"),
        (["--model", "custom", "--custom-repo", "test-org/tiny-f5", "--custom-checkpoint", "missing.pt"], "file missing.pt is not in the repository"),
        (["--model", "F5TTS_v9"], "unknown model 'F5TTS_v9'"),
        (["--model", "custom", "--custom-repo", "test-org/tiny-f5", "--custom-checkpoint", "model.safetensors", "--custom-config", "Nope"], "no config named 'Nope'"),
    ],
)
def test_errors_name_what_is_wrong(hub_repos, tmp_path, args, needle):
    hub = FakeHub(hub_repos)
    try:
        result = fetch(hub, tmp_path / "m", *args)
    finally:
        hub.stop()
    assert result.returncode == 1 and needle in result.stderr, result.stderr


WHISPER_PIN = PIN[fetch_models.ASR_REPO]
WHISPER_FILES = [
    "added_tokens.json", "config.json", "generation_config.json", "merges.txt", "model.safetensors", "normalizer.json",
    "preprocessor_config.json", "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json", "vocab.json",
]


def test_whisper_is_fetched_at_its_pin_verified_and_loads_offline(hub_repos, tmp_path):
    hub = FakeHub(hub_repos)
    try:
        result = fetch(hub, tmp_path / "m", "--asr", "1")
    finally:
        hub.stop()
    assert result.returncode == 0, result.stderr
    assert f"/api/models/{WHISPER_REPO}/revision/{WHISPER_PIN}" in hub.paths  # the pin, not main
    manifest = read_manifest(tmp_path / "m")
    assert manifest.asr_dir == (tmp_path / "m" / "whisper").resolve()
    # the transformers files only: not the model card nor .gitattributes
    assert sorted(p.name for p in manifest.asr_dir.iterdir()) == WHISPER_FILES
    entries = [entry for entry in manifest.files if entry["path"].startswith("whisper/")]
    repo = hub_repos[WHISPER_REPO]
    assert sorted(entry["file"] for entry in entries) == WHISPER_FILES
    for entry in entries:  # each file recorded with its repo, resolved commit and sha256
        assert entry["repo"] == WHISPER_REPO and entry["revision"] == repo.commit
        assert entry["sha256"] == hashlib.sha256(repo.files[entry["file"]]).hexdigest()
    assert verify_files(manifest, check_hashes=True) > 0
    import torch

    from handler.asr import load_transcriber

    transcribe = load_transcriber(manifest.asr_dir, torch.device("cpu"), 24_000)  # what the fetch wrote is what loads
    assert re.fullmatch(r"[a-z ]*", transcribe(np.zeros(24_000, dtype=np.float32)))  # the tiny vocabulary's letters


def test_the_pinned_whisper_weights_must_match_their_published_sha256(hub_repos, tmp_path):
    # the hub answers the pinned commit itself, but with other weights: the pinned sha256 refuses them
    repo = hub_repos[WHISPER_REPO]
    hub = FakeHub({**hub_repos, WHISPER_REPO: Repo(files=repo.files, commit=WHISPER_PIN)})
    try:
        result = fetch(hub, tmp_path / "m", "--asr", "1")
    finally:
        hub.stop()
    assert result.returncode == 1
    [line] = [text for text in result.stderr.splitlines() if text.startswith("[fetch] FAILED")]
    assert f"{WHISPER_REPO}: model.safetensors has sha256 {hashlib.sha256(repo.files['model.safetensors']).hexdigest()}" in line
    pinned = fetch_models.PINNED_SHA256[(WHISPER_REPO, WHISPER_PIN)]["model.safetensors"]
    assert f"does not match its pinned sha256 {pinned}" in line


def test_a_whisper_file_whose_hash_does_not_match_is_refused(hub_repos, tmp_path):
    repo = hub_repos[WHISPER_REPO]
    hub = FakeHub({**hub_repos, WHISPER_REPO: Repo(files=repo.files, lie_about={"model.safetensors"})})
    try:
        result = fetch(hub, tmp_path / "m", "--asr", "1")
    finally:
        hub.stop()
    assert result.returncode == 1 and f"{WHISPER_REPO}: model.safetensors has sha256" in result.stderr, result.stderr


def test_a_repo_that_is_not_whisper_is_refused_before_any_download(hub_repos, tmp_path):
    not_whisper = Repo(files={"config.json": b"{}", "model.safetensors": b"x" * 4096, "sub/ignored.bin": b"y"})
    hub = FakeHub({**hub_repos, "someone/not-whisper": not_whisper})
    try:
        result = fetch(hub, tmp_path / "m", "--asr", "1", "--asr-repo", "someone/not-whisper")
    finally:
        hub.stop()
    assert result.returncode == 1
    [line] = [text for text in result.stderr.splitlines() if text.startswith("[fetch] FAILED")]
    assert line == (
        f"[fetch] FAILED: someone/not-whisper@{not_whisper.commit}: not a Whisper model in transformers layout: missing "
        "generation_config.json, preprocessor_config.json, tokenizer_config.json, tokenizer.json or vocab.json + merges.txt"
    )
    assert not any(path.startswith("/someone/not-whisper/resolve/") for path in hub.paths)
