"""Concurrent requests through one Service: their chunks share model calls, and each request still
gets exactly its own audio, the same as alone (compared on the waveform, up to float rounding)."""

import base64
import itertools
import threading
import time

import numpy as np
import pytest
from conftest import answer, service_with_scheduler, speechlike, wav_bytes

REQUESTS = [
    {"text": "The first request speaks with the default voice.", "seed": 1},
    {"text": "A second one, with a voice of its own, and a stronger guidance.", "seed": 2, "cfg_strength": 3.0,
     "ref_audio": base64.b64encode(wav_bytes(speechlike(2.5, seed=5), 24000)).decode(), "ref_text": "Its own voice."},
    {"text": "Third. It is short, but it has two sentences.", "seed": 3, "cfg_strength": 1.0, "speed": 1.4},
    {"text": "The fourth request has a longer text than the others, long enough to take two chunks when the "
             "reference leaves little room, and a fixed duration too.", "seed": 4, "fix_duration": 9.0,
     "ref_audio": base64.b64encode(wav_bytes(speechlike(7.0, seed=6), 24000)).decode(),
     "ref_text": "A long reference clip, spoken slowly."},
    {"text": "Fifth and last.", "seed": 5, "cfg_strength": 0.0},
]


def pcm(service, request) -> tuple[np.ndarray, dict]:
    messages = answer(service, {**request, "format": "pcm", "nfe_step": 4})
    assert len(messages) == 1 and "audio_base64" in messages[0], messages
    return np.frombuffer(base64.b64decode(messages[0]["audio_base64"]), "<i2").astype(np.int32), messages[0]


def concurrently(service, requests) -> list[tuple[np.ndarray, dict]]:
    results: list = [None] * len(requests)
    start = threading.Barrier(len(requests))

    def run(index):
        start.wait()
        results[index] = pcm(service, requests[index])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    return results


@pytest.fixture(scope="module")
def batching(service):
    return service_with_scheduler(service, max_items=8)


@pytest.fixture(scope="module")
def alone(service):
    return [pcm(service, request) for request in REQUESTS]  # the shared test service: one item per call


def test_concurrent_requests_share_calls_and_each_gets_its_own_audio(batching, alone):
    together = concurrently(batching, REQUESTS)
    assert max(result["timings"]["batched_with"] for _, result in together) >= 2
    for (wave, result), (expected, solo) in zip(together, alone, strict=True):
        assert solo["timings"]["batched_with"] == 1
        assert result["seed"] == solo["seed"] and len(wave) == len(expected)
        assert np.max(np.abs(wave - expected)) <= 2  # 16-bit rounding of float error, nothing more


def test_the_same_request_in_different_company_gives_the_same_audio(batching, alone):
    other_company = concurrently(batching, [REQUESTS[0], *REQUESTS[2:4]])
    assert max(result["timings"]["batched_with"] for _, result in other_company) >= 2  # there was company
    assert np.max(np.abs(other_company[0][0] - alone[0][0])) <= 2
    assert np.max(np.abs(other_company[1][0] - alone[2][0])) <= 2


def test_fix_duration_holds_when_chunks_run_in_different_batches(batching, alone):
    wave, result = alone[3]
    assert result["chunks"] >= 2
    assert abs(len(wave) / 24000 - (9.0 - 7.0)) < 0.1  # the request's 9 s include its 7 s reference


def test_warm_up_runs_the_batched_path_too_where_calls_are_batched(tiny_model_dir):
    from conftest import make_settings

    from handler.startup import build_service

    batched = build_service(make_settings(tiny_model_dir, F5_MAX_BATCH="2", F5_CONCURRENCY="3"))
    try:
        assert (2, 1) in batched.scheduler.recent_batches  # two items of one request in one masked call
        assert batched.concurrency == 3 and batched.scheduler.bounds.max_items == 2
    finally:
        batched.scheduler.close()


def test_concurrent_streams_take_turns_chunk_by_chunk(service):
    """Two streams at once, one chunk per model call: once their first chunks are out, each later chunk
    is made by when its listener needs it (handler.batching.playback_due), so the two take turns,
    instead of the first to finish its opening chunk making all of its rest while the other's listener
    waits (first come first served gave A, B, A, A, A, A, B, B, B, B)."""
    from test_scheduler import Recording

    recording = Recording(service.backend)
    streams = service_with_scheduler(service, backend=recording, max_items=1)
    text = " ".join(f"Sentence {word} of a stream, said with a few more words, and a clause." for word in
                    ("one", "two", "three", "four", "five", "six"))
    start = threading.Barrier(2)

    def listen(seed):
        start.wait()
        messages = answer(streams, {"text": text, "stream": True, "format": "pcm", "nfe_step": 4, "seed": seed})
        assert messages[-1].get("done"), messages[-1]

    threads = [threading.Thread(target=listen, args=(seed,)) for seed in (1, 2)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
    finally:
        streams.scheduler.close()
    order = [call[0].request for call in recording.calls]
    assert len(order) >= 10 and len(set(order)) == 2
    switches = sum(1 for before, after in itertools.pairwise(order) if before != after)
    assert switches >= len(order) // 2, order  # turns, not one stream's rest in a block


LONG_TEXT = " ".join(f"Sentence {word} of a long request, said with a few more words, and a clause." for word in
                     ("one", "two", "three", "four", "five", "six", "seven", "eight"))


def queued_one_after_another(service, jobs: list[dict]) -> tuple[list[int], dict]:
    """Start each job once the one before it has all its chunks waiting, while the device is held on
    the first job's first chunk; then let the device go. The requests' order of model calls (one chunk
    each) and each job's last message."""
    from test_scheduler import Recording

    recording = Recording(service.backend)
    queued = service_with_scheduler(service, backend=recording, max_items=1)
    done: dict = {}

    def run(index, job):
        done[index] = answer(queued, {**job, "format": "pcm", "nfe_step": 4})[-1]

    recording.gate.clear()  # the device is busy: what arrives now waits in the queue
    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    deadline = time.monotonic() + 60
    try:
        for thread in threads:
            before = queued.scheduler.waiting
            thread.start()
            while queued.scheduler.waiting <= before and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(0.3)  # all of its chunks are in (the first job's first is in the held call)
        recording.gate.set()
        for thread in threads:
            thread.join(timeout=300)
    finally:
        recording.gate.set()
        queued.scheduler.close()
    return [call[0].request for call in recording.calls], done


def test_a_stream_after_a_long_whole_request_is_not_held_behind_all_of_it(service):
    """A stream's chunks go ahead of recent whole requests' (handler.batching.stream_order): one that
    arrives just after a long whole request has its first chunk made next, not after all of the whole
    request's (as it was: bench/RESULTS.md 2026-12-03, its first audio 4.4 s later beside one)."""
    order, done = queued_one_after_another(service, [{"text": LONG_TEXT, "seed": 1},
                                                     {"text": "A stream that came later.", "seed": 2, "stream": True}])
    assert "audio_base64" in done[0] and done[1].get("done"), done
    whole_id = order[0]
    assert order.count(whole_id) >= 4
    assert order[1] != whole_id, order  # the stream's first chunk, right after the call that was running


def test_whole_requests_stay_first_come_first_served_among_themselves(service):
    """Two whole requests, one after the other: all of the first's chunks, then the second's (taking
    turns would make both end late)."""
    order, done = queued_one_after_another(service, [{"text": LONG_TEXT, "seed": 1}, {"text": LONG_TEXT, "seed": 2}])
    assert all("audio_base64" in message for message in done.values()), done
    half = len(order) // 2
    assert len(set(order[:half])) == 1 and len(set(order[half:])) == 1 and order[0] != order[-1], order
