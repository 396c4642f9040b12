"""The HTTP front door for RunPod load-balancing endpoints: an OpenAI-compatible speech API.

A thin adapter over `Service.events` (the same contract, validation, scheduler and encoders as the
queue worker): it maps OpenAI's field names and defaults onto a request, runs the service's blocking
generator in threads, and sends the bytes of its audio events as they come (chunked). A failure's
kind picks the status (FAILURE_STATUS), its field the `param`: no message wording is read.
Start-up, the ports, signals and the drain live in handler/http_serve.py.

Routes: GET /ping (RunPod's health check), POST /v1/audio/speech, GET /v1/models; the voices and
consents routes are handler/http_voices.py's. Errors are OpenAI-style JSON,
`{"error": {"message", "type", "param", "code"}}` (handler/http_common.py): 4xx for what the caller
can fix, 5xx only for faults of the worker itself.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from handler.audio_codec import OUTPUT_FORMATS
from handler.events import Audio, Failure, Finished
from handler.http_common import (
    RETRY_AFTER_BUSY_S,
    ApiError,
    HttpState,
    error_response,
    gate,
    read_json,
    service_error,
)
from handler.http_voices import voice_routes
from handler.schema import MAX_SEED

log = logging.getLogger("handler.http")

OPENAI_DEFAULT_FORMAT = "mp3"  # what OpenAI's API answers when response_format is not given
_END = object()


class StreamAborted(Exception):
    """Raised inside a response body that already started: the connection is cut (no final chunk), so
    the client sees an incomplete response, never a truncated file that looks complete."""


# ---- the request, OpenAI names onto the worker contract --------------------------------------------------
def to_job(body: Any) -> dict:
    """The worker request for an OpenAI-style body. The contract itself (handler.schema) validates it;
    this only maps OpenAI's defaults and the fields that only make sense over HTTP."""
    if not isinstance(body, dict):
        raise ApiError(400, f"the body must be a JSON object with at least 'input', not {type(body).__name__}")
    job = dict(body)
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
    if stream_format not in (None, "audio"):
        raise ApiError(
            400,
            f"stream_format {stream_format!r} is not supported; the audio bytes are streamed as "
            "they are made (stream_format 'audio')",
            "unsupported_stream_format",
            "stream_format",
        )
    job.pop("instructions", None)  # OpenAI's style prompt: F5-TTS takes its style from the reference voice
    if job.get("ref_audio") is not None:
        job.pop("voice", None)  # an inline reference (extra_body) wins over `voice`, which OpenAI's clients require
    if isinstance(job.get("stream", False), bool):
        job["stream"] = True  # the answer is always sent as it is made
    if job.get("seed") is None:  # chosen here so that the X-Seed header can carry it
        job["seed"] = secrets.randbelow(MAX_SEED + 1)
    return job


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


# ---- routes ---------------------------------------------------------------------------------------------
def create_app(state: HttpState, max_body_bytes: int = 40_000_000) -> Starlette:
    async def ping(request: Request) -> Response:
        return _ping(state)

    async def models(request: Request) -> Response:
        gate(state, request)
        created = 0
        data = [
            {"id": name, "object": "model", "created": created, "owned_by": "f5-tts"}
            for name in dict.fromkeys([state.model_name, "f5-tts", "tts-1", "tts-1-hd"])
        ]
        return JSONResponse({"object": "list", "data": data})

    async def speech(request: Request) -> Response:
        gate(state, request)
        job = to_job(await read_json(request, max_body_bytes))
        if not state.inflight.try_acquire():
            raise ApiError(
                429,
                f"the worker is busy ({state.inflight.limit} requests in flight); retry shortly",
                "rate_limit_exceeded",
                headers={"Retry-After": str(RETRY_AFTER_BUSY_S)},
            )
        job_id = state.next_id()
        started = time.perf_counter()
        stream = ServiceStream(state.service.events(job, job_id), state.executor, state.inflight.release)
        try:
            first = await stream.next()
        except BaseException:
            stream.close()
            raise
        if not isinstance(first, Audio):
            stream.close()
            if isinstance(first, Failure):
                _check_broken(state, first)
                raise service_error(first)
            raise ApiError(500, "internal error: the service returned no audio", "internal_error")
        headers = {"X-Seed": str(job["seed"]), "X-Request-Id": job_id, "Cache-Control": "no-store"}
        return _AudioStream(
            stream, _body(state, stream, first, job_id, started), media_type=first.content_type, headers=headers
        )

    async def on_api_error(request: Request, exc: ApiError) -> Response:
        return error_response(exc.status, exc.message, exc.code, exc.param, exc.headers)

    async def on_http_error(request: Request, exc: HTTPException) -> Response:
        message = {
            404: f"no route {request.url.path}; see /v1/audio/speech, /v1/models, /v1/audio/voices, "
                 "/v1/audio/voice_consents, /ping",
            405: f"{request.method} is not allowed on {request.url.path}",
        }.get(exc.status_code, str(exc.detail))
        return error_response(
            exc.status_code,
            message,
            {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code),
            headers=getattr(exc, "headers", None),
        )

    async def on_crash(request: Request, exc: Exception) -> Response:
        log.error("internal error on %s", request.url.path, exc_info=exc)
        return error_response(500, f"internal error: {type(exc).__name__}", "internal_error")

    routes = [
        Route("/ping", ping, methods=["GET"]),
        Route("/v1/audio/speech", speech, methods=["POST"]),
        Route("/v1/models", models, methods=["GET"]),
        *voice_routes(state),
    ]
    app = Starlette(
        routes=routes, exception_handlers={ApiError: on_api_error, HTTPException: on_http_error, Exception: on_crash}
    )
    return _AbortOnStreamError(app)


def create_health_app(state: HttpState) -> Starlette:
    """Only /ping, for a separate PORT_HEALTH."""

    async def ping(request: Request) -> Response:
        return _ping(state)

    return Starlette(routes=[Route("/ping", ping, methods=["GET"])])


def _ping(state: HttpState) -> Response:
    if state.phase == "starting":
        return Response(status_code=204)
    if state.phase == "ready" and not getattr(state.service, "broken", None):
        return JSONResponse({"status": "ready", "in_flight": state.inflight.count})
    return JSONResponse(
        {"status": state.phase if state.phase != "ready" else "failed", "reason": state.reason}, status_code=503
    )


def _check_broken(state: HttpState, failure: Failure) -> None:
    if failure.replace_worker or getattr(state.service, "broken", None):
        state.on_broken(failure.message)


async def _body(
    state: HttpState, stream: ServiceStream, event: Any, job_id: str, started: float
) -> AsyncIterator[bytes]:
    """The bytes of each audio event, in order, as each arrives. Closing (the client went away:
    starlette cancels this generator) closes the service's generator, so its work stops."""
    sent = 0
    first_byte_s = None
    try:
        while True:
            if event is _END:
                raise StreamAborted("the service's stream ended without its final event")
            if isinstance(event, Failure):
                _check_broken(state, event)
                raise StreamAborted(event.message)
            if isinstance(event, Finished):
                timings = event.timings
                log.info(
                    "%s done status=200 seed=%s format=%s duration_s=%s bytes=%d first_byte_s=%.3f total_s=%.3f "
                    "first_audio_s=%s model_s=%s batched_with=%s",
                    job_id,
                    event.seed,
                    event.format.name,
                    event.duration_s,
                    sent,
                    first_byte_s or 0.0,
                    time.perf_counter() - started,
                    timings.get("first_audio_s"),
                    timings.get("model_s"),
                    timings.get("batched_with"),
                )
                return
            sent += len(event.data)
            if first_byte_s is None:
                first_byte_s = time.perf_counter() - started
            yield event.data
            event = await stream.next()
    except (asyncio.CancelledError, GeneratorExit):
        log.info("%s stopped: the client went away after %d bytes", job_id, sent)
        raise
    finally:
        stream.close()


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


class _AbortOnStreamError:
    """Cuts the connection of a response whose body fails after it started (uvicorn closes a connection
    whose app returned without completing the response), with one log line instead of a traceback."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        try:
            await self.app(scope, receive, send)
        except StreamAborted as exc:
            log.error("stream aborted after the response started: %s", exc)
