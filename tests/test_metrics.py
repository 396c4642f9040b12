"""Prometheus metrics of the HTTP mode (`GET /metrics`), read with prometheus_client's own parser as
requests go by (a 200, a 400, a 429); and the queue worker's one log line per job."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import httpx
import pytest
from conftest import ROOT, free_port, worker_env
from prometheus_client.parser import text_string_to_metric_families

KEY = "metrics-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
SPEECH = {"input": "Counted.", "voice": "en", "response_format": "pcm", "seed": 1, "nfe_step": 4}


@pytest.fixture(scope="module")
def server(tiny_model_dir, tmp_path_factory):
    from test_http import Server

    served = Server(tiny_model_dir, tmp_path_factory.mktemp("metrics") / "server.log", F5_API_KEY=KEY,
                    PORT_HEALTH=str(free_port()), F5_HTTP_MAX_INFLIGHT="1", F5_WARMUP="0")
    try:
        served.wait_ready()
        yield served
    finally:
        served.stop()


def scrape(url: str, headers: dict | None = None) -> dict[tuple[str, tuple], float]:
    """Every sample of the exposition, parsed by prometheus_client: (name, sorted labels) → value."""
    response = httpx.get(f"{url}/metrics", headers=headers, timeout=30)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.text) for sample in family.samples}


def value(samples, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_sit_on_the_health_port_and_behind_the_key_on_the_api_port(server):
    assert httpx.get(f"{server.url}/metrics", timeout=30).status_code == 401
    on_api = scrape(server.url, AUTH)
    on_health = scrape(server.health_url)  # the platform's port, not public: no key
    assert {name for name, _ in on_api} == {name for name, _ in on_health}


def test_the_counters_and_histograms_move_as_requests_go_by(server):
    before = scrape(server.health_url)
    assert httpx.post(f"{server.url}/v1/audio/speech", json=SPEECH, headers=AUTH, timeout=120).status_code == 200
    assert httpx.post(f"{server.url}/v1/audio/speech", json={"input": ""}, headers=AUTH, timeout=60).status_code == 400
    # refused before the service sees it (not JSON; not an object): counted as refusals too
    assert httpx.post(f"{server.url}/v1/audio/speech", content=b"{oops", headers=AUTH, timeout=60).status_code == 400
    assert httpx.post(f"{server.url}/v1/audio/speech", json=[1], headers=AUTH, timeout=60).status_code == 400
    # two at once with a bound of one in flight: one is refused (the slow one holds the slot)
    statuses: list[int] = []
    barrier = threading.Barrier(2)

    def run(text):
        barrier.wait()
        statuses.append(httpx.post(f"{server.url}/v1/audio/speech", headers=AUTH, timeout=120,
                                   json={**SPEECH, "input": text}).status_code)

    threads = [threading.Thread(target=run, args=(text,)) for text in ("One of two at once, rather long to say.", "Two.")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 429]
    after = scrape(server.health_url)

    def moved(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    speech = "/v1/audio/speech"
    assert moved("f5_http_requests_total", route=speech, status="200") == 2
    assert moved("f5_http_requests_total", route=speech, status="400") == 3
    assert moved("f5_http_requests_total", route=speech, status="429") == 1
    assert moved("f5_http_refused_total") == 1
    assert moved("f5_http_request_seconds_count", route=speech) == 6
    assert moved("f5_first_audio_byte_seconds_count", front="http") == 2
    assert moved("f5_jobs_total", front="http", outcome="ok") == 2
    assert moved("f5_jobs_total", front="http", outcome="invalid_input") == 3
    assert moved("f5_model_call_items_count") >= 2 and moved("f5_model_call_seconds_sum") > 0
    assert moved("f5_voice_cache_lookups_total", kind="preset", result="hit") >= 2
    assert ("f5_chunks_waiting", ()) in after and value(after, "f5_http_requests_in_flight") == 0
    assert not any(name == "f5_gpu_memory_bytes" for name, _ in after)  # on a CPU there is none to report


def test_a_client_that_leaves_mid_stream_is_counted_as_gone(server):
    before = scrape(server.health_url)
    long_text = " ".join(f"Sentence number {n} of a stream the client will not hear to its end." for n in range(30))
    with httpx.stream("POST", f"{server.url}/v1/audio/speech", headers=AUTH, timeout=120,
                      json={**SPEECH, "input": long_text}) as response:
        assert response.status_code == 200
        next(response.iter_bytes())  # the first audio, then the client hangs up
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        after = scrape(server.health_url)
        if value(after, "f5_jobs_total", front="http", outcome="client_gone") > \
                value(before, "f5_jobs_total", front="http", outcome="client_gone"):
            break
        time.sleep(0.2)
    gone = value(after, "f5_jobs_total", front="http", outcome="client_gone") - \
        value(before, "f5_jobs_total", front="http", outcome="client_gone")
    assert gone == 1
    assert value(after, "f5_jobs_total", front="http", outcome="ok") == value(before, "f5_jobs_total", front="http",
                                                                              outcome="ok")


def test_the_queue_worker_logs_one_line_per_job(tiny_model_dir):
    job = {"input": {"text": "Logged once.", "nfe_step": 4, "seed": 2}}
    process = subprocess.run([sys.executable, "-m", "handler", "--test_input", json.dumps(job)], cwd=ROOT,
                             env=worker_env(tiny_model_dir, F5_WARMUP="0"), capture_output=True, text=True,
                             timeout=300, check=False)
    assert process.returncode == 0, process.stderr[-3000:]
    lines = [line for line in process.stderr.splitlines() if "handler.worker: job " in line]
    assert len(lines) == 1, process.stderr[-3000:]
    for field in ("done", "duration_s=", "first_audio_s=", "total_s=", "model_s=", "batched_with=", "chunks_waiting="):
        assert field in lines[0]


def test_a_device_that_cannot_say_its_memory_leaves_the_scrape_answering():
    from handler import metrics

    def faulted() -> dict:
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    metrics.watch(lambda: 3, faulted)
    families = {f.name: f for f in text_string_to_metric_families(metrics.exposition().decode())}
    memory = {s.labels["kind"]: s.value for s in families["f5_gpu_memory_bytes"].samples}
    assert set(memory) == {"allocated", "reserved", "total"} and all(v != v for v in memory.values())  # NaN
    assert families["f5_chunks_waiting"].samples[0].value == 3
