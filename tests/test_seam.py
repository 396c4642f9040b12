"""The seam between serving and the model (handler.model): a second backend, a tone generator
(tests/tone_backend.py), served by the same service and the same three front doors, with nothing of
F5-TTS imported; and what only a backend may do (wait for the device) done only where it belongs."""

from __future__ import annotations

import ast
import base64
import io
import json
import subprocess
import sys
import threading
import time

import httpx
import numpy as np
import pytest
import soundfile as sf
from conftest import ROOT, answer, free_port, make_settings, only, tone_env
from tone_backend import BEEP_S, PRESET_HZ, SAMPLE_RATE, SLOW_S, beep, dominant_hz, wav_bytes_of

from handler.events import Failure, FailureKind, Finished

HANDLER = ROOT / "handler"
SERVING = sorted(p for p in HANDLER.glob("*.py"))  # everything but the model backends (handler/f5/)


@pytest.fixture(scope="module")
def tone_service(tone_model_dir):
    from handler.startup import build_service

    return build_service(make_settings(tone_model_dir, F5_BACKEND="tone_backend"))


def test_the_warm_up_runs_the_default_parameters(tone_service):
    """So a setting that would fail requests at the defaults (a dtype, say) fails start-up instead."""
    from handler.model import SynthesisParams

    warmup = tone_service.backend.plans[0]
    assert warmup.params == SynthesisParams(seed=0)


def test_the_tone_backend_serves_through_the_service(tone_service):
    result = only(tone_service, {"text": "one two three", "seed": 1})
    audio, rate = sf.read(io.BytesIO(base64.b64decode(result["audio_base64"])), dtype="float32")
    assert rate == result["sample_rate"] == SAMPLE_RATE
    assert dominant_hz(audio, rate) == pytest.approx(PRESET_HZ, abs=5)
    assert result["duration_s"] == pytest.approx(3 * (BEEP_S + 0.04), abs=0.01)


def test_a_cloned_voice_reaches_the_backend(tone_service):
    clip = base64.b64encode(wav_bytes_of(beep(660.0, 1.5))).decode()
    result = only(tone_service, {"text": "hello there", "ref_audio": clip, "ref_text": "A beep."})
    audio, rate = sf.read(io.BytesIO(base64.b64decode(result["audio_base64"])), dtype="float32")
    assert dominant_hz(audio, rate) == pytest.approx(660, abs=5)


def test_remove_silence_shortens_a_long_pause_to_half_a_second_each_side(tone_service):
    """The tone voice's "..." is 1.6 s of silence after a word's 0.04 s gap: 1.64 s, shortened to
    0.5 s after the speech before it and 0.5 s before the speech after (the documented rule)."""
    request = {"text": "hello ... world", "format": "wav", "seed": 1}
    plain = only(tone_service, request)
    trimmed = only(tone_service, {**request, "remove_silence": True})
    assert plain["duration_s"] - trimmed["duration_s"] == pytest.approx(0.64, abs=0.02)
    streamed = answer(tone_service, {**request, "remove_silence": True, "stream": True})
    assert streamed[-1]["duration_s"] == pytest.approx(trimmed["duration_s"], abs=0.02)


def test_a_requests_timings_do_not_include_other_requests_model_calls(tone_service):
    """A slow model call (another request's) runs while this request waits for the device. Its own
    model_s is its own call; its encoding waits for nothing; only total_s includes the wait. And the
    only thread that ever waits for the device is the scheduler's."""
    results: dict[str, list] = {}

    def run(name: str, text: str) -> None:
        results[name] = list(tone_service.events({"text": text, "seed": 1}, name))

    slow = threading.Thread(target=run, args=("slow", "slow words here"))
    slow.start()
    time.sleep(0.2)  # the slow call is under way
    run("quick", "quick words")
    slow.join()
    quick = results["quick"][-1]
    assert isinstance(quick, Finished), quick
    assert quick.timings["total_s"] > SLOW_S - 0.3  # it did wait for the device
    assert quick.timings["model_s"] < 0.3 and quick.timings["encode_s"] < 0.3
    assert tone_service.backend.sync_threads == {"f5-scheduler"}


def test_a_backend_refusal_names_its_field(tone_service):
    [failure] = list(tone_service.events({"text": "hi", "fix_duration": 3.0}))
    assert isinstance(failure, Failure) and failure.kind is FailureKind.INVALID_INPUT
    assert failure.field == "fix_duration"


# ---- the three front doors, as processes, on the tone backend ---------------------------------------------
NOT_IMPORTED = ("f5_tts", "vocos", "handler.f5", "torchdiffeq", "x_transformers")
IMPORT_PROBE = (
    "import atexit, json, os, sys\n"
    "atexit.register(lambda: open(os.environ['PROBE_OUT'], 'w').write(json.dumps(sorted(sys.modules))))\n"
    "sys.argv = ['handler', *json.loads(os.environ['PROBE_ARGS'])]\n"
    "from handler.__main__ import main\n"
    "main()\n"
)


def run_front_door(tone_model_dir, tmp_path, args: list[str], **env) -> tuple[subprocess.CompletedProcess, list[str]]:
    """`python -m handler ARGS` on the tone backend; returns the process and the modules it had imported."""
    probe = tmp_path / "modules.json"
    process = subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE],
        cwd=tmp_path,
        check=False,
        env=tone_env(tone_model_dir, PROBE_OUT=str(probe), PROBE_ARGS=json.dumps(args), F5_WARMUP="0", **env),
        capture_output=True,
        timeout=300,
    )
    return process, json.loads(probe.read_text()) if probe.exists() else []


def assert_no_f5(modules: list[str]) -> None:
    leaked = [m for m in modules if m.split(".")[0] in NOT_IMPORTED or m.startswith("handler.f5")]
    assert modules and not leaked, leaked


def test_say_serves_the_tone_backend_without_importing_f5(tone_model_dir, tmp_path):
    out = tmp_path / "tone.flac"
    process, modules = run_front_door(tone_model_dir, tmp_path, ["say", "one two", "-o", str(out), "--seed", "3"])
    assert process.returncode == 0, process.stderr.decode()[-3000:]
    audio, rate = sf.read(out)
    assert rate == SAMPLE_RATE and dominant_hz(audio, rate) == pytest.approx(PRESET_HZ, abs=5)
    assert b"model ok" in process.stderr and b"kind=tone" in process.stderr
    assert_no_f5(modules)


def test_the_queue_worker_serves_the_tone_backend_without_importing_f5(tone_model_dir, tmp_path):
    job = json.dumps({"input": {"text": "one two", "format": "pcm", "stream": True}})
    process, modules = run_front_door(tone_model_dir, tmp_path, ["--test_input", job, "--save_audio", str(tmp_path / "a.pcm")])
    assert process.returncode == 0, process.stderr.decode()[-3000:]
    samples = np.frombuffer((tmp_path / "a.pcm").read_bytes(), "<i2").astype(np.float32) / 32767
    assert len(samples) == pytest.approx(2 * (BEEP_S + 0.04) * SAMPLE_RATE, abs=2)
    assert dominant_hz(samples, SAMPLE_RATE) == pytest.approx(PRESET_HZ, abs=5)
    assert_no_f5(modules)


def test_the_http_mode_serves_the_tone_backend_without_importing_f5(tone_model_dir, tmp_path):
    port = free_port()
    probe = tmp_path / "modules.json"
    server = subprocess.Popen(
        [sys.executable, "-c", IMPORT_PROBE],
        cwd=tmp_path,
        env=tone_env(tone_model_dir, PROBE_OUT=str(probe), PROBE_ARGS=json.dumps(["serve"]), PORT=str(port),
                     F5_WARMUP="0"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None and time.monotonic() < deadline, server.stderr.read().decode()[-3000:]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/ping", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        response = httpx.post(f"http://127.0.0.1:{port}/v1/audio/speech", timeout=60,
                              json={"input": "one two three", "response_format": "wav", "voice": "en"})
        assert response.status_code == 200 and response.headers["content-type"] == "audio/wav"
        audio, rate = sf.read(io.BytesIO(response.content))
        assert rate == SAMPLE_RATE and dominant_hz(audio, rate) == pytest.approx(PRESET_HZ, abs=5)
        refused = httpx.post(f"http://127.0.0.1:{port}/v1/audio/speech", timeout=60,
                             json={"input": "one", "fix_duration": 2.0})
        assert refused.status_code == 400 and refused.json()["error"]["param"] == "fix_duration"
    finally:
        server.terminate()
        server.wait(timeout=60)
    assert_no_f5(json.loads(probe.read_text()))


# ---- what the source says: imports that only one place may make ----------------------------------------
def imported_modules(path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_serving_modules_import_nothing_of_f5_tts_or_vocos():
    for path in SERVING:
        leaked = {m for m in imported_modules(path) if m.split(".")[0] in ("f5_tts", "vocos") or m.startswith("handler.f5")}
        assert not leaked, (path.name, leaked)


def test_runpod_is_imported_in_one_module_only():
    importers = sorted(p.relative_to(ROOT).as_posix() for p in HANDLER.rglob("*.py")
                       if any(m.split(".")[0] == "runpod" for m in imported_modules(p)))
    assert importers == ["handler/worker.py"]


def test_only_the_scheduler_waits_for_the_device():
    """`synchronize` (the backend's, or torch.cuda's) is called by the scheduler and the backends only:
    a request thread that waited for the device would wait for every request's queued GPU work."""
    callers = sorted(p.relative_to(ROOT).as_posix() for p in HANDLER.rglob("*.py")
                     if "synchronize(" in p.read_text(encoding="utf-8").replace("def synchronize(", ""))
    assert callers == ["handler/f5/backend.py", "handler/scheduler.py"]
