"""The scheduler owns the model calls: requests submit items, it batches what is waiting and runs it.

One thread makes every model call (`sample`, `vocode`) and is the only code that waits for the device,
so it is where GPU time is measured (`model_s`, `vocoder_s` of each result). Request threads only make
items (a plan may draw their noise on the device: small, asynchronous work that needs no lock).
Each item is due at a time: when it was submitted (a whole request wants everything at once), or,
for a stream's chunks, when its listener will need it, moved ahead of recent whole requests
(handler.batching.stream_order). Each round takes the
waiting item due first and adds the next waiting items of the same group in the same order, while the
batch stays within the bounds (handler.batching): at most `max_items` items, and the backend's memory
estimate within `memory_bytes`. With no later due times this is first come first served: no item waits
behind younger ones of its group, and every group gets its turn as soon as its oldest item is the
oldest overall. With them, eight streams take turns chunk by chunk, instead of the first to finish its
opening chunk making all of its rest while the others' listeners run out of audio. A batch that
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


@dataclass(eq=False)
class _Waiting:
    due: float  # time.monotonic() at which it is needed
    arrival: int
    item: Item
    future: Future

    def order(self) -> tuple[float, int]:
        return self.due, self.arrival


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
        self._pending: list[_Waiting] = []
        self._arrivals = 0  # ties of due time go in arrival order
        self._cond = threading.Condition()
        self._closed = False
        self._calls = 0
        self.recent_batches: deque[tuple[int, int]] = deque(maxlen=256)  # (items, distinct requests)
        self._thread = threading.Thread(target=self._loop, name="f5-scheduler", daemon=True)
        self._thread.start()
        _live.add(self)

    # ---- the requests' side ----------------------------------------------------------------------
    def submit(self, items: list[Item], due: list[float] | None = None) -> list[Future]:
        """Queue items in order; returns one future per item, resolving to an ItemResult. `due`: when
        each item is needed (time.monotonic()); by default now, which is first come first served."""
        futures = []
        now = time.monotonic()
        with self._cond:
            for index, item in enumerate(items):
                while len(self._pending) >= self.bounds.max_pending and not self._closed:
                    self._cond.wait()
                if self._closed:
                    raise SchedulerClosed("the worker is shutting down; retry the request")
                future: Future = Future()
                self._arrivals += 1
                self._pending.append(_Waiting(now if due is None else due[index], self._arrivals, item, future))
                futures.append(future)
            self._cond.notify_all()
        return futures

    def close(self) -> None:
        """Stop after the batch in progress; items still waiting fail with SchedulerClosed."""
        with self._cond:
            self._closed = True
            waiting, self._pending = self._pending, []
            self._cond.notify_all()
        for future in (entry.future for entry in waiting):
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
            # a caller that went away cancelled its items: they leave now, not when their turn comes (a
            # stream's later chunks may be due long after), so they hold no place under max_pending
            live = [entry for entry in self._pending if not entry.future.cancelled()]
            if len(live) < len(self._pending):
                self._pending = live
                self._cond.notify_all()
                if not live:
                    return []
            self._pending.sort(key=_Waiting.order)
            first = self._pending[0].item
            batch, longest = [], 0
            for entry in self._pending:
                item = entry.item
                if len(batch) >= self.bounds.max_items:
                    break
                if item.group != first.group:
                    continue
                grown = max(longest, item.frames)
                if batch and self.backend.batch_bytes(len(batch) + 1, grown) > self.bounds.memory_bytes:
                    continue  # a shorter item further back may still fit
                batch.append(entry)
                longest = grown
            taken = {id(entry) for entry in batch}
            self._pending = [entry for entry in self._pending if id(entry) not in taken]
            self._cond.notify_all()  # room for waiting submitters
        # cancelled items (a caller that went away) are dropped here, before any work is spent on them
        return [(entry.item, entry.future) for entry in batch if entry.future.set_running_or_notify_cancel()]

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
