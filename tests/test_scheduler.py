"""The scheduler: batching within bounds, first come first served, failures kept to their batch."""

import threading
import time

import numpy as np
import pytest
import torch
from conftest import speechlike

from handler.batching import BatchBounds
from handler.f5.memory import CostModel
from handler.model import SynthesisParams
from handler.scheduler import Scheduler, SchedulerClosed


@pytest.fixture(scope="module")
def voice(backend):
    return backend.prepare_voice(speechlike(2.0), "Some call me nature.")


class Recording:
    """The real backend, recording each call's items; `gate` holds calls until it is set. Its memory
    estimate is `bytes_per_frame` per frame of each item (none by default)."""

    def __init__(self, backend, fail_when=None, bytes_per_frame=0.0):
        self._backend, self.calls, self.fail_when = backend, [], fail_when
        self.bytes_per_frame = bytes_per_frame
        self.gate = threading.Event()
        self.gate.set()

    def __getattr__(self, name):
        return getattr(self._backend, name)

    def batch_bytes(self, count, longest):
        return count * longest * self.bytes_per_frame

    def sample(self, items):
        self.gate.wait(30)
        self.calls.append(list(items))
        if self.fail_when and self.fail_when(items):
            raise self.fail_when.error
        return self._backend.sample(items)


def make(backend, max_items=8, memory=float("inf"), max_pending=64):
    return Scheduler(backend, BatchBounds(max_items, memory, max_pending))


def hold(scheduler, recording, backend, voice):
    """Occupy the device with one item, so that what is submitted next waits together."""
    recording.gate.clear()
    futures = scheduler.submit(plan_items(backend, voice, ["Hold."], 99))
    time.sleep(0.2)
    return futures


def plan_items(backend, voice, texts, request, **params):
    return backend.plan(voice, texts, SynthesisParams(nfe_step=4, seed=request, **params), request).items()


def test_waiting_items_of_many_requests_share_calls_up_to_the_bound(backend, voice):
    recording = Recording(backend)
    scheduler = make(recording, max_items=3)
    try:
        recording.gate.clear()  # hold the device while the requests arrive
        blocker = scheduler.submit(plan_items(backend, voice, ["Hold."], 1))
        time.sleep(0.2)
        futures = []
        for request in range(2, 7):
            futures += scheduler.submit(plan_items(backend, voice, [f"Request {request}."], request))
        recording.gate.set()
        results = [f.result(timeout=60) for f in blocker + futures]
    finally:
        scheduler.close()
    assert [len(call) for call in recording.calls] == [1, 3, 2]  # FIFO, never above the bound
    assert [r.batched_with for r in results] == [1, 3, 3, 3, 2, 2]


def test_groups_wait_their_turn_in_arrival_order(backend, voice):
    recording = Recording(backend)
    scheduler = make(recording)
    try:
        recording.gate.clear()
        futures = scheduler.submit(plan_items(backend, voice, ["Hold."], 1))
        time.sleep(0.2)
        futures += scheduler.submit(plan_items(backend, voice, ["Eight."], 2, ))
        futures += scheduler.submit(backend.plan(voice, ["Six."], SynthesisParams(nfe_step=6), 3).items())
        futures += scheduler.submit(plan_items(backend, voice, ["Eight again."], 4))
        recording.gate.set()
        for future in futures:
            future.result(timeout=60)
    finally:
        scheduler.close()
    assert [[item.request for item in call] for call in recording.calls] == [[1], [2, 4], [3]]


def test_items_run_in_order_of_when_they_are_due(backend, voice):
    """A stream's later chunks are due when its listener needs them: a chunk due sooner runs first,
    even if submitted later; the default (due now) keeps arrival order, before what is due later."""
    recording = Recording(backend)
    scheduler = make(recording, max_items=1)
    a = plan_items(backend, voice, ["A later.", "A latest."], 2)
    b = plan_items(backend, voice, ["B sooner.", "B later."], 3)
    whole = plan_items(backend, voice, ["Whole now."], 4)
    names = {id(item): name for name, item in [("a0", a[0]), ("a1", a[1]), ("b0", b[0]), ("b1", b[1]), ("whole", whole[0])]}
    try:
        recording.gate.clear()
        futures = scheduler.submit(plan_items(backend, voice, ["Hold."], 1))
        time.sleep(0.2)
        now = time.monotonic()
        futures += scheduler.submit(a, due=[now + 5, now + 9])
        futures += scheduler.submit(b, due=[now + 3, now + 7])
        futures += scheduler.submit(whole)
        recording.gate.set()
        for future in futures:
            future.result(timeout=60)
    finally:
        scheduler.close()
    order = [names.get(id(item), "hold") for [item] in recording.calls]
    assert order == ["hold", "whole", "b0", "a0", "b1", "a1"]


def test_the_memory_bound_splits_batches_but_always_runs_the_oldest(backend, voice):
    recording = Recording(backend, bytes_per_frame=1.0)
    texts = ["A chunk of some length here.", "Another chunk of some length.", "And a third one of some length."]
    first = plan_items(backend, voice, texts[:1], 1)[0]
    scheduler = make(recording, memory=2.5 * first.frames)  # room for two items, not three
    try:
        futures = hold(scheduler, recording, backend, voice)
        for request, text in enumerate(texts, start=1):
            futures += scheduler.submit(plan_items(backend, voice, [text], request))
        recording.gate.set()
        for future in futures:
            future.result(timeout=60)
    finally:
        scheduler.close()
    assert [len(call) for call in recording.calls] == [1, 2, 1]


def test_out_of_memory_splits_the_batch_and_retries_before_anyone_fails(backend, voice):
    def too_big(items):
        return len(items) > 1

    too_big.error = torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 9.00 GiB")
    recording = Recording(backend, fail_when=too_big)
    scheduler = make(recording)
    try:
        held = hold(scheduler, recording, backend, voice)
        futures = []
        for request in range(1, 5):
            futures += scheduler.submit(plan_items(backend, voice, [f"Number {request}."], request))
        recording.gate.set()
        held[0].result(timeout=60)
        waves = [f.result(timeout=60).wave for f in futures]
    finally:
        scheduler.close()
    assert all(len(w) > 0 for w in waves)
    assert [len(call) for call in recording.calls][:4] == [1, 4, 2, 1]


def test_a_failure_fails_exactly_its_batch(backend, voice):
    def poisoned(items):
        return any(item.request == 2 for item in items)

    poisoned.error = RuntimeError("something broke in this batch")
    recording = Recording(backend, fail_when=poisoned)
    scheduler = make(recording, max_items=1)
    try:
        futures = [scheduler.submit(plan_items(backend, voice, ["Fine."], request))[0] for request in (1, 2, 3)]
        assert len(futures[0].result(timeout=60).wave) > 0
        with pytest.raises(RuntimeError, match="something broke"):
            futures[1].result(timeout=60)
        assert len(futures[2].result(timeout=60).wave) > 0
    finally:
        scheduler.close()


def test_cancelled_items_cost_nothing_and_a_full_queue_makes_submitters_wait(backend, voice):
    recording = Recording(backend)
    scheduler = make(recording, max_items=1, max_pending=2)
    try:
        recording.gate.clear()
        held = scheduler.submit(plan_items(backend, voice, ["Hold."], 1))
        time.sleep(0.2)
        queued_items = plan_items(backend, voice, ["Two.", "Three."], 2)
        queued = scheduler.submit(queued_items)
        queued[1].cancel()
        late: list = []
        thread = threading.Thread(target=lambda: late.extend(scheduler.submit(plan_items(backend, voice, ["Late."], 3))))
        thread.start()
        time.sleep(0.3)
        assert thread.is_alive(), "the queue is full: the submitter waits, nothing is dropped"
        recording.gate.set()
        thread.join(30)
        results = [f.result(timeout=60) for f in (*held, queued[0], *late)]
    finally:
        scheduler.close()
    assert len(results) == 3
    ran = [item for call in recording.calls for item in call]
    assert queued_items[0] in ran and queued_items[1] not in ran  # the cancelled chunk never ran
    assert len(ran) == 3


def test_close_fails_what_waits_with_a_clear_error(backend, voice):
    recording = Recording(backend)
    scheduler = make(recording, max_items=1)
    recording.gate.clear()
    futures = scheduler.submit(plan_items(backend, voice, ["One.", "Two."], 1))
    time.sleep(0.2)
    threading.Timer(0.3, recording.gate.set).start()
    scheduler.close()
    assert len(futures[0].result(timeout=30).wave) > 0  # the batch in progress finishes
    with pytest.raises(SchedulerClosed, match="shutting down"):
        futures[1].result(timeout=30)
    with pytest.raises(SchedulerClosed):
        scheduler.submit(plan_items(backend, voice, ["After."], 2))


def test_cost_model_grows_with_frames_and_pairs():
    """Activations per frame for every item; for a batch (masked attention) also the mask, per frame
    pair per item; one item alone has no mask, so no pair term."""
    cost = CostModel.for_model(dim=1024, heads=16, element_bytes=2)
    frame, pair = cost.bytes_per_frame, cost.bytes_per_frame_pair
    assert frame > 0 and pair > 0
    assert cost.batch_bytes(1, 2000) == 2000 * frame
    assert cost.batch_bytes(2, 2000) == 2 * 2000 * frame + 2 * 2000 * 2000 * pair
    assert cost.batch_bytes(8, 1500) == 8 * 1500 * frame + 8 * 1500 * 1500 * pair
    assert cost.batch_bytes(2, 2000) > 2 * cost.batch_bytes(1, 2000)  # the mask makes a pair cost more than two alone
    assert np.isfinite(cost.batch_bytes(16, 2100))


EXIT_WHILE_BUSY = """
import sys, time
from pathlib import Path
sys.path.insert(0, {tests!r}); sys.path.insert(0, {root!r})
import torch
from conftest import speechlike
import handler.f5
from handler.batching import BatchBounds
from handler.manifest import read_manifest
from handler.model import SynthesisParams
from handler.scheduler import Scheduler

backend = handler.f5.load(read_manifest(Path({model!r})), torch.device("cpu"), torch.float32)
voice = backend.prepare_voice(speechlike(2.0), "Some call me nature.")
scheduler = Scheduler(backend, BatchBounds(1, float("inf"), 64))
plan = backend.plan(voice, ["A long sentence that keeps the model busy for a while."] * 4,
                    SynthesisParams(nfe_step=32, seed=1), 1)
futures = scheduler.submit(plan.items())
while scheduler.waiting == 4:  # the first item is on the device
    time.sleep(0.01)
print("exiting with a batch in flight", flush=True)
"""


def test_the_process_exits_cleanly_with_a_batch_in_flight(tiny_model_dir, tmp_path):
    """A script (a benchmark, `say`) that ends while the scheduler thread is inside torch must exit
    normally; a daemon thread inside torch at interpreter exit aborts the process (SIGABRT)."""
    import subprocess
    import sys

    from conftest import ROOT

    script = tmp_path / "exit_while_busy.py"
    script.write_text(EXIT_WHILE_BUSY.format(tests=str(ROOT / "tests"), root=str(ROOT), model=str(tiny_model_dir)))
    for _ in range(2):
        done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, check=False)
        assert "exiting with a batch in flight" in done.stdout, done.stderr[-2000:]
        assert done.returncode == 0, done.stderr[-2000:]
        assert "terminate called" not in done.stderr


def test_a_streams_later_chunks_are_due_as_its_speech_plays():
    from handler.batching import PLAYBACK_SLACK, playback_due

    # the first chunk (4 bytes) plays 2 s from t=100: half a second a byte, so the second chunk is needed
    # after 2 s of speech and the third after 4 s, each less the slack
    assert playback_due(["abcd", "efgh", "ij"], 2.0, 100.0) == pytest.approx([100 + PLAYBACK_SLACK * 2, 100 + PLAYBACK_SLACK * 4])
    assert playback_due(["好", "的"], 1.5, 0.0) == pytest.approx([PLAYBACK_SLACK * 1.5])  # by UTF-8 bytes, as F5-TTS counts


def test_a_streams_due_times_go_ahead_of_recent_whole_requests_by_the_lead():
    from handler.batching import STREAM_LEAD_S, stream_order

    assert stream_order([100.0, 104.0]) == [100 - STREAM_LEAD_S, 104 - STREAM_LEAD_S]  # their own order kept


def test_a_cancelled_item_leaves_the_queue_at_the_next_round_not_when_its_turn_comes(backend, voice):
    """A stream whose caller went away may have chunks due far ahead: they must not hold places under
    max_pending (nor count as waiting) while the device works through what is due before them."""
    recording = Recording(backend)
    scheduler = make(recording, max_items=1)
    try:
        recording.gate.clear()
        held = scheduler.submit(plan_items(backend, voice, ["Hold."], 1))
        time.sleep(0.2)  # the scheduler's thread now waits inside that call
        now = time.monotonic()
        live = scheduler.submit(plan_items(backend, voice, ["Live one.", "Live two."], 2), due=[now, now + 1])
        gone = scheduler.submit(plan_items(backend, voice, ["Gone."], 3), due=[now + 100])
        gone[0].cancel()
        assert scheduler.waiting == 3
        [(_, taken)] = scheduler._take_batch()  # the next round, as the scheduler's thread would run it
        assert taken is live[0] and scheduler.waiting == 1  # the cancelled item left with it
        taken.set_exception(RuntimeError("taken by the test"))
        recording.gate.set()
        held[0].result(timeout=60)
        live[1].result(timeout=60)
    finally:
        scheduler.close()
