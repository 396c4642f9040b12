"""The handler through the real RunPod SDK's local modes: --test_input and the local API server."""

import base64
import io
import json
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import soundfile as sf
from conftest import ROOT, worker_env


def run_local(model_dir, *args, cwd=ROOT):
    return subprocess.run(  # noqa: PLW1510 - the tests read returncode
        [sys.executable, "-m", "handler", *args],
        cwd=cwd,
        env=worker_env(model_dir),
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_test_input_job_writes_a_playable_file(tiny_model_dir, tmp_path):
    out = tmp_path / "hello.flac"
    job = {"input": {"text": "Hello from a local job.", "format": "flac", "seed": 3, "nfe_step": 8}}
    process = run_local(tiny_model_dir, "--test_input", json.dumps(job), "--save_audio", str(out))
    assert process.returncode == 0, process.stderr[-3000:]
    assert "completed successfully" in process.stdout + process.stderr
    audio, rate = sf.read(out)
    assert rate == 24000 and len(audio) > 0.3 * rate


def test_the_repository_test_input_json_works(tiny_model_dir, tmp_path):
    shutil.copy(ROOT / "test_input.json", tmp_path / "test_input.json")  # the SDK reads it from the cwd
    out = tmp_path / "out.wav"
    process = run_local(tiny_model_dir, "--save_audio", str(out), cwd=tmp_path)
    assert process.returncode == 0, process.stderr[-3000:]
    assert "Using test_input.json as job input" in process.stdout + process.stderr
    assert sf.read(out)[1] == 24000


def test_test_input_with_bad_input_fails_with_the_message(tiny_model_dir):
    job = {"input": {"text": "Hello", "nfe_step": 1000}}
    process = run_local(tiny_model_dir, "--test_input", json.dumps(job))
    assert process.returncode == 1
    assert "nfe_step: Input should be less than or equal to 64" in process.stdout + process.stderr


def audio_of(message):
    return sf.read(io.BytesIO(base64.b64decode(message["audio_base64"])))


def test_runsync_returns_the_result_as_a_one_message_list(api):
    body = requests.post(f"{api}/runsync", json={"input": {"text": "Sync call.", "seed": 5, "nfe_step": 8}}, timeout=120).json()
    assert body["status"] == "COMPLETED"
    [result] = body["output"]  # return_aggregate_stream: the list of what the generator yielded
    audio, rate = audio_of(result)
    assert rate == 24000 and result["seed"] == 5 and len(audio) == pytest.approx(result["duration_s"] * rate, abs=2)


def test_run_then_status(api):
    job = requests.post(f"{api}/run", json={"input": {"input": "Async call.", "response_format": "mp3", "nfe_step": 8}}, timeout=30).json()
    status = requests.post(f"{api}/status/{job['id']}", timeout=120).json()
    assert status["status"] == "COMPLETED"
    [result] = status["output"]
    assert result["format"] == "mp3" and audio_of(result)[1] == 24000


def test_stream_yields_segments_then_a_summary(api):
    text = " ".join(f"This is streamed sentence number {i}, long enough to need chunks." for i in range(8))
    job = requests.post(f"{api}/run", json={"input": {"text": text, "stream": True, "format": "pcm", "nfe_step": 4}}, timeout=30).json()
    body = requests.post(f"{api}/stream/{job['id']}", timeout=300).json()
    outputs = [item["output"] for item in body["stream"]]
    *parts, summary = outputs
    assert summary["done"] and summary["segments"] == len(parts) >= 2
    samples = sum(len(base64.b64decode(p["audio_base64"])) // 2 for p in parts)
    assert samples / 24000 == pytest.approx(summary["duration_s"], abs=0.001)


def test_errors_are_yielded_not_raised(api):
    body = requests.post(f"{api}/runsync", json={"input": {"text": "x", "format": "aac"}}, timeout=60).json()
    assert body["output"] == [{"error": body["output"][0]["error"]}]
    assert "format" in body["output"][0]["error"]


def test_concurrent_jobs_each_get_their_own_audio(api):
    def call(seed):
        body = requests.post(f"{api}/runsync", json={"input": {"text": f"Job {seed}.", "seed": seed, "nfe_step": 4}}, timeout=300).json()
        return seed, body["output"][0]

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(call, range(8)))
    for seed, result in results:
        assert result["seed"] == seed and "audio_base64" in result
    _, alone = call(3)  # the same request alone gives the same audio: nothing mixed up under load
    assert alone["audio_base64"] == dict(results)[3]["audio_base64"]
