"""The HTTP front door for RunPod load-balancing endpoints: an OpenAI-compatible speech API.

The app: its routes (speech: handler/http_speech.py; voices and consents: handler/http_voices.py;
here /ping, /metrics, /v1/models and the web page at / with its files under /web, from handler/web/), OpenAI-style error answers for everything (handler/http_common.py: 4xx for
what the caller can fix, 5xx only for faults of the worker itself), and the cut of a stream whose body
fails after it started. Start-up, the ports, signals and the drain live in handler/http_serve.py.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from handler import metrics
from handler.http_common import ApiError, HttpState, error_response, gate, require_key
from handler.http_speech import StreamAborted, speech_routes
from handler.http_voices import voice_routes

log = logging.getLogger("handler.http")
WEB = Path(__file__).resolve().parent / "web"  # the page at /: index.html, app.js, style.css


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

    async def page(request: Request) -> Response:
        """The web page: static files shipped in the package (no build step, nothing from a CDN); it
        calls the API below with the key typed into it, so it needs none itself."""
        return FileResponse(WEB / "index.html", headers={"Cache-Control": "no-cache"})

    async def metrics_route(request: Request) -> Response:
        # on the API's port behind its key, in every phase (a starting or draining worker is worth watching);
        # on a separate PORT_HEALTH, open (not public)
        require_key(state, request)
        return _metrics()

    routes = [
        Route("/ping", ping, methods=["GET"]),
        Route("/metrics", metrics_route, methods=["GET"]),
        Route("/", page, methods=["GET"]),
        Mount("/web", StaticFiles(directory=WEB), name="web"),
        *speech_routes(state, max_body_bytes),
        Route("/v1/models", models, methods=["GET"]),
        *voice_routes(state),
    ]
    app = Starlette(
        routes=routes, exception_handlers={ApiError: on_api_error, HTTPException: on_http_error, Exception: on_crash}
    )
    return _Measured(_AbortOnStreamError(app))


def create_health_app(state: HttpState) -> Starlette:
    """/ping and /metrics, for a separate PORT_HEALTH (the platform's and the operator's, not the public's)."""

    async def ping(request: Request) -> Response:
        return _ping(state)

    async def metrics_route(request: Request) -> Response:
        return _metrics()

    return Starlette(routes=[Route("/ping", ping, methods=["GET"]), Route("/metrics", metrics_route, methods=["GET"])])


def _metrics() -> Response:
    return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE)


def _ping(state: HttpState) -> Response:
    if state.phase == "starting":
        return Response(status_code=204)
    if state.phase == "ready" and not getattr(state.service, "broken", None):
        return JSONResponse({"status": "ready", "in_flight": state.inflight.count})
    return JSONResponse(
        {"status": state.phase if state.phase != "ready" else "failed", "reason": state.reason}, status_code=503
    )


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


class _Measured:
    """Counts every answer by route and status and times it to its last byte (handler.metrics); the
    platform's /ping polls and /metrics scrapes are left out of the figures."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] in ("/ping", "/metrics"):
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500

        async def sent(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sent)
        finally:
            route = getattr(scope.get("route"), "path", "other")
            metrics.HTTP_REQUESTS.labels(route, str(status)).inc()
            metrics.HTTP_SECONDS.labels(route).observe(time.perf_counter() - started)
