"""The RunPod glue: turn Service messages into SDK handler results. Thin on purpose.

The SDK fixes a handler's shape when the worker starts (it asks `inspect.isasyncgenfunction`), not
per job, so one handler cannot answer both shapes. `F5_HANDLER` picks one for the platform and for
`--rp_serve_api`:
- `stream` (default): `stream_handler`, an async generator. It yields each message;
  `return_aggregate_stream=True` makes `/run` and `/runsync` return the list of all messages (a plain
  request yields exactly one: the result), and every message is also posted to the stream route.
- `plain`: `result_handler`, a coroutine. `/run` and `/runsync` return the result object itself and
  nothing goes to the stream route; a request with `"stream": true` is refused with an error.
`plain_handler` serves `--test_input` / test_input.json, whose local runner does not iterate
generators: it returns the result (or `{"stream": [...]}`) as one dict.
Blocking work runs in threads, so several jobs can download, encode and upload at once while the
scheduler keeps the GPU to one batch at a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

_END = object()

STREAM_REFUSED = (
    "stream: true needs a streaming worker, and this endpoint runs with F5_HANDLER=plain; "
    "deploy with F5_HANDLER=stream (the default) to stream, or send the request without stream"
)


class Worker:
    def __init__(self, service, sdk_config: dict):
        self.service = service
        self.sdk_config = sdk_config  # the dict given to runpod.serverless.start; the SDK reads it after each job

    def _ask_for_refresh(self, message: dict) -> dict:
        if message.pop("refresh_worker", False):
            # A generator cannot return refresh_worker per job; the SDK reads this flag after the job
            # ends and then stops this worker, so the platform starts a fresh one.
            self.sdk_config["refresh_worker"] = True
        return message

    async def stream_handler(self, job: dict) -> AsyncIterator[dict]:
        messages = self.service.messages(job.get("input"), str(job.get("id", "job")))
        while True:
            message = await asyncio.to_thread(next, messages, _END)
            if message is _END:
                return
            yield self._ask_for_refresh(message)
            if "error" in message:
                return

    async def plain_handler(self, job: dict) -> dict[str, Any]:
        messages = await asyncio.to_thread(list, self.service.messages(job.get("input"), str(job.get("id", "job"))))
        for message in messages:
            if "error" in message:
                return message  # the SDK reads "error" and "refresh_worker" from a plain result
        if len(messages) == 1:
            return messages[0]
        return {"stream": messages}

    async def result_handler(self, job: dict) -> dict[str, Any]:
        """F5_HANDLER=plain: one result object per job; streaming requests are refused up front."""
        job_input = job.get("input")
        if isinstance(job_input, dict) and job_input.get("stream") is True:
            return {"error": STREAM_REFUSED}  # before any work: the caller's request cannot be served here
        return await self.plain_handler(job)
