"""What every route of the HTTP mode shares: its state, OpenAI-style errors (a failure's kind picks
the status, its field the `param`), the gate (start-up phase and bearer token), bounded body reading
(JSON and multipart forms), and blocking work run off the event loop."""

from __future__ import annotations

import asyncio
import hmac
import itertools
import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request
from starlette.responses import JSONResponse

from handler import metrics
from handler.events import Failure, FailureKind, failure_for
from handler.schema import OPENAI_ALIASES

RETRY_AFTER_BUSY_S = 1
RETRY_AFTER_STARTING_S = 5


class ApiError(Exception):
    def __init__(
        self, status: int, message: str, code: str | None = None, param: str | None = None, headers: dict | None = None
    ):
        super().__init__(message)
        self.status, self.message, self.code, self.param, self.headers = status, message, code, param, headers


class Inflight:
    """Requests being served (admitted and not yet finished or closed); thread-safe."""

    def __init__(self, limit: int):
        self.limit = limit
        self._count = 0
        self._lock = threading.Lock()

    @property
    def count(self) -> int:
        with self._lock:
            return self._count

    def try_acquire(self) -> bool:
        with self._lock:
            if self._count >= self.limit:
                return False
            self._count += 1
            return True

    def release(self) -> None:
        with self._lock:
            self._count -= 1


class HttpState:
    """What the routes need, set by handler/http_serve.py as the worker starts, serves and stops."""

    def __init__(self, api_key: str = ""):
        self.phase = "starting"  # starting | ready | failed | draining
        self.reason = ""
        self.service = None
        self.model_name = "f5-tts"
        self.inflight = Inflight(0)
        self.executor: ThreadPoolExecutor | None = None
        self.on_broken: Callable[[str], None] = lambda reason: None
        self._api_key = api_key.encode()
        self._ids = itertools.count(1)

    def ready(self, service, max_inflight: int) -> None:
        self.service, self.model_name = service, service.model_name
        self.inflight = Inflight(max_inflight)
        metrics.IN_FLIGHT.set_function(lambda: self.inflight.count)
        # one thread per request in flight steps its generator, plus spares; never the loop's default pool
        self.executor = ThreadPoolExecutor(max_workers=max_inflight + 4, thread_name_prefix="f5-http")
        self.phase = "ready"

    def authorized(self, request: Request) -> bool:
        if not self._api_key:
            return True
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), self._api_key)

    def next_id(self) -> str:
        return f"http-{next(self._ids)}"


# ---- errors ------------------------------------------------------------------------------------------
_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    429: "rate_limit_error",
}
# a service failure's kind → (HTTP status, OpenAI error code, headers)
FAILURE_STATUS: dict[FailureKind, tuple[int, str, dict | None]] = {
    FailureKind.INVALID_INPUT: (400, "invalid_request", None),
    FailureKind.NOT_FOUND: (404, "not_found", None),
    FailureKind.NOT_CONFIGURED: (501, "not_configured", None),
    FailureKind.UNAVAILABLE: (503, "unavailable", {"Retry-After": str(RETRY_AFTER_BUSY_S)}),
    FailureKind.DELIVERY: (502, "delivery_failed", None),
    FailureKind.SHUTTING_DOWN: (503, "shutting_down", {"Retry-After": str(RETRY_AFTER_BUSY_S)}),
    FailureKind.WORKER_BROKEN: (503, "worker_failed", None),
    FailureKind.INTERNAL: (500, "internal_error", None),
}
_OPENAI_NAME = {name: alias for alias, name in OPENAI_ALIASES.items()}  # the contract's names → OpenAI's


def error_response(
    status: int, message: str, code: str | None = None, param: str | None = None, headers: dict | None = None
) -> JSONResponse:
    kind = _TYPES.get(status, "invalid_request_error" if status < 500 else "server_error")
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


def service_error(failure: Failure) -> ApiError:
    status, code, headers = FAILURE_STATUS[failure.kind]
    param = _OPENAI_NAME.get(failure.field, failure.field)
    return ApiError(status, failure.message, code, param, headers)


def gate(state: HttpState, request: Request) -> None:
    if state.phase == "starting":
        raise ApiError(
            503,
            "the worker is starting; retry shortly",
            "starting",
            headers={"Retry-After": str(RETRY_AFTER_STARTING_S)},
        )
    if state.phase != "ready":
        raise ApiError(
            503,
            f"the worker is not taking requests ({state.phase}); retry on another worker",
            state.phase,
            headers={"Retry-After": str(RETRY_AFTER_BUSY_S)},
        )
    require_key(state, request)


def require_key(state: HttpState, request: Request) -> None:
    """401 unless the request carries the API key (when one is set)."""
    if not state.authorized(request):
        raise ApiError(
            401,
            "missing or wrong API key: send 'Authorization: Bearer <F5_API_KEY>'",
            "invalid_api_key",
            headers={"WWW-Authenticate": "Bearer"},
        )


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, never more than `limit` bytes of it (a Content-Length that lies is caught too)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"the body is {declared} bytes, over the {limit}-byte limit", "body_too_large")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"the body is over the {limit}-byte limit", "body_too_large")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request, limit: int) -> Any:
    # any content type is read as JSON: `curl -d` sends form-urlencoded by default
    body = await read_body(request, limit)
    try:
        return json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ApiError(
            400, f"the body is not valid JSON ({exc}); send a JSON object with at least 'input'", "invalid_json"
        ) from None


async def read_form(request: Request, limit: int) -> dict[str, str | bytes]:
    """A multipart/form-data body (as OpenAI's clients send files): fields as text, files as bytes.
    The body is read within `limit` first, so nothing beyond it is parsed or spooled."""
    kind = request.headers.get("content-type", "")
    if not kind.startswith("multipart/form-data"):
        raise ApiError(415, f"send multipart/form-data (fields and files, as OpenAI's clients do), not {kind or 'no content type'}",
                       "unsupported_media_type")
    body = await read_body(request, limit)

    async def stream():
        yield body

    try:
        form = await MultiPartParser(request.headers, stream(), max_files=4, max_fields=16, max_part_size=256 * 1024).parse()
    except MultiPartException as exc:
        raise ApiError(400, f"the multipart body is malformed: {exc}", "invalid_form") from None
    fields: dict[str, str | bytes] = {}
    for key, value in form.multi_items():
        if isinstance(value, UploadFile):
            fields[key] = await value.read()
            await value.close()
        else:
            fields[key] = value
    return fields


async def call(state: HttpState, function: Callable, *args, **kwargs) -> Any:
    """Run blocking work (the voice store, audio preparation) in the state's threads; an expected
    failure becomes its HTTP error."""
    loop = asyncio.get_running_loop()
    try:
        return await loop.run_in_executor(state.executor, lambda: function(*args, **kwargs))
    except Exception as exc:
        failure = failure_for(exc)
        if failure is None:
            raise
        raise service_error(failure) from None
