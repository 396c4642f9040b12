"""Time to first audio byte and total time: the HTTP mode's /v1/audio/speech against the queue
worker's /run + /stream path (the RunPod SDK's local API server), same model, text and seed, same run.

    python bench/http_bench.py                       # tiny random model, CPU
    python bench/http_bench.py --model-dir DIR --repeats 10 --out bench/http_cpu.json

Both servers run as real processes on this machine, one after the other (never at once, so neither
slows the other). The queue path polls /stream every `--poll` seconds, as a client must; RunPod's
hosted queue adds its own latency on top, which a local server cannot show.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import date
from pathlib import Path

import requests
from harness import machine, model_folder, write_json

TEXT = ("The first sentence is short. The second one follows it and is somewhat longer than the first. "
        "A third sentence closes this small paragraph, so the stream has several chunks.")


def http_once(url: str, body: dict) -> tuple[float, float, int]:
    started = time.perf_counter()
    first, size = None, 0
    with requests.post(f"{url}/v1/audio/speech", json=body, stream=True, timeout=600) as response:
        response.raise_for_status()
        for piece in response.iter_content(chunk_size=None):
            if piece and first is None:
                first = time.perf_counter() - started
            size += len(piece)
    return first or 0.0, time.perf_counter() - started, size


def queue_once(url: str, body: dict, poll: float) -> tuple[float, float, int]:
    started = time.perf_counter()
    job = requests.post(f"{url}/run", json={"input": {**body, "stream": True}}, timeout=60).json()
    first, size = None, 0
    while True:
        chunk = requests.post(f"{url}/stream/{job['id']}", timeout=600).json()
        for item in chunk.get("stream", []):
            if "audio_base64" in (item.get("output") or {}):
                size += len(item["output"]["audio_base64"]) * 3 // 4
                if first is None:
                    first = time.perf_counter() - started
        if chunk.get("status") in ("COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"):
            return first or 0.0, time.perf_counter() - started, size
        time.sleep(poll)


def summarise(samples: list[tuple[float, float, int]]) -> dict:
    return {
        "first_byte_s_p50": round(statistics.median(s[0] for s in samples), 4),
        "total_s_p50": round(statistics.median(s[1] for s in samples), 4),
        "bytes": samples[-1][2],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--nfe-step", type=int, default=16)
    parser.add_argument("--poll", type=float, default=0.1)
    parser.add_argument("--format", default="pcm")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    with model_folder(args.model_dir) as model_dir:
        http, queue = measure(model_dir, args)
    results = {
        "date": date.today().isoformat(),
        "machine": machine("cpu"),  # both servers run on the CPU (support/servers.py worker_env)
        "command": "python bench/http_bench.py " + " ".join(sys.argv[1:]),
        "text_chars": len(TEXT),
        "nfe_step": args.nfe_step,
        "repeats": args.repeats,
        "http": summarise(http),
        "queue_stream": summarise(queue),
    }
    results["first_byte_ratio_queue_over_http"] = round(
        results["queue_stream"]["first_byte_s_p50"] / max(results["http"]["first_byte_s_p50"], 1e-9), 2)
    print(json.dumps(results, indent=2))
    write_json(args.out, results)
    return 0


def measure(model_dir: Path, args) -> tuple[list, list]:
    """The HTTP server's samples, then the queue worker's: one process at a time, one untimed request each."""
    from support.servers import http_server, local_api

    body = {"input": TEXT, "response_format": args.format, "seed": 7, "nfe_step": args.nfe_step}
    with http_server(model_dir) as url:
        http_once(url, body)  # one untimed request
        http = [http_once(url, body) for _ in range(args.repeats)]

    with local_api(model_dir) as url:
        queue_once(url, body, args.poll)
        queue = [queue_once(url, body, args.poll) for _ in range(args.repeats)]
    return http, queue


if __name__ == "__main__":
    sys.exit(main())
