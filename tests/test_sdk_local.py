"""The handler through the real RunPod SDK's local modes: --test_input and the local API server.

The local API server runs in both handler modes: `api` (conftest, F5_HANDLER=stream, the default)
and `plain_api` (F5_HANDLER=plain). The platform's own job protocol (take a job, post to the stream
and done routes) is exercised against a stand-in for RunPod's job server, in both modes.
"""

import base64
import io
import json
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
import soundfile as sf
from conftest import ROOT, assert_audio_format, local_api, worker_env


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
    assert_audio_format(out.read_bytes(), "flac")
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
    assert rate == 24000 and result["seed"] == 5 and len(audio) == pytest.approx(result["duration_s"] * rate, abs=13)  # duration_s: 1 ms


def test_run_then_status(api):
    job = requests.post(f"{api}/run", json={"input": {"input": "Async call.", "response_format": "mp3", "nfe_step": 8}}, timeout=30).json()
    status = requests.post(f"{api}/status/{job['id']}", timeout=120).json()
    assert status["status"] == "COMPLETED"
    [result] = status["output"]
    assert result["format"] == "mp3" and audio_of(result)[1] == 24000
    assert_audio_format(base64.b64decode(result["audio_base64"]), "mp3")


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
    assert max(result["timings"]["batched_with"] for _, result in results) >= 2  # they did share model calls
    _, alone = call(3)  # the same request alone gives the same audio (up to float rounding): nothing mixed up
    together, _ = sf.read(io.BytesIO(base64.b64decode(dict(results)[3]["audio_base64"])), dtype="int16")
    solo, _ = sf.read(io.BytesIO(base64.b64decode(alone["audio_base64"])), dtype="int16")
    assert len(together) == len(solo) and abs(together.astype(int) - solo.astype(int)).max() <= 2


# ---- F5_HANDLER: stream (default) and plain -------------------------------------------------------
LONG_TEXT = " ".join(f"Sentence number {i} of a long text, which makes a result of more than one megabyte." for i in range(6))


@pytest.fixture(scope="module")
def plain_api(tiny_model_dir):
    """The local API server with F5_HANDLER=plain: the SDK gets a plain coroutine handler."""
    with local_api(tiny_model_dir, F5_HANDLER="plain", F5_WARMUP="0") as url:
        yield url


def test_plain_runsync_returns_the_result_object(plain_api):
    body = requests.post(f"{plain_api}/runsync", json={"input": {"text": "Sync call.", "seed": 5, "nfe_step": 8}}, timeout=120).json()
    assert body["status"] == "COMPLETED"
    result = body["output"]  # the object itself, not a list
    assert isinstance(result, dict) and result["seed"] == 5
    audio, rate = audio_of(result)
    assert rate == 24000 and len(audio) == pytest.approx(result["duration_s"] * rate, abs=13)


def test_plain_run_then_status_returns_the_result_object(plain_api):
    job = requests.post(f"{plain_api}/run", json={"input": {"text": "Async call.", "format": "mp3", "nfe_step": 4}}, timeout=30).json()
    status = requests.post(f"{plain_api}/status/{job['id']}", timeout=120).json()
    assert status["status"] == "COMPLETED" and status["output"]["format"] == "mp3"
    assert audio_of(status["output"])[1] == 24000
    assert_audio_format(base64.b64decode(status["output"]["audio_base64"]), "mp3")


def test_plain_refuses_stream_and_says_how_to_deploy_for_it(plain_api):
    body = requests.post(f"{plain_api}/runsync", json={"input": {"text": "Stream me.", "stream": True}}, timeout=60).json()
    assert body["status"] == "FAILED" and "output" not in body
    assert "F5_HANDLER=stream (the default)" in body["error"]


def test_plain_input_errors_fail_the_job_with_the_message(plain_api):
    body = requests.post(f"{plain_api}/runsync", json={"input": {"text": "x", "nfe_step": 1000}}, timeout=60).json()
    assert body["status"] == "FAILED"
    assert "nfe_step: Input should be less than or equal to 64" in body["error"]


@pytest.mark.parametrize("mode", ["stream", "plain"])
def test_a_result_over_1_mb_arrives_whole(mode, request):
    url = request.getfixturevalue("api" if mode == "stream" else "plain_api")
    job = {"input": {"text": LONG_TEXT, "format": "wav", "seed": 11, "nfe_step": 4}}
    body = requests.post(f"{url}/runsync", json=job, timeout=300).json()
    assert body["status"] == "COMPLETED", body.get("error")
    output = body["output"]
    if mode == "stream":
        [result] = output  # return_aggregate_stream: a one-message list
    else:
        result = output
    assert len(result["audio_base64"]) > 1_000_000
    audio, rate = audio_of(result)
    assert len(audio) == pytest.approx(result["duration_s"] * rate, abs=13)  # duration_s is rounded to 1 ms


class FakeJobServer(ThreadingHTTPServer):
    """Stands in for RunPod's job routes: hands out queued jobs, records what the SDK posts back."""

    def __init__(self, jobs: list[dict]):
        self.jobs = list(jobs)
        self.posts: list[tuple[str, str, dict]] = []  # (route, query, body)
        self.done = threading.Event()
        self.expected_done = len(jobs)
        super().__init__(("127.0.0.1", 0), FakeJobRoutes)

    def env(self) -> dict[str, str]:
        base = f"http://127.0.0.1:{self.server_address[1]}"
        return {
            "RUNPOD_WEBHOOK_GET_JOB": f"{base}/take?worker=$ID",
            "RUNPOD_WEBHOOK_POST_OUTPUT": f"{base}/done/$ID?worker=w",
            "RUNPOD_WEBHOOK_POST_STREAM": f"{base}/stream/$ID?worker=w",
            "RUNPOD_POD_ID": "fake-worker",
        }


class FakeJobRoutes(BaseHTTPRequestHandler):
    server: FakeJobServer

    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):
        if self.path.startswith("/take") and self.server.jobs:
            body = json.dumps(self.server.jobs.pop(0)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        time.sleep(0.2)  # the real route long-polls; do not let the SDK spin
        self.send_response(204)
        self.end_headers()

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        route, _, query = self.path.partition("?")
        self.server.posts.append((route, query, body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
        if sum(r.startswith("/done/") for r, _, _ in self.server.posts) >= self.server.expected_done:
            self.server.done.set()


def run_platform_worker(model_dir, mode: str, jobs: list[dict]) -> FakeJobServer:
    server = FakeJobServer(jobs)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    process = subprocess.Popen(
        [sys.executable, "-m", "handler"],
        cwd=ROOT,
        env=worker_env(model_dir, F5_HANDLER=mode, F5_WARMUP="0", **server.env()),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        finished = server.done.wait(timeout=240)
        assert finished, f"the worker posted {len(server.posts)} results, exited: {process.poll()}"
    finally:
        process.terminate()
        process.wait(timeout=30)
        server.shutdown()
        server.server_close()
    return server


PLATFORM_JOB = {"id": "job-plain", "input": {"text": "On the platform.", "seed": 9, "nfe_step": 4}}


def test_platform_stream_mode_posts_every_result_to_the_stream_route_too(tiny_model_dir):
    server = run_platform_worker(tiny_model_dir, "stream", [PLATFORM_JOB])
    [(stream_route, _, streamed), (done_route, done_query, done)] = server.posts
    assert stream_route == "/stream/job-plain" and done_route == "/done/job-plain" and "isStream=true" in done_query
    [result] = done["output"]  # return_aggregate_stream: the list of messages
    assert streamed["output"] == result and result["seed"] == 9 and "audio_base64" in result


def test_platform_plain_mode_posts_one_result_object_and_nothing_to_the_stream_route(tiny_model_dir):
    streaming_job = {"id": "job-stream", "input": {"text": "Stream me.", "stream": True}}
    server = run_platform_worker(tiny_model_dir, "plain", [PLATFORM_JOB, streaming_job])
    assert [route for route, _, _ in server.posts] == ["/done/job-plain", "/done/job-stream"]
    assert all("isStream=false" in query for _, query, _ in server.posts)
    result = server.posts[0][2]["output"]  # the object itself
    assert isinstance(result, dict) and result["seed"] == 9 and audio_of(result)[1] == 24000
    refused = server.posts[1][2]
    assert "output" not in refused and "F5_HANDLER=stream (the default)" in refused["error"]
