"""build/fetch_models.py against a local stand-in for the Hugging Face hub (no container)."""

import json
import subprocess
import sys

import pytest
from conftest import ROOT
from fake_hub import FakeHub, Repo, repos_from_model_dir

from handler.manifest import read_manifest, verify_files


@pytest.fixture(scope="module")
def hub_repos(tiny_model_dir):
    repos = repos_from_model_dir(tiny_model_dir)
    # the default model's real layout: SWivid/F5-TTS → F5TTS_v1_Base/model_1250000.safetensors
    repos["SWivid/F5-TTS"] = Repo(files={"F5TTS_v1_Base/model_1250000.safetensors": repos["test-org/tiny-f5"].files["model.safetensors"]})
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


def test_default_model_layout_and_manifest(hub_repos, tmp_path):
    hub = FakeHub(hub_repos)
    try:
        result = fetch(hub, tmp_path / "m")
    finally:
        hub.stop()
    assert result.returncode == 0, result.stderr
    # the pinned commits were asked for, not main
    assert "/api/models/SWivid/F5-TTS/revision/84e5a410d9cead4de2f847e7c9369a6440bdfaca" in hub.paths
    assert "/api/models/charactr/vocos-mel-24khz/revision/0feb3fdd929bcd6649e0e7c5a688cf7dd012ef21" in hub.paths
    manifest = read_manifest(tmp_path / "m")
    assert manifest.model_name == "F5TTS_v1_Base" and manifest.backbone == "DiT"
    assert manifest.arch["dim"] == 1024 and manifest.arch["depth"] == 22  # from f5-tts's own config
    assert manifest.checkpoint.name == "model_1250000.safetensors"
    assert verify_files(manifest, check_hashes=True) > 0
    by_path = {entry["path"]: entry for entry in manifest.files}
    assert by_path["f5/model_1250000.safetensors"]["revision"] == hub_repos["SWivid/F5-TTS"].commit
    assert by_path["f5/vocab.txt"]["repo"] == "f5-tts (package)"
    assert set(by_path) == {"f5/model_1250000.safetensors", "f5/vocab.txt", "vocos/config.yaml", "vocos/pytorch_model.bin"}


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
    assert manifest.arch["dim"] == 64
    import torch

    from handler.engine import Engine

    Engine.load(manifest, torch.device("cpu"), torch.float32)  # the fetched folder is what the worker loads


def test_a_file_whose_hash_does_not_match_is_refused(hub_repos, tmp_path):
    hub_repos["charactr/vocos-mel-24khz"].lie_about = {"pytorch_model.bin"}
    hub = FakeHub(hub_repos)
    try:
        result = fetch(hub, tmp_path / "m")
    finally:
        hub.stop()
        hub_repos["charactr/vocos-mel-24khz"].lie_about = set()
    assert result.returncode == 1
    [line] = [text for text in result.stderr.splitlines() if text.startswith("[fetch] FAILED")]
    assert "charactr/vocos-mel-24khz: pytorch_model.bin has sha256" in line and "refusing to bake it" in line


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


def test_asr_files_are_baked_when_asked(hub_repos, tmp_path):
    hub = FakeHub(hub_repos)
    try:
        result = fetch(hub, tmp_path / "m", "--asr", "1", "--asr-repo", "openai/whisper-tiny-fake")
    finally:
        hub.stop()
    assert result.returncode == 0, result.stderr
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    assert manifest["asr"] == {"dir": "whisper"}
    assert sorted(p.name for p in (tmp_path / "m" / "whisper").iterdir()) == ["config.json", "model.safetensors", "tokenizer.json"]
