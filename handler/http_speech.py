"""The HTTP mode's speech routes: OpenAI's POST /v1/audio/speech, and the same with subtitles.

`/v1/audio/speech` sends the audio as it is made: the bytes of one file (`stream_format: "audio"`,
the default), or Server-Sent Events (`stream_format: "sse"`): `speech.audio.delta` events carrying
base64 of the format's bytes (joined, one file, as the raw stream is), `speech.segment` events when
timestamps are asked (a client reading only deltas skips them), and `speech.audio.done` with usage
last; a failure after the first delta is an `error` event, then the stream ends.
`/v1/audio/speech/captioned` answers once, in JSON: the whole file (base64), its sentences' timestamps
and, when asked, the subtitles. OpenAI's names and ranges map onto the worker's contract here; the
contract (handler.schema) validates the rest.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import secrets
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from handler import metrics
from handler.audio_codec import OUTPUT_FORMATS
from handler.captions import Segment
from handler.events import Audio, Failure, FailureKind, Finished
from handler.http_common import RETRY_AFTER_BUSY_S, ApiError, HttpState, gate, read_json, service_error
from handler.schema import MAX_SEED, field_bounds

log = logging.getLogger("handler.http")

OPENAI_DEFAULT_FORMAT = "mp3"  # what OpenAI's API answers when response_format is not given
OPENAI_SPEED = (0.25, 4.0)  # OpenAI's range: accepted, and brought within the model's where it ends sooner
STREAM_FORMATS = ("audio", "sse")
_END = object()


class StreamAborted(Exception):
    """Raised inside a response body that already started: the connection is cut (no final chunk), so
    the client sees an incomplete response, never a truncated file that looks complete."""


@dataclass
class SpeechJob:
    job: dict  # the worker's request
    sse: bool = False
    headers: dict[str, str] = field(default_factory=dict)


# ---- the request, OpenAI names onto the worker contract --------------------------------------------------
def to_job(body: Any, stream: bool = True) -> SpeechJob:
    """The worker request for an OpenAI-style body. The contract itself (handler.schema) validates it;
    this only maps OpenAI's defaults and ranges, and the fields that only make sense over HTTP."""
    if not isinstance(body, dict):
        raise ApiError(400, f"the body must be a JSON object with at least 'input', not {type(body).__name__}")
    job = dict(body)
    speech = SpeechJob(job)
    fmt = job.get("response_format", job.get("format"))
    if isinstance(fmt, str) and fmt.strip().lower() == "aac":
        raise ApiError(
            400,
            "response_format 'aac' is not supported: this server cannot encode AAC; "
            f"use one of {', '.join(OUTPUT_FORMATS)}",
            "unsupported_format",
            "response_format",
        )
    if "response_format" not in job and "format" not in job:
        job["response_format"] = OPENAI_DEFAULT_FORMAT
    stream_format = job.pop("stream_format", None)
    if stream_format not in (None, *STREAM_FORMATS):
        raise ApiError(
            400,
            f"stream_format {stream_format!r} is not supported; use 'audio' (the bytes as they are made, the "
            "default) or 'sse' (Server-Sent Events)",
            "unsupported_stream_format",
            "stream_format",
        )
    speech.sse = stream_format == "sse"
    _bring_speed_within_the_model(speech)
    job.pop("instructions", None)  # OpenAI's style prompt: F5-TTS takes its style from the reference voice
    if job.get("ref_audio") is not None:
        job.pop("voice", None)  # an inline reference (extra_body) wins over `voice`, which OpenAI's clients require
    if isinstance(job.get("stream", False), bool):
        job["stream"] = stream  # the answer is sent as it is made (the captioned route: at once)
    if job.get("seed") is None:  # chosen here so that the X-Seed header can carry it
        job["seed"] = secrets.randbelow(MAX_SEED + 1)
    return speech


def _bring_speed_within_the_model(speech: SpeechJob) -> None:
    """OpenAI accepts speed 0.25 to 4.0; the model's own range may end sooner (the contract's bounds):
    such a speed is applied at the nearest end, and the X-Speed-Applied header says so."""
    speed = speech.job.get("speed")
    if isinstance(speed, bool) or not isinstance(speed, int | float):
        return  # the contract says what is wrong with it
    low, high = field_bounds("speed")
    if OPENAI_SPEED[0] <= speed <= OPENAI_SPEED[1] and not low <= speed <= high:
        applied = min(max(float(speed), low), high)
        speech.job["speed"] = applied
        speech.headers["X-Speed-Applied"] = f"{applied:g}"


# ---- the service's blocking generator, stepped in threads ---------------------------------------------------
class ServiceStream:
    """One request's `Service.events` generator. Steps run in the executor, one at a time; `close()`
    returns at once and closes the generator in a thread after any step in progress, which cancels the
    request's chunks still waiting in the scheduler; then the request's slot is released."""

    def __init__(self, events: Iterator, executor: ThreadPoolExecutor, on_closed: Callable[[], None]):
        self._events, self._executor, self._on_closed = events, executor, on_closed
        self._lock = threading.Lock()
        self._closing = False

    def _step(self) -> Any:
        with self._lock:
            if self._closing:
                return _END
            return next(self._events, _END)

    async def next(self) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._step)

    def _close(self) -> None:
        try:
            with self._lock:
                self._events.close()
        finally:
            self._on_closed()

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        threading.Thread(target=self._close, name="f5-http-close", daemon=True).start()


def _check_broken(state: HttpState, failure: Failure) -> None:
    if failure.replace_worker or getattr(state.service, "broken", None):
        state.on_broken(failure.message)


def _log_done(job_id: str, event: Finished, sent: int, first_byte_s: float | None, started: float) -> None:
    timings = event.timings
    log.info(
        "%s done status=200 seed=%s format=%s duration_s=%s bytes=%d first_byte_s=%.3f total_s=%.3f "
        "first_audio_s=%s model_s=%s batched_with=%s",
        job_id, event.seed, event.format.name, event.duration_s, sent, first_byte_s or 0.0,
        time.perf_counter() - started, timings.get("first_audio_s"), timings.get("model_s"), timings.get("batched_with"),
    )


async def _events(state: HttpState, stream: ServiceStream, event: Any, job_id: str, started: float):
    """Each event of the request, in order, as it comes; a failure is yielded too (the body decides what
    it means there). Closing (the client went away: starlette cancels the body) closes the service's
    generator, so its work stops."""
    sent, first_byte_s = 0, None
    try:
        while True:
            if event is _END:
                raise StreamAborted("the service's stream ended without its final event")
            if isinstance(event, Failure):
                _check_broken(state, event)
                metrics.record_job("http", event.kind.value, first_byte_s)
            if isinstance(event, Finished):
                _log_done(job_id, event, sent, first_byte_s, started)
                metrics.record_job("http", "ok", first_byte_s)
            if isinstance(event, Audio):
                sent += len(event.data)
                first_byte_s = first_byte_s if first_byte_s is not None else time.perf_counter() - started
            yield event
            if isinstance(event, Finished | Failure):
                return
            event = await stream.next()
    except (asyncio.CancelledError, GeneratorExit):
        log.info("%s stopped: the client went away after %d bytes", job_id, sent)
        if not isinstance(event, Finished | Failure):  # gone with its last event on the way: counted by it
            metrics.record_job("http", metrics.CLIENT_GONE)
        raise
    finally:
        stream.close()


async def _audio_body(events: AsyncIterator) -> AsyncIterator[bytes]:
    """stream_format "audio": the bytes of each audio event; a failure after them cuts the connection."""
    async for event in events:
        if isinstance(event, Failure):
            raise StreamAborted(event.message)
        if isinstance(event, Audio):
            yield event.data


def _sse(data: dict) -> bytes:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


async def _sse_body(events: AsyncIterator) -> AsyncIterator[bytes]:
    """stream_format "sse": OpenAI's events, then the stream ends (after an error event too)."""
    async for event in events:
        if isinstance(event, Audio):
            yield _sse({"type": "speech.audio.delta", "audio": base64.b64encode(event.data).decode("ascii")})
        elif isinstance(event, Segment):
            yield _sse({"type": "speech.segment", **event.public()})
        elif isinstance(event, Finished):
            # OpenAI's event has usage; the rest is this worker's own (clients ignore them): the text as
            # spoken and the characters left out, as the queue worker's result has them
            yield _sse({"type": "speech.audio.done", "usage": event.usage, "seed": event.seed,
                        "duration_s": event.duration_s, "text": event.text, "dropped": list(event.dropped),
                        "timings": event.timings})
        elif isinstance(event, Failure):
            error = service_error(event)
            yield _sse({"type": "error", "error": {"message": error.message, "type": "server_error" if error.status >= 500
                        else "invalid_request_error", "code": error.code, "param": error.param}})


class _AudioStream(StreamingResponse):
    """A streamed answer that closes its service stream however the response ends (done, client gone,
    error), not only when the body generator happens to be finalised."""

    def __init__(self, stream: ServiceStream, content: AsyncIterator[bytes], **kwargs):
        super().__init__(content, **kwargs)
        self._stream = stream

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._stream.close()


def speech_routes(state: HttpState, max_body_bytes: int) -> list[Route]:
    async def start(request: Request, stream: bool) -> tuple[SpeechJob, ServiceStream, Any, str, float]:
        """Admit the request, run it until its first event; an early failure is its HTTP error."""
        gate(state, request)
        try:
            speech = to_job(await read_json(request, max_body_bytes), stream=stream)
        except ApiError:  # a body refused before the service saw it counts as the service's refusals do
            metrics.record_job("http", FailureKind.INVALID_INPUT.value)
            raise
        if not stream:
            speech.job["output"] = "inline"  # one answer with the file in it: never an upload
        if not state.inflight.try_acquire():
            metrics.REFUSED.inc()
            raise ApiError(
                429,
                f"the worker is busy ({state.inflight.limit} requests in flight); retry shortly",
                "rate_limit_exceeded",
                headers={"Retry-After": str(RETRY_AFTER_BUSY_S)},
            )
        job_id = state.next_id()
        started = time.perf_counter()
        service_stream = ServiceStream(state.service.events(speech.job, job_id), state.executor, state.inflight.release)
        try:
            first = await service_stream.next()
        except BaseException:
            service_stream.close()
            raise
        if not isinstance(first, Audio | Finished):
            service_stream.close()
            if isinstance(first, Failure):
                _check_broken(state, first)
                metrics.record_job("http", first.kind.value)
                raise service_error(first)
            raise ApiError(500, "internal error: the service returned no audio", "internal_error")
        speech.headers.update({"X-Seed": str(speech.job["seed"]), "X-Request-Id": job_id, "Cache-Control": "no-store"})
        return speech, service_stream, first, job_id, started

    async def speech(request: Request) -> Response:
        speech, stream, first, job_id, started = await start(request, stream=True)
        events = _events(state, stream, first, job_id, started)
        if speech.sse:
            return _AudioStream(stream, _sse_body(events), media_type="text/event-stream", headers=speech.headers)
        return _AudioStream(stream, _audio_body(events), media_type=first.content_type, headers=speech.headers)

    async def captioned(request: Request) -> Response:
        """The whole file and its sentences' timestamps in one JSON answer."""
        speech, stream, first, job_id, started = await start(request, stream=False)
        stream.close()
        if not isinstance(first, Finished) or first.audio is None:  # a whole request: one Finished, the file in it
            raise ApiError(500, "internal error: the service returned no audio", "internal_error")
        _log_done(job_id, first, len(first.audio), None, started)
        metrics.record_job("http", "ok")
        answer = {"audio": base64.b64encode(first.audio).decode("ascii"), "format": first.format.name,
                  "content_type": first.content_type, "sample_rate": first.sample_rate, "duration_s": first.duration_s,
                  "seed": first.seed, "text": first.text, "dropped": list(first.dropped),
                  "segments": [s.public() for s in first.segments],
                  "usage": first.usage}
        if first.captions is not None:
            answer["captions"] = first.captions
        return JSONResponse(answer, headers=speech.headers)

    return [
        Route("/v1/audio/speech", speech, methods=["POST"]),
        Route("/v1/audio/speech/captioned", captioned, methods=["POST"]),
    ]
