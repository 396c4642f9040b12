"""Start-up as a real process: the ready path, and every failure ending in one clear line, fast."""

import json
import shutil
import subprocess
import sys
import time

import pytest
from conftest import ROOT, flip_a_byte, worker_env


def run_worker(model_dir, *args, timeout=120, **env):
    started = time.monotonic()
    process = subprocess.run(  # noqa: PLW1510 - the tests read returncode
        [sys.executable, "-m", "handler", *args],
        cwd=ROOT,
        env=worker_env(model_dir, **env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return process, time.monotonic() - started


def failure_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("[startup] FAILED")]


def test_import_has_no_side_effects():
    code = "import sys, handler; print(sorted(m for m in ('torch', 'runpod', 'f5_tts') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_engine_imports_without_runpod():
    code = (
        "import sys; sys.modules['runpod'] = None\n"  # any import of runpod now fails
        "import handler.service, handler.startup, handler.f5.backend, handler.scheduler\n"
        "from handler.f5.modules import load_f5_modules; load_f5_modules()\n"
        "print(sorted(m for m in ('wandb', 'datasets', 'accelerate', 'gradio', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_self_check_passes_and_logs_each_step_in_order(tiny_model_dir):
    process, _ = run_worker(tiny_model_dir, "--check")
    assert process.returncode == 0, process.stderr
    assert "[check] ok" in process.stdout
    steps = [line.split()[1] for line in process.stderr.splitlines() if line.startswith("[startup]") and " ok in " in line]
    assert steps == ["versions", "manifest", "model", "scheduler", "voices", "storage", "warmup"]
    assert "[startup] ready in" in process.stderr


@pytest.fixture
def broken_copy(tiny_model_dir, tmp_path):
    copy = tmp_path / "model"
    shutil.copytree(tiny_model_dir, copy)
    return copy


def assert_fails_fast(model_dir, needle, *args, **env):
    process, seconds = run_worker(model_dir, *(args or ("--check",)), **env)
    assert process.returncode == 1
    lines = failure_lines(process.stderr)
    assert len(lines) == 1 and needle in lines[0], process.stderr
    assert "Traceback" not in process.stderr
    assert seconds < 30
    return lines[0]


def test_missing_checkpoint(broken_copy):
    (broken_copy / "f5" / "model_random.safetensors").unlink()
    assert_fails_fast(broken_copy, "model file missing: ")


def test_missing_vocoder_weights(broken_copy):
    (broken_copy / "vocos" / "pytorch_model.bin").unlink()
    assert_fails_fast(broken_copy, "vocos/pytorch_model.bin")


def test_corrupted_checkpoint_same_size(broken_copy):
    path = broken_copy / "f5" / "model_random.safetensors"
    flip_a_byte(path)
    assert_fails_fast(broken_copy, "wrong sha256")


def test_truncated_checkpoint(broken_copy):
    path = broken_copy / "f5" / "model_random.safetensors"
    path.write_bytes(path.read_bytes()[:1000])
    assert_fails_fast(broken_copy, "wrong size")


def test_unreadable_manifest(broken_copy):
    (broken_copy / "manifest.json").write_text("{not json")
    assert_fails_fast(broken_copy, "model manifest unreadable")


def test_missing_manifest(tmp_path):
    assert_fails_fast(tmp_path, "model manifest missing")


def test_manifest_path_escaping_the_model_dir(broken_copy):
    manifest = json.loads((broken_copy / "manifest.json").read_text())
    manifest["model"]["checkpoint"] = "../../etc/passwd"
    (broken_copy / "manifest.json").write_text(json.dumps(manifest))
    assert_fails_fast(broken_copy, "points outside")


def test_gpu_required_but_absent(tiny_model_dir):
    job = json.dumps({"input": {"text": "x"}})
    assert_fails_fast(tiny_model_dir, "F5_REQUIRE_GPU=1 but no CUDA GPU", "--test_input", job, F5_REQUIRE_GPU="1", F5_DEVICE="auto")


def test_the_self_check_runs_on_cpu_even_where_a_gpu_is_required(tiny_model_dir):
    process, _ = run_worker(tiny_model_dir, "--check", F5_REQUIRE_GPU="1", F5_DEVICE="auto")
    assert process.returncode == 0, process.stderr


def test_bad_setting_names_the_variable(tiny_model_dir):
    assert_fails_fast(tiny_model_dir, "F5_MAX_BATCH='many' is not a whole number", F5_MAX_BATCH="many")


def test_unknown_default_voice(tiny_model_dir):
    assert_fails_fast(tiny_model_dir, "F5_DEFAULT_VOICE='nobody' is not a preset", F5_DEFAULT_VOICE="nobody")


def test_extra_presets_from_a_voices_folder(tiny_model_dir, tmp_path):
    from conftest import speechlike, wav_bytes

    (tmp_path / "narrator.wav").write_bytes(wav_bytes(speechlike(3.0), 24000))
    (tmp_path / "voices.json").write_text(json.dumps({"narrator": {"file": "narrator.wav", "ref_text": "Hello there."}}))
    process, _ = run_worker(tiny_model_dir, "--check", F5_VOICES_DIR=str(tmp_path), F5_DEFAULT_VOICE="narrator")
    assert process.returncode == 0, process.stderr
    assert "presets=en,narrator,zh" in process.stderr


def test_a_text_limit_below_the_warm_up_text_still_starts_and_applies_to_requests(tiny_model_dir):
    """The warm-up's text is the worker's own: F5_MAX_TEXT_CHARS limits callers, not start-up."""
    process, _ = run_worker(tiny_model_dir, "--test_input", json.dumps({"input": {"text": "Hi.", "nfe_step": 4}}),
                            F5_MAX_TEXT_CHARS="5")
    assert process.returncode == 0 and failure_lines(process.stderr) == [], process.stderr[-3000:]
    assert "warmup ok" in process.stderr
    refused, _ = run_worker(tiny_model_dir, "--test_input", json.dumps({"input": {"text": "Far too long."}}),
                            F5_MAX_TEXT_CHARS="5", F5_WARMUP="0")
    assert "over the limit of 5" in refused.stdout + refused.stderr


def test_an_unknown_backend_fails_fast(tiny_model_dir):
    assert_fails_fast(tiny_model_dir, "F5_BACKEND='no_such_backend': cannot import no_such_backend", F5_BACKEND="no_such_backend")
