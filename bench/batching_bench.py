"""Cross-request batching (issue 9): throughput and latency at N concurrent requests, batched against
one at a time, in the same run, on the same loaded model.

    python bench/batching_bench.py --out bench/batching_cpu.json          # tiny model, 1/2/4/8 at once
    python bench/batching_bench.py --quick                                # seconds: checks that it runs

Concurrency is what a worker with F5_CONCURRENCY=N sees: N client threads, each calling
`service.events` for its next request as soon as its last one is answered (a closed loop, `--rounds`
requests per thread). "batched" is the service as built with F5_MAX_BATCH (default 8 here; 0 = by
device); "one at a time" is the same service, backend and voices with a second scheduler whose batch
bound is 1 (what F5_MAX_BATCH=1 builds), so the two differ only in batching. Every request has its own
seed; texts rotate over three lengths so that batch-mates differ in length, as in real traffic.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

from harness import (
    ask,
    machine,
    model_folder,
    model_label,
    percentile,
    table,
    utc_stamp,
    worker_service,
    write_json,
)

TEXTS = (
    "Please hold the door for the next passenger.",
    "The library opens at nine on weekdays, and the reading room on the second floor stays quiet "
    "until the late afternoon crowd arrives.",
    "Rain is expected later tonight, so bring a coat if you are heading out after dinner.",
)


def one_at_a_time(service):
    """The same service with a scheduler of batch bound 1 (F5_MAX_BATCH=1), sharing model and voices."""
    from handler.scheduler import Scheduler
    from handler.service import Service

    scheduler = Scheduler(service.backend, replace(service.scheduler.bounds, max_items=1))
    policy = replace(service.policy, bounds=scheduler.bounds)  # the same concurrency
    return Service(service.settings, service.backend, scheduler, service.voices, service.delivery, policy,
                   model_name=service.model_name)


def run_level(service, clients: int, rounds: int, nfe_step: int, texts=TEXTS, seed0: int = 1000,
              vram: bool = False) -> dict:
    """`clients` threads, `rounds` requests each, all started together. Throughput over the wall time."""
    import torch

    latencies: list[float] = []
    audio: list[float] = []
    batched_with: list[int] = []
    errors: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(clients)

    def client(index: int) -> None:
        barrier.wait()
        for round_ in range(rounds):
            number = index * rounds + round_
            job = {"text": texts[number % len(texts)], "voice": "en", "nfe_step": nfe_step, "seed": seed0 + number}
            began = time.perf_counter()
            result = list(ask(service, job, f"bench-{number}"))[-1]
            elapsed = time.perf_counter() - began
            with lock:
                if "error" in result:
                    errors.append(result["error"])
                else:
                    latencies.append(elapsed)
                    audio.append(result["duration_s"])
                    batched_with.append(result["timings"]["batched_with"])

    cuda = service.backend.device_kind == "cuda"
    if cuda and vram:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"{len(errors)} requests failed, first: {errors[0]}")
    row = {
        "concurrent": clients,
        "requests": len(latencies),
        "wall_s": round(wall, 4),
        "requests_per_s": round(len(latencies) / wall, 4),
        "audio_s_per_s": round(sum(audio) / wall, 4),
        "p50_s": round(statistics.median(latencies), 4),
        "p95_s": round(percentile(latencies, 95), 4),
        "max_batched_with": max(batched_with),
        "mean_batched_with": round(statistics.mean(batched_with), 2),
    }
    if cuda and vram:
        row["peak_vram_gb"] = round(torch.cuda.max_memory_allocated() / 2**30, 3)
    return row


def compare(service, levels: list[int], rounds: int, nfe_step: int, vram: bool = False) -> dict:
    """Each level batched then one at a time, back to back (so slow drifts in the machine hit both)."""
    single = one_at_a_time(service)
    rows = []
    try:
        run_level(service, 1, 1, nfe_step)  # untimed: every text length once through each scheduler
        run_level(single, 1, 1, nfe_step)
        for clients in levels:
            batched = run_level(service, clients, rounds, nfe_step, vram=vram)
            alone = run_level(single, clients, rounds, nfe_step, vram=vram)
            rows.append({
                "concurrent": clients,
                "batched": batched,
                "one_at_a_time": alone,
                "throughput_gain": round(batched["requests_per_s"] / alone["requests_per_s"], 2),
            })
    finally:
        single.scheduler.close()
    return {"max_batch": service.scheduler.bounds.max_items, "rounds_per_client": rounds, "nfe_step": nfe_step,
            "levels": rows}


def markdown(result: dict) -> str:
    vram = any("peak_vram_gb" in row["batched"] for row in result["levels"])
    header = ["concurrent", "mode", "req/s", "audio s/s", "p50 (s)", "p95 (s)", "max batched_with"]
    rows = []
    for row in result["levels"]:
        for mode, label in (("batched", f"batched (≤ {result['max_batch']})"), ("one_at_a_time", "one at a time")):
            r = row[mode]
            cells = [row["concurrent"], label, r["requests_per_s"], r["audio_s_per_s"], r["p50_s"], r["p95_s"],
                     r["max_batched_with"]]
            rows.append(cells + ([r.get("peak_vram_worker_gb", r.get("peak_vram_gb"))] if vram else []))
    return "\n".join([
        table(header + (["peak VRAM, worker alone (GB)"] if vram else []), rows),
        "",
        "Throughput, batched / one at a time: " + ", ".join(
            f"{row['concurrent']} at once {row['throughput_gain']}x" for row in result["levels"]),
    ])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="concurrency 1 and 2, one round, nfe_step 4")
    parser.add_argument("--model-dir", type=Path)
    parser.add_argument("--size", choices=("tiny", "full"), default="tiny")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--levels", default="1,2,4,8")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--nfe-step", type=int, default=32)
    parser.add_argument("--max-batch", default="8", help="F5_MAX_BATCH for the batched side (0: by device)")
    parser.add_argument("--out", type=Path, help="JSON file to write")
    args = parser.parse_args()
    if args.quick:
        args.levels, args.rounds, args.nfe_step = "1,2", 1, 4

    levels = [int(n) for n in args.levels.split(",")]
    with model_folder(args.model_dir, args.size) as model_dir:
        service = worker_service(model_dir, args.device, {"F5_MAX_BATCH": args.max_batch,
                                                          "F5_CONCURRENCY": str(max(levels))})
        result = compare(service, levels, args.rounds, args.nfe_step)
        service.scheduler.close()
    result.update(date=utc_stamp(), machine=machine(args.device), model=model_label(args.model_dir, args.size))
    print(markdown(result))
    write_json(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
