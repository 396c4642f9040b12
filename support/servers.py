"""Worker processes and ports for tests and benchmarks: the environment of a worker on a model
folder, a free port, waiting for a port, and the worker behind the RunPod SDK's local API server."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def worker_env(model_dir: Path, **extra: str) -> dict[str, str]:
    """Environment for a worker process on the tiny model, without any bucket from the caller's shell."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BUCKET_", "F5_", "RUNPOD_"))}
    env.update(F5_MODEL_DIR=str(model_dir), F5_DEVICE="cpu", PYTHONUNBUFFERED="1", RUNPOD_SKIP_AUTO_SYSTEM_CHECKS="true")
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"nothing listened on port {port} within {timeout} s")


class LocalApi(str):
    """The server's base URL, carrying the server's process id (for memory readings)."""

    pid: int


@contextlib.contextmanager
def local_api(model_dir: Path, **env: str):
    """The worker behind the RunPod SDK's local API server (--rp_serve_api), over real HTTP."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "handler", "--rp_serve_api", "--rp_api_port", str(port), "--rp_api_concurrency", "1"],
        cwd=ROOT,
        env=worker_env(model_dir, **env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, process, timeout=180)
        url = LocalApi(f"http://127.0.0.1:{port}")
        url.pid = process.pid
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextlib.contextmanager
def http_server(model_dir: Path, timeout: float = 300, **env: str):
    """The worker's HTTP mode (`python -m handler serve`) as a real process, ready (/ping 200): its URL."""
    import urllib.request

    port = free_port()
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen([sys.executable, "-m", "handler", "serve"], cwd=ROOT, stdout=log,
                                   stderr=subprocess.STDOUT, env=worker_env(model_dir, PORT=str(port), **env))
        try:
            wait_for_port(port, process, timeout=timeout)
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + timeout
            while True:
                try:
                    if urllib.request.urlopen(f"{url}/ping", timeout=5).status == 200:
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline or process.poll() is not None:
                    log.seek(0)
                    raise TimeoutError(f"the HTTP server did not become ready:\n{log.read()[-3000:].decode(errors='replace')}")
                time.sleep(0.3)
            yield url
        finally:
            process.terminate()
            process.wait(timeout=60)
