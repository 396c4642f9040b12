"""The scheduler owns the model calls: requests submit items, it batches what is waiting and runs it.

One thread makes every model call (`sample`, `vocode`) and is the only code that waits for the device,
so it is where GPU time is measured (`model_s`, `vocoder_s` of each result). Request threads only make
items (a plan may draw their noise on the device: small, asynchronous work that needs no lock).
Each round it takes the oldest waiting item and adds the next waiting items of the same group in
arrival order, while the batch stays within the bounds (handler.batching): at most `max_items` items,
and the backend's memory estimate within `memory_bytes`. So no item waits behind younger ones of its
group, and every group gets its turn as soon as its oldest item is the oldest overall. A batch that
runs out of memory anyway is split in halves and retried before any item fails; any other failure
fails exactly the items of that batch. Nothing here knows which model it serves (handler.model).
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
import weakref
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np
import torch

from handler import metrics
from handler.batching import BatchBounds
from handler.model import Item, ModelBackend

log = logging.getLogger("handler.scheduler")


@dataclass(frozen=True)
class ItemResult:
    wave: np.ndarray
    call: int  # which model call made it (items of one call share its time)
    batched_with: int  # distinct requests in the model call that made this item
    model_s: float  # wall time of that call
    vocoder_s: float  # this item's vocoder time


class SchedulerClosed(RuntimeError):
    pass


# Every live scheduler is closed when the interpreter exits: its daemon thread, caught inside a torch
# call by the interpreter's finalization, would abort the whole process ("terminate called without
# an active exception", SIGABRT) instead of letting it exit with its own status.
_live: weakref.WeakSet = weakref.WeakSet()


@atexit.register
def _close_live_schedulers() -> None:
    for scheduler in list(_live):
        scheduler.close()


class Scheduler:
    def __init__(self, backend: ModelBackend, bounds: BatchBounds):
        self.backend = backend
        self.bounds = bounds
        self._pending: deque[tuple[Item, Future]] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._calls = 0
        self.recent_batches: deque[tuple[int, int]] = deque(maxlen=256)  # (items, distinct requests)
        self._thread = threading.Thread(target=self._loop, name="f5-scheduler", daemon=True)
        self._thread.start()
        _live.add(self)

    # ---- the requests' side ----------------------------------------------------------------------
    def submit(self, items: list[Item]) -> list[Future]:
        """Queue items in order; returns one future per item, resolving to an ItemResult."""
        futures = []
        with self._cond:
            for item in items:
                while len(self._pending) >= self.bounds.max_pending and not self._closed:
                    self._cond.wait()
                if self._closed:
                    raise SchedulerClosed("the worker is shutting down; retry the request")
                future: Future = Future()
                self._pending.append((item, future))
                futures.append(future)
            self._cond.notify_all()
        return futures

    def close(self) -> None:
        """Stop after the batch in progress; items still waiting fail with SchedulerClosed."""
        with self._cond:
            self._closed = True
            waiting, self._pending = list(self._pending), deque()
            self._cond.notify_all()
        for _, future in waiting:
            if future.set_running_or_notify_cancel():
                future.set_exception(SchedulerClosed("the worker is shutting down; retry the request"))
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=60)
        _live.discard(self)

    @property
    def waiting(self) -> int:
        return len(self._pending)

    # ---- the device's side ---------------------------------------------------------------------
    def _take_batch(self) -> list[tuple[Item, Future]] | None:
        with self._cond:
            while not self._pending and not self._closed:
                self._cond.wait()
            if self._closed:
                return None
            first, _ = self._pending[0]
            batch, longest = [], 0
            for entry in list(self._pending):
                item = entry[0]
                if len(batch) >= self.bounds.max_items:
                    break
                if item.group != first.group:
                    continue
                grown = max(longest, item.frames)
                if batch and self.backend.batch_bytes(len(batch) + 1, grown) > self.bounds.memory_bytes:
                    continue  # a shorter item further back may still fit
                batch.append(entry)
                longest = grown
            for entry in batch:
                self._pending.remove(entry)
            self._cond.notify_all()  # room for waiting submitters
        # cancelled items (a caller that went away) are dropped here, before any work is spent on them
        return [(item, future) for item, future in batch if future.set_running_or_notify_cancel()]

    def _loop(self) -> None:
        while True:
            batch = self._take_batch()
            if batch is None:
                return
            if batch:
                self._run(batch)

    def _run(self, batch: list[tuple[Item, Future]]) -> None:
        items = [item for item, _ in batch]
        try:
            results = self._sample_and_vocode(items)
        except torch.OutOfMemoryError as exc:
            self.backend.release_memory()
            if len(batch) > 1:
                log.warning("out of memory on a batch of %d items; splitting it and retrying", len(batch))
                half = len(batch) // 2
                self._run(batch[:half])
                self._run(batch[half:])
                return
            error = torch.OutOfMemoryError(
                f"out of GPU memory on one chunk of {items[0].frames} frames even alone ({str(exc)[:200]})"
            )
            for _, future in batch:
                future.set_exception(error)
            return
        except Exception as exc:  # noqa: BLE001 - fail exactly this batch's items, keep serving
            for _, future in batch:
                future.set_exception(exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            future.set_result(result)

    def _sample_and_vocode(self, items: list[Item]) -> list[ItemResult]:
        started = time.perf_counter()
        outputs = self.backend.sample(items)
        self.backend.synchronize()
        model_s = time.perf_counter() - started
        self._calls += 1
        requests = len({item.request for item in items})
        self.recent_batches.append((len(items), requests))
        metrics.record_model_call(len(items), requests, model_s)
        results = []
        for item, output in zip(items, outputs, strict=True):
            began = time.perf_counter()
            wave = self.backend.vocode(item, output)  # returns a wave in host memory: the device is done
            results.append(ItemResult(wave, self._calls, requests, model_s, time.perf_counter() - began))
        return results
