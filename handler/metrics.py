"""The worker's figures, for Prometheus (`GET /metrics` in the HTTP mode) and for the queue worker's
one log line per job.

One registry per process. The code that sees an event records it through the functions here (the
scheduler its model calls, the voice library its cache, the HTTP layer its requests); what is read
at scrape time (chunks waiting, GPU memory) comes from the sources `watch()` is given.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

REGISTRY = CollectorRegistry()
CONTENT_TYPE = CONTENT_TYPE_LATEST

_SECONDS = (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300)
HTTP_REQUESTS = Counter("f5_http_requests_total", "HTTP requests answered, by route and status",
                        ["route", "status"], registry=REGISTRY)
HTTP_SECONDS = Histogram("f5_http_request_seconds", "Seconds from a request to the end of its answer, by route",
                         ["route"], buckets=_SECONDS, registry=REGISTRY)
FIRST_BYTE_SECONDS = Histogram("f5_first_audio_byte_seconds", "Seconds from a speech request to its first audio byte",
                               ["front"], buckets=_SECONDS, registry=REGISTRY)
IN_FLIGHT = Gauge("f5_http_requests_in_flight", "Speech requests being served", registry=REGISTRY)
REFUSED = Counter("f5_http_refused_total", "Speech requests refused because the worker was busy (429)",
                  registry=REGISTRY)
MODEL_CALL_ITEMS = Histogram("f5_model_call_items", "Chunks in one model call", buckets=(1, 2, 4, 8, 16, 32, 64),
                             registry=REGISTRY)
MODEL_CALL_REQUESTS = Histogram("f5_model_call_requests", "Distinct requests sharing one model call",
                                buckets=(1, 2, 4, 8, 16, 32, 64), registry=REGISTRY)
MODEL_CALL_SECONDS = Histogram("f5_model_call_seconds", "Seconds of one model call (sampling, on the device)",
                               buckets=_SECONDS, registry=REGISTRY)
VOICE_LOOKUPS = Counter("f5_voice_cache_lookups_total", "Prepared-voice lookups, by kind and whether the cache had it",
                        ["kind", "result"], registry=REGISTRY)
CLIENT_GONE = "client_gone"  # the outcome of a request whose client left before its end
JOBS = Counter("f5_jobs_total", "Queue jobs and HTTP speech requests answered, by front door and outcome",
               ["front", "outcome"], registry=REGISTRY)
_WAITING = Gauge("f5_chunks_waiting", "Chunks waiting for the model", registry=REGISTRY)
_GPU_MEMORY = Gauge("f5_gpu_memory_bytes", "GPU memory: allocated and reserved by torch, and total",
                    ["kind"], registry=REGISTRY)


def record_model_call(items: int, requests: int, seconds: float) -> None:
    MODEL_CALL_ITEMS.observe(items)
    MODEL_CALL_REQUESTS.observe(requests)
    MODEL_CALL_SECONDS.observe(seconds)


def record_voice_lookup(kind: str, hit: bool) -> None:
    VOICE_LOOKUPS.labels(kind, "hit" if hit else "miss").inc()


def record_job(front: str, outcome: str, first_byte_s: float | None = None) -> None:
    """One request's end: `outcome` is "ok", a failure kind or CLIENT_GONE; `first_byte_s` where audio was sent."""
    JOBS.labels(front, outcome).inc()
    if first_byte_s is not None:
        FIRST_BYTE_SECONDS.labels(front).observe(first_byte_s)


def watch(waiting: Callable[[], int], gpu_memory: Callable[[], dict[str, float]] | None = None) -> None:
    """What to read at scrape time: the scheduler's queue, and the device's memory where there is a GPU."""
    _WAITING.set_function(waiting)
    if gpu_memory is not None:
        for kind in ("allocated", "reserved", "total"):
            _GPU_MEMORY.labels(kind).set_function(lambda kind=kind: _read(gpu_memory, kind))


def _read(gpu_memory: Callable[[], dict[str, float]], kind: str) -> float:
    """NaN when the device cannot say (after a CUDA fault): the scrape still answers, with every other
    figure, when it matters most."""
    try:
        return gpu_memory().get(kind, 0.0)
    except Exception:  # noqa: BLE001 - any device error
        return math.nan


def exposition() -> bytes:
    return generate_latest(REGISTRY)
