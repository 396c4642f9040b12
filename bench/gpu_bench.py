"""The GPU benchmark (issue 12): every GPU question in one run, this worker against upstream f5-tts.

    python bench/gpu_bench.py --out OUT_DIR                 # a CUDA machine: full-size model, all sections
    python bench/gpu_bench.py --quick --out OUT_DIR         # CPU, tiny model, seconds (CI runs this)

Without `--model-dir`, a random model of the real F5TTS_v1_Base architecture and a real-size Vocos
(`support/random_model.py --size full`; tiny with --quick) is written to a temporary folder and deleted
afterwards: the compute is the real one, the voice is noise. Sections, all in the same process and run:

- startup: `import torch`, the handler's imports, then the worker's own start-up steps as it logs them
  (`[startup] <step> ok in X s`): versions (includes CUDA init), manifest (sha256 of every file), model
  (weights disk → device), scheduler, voices, warm-up; and upstream's load plus its first call.
- latency: warm p50/p95 and real-time factor (seconds of compute per second of audio) for a sentence,
  about 150 characters and a multi-chunk paragraph at nfe_step 32, 16 and 7, ours (`service.events`)
  against upstream `F5TTS.infer` on the same files, reference, text and seed; ratio upstream / ours.
- first_audio: time to first audio streaming, ours (`stream: true`) against upstream
  `infer_batch_process(..., streaming=True)` (bench/first_audio_bench.py).
- concurrency: throughput and p50/p95 latency at 1, 2, 4, 8, 16 concurrent requests, batched (the
  device default bound) against one at a time, peak VRAM at each (bench/batching_bench.py).
- memory: peak memory of one sampling call per batch size and length against the scheduler's estimate
  (`backend.batch_bytes`), i.e. the measured bytes per frame to correct the estimate with.
- dtypes: float16, bfloat16, float32 (F5_DTYPE) on the same seed: seconds per call and the relative
  difference of the mel and the waveform from float32.
- playback: streamed requests at 1, 4, 8, 16 and 32 at once (`stream: true`, in process): would a
  player starting at the first audio run dry? First audio and stalled seconds, p50/p95
  (bench/playback_bench.py measures the same over HTTP and the queue on a CPU).

Output: `OUT_DIR/gpu_bench.json` and `OUT_DIR/gpu_bench.md` (tables for bench/RESULTS.md). It imports
only what the worker and upstream's inference path import (the wheelhouse of bench/gpu_wheels.sh).
"""

from __future__ import annotations

import time

_T0 = time.perf_counter()
import torch  # noqa: E402  (timed: the first section is how long this import takes)

_TORCH_IMPORT_S = time.perf_counter() - _T0

import argparse  # noqa: E402
import contextlib  # noqa: E402
import gc  # noqa: E402
import io  # noqa: E402
import re  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from harness import (  # noqa: E402
    SENTENCES,
    ask,
    machine,
    model_folder,
    model_label,
    percentile,
    playback,
    quantiles,
    table,
    timed,
    upstream_model,
    utc_stamp,
    worker_service,
    write_json,
)

SENTENCE = "The weather is lovely today, so we will take the long way home."
MEDIUM = (  # about 150 characters: one chunk
    "Our new bakery opens on Monday morning. Come early for warm bread, fresh coffee, and a free "
    "pastry for the first fifty guests who visit the shop today."
)
PARAGRAPH = " ".join(SENTENCES[:6])  # several chunks
TEXTS = {"sentence": SENTENCE, "about 150 chars": MEDIUM, "paragraph": PARAGRAPH}


class Tee(io.TextIOBase):
    """Copies what is written to it into a buffer, and on to the real stream."""

    def __init__(self, stream):
        self.stream, self.buffer = stream, io.StringIO()

    def write(self, text):
        self.buffer.write(text)
        return self.stream.write(text)

    def flush(self):
        self.stream.flush()


def cuda_sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


# ---- start-up ------------------------------------------------------------------------------------
def startup(model_dir: Path, device: str, nfe_step: int, max_batch: str = "0") -> tuple[dict, object, object, object]:
    """The worker's start-up, step by step as it logs them, then upstream's load and first call."""
    started = time.perf_counter()
    import handler.startup  # noqa: F401  (the worker's own imports, before any step runs)

    imports_s = time.perf_counter() - started
    tee = Tee(sys.stderr)
    started = time.perf_counter()
    with contextlib.redirect_stderr(tee):
        service = worker_service(model_dir, device, {"F5_MAX_BATCH": max_batch, "F5_CONCURRENCY": "0"})
    ready_s = time.perf_counter() - started
    ours_bytes = torch.cuda.memory_allocated() if device == "cuda" else None
    steps = {name: float(seconds) for name, seconds in re.findall(r"\[startup\] (\w+) ok in ([\d.]+) s", tee.buffer.getvalue())}
    started = time.perf_counter()
    upstream, utils_infer = upstream_model(model_dir, device)
    cuda_sync(device)
    upstream_load_s = time.perf_counter() - started
    upstream_bytes = torch.cuda.memory_allocated() - ours_bytes if device == "cuda" else None
    preset = service.backend.presets()["en"]
    started = time.perf_counter()
    upstream.infer(str(preset.path), preset.ref_text, "Warm up the model.",
                   nfe_step=nfe_step, seed=0, show_info=lambda *a: None, progress=None)
    cuda_sync(device)
    upstream_first_call_s = time.perf_counter() - started
    result = {
        "import_torch_s": round(_TORCH_IMPORT_S, 3),
        "import_handler_s": round(imports_s, 3),
        "worker_steps_s": steps,  # versions includes CUDA init; manifest is the sha256 check; model is disk → device
        "worker_ready_s": round(ready_s, 3),
        "worker_total_with_imports_s": round(_TORCH_IMPORT_S + imports_s + ready_s, 3),
        "upstream_load_s": round(upstream_load_s, 3),
        "upstream_first_call_s": round(upstream_first_call_s, 3),
        # allocated right after each side's load: the worker's model, vocoder and default voice; upstream's
        # model and vocoder (held during every later section, so subtracted from the peaks below)
        "ours_loaded_gb": round(ours_bytes / 2**30, 3) if ours_bytes is not None else None,
        "upstream_loaded_gb": round(upstream_bytes / 2**30, 3) if upstream_bytes is not None else None,
        "note": "weights were just written or read, so they come from the page cache, not a cold disk",
    }
    return result, service, upstream, utils_infer


# ---- warm latency ---------------------------------------------------------------------------------
def latency(service, upstream, device: str, nfe_steps: list[int], repeats: int) -> list[dict]:
    preset = service.backend.presets()["en"]
    ref_path, ref_text = str(preset.path), preset.ref_text
    rows = []
    for nfe in nfe_steps:
        for name, text in TEXTS.items():
            def ours(text=text, nfe=nfe):
                result = list(ask(service, {"text": text, "voice": "en", "nfe_step": nfe, "seed": 7}))[-1]
                if "error" in result:
                    raise RuntimeError(result["error"])
                return result["duration_s"], result["chunks"]

            def theirs(text=text, nfe=nfe):
                wave, rate, _ = upstream.infer(ref_path, ref_text, text, nfe_step=nfe, seed=7,
                                               show_info=lambda *a: None, progress=None)
                return len(wave) / rate, None

            row = {"text": name, "chars": len(text), "nfe_step": nfe}
            for side, fn in (("ours", ours), ("upstream", theirs)):
                fn()  # untimed: caches as a running worker has them
                seconds, (audio_s, chunks) = timed(fn, repeats, lambda: cuda_sync(device))
                row[side] = {**quantiles(seconds), "audio_s": round(audio_s, 3),
                             "rtf": round(statistics.median(seconds) / audio_s, 4)}
                if chunks is not None:
                    row[side]["chunks"] = chunks
            row["upstream_over_ours"] = round(row["upstream"]["p50_s"] / row["ours"]["p50_s"], 2)
            rows.append(row)
    return rows


# ---- memory per frame -------------------------------------------------------------------------------
def voice_for(backend, settings):
    from handler.voices import prepare_reference_wave

    preset = backend.presets()["en"]
    wave = prepare_reference_wave(preset.path.read_bytes(), settings.ref_max_seconds, settings.ref_clip_seconds,
                                  backend.sample_rate)
    return backend.prepare_voice(wave, preset.ref_text)


def items_for(backend, voice, text: str, count: int, nfe_step: int, seed: int = 7):
    """`count` one-chunk requests of `text`, each with its own seed: their items."""
    from handler.model import SynthesisParams

    return [backend.plan(voice, [text], SynthesisParams(nfe_step=nfe_step, seed=seed + n), n).items()[0]
            for n in range(count)]


def memory(service, batch_sizes: list[int], nfe_step: int, quick: bool = False) -> list[dict]:
    """Peak memory of one sampling call above what was allocated before it, against the estimate."""
    backend = service.backend
    voice = voice_for(backend, service.settings)
    cuda = backend.device_kind == "cuda"
    rows = []
    texts = (("sentence", SENTENCE), ("about 150 chars", MEDIUM), ("long chunk", PARAGRAPH[:230]))
    for text_name, text in texts[:1] if quick else texts:
        for size in batch_sizes:
            items = items_for(backend, voice, text, size, nfe_step)
            longest = max(item.frames for item in items)
            estimate = backend.batch_bytes(size, longest)
            measured = None
            if cuda:
                gc.collect()
                torch.cuda.synchronize()
                base = torch.cuda.memory_allocated()
                torch.cuda.reset_peak_memory_stats()
            try:
                backend.sample(items)
            except torch.OutOfMemoryError:
                rows.append({"text": text_name, "items": size, "longest_frames": longest, "oom": True})
                torch.cuda.empty_cache()
                continue
            if cuda:
                torch.cuda.synchronize()
                measured = torch.cuda.max_memory_allocated() - base
            frames = size * longest
            rows.append({
                "text": text_name, "items": size, "longest_frames": longest,
                "measured_bytes": measured, "estimated_bytes": round(estimate),
                "measured_bytes_per_frame": round(measured / frames) if measured is not None else None,
                "estimated_bytes_per_frame": round(estimate / frames),
                "measured_over_estimate": round(measured / estimate, 2) if measured is not None and estimate else None,
            })
    return rows


# ---- dtypes -------------------------------------------------------------------------------------------
def dtypes(model_dir: Path, settings, device: str, names: list[str], nfe_step: int, repeats: int,
           reference_backend=None) -> list[dict]:
    """The same items (same seed) through a backend of each dtype: speed and distance from float32."""
    import handler.f5
    from handler.manifest import read_manifest

    manifest = read_manifest(model_dir)
    outputs, rows = {}, []
    for name in ["float32"] + [n for n in names if n != "float32"]:
        dtype = getattr(torch, name)
        try:
            if reference_backend is not None and reference_backend.dtype == dtype:
                backend = reference_backend
            else:
                backend = handler.f5.load(manifest, torch.device(device), dtype)
            voice = voice_for(backend, settings)

            def run(backend=backend, voice=voice):
                items = items_for(backend, voice, MEDIUM, 1, nfe_step)
                mel = backend.sample(items)[0]
                return mel, backend.vocode(items[0], mel)

            run()
            seconds, (mel, wave) = timed(run, repeats, lambda: cuda_sync(device))
        except Exception as exc:  # noqa: BLE001 - a dtype this device cannot run is a result too
            rows.append({"dtype": name, "error": f"{type(exc).__name__}: {str(exc)[:200]}"})
            continue
        outputs[name] = (mel.float().cpu(), torch.from_numpy(wave))
        row = {"dtype": name, **quantiles(seconds)}
        if name != "float32" and "float32" in outputs:
            mel32, wave32 = outputs["float32"]
            row["mel_rel_diff"] = round(float((outputs[name][0] - mel32).norm() / mel32.norm()), 5)
            row["wave_rel_diff"] = round(float((outputs[name][1] - wave32).norm() / wave32.norm()), 5)
        rows.append(row)
        if backend is not reference_backend:
            del backend
            gc.collect()
            if device == "cuda":
                torch.cuda.empty_cache()
    fp32 = next((r for r in rows if r["dtype"] == "float32" and "p50_s" in r), None)
    for row in rows:
        if fp32 and "p50_s" in row:
            row["speedup_vs_float32"] = round(fp32["p50_s"] / row["p50_s"], 2)
    return rows


# ---- report -------------------------------------------------------------------------------------------
def playback_levels(service, levels: list[int], nfe_step: int) -> list[dict]:
    """Each level: that many streamed requests at once; a player per request starts at its first audio."""
    from concurrent.futures import ThreadPoolExecutor

    from playback_bench import TEXT

    from handler.events import Audio

    def one(seed: int) -> dict:
        started, received, arrivals = time.perf_counter(), 0, []
        for event in service.events({"text": TEXT, "stream": True, "format": "pcm", "seed": seed, "nfe_step": nfe_step}):
            if isinstance(event, Audio):
                received += event.samples
                arrivals.append((time.perf_counter() - started, received / service.backend.sample_rate))
        return playback(arrivals)

    rows = []
    for level in levels:
        with ThreadPoolExecutor(level) as pool:
            played = list(pool.map(one, range(level)))
        first, stalled = [p["first_audio_s"] for p in played], [p["stalled_s"] for p in played]
        rows.append({"at_once": level, "first_audio_p50_s": percentile(first, 50), "first_audio_p95_s": percentile(first, 95),
                     "stalled_p50_s": percentile(stalled, 50), "stalled_p95_s": percentile(stalled, 95),
                     "without_stall": round(sum(s == 0 for s in stalled) / len(stalled), 2),
                     "audio_s": played[0]["audio_s"]})
    return rows


def markdown(report: dict) -> str:
    """Tables for bench/RESULTS.md; a section that is missing or failed says so instead."""
    parts = [f"Device: {report.get('device')}; model: {report.get('model')}; dtype {report.get('dtype')}; "
             f"bounds {report.get('bounds')}; date {report['date']}."]
    for name, render in (("startup", _md_startup), ("latency", _md_latency), ("first_audio", _md_first_audio),
                         ("concurrency", _md_concurrency), ("memory", _md_memory), ("dtypes", _md_dtypes),
                         ("playback", _md_playback)):
        value = report.get(name)
        if value is None:
            parts.append(f"{name}: not run")
        elif isinstance(value, dict) and "error" in value and len(value) == 1:
            parts.append(f"{name}: failed: {value['error']}")
        else:
            try:
                parts.append(render(value))
            except Exception as exc:  # noqa: BLE001 - the JSON is the record; tables are a convenience
                parts.append(f"{name}: table not rendered ({type(exc).__name__}: {exc}); see gpu_bench.json")
    return "\n\n".join(parts) + "\n"


def _md_startup(s: dict) -> str:
    return ("Start-up (s): " + ", ".join(f"{k} {v}" for k, v in s["worker_steps_s"].items())
            + f"; import torch {s['import_torch_s']}, handler imports {s['import_handler_s']}; "
            f"ready {s['worker_ready_s']} (with imports {s['worker_total_with_imports_s']}). "
            f"Upstream: load {s['upstream_load_s']}, first call {s['upstream_first_call_s']}.")


def _md_latency(rows: list) -> str:
    return table(
        ["text", "nfe", "ours p50 / p95 (s)", "ours RTF", "upstream p50 / p95 (s)", "upstream RTF", "upstream / ours"],
        [[f"{r['text']} ({r['chars']} chars, {r['ours'].get('chunks', 1)} chunk(s))", r["nfe_step"],
          f"{r['ours']['p50_s']} / {r['ours']['p95_s']}", r["ours"]["rtf"],
          f"{r['upstream']['p50_s']} / {r['upstream']['p95_s']}", r["upstream"]["rtf"], r["upstream_over_ours"]]
         for r in rows],
    )


def _md_first_audio(result: dict) -> str:
    from first_audio_bench import markdown as first_audio_md

    return f"Streaming, nfe_step {result['nfe_step']}:\n\n" + first_audio_md(result)


def _md_concurrency(result: dict) -> str:
    from batching_bench import markdown as concurrency_md

    return f"Concurrency, nfe_step {result['nfe_step']}:\n\n" + concurrency_md(result)


def _md_memory(rows: list) -> str:
    return table(
        ["sampling call", "items", "longest frames", "measured bytes/frame", "estimated bytes/frame",
         "measured / estimate"],
        [[r["text"], r["items"], r["longest_frames"], "out of memory", "", ""] if r.get("oom") else
         [r["text"], r["items"], r["longest_frames"], r["measured_bytes_per_frame"], r["estimated_bytes_per_frame"],
          r["measured_over_estimate"]] for r in rows],
    )


def _md_dtypes(rows: list) -> str:
    return table(
        ["dtype", "p50 (s)", "p95 (s)", "speed-up vs float32", "mel rel. diff", "wave rel. diff"],
        [[r["dtype"], r["error"], "", "", "", ""] if "error" in r else
         [r["dtype"], r["p50_s"], r["p95_s"], r.get("speedup_vs_float32"), r.get("mel_rel_diff", "-"),
          r.get("wave_rel_diff", "-")] for r in rows],
    )


def _md_playback(rows: list) -> str:
    return table(
        ["streams at once", "audio (s)", "first audio p50 / p95 (s)", "stalled p50 / p95 (s)", "without a stall"],
        [[r["at_once"], r["audio_s"], f"{r['first_audio_p50_s']} / {r['first_audio_p95_s']}",
          f"{r['stalled_p50_s']} / {r['stalled_p95_s']}", r["without_stall"]] for r in rows],
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="CPU, tiny model, nfe_step 4, one repeat, 1 and 2 at once")
    parser.add_argument("--model-dir", type=Path, help="a model folder (default: random, written to a temp folder)")
    parser.add_argument("--out", type=Path, required=True, help="folder for gpu_bench.json and gpu_bench.md")
    parser.add_argument("--repeats", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=4, help="requests per client at each concurrency level")
    parser.add_argument("--levels", default="1,2,4,8,16")
    parser.add_argument("--nfe-steps", default="32,16,7")
    parser.add_argument("--dtypes", default="float16,bfloat16,float32")
    parser.add_argument("--playback-levels", default="1,4,8,16,32")
    parser.add_argument("--skip", default="", help="comma-separated sections to leave out: latency,first_audio,"
                        "concurrency,memory,dtypes,playback")
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() and not args.quick else "cpu"
    if args.quick:
        args.repeats, args.rounds, args.levels, args.nfe_steps, args.dtypes = 1, 1, "1,2", "4", "float32"
        args.playback_levels = "1,2"
    elif device != "cuda":
        parser.error("no CUDA device: run with --quick on a CPU")
    nfe_steps = [int(n) for n in args.nfe_steps.split(",")]
    levels = [int(n) for n in args.levels.split(",")]
    skip = set(filter(None, args.skip.split(",")))
    args.out.mkdir(parents=True, exist_ok=True)

    from batching_bench import compare
    from first_audio_bench import SIX_SENTENCES, measure

    report: dict = {"date": utc_stamp(), "quick": args.quick}
    with model_folder(args.model_dir, "tiny" if args.quick else "full") as model_dir:
        # quick: a batch bound of 2 on the CPU, so that the batched path runs too (the device default there is 1)
        report["startup"], service, upstream, utils_infer = startup(model_dir, device, nfe_steps[0],
                                                                    "2" if args.quick else "0")
        backend = service.backend
        report["device"] = machine(device)
        report["model"] = model_label(args.model_dir, "tiny" if args.quick else "full")
        report["dtype"] = str(backend.dtype).removeprefix("torch.")
        report["bounds"] = {"max_batch": service.scheduler.bounds.max_items,
                            "batch_memory_gb": round(service.scheduler.bounds.memory_bytes / 2**30, 2)
                            if service.scheduler.bounds.memory_bytes != float("inf") else None,
                            "concurrency": service.concurrency}
        sections = {
            "latency": lambda: latency(service, upstream, device, nfe_steps, args.repeats),
            "first_audio": lambda: measure(service, upstream, utils_infer, SIX_SENTENCES, nfe_steps[0], 7,
                                           args.repeats, device),
            "concurrency": lambda: without_upstream(
                compare(service, levels, args.rounds, nfe_steps[0], vram=device == "cuda"), report["startup"]),
            "memory": lambda: memory(service, [n for n in levels if n <= backend_bound(service)], nfe_steps[0],
                                     args.quick),
            "dtypes": lambda: dtypes(model_dir, service.settings, device, args.dtypes.split(","), nfe_steps[0],
                                     args.repeats, reference_backend=backend),
            "playback": lambda: playback_levels(service, [int(n) for n in args.playback_levels.split(",")],
                                                nfe_steps[0]),
        }
        for name, fn in sections.items():
            if name in skip:
                continue
            began = time.perf_counter()
            try:
                report[name] = fn()
            except Exception as exc:  # noqa: BLE001 - one broken section must not lose the others
                import traceback

                traceback.print_exc()
                report[name] = {"error": f"{type(exc).__name__}: {str(exc)[:300]}"}
            print(f"[gpu_bench] {name} done in {time.perf_counter() - began:.1f} s", file=sys.stderr, flush=True)
            write(args.out, report)
        service.scheduler.close()
    print(write(args.out, report))
    return 0


def write(out: Path, report: dict) -> str:
    """Both files, after every section: a run cut short by a time limit still leaves what it measured."""
    write_json(out / "gpu_bench.json", report)
    md = markdown(report)
    (out / "gpu_bench.md").write_text(md)
    return md


def without_upstream(result: dict, startup_report: dict) -> dict:
    """Peak VRAM as the worker alone would see it: upstream's model, loaded in the same process for the
    comparisons, is taken off (peak_vram_gb keeps the raw figure)."""
    upstream_gb = startup_report.get("upstream_loaded_gb")
    for row in result["levels"]:
        for mode in ("batched", "one_at_a_time"):
            if upstream_gb is not None and "peak_vram_gb" in row[mode]:
                row[mode]["peak_vram_worker_gb"] = round(row[mode]["peak_vram_gb"] - upstream_gb, 3)
    return result


def backend_bound(service) -> int:
    return max(service.scheduler.bounds.max_items, 1) if service.backend.device_kind == "cuda" else 2


if __name__ == "__main__":
    sys.exit(main())
