"""The batching policy, in one place: how many jobs one worker takes at once, how many chunks share one
model call, how much memory one call may use, how many chunks may wait, and how a stream's
chunks grow and when its later chunks are due. Settings (F5_CONCURRENCY, F5_MAX_BATCH,
F5_BATCH_MEMORY_GB) override the device defaults; 0 keeps them. docs/architecture.md explains the
figures; tests hold the README and .runpod/hub.json to them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DeviceDefaults:
    concurrency: int  # jobs taken at once
    max_items: int  # chunks per model call
    memory_fraction: float | None  # of the memory free after loading, for one call (None: unbounded)


# A GPU serves several jobs at once by batching their chunks (8 and 16: estimates until
# bench/gpu_bench.py measures them on a GPU, see bench/RESULTS.md); 70 % of free memory keeps a
# 16 GB card's headroom. A CPU gains nothing from padded batches (measured: bench/batching_bench.py).
DEFAULTS = {
    "cuda": DeviceDefaults(concurrency=8, max_items=16, memory_fraction=0.7),
    "cpu": DeviceDefaults(concurrency=1, max_items=1, memory_fraction=None),
}
MAX_PENDING = 256  # chunks waiting for the model; a request beyond it waits to submit, never dropped
FIRST_CHUNK_S = 3.0  # a stream's first chunk: about this much speech, so its first audio comes early
# then each chunk of a stream at most 1.5 times the one before, up to the model's limit (measured with
# bench/playback_bench.py: 2.0 still left 8 streams on a CPU stalling, see bench/RESULTS.md)
STREAM_CHUNK_GROWTH = 1.5
PLAYBACK_SLACK = 0.8  # a stream's later chunk is due after this share of the speech before it has played


@dataclass(frozen=True)
class BatchBounds:
    max_items: int
    memory_bytes: float  # what one call may use on top of the weights (the backend estimates a call)
    max_pending: int  # items waiting at most; a submit beyond it waits, it is never dropped


@dataclass(frozen=True)
class BatchingPolicy:
    concurrency: int
    bounds: BatchBounds
    first_chunk_s: float = FIRST_CHUNK_S

    def describe(self) -> dict[str, str]:
        memory = self.bounds.memory_bytes
        return {
            "concurrency": str(self.concurrency),
            "max_batch": str(self.bounds.max_items),
            "batch_memory_gb": "none" if memory == float("inf") else f"{memory / 2**30:.1f}",
        }


def batching_policy(device_kind: str, free_memory_bytes: float | None, *, concurrency: int = 0,
                    max_batch: int = 0, batch_memory_gb: float = 0.0) -> BatchingPolicy:
    """The policy for a device ("cuda" or anything else: CPU defaults); a setting above 0 wins."""
    defaults = DEFAULTS["cuda" if device_kind == "cuda" else "cpu"]
    if batch_memory_gb > 0:
        memory = batch_memory_gb * 2**30
    elif defaults.memory_fraction is None or free_memory_bytes is None:
        memory = float("inf")
    else:
        memory = defaults.memory_fraction * free_memory_bytes
    bounds = BatchBounds(max_items=max_batch or defaults.max_items, memory_bytes=memory, max_pending=MAX_PENDING)
    return BatchingPolicy(concurrency=concurrency or defaults.concurrency, bounds=bounds)


# A stream's chunks are ordered as if due this much earlier than their listener needs them: ahead of
# whole requests' chunks that arrived up to this long before, since someone is listening to a stream
# while a whole request is judged by when it ends. Streams go ahead of a whole request's chunk only
# with chunks needed within this long of its arrival. Whole requests stay first come first served.
STREAM_LEAD_S = 30.0


def stream_order(due: list[float]) -> list[float]:
    """A stream's due times (time.monotonic()) as the scheduler is to order them."""
    return [moment - STREAM_LEAD_S for moment in due]


def playback_due(chunks: list[str], first_seconds: float, playing_since: float) -> list[float]:
    """When a stream's listener will need each chunk after the first (time.monotonic()): the first
    chunk plays from `playing_since` for `first_seconds`; chunk k is needed once the text before it has
    been spoken, at the first chunk's pace per UTF-8 byte (the model's own duration rule is proportional
    to the text's bytes), less PLAYBACK_SLACK's margin for the estimate and for making the chunk. The
    scheduler serves the item due first, so concurrent streams take turns by need rather than a stream
    making all of its rest before the next stream's second chunk."""
    spoken = len(chunks[0].encode("utf-8"))
    per_byte = first_seconds / max(1, spoken)
    due = []
    for chunk in chunks[1:]:
        due.append(playing_since + PLAYBACK_SLACK * per_byte * spoken)
        spoken += len(chunk.encode("utf-8"))
    return due
