"""Would a player that starts at the first byte ever run out of audio? Streamed requests through the
queue worker's /stream, the HTTP mode's raw bytes and its Server-Sent Events, 1 and 8 at once.

    python bench/playback_bench.py                       # tiny random model, CPU
    python bench/playback_bench.py --quick               # fewer requests (CI)
    python bench/playback_bench.py --model-dir DIR --out bench/playback_cpu.json
    python bench/playback_bench.py --beside-only         # one stream beside long whole requests

For each request the arrival time of every piece of audio is recorded (pcm: 2 bytes a sample at 24
kHz), then a player is simulated that starts playing at the first piece, in real time: its stalls are
the seconds it waits with nothing to play (bench/harness.py `playback`). Reported per path and
concurrency: first audio and stalled seconds, p50 and p95 over the requests, and the share of
requests that played without a stall; and one stream that starts just after `--whole-requests` long
requests that are not streams: its first audio and stalls, and the slowest of them. The servers run
one at a time on this machine; the queue path polls /stream every `--poll` seconds, as a client must.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import requests
from harness import machine, model_folder, percentile, playback, table, write_json

TEXT = ("The first sentence is short. The second one follows it, and it is somewhat longer than the first one was. "
        "A third sentence keeps the paragraph going, so that the stream has several chunks to make. "
        "The fourth and last sentence closes it, and a listener should hear all of it without a gap.")
BYTES_PER_SECOND = 2 * 24_000  # pcm: 16-bit mono at 24 kHz


def http_raw(url: str, body: dict) -> list[tuple[float, float]]:
    started, received, arrivals = time.perf_counter(), 0, []
    with requests.post(f"{url}/v1/audio/speech", json=body, stream=True, timeout=900) as response:
        response.raise_for_status()
        for piece in response.iter_content(chunk_size=None):
            received += len(piece)
            arrivals.append((time.perf_counter() - started, received / BYTES_PER_SECOND))
    return arrivals


def http_sse(url: str, body: dict) -> list[tuple[float, float]]:
    started, received, arrivals = time.perf_counter(), 0, []
    with requests.post(f"{url}/v1/audio/speech", json={**body, "stream_format": "sse"}, stream=True,
                       timeout=900) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if line.startswith(b"data: "):
                event = json.loads(line[6:])
                if event["type"] == "speech.audio.delta":
                    received += len(base64.b64decode(event["audio"]))
                    arrivals.append((time.perf_counter() - started, received / BYTES_PER_SECOND))
    return arrivals


def queue_stream(url: str, body: dict, poll: float) -> list[tuple[float, float]]:
    started, received, arrivals = time.perf_counter(), 0, []
    job = {"text": body["input"], "format": "pcm", "seed": body["seed"], "nfe_step": body["nfe_step"], "stream": True}
    job_id = requests.post(f"{url}/run", json={"input": job}, timeout=60).json()["id"]
    while True:
        chunk = requests.post(f"{url}/stream/{job_id}", timeout=900).json()
        for item in chunk.get("stream", []):
            audio = (item.get("output") or {}).get("audio_base64")
            if audio:
                received += len(base64.b64decode(audio))
                arrivals.append((time.perf_counter() - started, received / BYTES_PER_SECOND))
        if chunk.get("status") in ("COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"):
            return arrivals
        time.sleep(poll)


def run_level(call, concurrency: int, requests_at_once: int, body: dict) -> dict:
    bodies = [{**body, "seed": body["seed"] + i} for i in range(requests_at_once)]
    with ThreadPoolExecutor(concurrency) as pool:
        played = [playback(arrivals) for arrivals in pool.map(call, bodies)]
    first = [p["first_audio_s"] for p in played]
    stalled = [p["stalled_s"] for p in played]
    return {"concurrency": concurrency, "requests": len(played),
            "first_audio_p50_s": percentile(first, 50), "first_audio_p95_s": percentile(first, 95),
            "stalled_p50_s": percentile(stalled, 50), "stalled_p95_s": percentile(stalled, 95),
            "without_stall": round(sum(s == 0 for s in stalled) / len(stalled), 2),
            "audio_s": played[0]["audio_s"]}


def beside_whole(url: str, body: dict, whole_requests: int) -> dict:
    """One stream that starts just after `whole_requests` long requests that are not streams (the
    captioned route: one answer at the end) arrived at the same worker: does the stream still play?"""
    long_body = {**body, "input": " ".join([TEXT] * 3)}

    def whole(seed: int) -> float:
        started = time.perf_counter()
        requests.post(f"{url}/v1/audio/speech/captioned", json={**long_body, "seed": seed},
                      timeout=900).raise_for_status()
        return time.perf_counter() - started

    with ThreadPoolExecutor(whole_requests + 1) as pool:
        wholes = [pool.submit(whole, 500 + i) for i in range(whole_requests)]
        time.sleep(0.3)  # they are in the queue first
        played = playback(http_raw(url, body))
        whole_s = [w.result() for w in wholes]
    return {"whole_requests": whole_requests, "whole_chars": len(long_body["input"]),
            "first_audio_s": played["first_audio_s"], "stalled_s": played["stalled_s"], "audio_s": played["audio_s"],
            "whole_max_s": round(max(whole_s), 2)}


def measure(model_dir: Path, args) -> dict:
    from support.servers import http_server, local_api

    body = {"input": TEXT, "voice": "en", "response_format": "pcm", "seed": 100, "nfe_step": args.nfe_step}
    levels = [(1, args.requests_alone), (8, args.requests_together)]
    results: dict = {"http_raw": [], "http_sse": [], "queue_stream": []}
    env = {"F5_CONCURRENCY": "8", "F5_HTTP_MAX_INFLIGHT": "8"}
    with http_server(model_dir, **env) as url:
        http_raw(url, body)  # untimed: first calls
        if args.beside_only:
            return {"beside_whole": beside_whole(url, body, args.whole_requests)}
        for concurrency, count in levels:
            results["http_raw"].append(run_level(lambda b: http_raw(url, b), concurrency, count, body))
            results["http_sse"].append(run_level(lambda b: http_sse(url, b), concurrency, count, body))
        results["beside_whole"] = beside_whole(url, body, args.whole_requests)
    with local_api(model_dir, **env) as url:
        queue_stream(url, body, args.poll)
        for concurrency, count in levels:
            results["queue_stream"].append(run_level(lambda b: queue_stream(url, b, args.poll), concurrency, count, body))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path)
    parser.add_argument("--nfe-step", type=int, default=16)
    parser.add_argument("--poll", type=float, default=0.1)
    parser.add_argument("--requests-alone", type=int, default=3)
    parser.add_argument("--requests-together", type=int, default=8)
    parser.add_argument("--whole-requests", type=int, default=3,
                        help="long requests that are not streams, arriving just before one stream")
    parser.add_argument("--beside-only", action="store_true", help="only one stream beside whole requests")
    parser.add_argument("--quick", action="store_true", help="1 request alone, 2 together, 1 beside, nfe_step 4")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.quick:
        args.requests_alone, args.requests_together, args.whole_requests, args.nfe_step = 1, 2, 1, 4
    with model_folder(args.model_dir) as model_dir:
        results = measure(model_dir, args)
    beside = results.pop("beside_whole")
    report = {"date": date.today().isoformat(), "machine": machine("cpu"),
              "command": "python bench/playback_bench.py " + " ".join(sys.argv[1:]),
              "text_chars": len(TEXT), "nfe_step": args.nfe_step, "paths": results, "beside_whole": beside}
    rows = [[path, r["concurrency"], r["requests"], r["audio_s"], r["first_audio_p50_s"], r["first_audio_p95_s"],
             r["stalled_p50_s"], r["stalled_p95_s"], r["without_stall"]]
            for path, levels in results.items() for r in levels]
    print(table(["path", "at once", "requests", "audio (s)", "first audio p50 (s)", "p95", "stalled p50 (s)", "p95",
                 "without a stall"], rows))
    print(table(["one stream beside", "their chars", "audio (s)", "first audio (s)", "stalled (s)",
                 "slowest whole request (s)"],
                [[f"{beside['whole_requests']} whole requests", beside["whole_chars"], beside["audio_s"],
                  beside["first_audio_s"], beside["stalled_s"], beside["whole_max_s"]]]))
    write_json(args.out, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
