"""`python -m handler serve` (or F5_MODE=http): the worker as an HTTP server for RunPod's
load-balancing endpoints.

The server listens at once, so RunPod's health check (`GET /ping` on PORT_HEALTH, default: PORT)
sees the worker starting (204) while the same start-up as the queue worker runs (handler.startup:
verified weights, warm load, warm-up); then 200. A start-up failure prints the one
`[startup] FAILED ...` line, answers 503 for a few seconds (so the platform sees it) and exits with code 1.

SIGTERM (or SIGINT) drains: /ping answers 503, new requests get 503, requests in flight finish (up to
DRAIN_TIMEOUT_S), then the process exits 0. A GPU failure drains the same way and exits 1, so the
platform replaces the worker. The routes are in handler/http_app.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import threading
import time

from handler.errors import StartupError
from handler.startup import fail, say, start

FAILED_LINGER_S = 3.0  # /ping answers 503 this long after a failed start-up, then the process exits 1
DRAIN_TIMEOUT_S = 300.0  # the longest a drain waits for requests in flight
log = logging.getLogger("handler.http")


class _NoPingLines(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        return not (len(args) >= 3 and args[2] == "/ping")


def _server(app, port: int, access_log: bool):
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self):  # signals are ours (a drain), not uvicorn's (an immediate stop)
            yield

    config = uvicorn.Config(
        app,
        host="0.0.0.0",
        port=port,
        lifespan="off",
        log_level="info",
        access_log=access_log,
        timeout_graceful_shutdown=10,
        timeout_keep_alive=5,
    )
    return Server(config)


def _settle(future, result, error) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


async def _in_thread(function, *args):
    """Run a blocking call in a daemon thread (a signal during start-up must not wait for it)."""
    loop = asyncio.get_running_loop()
    future = loop.create_future()

    def run() -> None:
        try:
            result = function(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting coroutine
            loop.call_soon_threadsafe(_settle, future, None, exc)
        else:
            loop.call_soon_threadsafe(_settle, future, result, None)

    threading.Thread(target=run, name="f5-startup", daemon=True).start()
    return await future


async def _serve(settings) -> int:
    from handler.http_app import create_app, create_health_app
    from handler.http_common import HttpState

    state = HttpState(settings.api_key)
    max_body = int(settings.ref_max_bytes * 4 / 3) + 4 * settings.max_text_chars + 1_000_000
    servers = [_server(create_app(state, max_body), settings.http_port, access_log=True)]
    health_port = settings.http_health_port or settings.http_port
    if health_port != settings.http_port:
        servers.append(_server(create_health_app(state), health_port, access_log=False))

    logging.getLogger("uvicorn.access").addFilter(_NoPingLines())  # the platform polls /ping: keep the log readable
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    exit_code = 0

    def begin_stop(reason: str, code: int) -> None:
        nonlocal exit_code
        if stop.is_set():
            if reason.startswith("signal"):  # a second signal: stop now, whatever is in flight
                for server in servers:
                    server.force_exit = server.should_exit = True
            return
        exit_code = code
        state.reason = reason
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, begin_stop, f"signal {sig.name}", 0)
    state.on_broken = lambda reason: loop.call_soon_threadsafe(begin_stop, f"worker failed: {reason}", 1)

    serving = [asyncio.create_task(server.serve()) for server in servers]
    while not all(server.started for server in servers):
        if any(task.done() for task in serving):  # e.g. the port is taken (uvicorn logged why)
            fail(f"http: could not listen on port {settings.http_port} / health port {health_port}")
            for server in servers:
                server.should_exit = True
            await asyncio.gather(*serving, return_exceptions=True)
            return 1
        await asyncio.sleep(0.02)
    say(f"http listening on port {settings.http_port}, /ping on port {health_port} (204 until ready)")

    service = None
    startup = asyncio.ensure_future(_in_thread(start, settings))
    waiting_stop = asyncio.ensure_future(stop.wait())
    await asyncio.wait([startup, waiting_stop], return_when=asyncio.FIRST_COMPLETED)
    if startup.done():
        waiting_stop.cancel()
        started = startup.result()  # start() never raises: a failure comes back as its reason
        if started.failure is not None:
            state.phase, state.reason = "failed", started.failure
            await asyncio.wait([waiting_stop := asyncio.ensure_future(stop.wait())], timeout=FAILED_LINGER_S)
            waiting_stop.cancel()
            exit_code = 1
        else:
            service = started.service
            max_inflight = settings.http_max_inflight or 2 * service.concurrency
            state.ready(service, max_inflight)
            say(
                f"http: at most {max_inflight} requests in flight, "
                f"bearer token {'required' if settings.api_key else 'off'}"
            )
            await stop.wait()
    else:
        startup.cancel()  # the start-up thread is a daemon: the process ends without waiting for it

    if state.phase != "failed":
        state.phase = "draining"
        say(f"draining: {state.reason}; {state.inflight.count} request(s) in flight")
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        while state.inflight.count > 0 and time.monotonic() < deadline and not servers[0].force_exit:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.1)  # let the last responses' final bytes leave
    for server in servers:
        server.should_exit = True
    await asyncio.gather(*serving, return_exceptions=True)
    if service is not None:
        service.scheduler.close()
    if state.executor is not None:
        state.executor.shutdown(wait=False, cancel_futures=True)
    say(f"stopped ({state.reason or 'done'}), exit code {exit_code}")
    return exit_code


def main(argv: list[str] | None = None) -> int:
    if argv:
        print(
            "usage: python -m handler serve  (settings from the environment: PORT, PORT_HEALTH, "
            "F5_HTTP_MAX_INFLIGHT, F5_API_KEY and the worker's F5_* variables; see docs/configuration.md)",
            file=sys.stderr,
        )
        return 0 if argv[0] in ("-h", "--help") else 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from handler.config import Settings

    try:
        settings = Settings.from_env()
    except StartupError as exc:
        fail(str(exc))
        return 1
    return asyncio.run(_serve(settings))
