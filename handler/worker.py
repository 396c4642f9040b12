"""The RunPod queue worker: the only module that imports `runpod` and builds RunPod JSON and base64.

The SDK fixes a handler's shape when the worker starts (it asks `inspect.isasyncgenfunction`), not
per job, so one handler cannot answer both shapes. `F5_HANDLER` picks one for the platform and for
`--rp_serve_api`:
- `stream` (default): `generator_handler`, an async generator. It yields each message;
  `return_aggregate_stream=True` makes `/run` and `/runsync` return the list of all messages (a plain
  request yields exactly one: the result), and every message is also posted to the stream route.
- `plain`: `result_handler`, a coroutine. `/run` and `/runsync` return the result object itself and
  nothing goes to the stream route; a request with `"stream": true` is refused with an error.
`--test_input` (and test_input.json) runs `local_test_handler`: the SDK's local runner does not
iterate generators, so it returns the whole answer as one dict (the result, or `{"stream": [...]}`).
Blocking work runs in threads, so several jobs can download, encode and upload at once while the
scheduler keeps the device to one batch at a time.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import logging
import os
import sys
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from handler import metrics
from handler.captions import Segment
from handler.events import Audio, Event, Failure, Finished
from handler.platform_limits import STREAM_MESSAGE_BYTES
from handler.voice_api import FILE_FIELDS, SAMPLE_MAX_BYTES, run_operation
from handler.voices import decode_base64_audio

_END = object()
log = logging.getLogger("handler.worker")

STREAM_REFUSED = (
    "stream: true needs a streaming worker, and this endpoint runs with F5_HANDLER=plain; "
    "deploy with F5_HANDLER=stream (the default) to stream, or send the request without stream"
)


# ---- events as RunPod messages ------------------------------------------------------------------------
def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def piece_message(event: Audio) -> dict[str, Any]:
    return {
        "index": event.index,
        "audio_base64": _b64(event.data),
        "format": event.format.name,
        "content_type": event.content_type,
        "sample_rate": event.sample_rate,
        "duration_s": event.duration_s,
    }


def result_message(event: Finished) -> dict[str, Any]:
    """The final message: a stream's summary, or a whole request's result with its audio."""
    if event.streamed:
        head = {"done": True, "segments": event.pieces, "format": event.format.name}
    else:
        head = {"format": event.format.name, "content_type": event.content_type}
    body = {
        "sample_rate": event.sample_rate,
        "duration_s": event.duration_s,
        "seed": event.seed,
        "chunks": event.chunks,
        "text": event.text,
        "dropped": list(event.dropped),
    }
    if event.segments:
        body["segments"] = [segment.public() for segment in event.segments]
    if event.captions is not None:
        body["captions"] = event.captions
    if event.audio is not None:
        body["audio_base64"] = _b64(event.audio)
    if event.url is not None:
        body["audio_url"] = event.url
    return {**head, **body, "timings": event.timings}


def error_message(event: Failure) -> dict[str, Any]:
    message: dict[str, Any] = {"error": event.message}
    if event.replace_worker:
        message["refresh_worker"] = True
    return message


def messages(events: Iterator[Event]) -> Iterator[dict[str, Any]]:
    """A request's events as RunPod messages, in order; an error message is the last."""
    for event in events:
        if isinstance(event, Failure):
            yield error_message(event)
            return
        if isinstance(event, Segment):
            continue  # a queue job's timestamps come with its result (or a stream's summary)
        message = piece_message(event) if isinstance(event, Audio) else result_message(event)
        if isinstance(event, Audio) and len(json.dumps(message)) >= STREAM_MESSAGE_BYTES:
            # cannot happen with the service's ≤ 5 s pieces; never send one the platform would drop
            yield {"error": f"a stream message would exceed RunPod's {STREAM_MESSAGE_BYTES}-byte stream limit"}
            return
        yield message


# ---- the handlers ---------------------------------------------------------------------------------------
class Worker:
    def __init__(self, service, sdk_config: dict):
        self.service = service
        self.sdk_config = sdk_config  # the dict given to runpod.serverless.start; the SDK reads it after each job

    def _messages(self, job: dict) -> Iterator[dict]:
        job_input, job_id = job.get("input"), str(job.get("id", "job"))
        if isinstance(job_input, dict) and job_input.get("operation", "speech") != "speech":
            return iter([self._voice_operation(job_input, job_id)])
        if isinstance(job_input, dict):
            job_input = {key: value for key, value in job_input.items() if key != "operation"}
        return messages(self._observed(self.service.events(job_input, job_id), job_id))

    def _observed(self, events: Iterator[Event], job_id: str) -> Iterator[Event]:
        """The job's events, passed on; its figures counted (handler.metrics) and logged in one line."""
        started, first_audio_s = time.perf_counter(), None
        for event in events:
            if isinstance(event, Audio | Finished) and first_audio_s is None:
                first_audio_s = time.perf_counter() - started  # a whole job's audio comes with its result
            if isinstance(event, Failure):
                metrics.record_job("queue", event.kind.value)
                log.info("job %s failed kind=%s field=%s total_s=%.3f", job_id, event.kind.value, event.field,
                         time.perf_counter() - started)
            elif isinstance(event, Finished):
                metrics.record_job("queue", "ok", first_audio_s)
                timings = event.timings
                log.info("job %s done duration_s=%s first_audio_s=%.3f total_s=%s model_s=%s vocoder_s=%s "
                         "batched_with=%s chunks=%s chunks_waiting=%d", job_id, event.duration_s, first_audio_s,
                         timings.get("total_s"), timings.get("model_s"), timings.get("vocoder_s"),
                         timings.get("batched_with"), event.chunks, self.service.scheduler.waiting)
            yield event

    def _voice_operation(self, job_input: dict, job_id: str) -> dict:
        """A job of the voices API (handler.voice_api): its one answer, or its error."""
        fields = {key: value for key, value in job_input.items() if key != "operation"}
        try:
            for name in FILE_FIELDS:
                if name in fields:
                    fields[name] = decode_base64_audio(fields[name], SAMPLE_MAX_BYTES, name) if isinstance(
                        fields[name], str) else None
            return run_operation(self.service.voice_api, job_input["operation"], fields)
        except Exception as exc:  # noqa: BLE001 - the job gets its error, whatever broke
            return error_message(self.service.failure(exc, job_id))

    def _ask_for_refresh(self, message: dict) -> dict:
        if message.pop("refresh_worker", False):
            # A generator cannot return refresh_worker per job; the SDK reads this flag after the job
            # ends and then stops this worker, so the platform starts a fresh one.
            self.sdk_config["refresh_worker"] = True
        return message

    async def generator_handler(self, job: dict) -> AsyncIterator[dict]:
        """F5_HANDLER=stream: each message as it is made."""
        stream = self._messages(job)
        while True:
            message = await asyncio.to_thread(next, stream, _END)
            if message is _END:
                return
            yield self._ask_for_refresh(message)

    async def local_test_handler(self, job: dict) -> dict[str, Any]:
        """--test_input: the whole answer as one dict; the SDK reads "error" and "refresh_worker" from it."""
        answer = await asyncio.to_thread(list, self._messages(job))
        if "error" in answer[-1] or len(answer) == 1:
            return answer[-1]
        return {"stream": answer}

    async def result_handler(self, job: dict) -> dict[str, Any]:
        """F5_HANDLER=plain: one result object per job; streaming requests are refused up front."""
        job_input = job.get("input")
        if isinstance(job_input, dict) and job_input.get("stream") is True:
            return {"error": STREAM_REFUSED}  # before any work: the caller's request cannot be served here
        return await self.local_test_handler(job)


# ---- the process --------------------------------------------------------------------------------------
def on_platform() -> bool:
    return bool(os.environ.get("RUNPOD_WEBHOOK_GET_JOB"))


def report_failed_start(reason: str) -> None:
    """On the platform, hand the start-up failure to the SDK's fitness check, which reports it and
    exits non-zero; elsewhere the one FAILED line (already printed) is the report."""
    if not on_platform():
        return
    import runpod

    def model_loaded() -> None:
        raise RuntimeError(reason)

    runpod.serverless.register_fitness_check(model_loaded)
    runpod.serverless.start({"handler": lambda job: {"error": reason}})


def _save(answer: dict, path: str) -> None:
    parts = answer.get("stream") or [answer]
    audio = b"".join(base64.b64decode(m["audio_base64"]) for m in parts if "audio_base64" in m)
    if not audio:
        print(f"[handler] nothing saved to {path}: the result has no inline audio", file=sys.stderr, flush=True)
        return
    with open(path, "wb") as handle:
        handle.write(audio)
    print(f"[handler] wrote {len(audio)} bytes of audio to {path}", file=sys.stderr, flush=True)


def main(args: list[str]) -> int:
    """`python -m handler [--test_input ... [--save_audio FILE] | --rp_serve_api ...]`: serve jobs."""
    parser = argparse.ArgumentParser(prog="python -m handler", add_help=False)
    parser.add_argument("--save_audio", default=None)
    own, rest = parser.parse_known_args(args)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from handler.startup import say, start

    started = start()
    if started.failure is not None:
        report_failed_start(started.failure)
        return 1
    service, settings = started.service, started.settings

    import runpod

    sdk_config: dict = {"concurrency_modifier": lambda _current: service.concurrency}
    worker = Worker(service, sdk_config)
    plain = settings.handler_mode == "plain"
    if not on_platform() and "--rp_serve_api" not in rest:  # one local job: --test_input or test_input.json
        one_job = worker.result_handler if plain else worker.local_test_handler
        if own.save_audio:

            async def handler(job: dict) -> dict:
                answer = await one_job(job)
                if "error" not in answer:
                    _save(answer, own.save_audio)
                return answer

        else:
            handler = one_job
    else:
        if plain:  # a coroutine: /runsync answers the result object, nothing is posted to the stream route
            handler = worker.result_handler
        else:  # an async generator: stream: true works, /runsync answers the list of messages
            handler = worker.generator_handler
            sdk_config["return_aggregate_stream"] = True
        say(f"handler {settings.handler_mode} (F5_HANDLER)")

        def model_ready() -> None:
            if service.broken:
                raise RuntimeError(service.broken)

        runpod.serverless.register_fitness_check(model_ready)
    sdk_config["handler"] = handler
    sys.argv = [sys.argv[0], *rest]
    runpod.serverless.start(sdk_config)
    return 0
