"""Load: hundreds of jobs through the SDK's local API server, several at a time, their chunks batched
together by the scheduler. Every job completes, none is lost, each output is its own request's audio
(the same as that request alone, up to float rounding), some shared model calls, memory levels off."""

import base64
import hashlib
import itertools
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import psutil
import requests
from conftest import speechlike, wav_bytes

JOBS = 240
CLIENTS = 8
ROUNDS = 5
REFS = [base64.b64encode(wav_bytes(speechlike(2.0 + i % 3, seed=100 + i), 24000)).decode() for i in range(80)]


def request_for(i: int) -> dict:
    """24 distinct plain requests, plus custom references that cycle through 80 clips (the cache holds 64)."""
    job = {"text": f"Load test job number {i % 24}.", "seed": 1000 + i % 24, "nfe_step": 4, "format": "pcm"}
    if i % 3 == 0:
        job.update(ref_audio=REFS[(i // 3) % len(REFS)], ref_text="A reference clip for the load test.")
    return job


def key_of(job: dict) -> str:
    return hashlib.sha256(repr(sorted(job.items())).encode()).hexdigest()


def call(api: str, job: dict) -> dict:
    response = requests.post(f"{api}/runsync", json={"input": job}, timeout=600)
    response.raise_for_status()
    body = response.json()
    assert body["status"] == "COMPLETED", body
    [result] = body["output"]
    return result


def samples(result: dict) -> np.ndarray:
    return np.frombuffer(base64.b64decode(result["audio_base64"]), "<i2").astype(np.int32)


def same_audio(result: dict, expected: np.ndarray) -> bool:
    """Alone or batched with others: the same samples, up to a rounding step of the 16-bit output."""
    got = samples(result)
    return len(got) == len(expected) and int(np.max(np.abs(got - expected), initial=0)) <= 2


def test_hundreds_of_jobs_none_lost_none_mixed_up_memory_levels_off(api):
    server = psutil.Process(api.pid)
    temp_before = set(os.listdir(tempfile.gettempdir()))
    jobs = [request_for(i) for i in range(JOBS)]
    distinct = {key_of(job): job for job in jobs}

    # expected audio for each distinct request, one at a time
    expected = {key: samples(call(api, job)) for key, job in distinct.items()}

    # Round 1 brings the process to its working set. After it, the allocator may still take a step or
    # two as the voice cache churns (measured: +21, +71, +1, +1, +5 MB over rounds 2 to 6), while a leak
    # grows every round: so at least one of rounds 2 to 5 must grow less than 10 MB.
    rss = []
    for _ in range(ROUNDS):
        rss.append(server.memory_info().rss)
        started = time.monotonic()
        with ThreadPoolExecutor(CLIENTS) as pool:
            results = list(pool.map(lambda job: call(api, job), jobs))
        elapsed = time.monotonic() - started
        assert len(results) == JOBS  # none lost
        mismatched = [i for i, (job, result) in enumerate(zip(jobs, results, strict=True))
                      if result["seed"] != job["seed"] or not same_audio(result, expected[key_of(job)])]
        assert mismatched == []  # each output is its own request's audio
        shared = sum(result["timings"]["batched_with"] > 1 for result in results)
        assert shared > 0, "with several jobs in flight, some must share model calls"
    rss.append(server.memory_info().rss)
    growth_mb = [(after - before) / 2**20 for before, after in itertools.pairwise(rss[1:])]
    assert min(growth_mb) < 10, f"server memory grew every round after the first: {[r >> 20 for r in rss]} MB"
    assert set(os.listdir(tempfile.gettempdir())) - temp_before == set()
    print(f"{ROUNDS * JOBS + len(distinct)} jobs, {CLIENTS} clients, last round {elapsed:.1f} s, {shared} batched, "
          f"{len(distinct)} distinct requests, memory MB before/after each round: {[r >> 20 for r in rss]}")
