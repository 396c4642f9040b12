"""Time to first audio, streamed: this worker's service (`stream: true`) against upstream's streaming path
(`f5_tts.infer.utils_infer.infer_batch_process(..., streaming=True)`), same run, same reference clip,
text, nfe_step and seed (issue 10, part 1).

    python bench/first_audio_bench.py --size full --nfe-step 4 --no-warmup --out bench/first_audio_cpu.json
    python bench/first_audio_bench.py --quick                   # tiny model, seconds: checks that it runs

Both sides start from the same WAV file (f5-tts's `basic_ref_en.wav`, the worker's "en" preset) and
its transcript. Upstream prepares it with its own `preprocess_ref_audio_text` and chunks the text with
its own rule (as `infer_process` does); that preprocessing is inside upstream's timed path, as it is for
a caller of upstream. The worker's preset voice is prepared at start-up, as in a running worker.
Measured per side: seconds from the call to the first audio (upstream: its first yielded piece; ours:
the first stream message), and to the end of the stream. `--model-dir` names a model folder; without
it a random model of `--size` is written to a temporary folder and deleted afterwards.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from harness import (
    ask,
    machine,
    model_folder,
    model_label,
    table,
    upstream_model,
    utc_stamp,
    worker_service,
    write_json,
)

SIX_SENTENCES = (
    "The morning train was late again. "
    "Nobody on the platform seemed surprised. "
    "A child counted the pigeons out loud. "
    "Her father checked his watch twice. "
    "Then the rails began to hum. "
    "Everyone stepped back from the edge."
)


def ours_stream(service, text: str, nfe_step: int, seed: int, voice: str = "en") -> dict:
    """One streamed request through the service: seconds to the first audio message and to the end."""
    started = time.perf_counter()
    first = None
    done = None
    for message in ask(service, {"text": text, "voice": voice, "nfe_step": nfe_step, "seed": seed, "stream": True}):
        if "error" in message:
            raise RuntimeError(message["error"])
        if first is None and "audio_base64" in message:
            first = time.perf_counter() - started
        if message.get("done"):
            done = message
    total = time.perf_counter() - started
    return {
        "first_audio_s": first,
        "total_s": total,
        "audio_s": done["duration_s"],
        "chunks": done["chunks"],
        "service_first_audio_s": done["timings"].get("first_audio_s"),
    }


def upstream_chunks(utils_infer, ref_path: Path, ref_text: str, text: str):
    """Upstream's preprocessing and chunking, as `infer_process` does them (speed 1)."""
    utils_infer._ref_audio_cache.clear()  # a voice upstream has not seen: its pydub preprocessing runs
    ref_file, ref = utils_infer.preprocess_ref_audio_text(str(ref_path), ref_text, show_info=lambda *a: None)
    audio, rate = utils_infer.torchaudio.load(ref_file)
    ref_s = audio.shape[-1] / rate
    max_chars = int(len(ref.encode("utf-8")) / ref_s * (22 - ref_s))
    return (audio, rate), ref, utils_infer.chunk_text(text, max_chars=max_chars)


def upstream_stream(model, utils_infer, ref_path: Path, ref_text: str, text: str, nfe_step: int, seed: int,
                    device: str) -> dict:
    import torch

    started = time.perf_counter()
    ref_audio, ref, batches = upstream_chunks(utils_infer, ref_path, ref_text, text)
    torch.manual_seed(seed)  # what F5TTS.infer's seed_everything does for the noise
    first = None
    samples = 0
    for piece, _rate in utils_infer.infer_batch_process(
        ref_audio, ref, batches, model.ema_model, model.vocoder, nfe_step=nfe_step, device=device,
        streaming=True, progress=None,
    ):
        if first is None:
            first = time.perf_counter() - started
        samples += len(piece)
    total = time.perf_counter() - started
    return {"first_audio_s": first, "total_s": total, "audio_s": round(samples / 24_000, 3), "chunks": len(batches)}


def measure(service, upstream, utils_infer, text: str, nfe_step: int, seed: int, repeats: int, device: str,
            upstream_first: bool = False) -> dict:
    """Both sides, alternating, `repeats` times; medians and the ratios the issue's targets name."""
    preset = service.backend.presets()["en"]
    ref_path, ref_text = preset.path, preset.ref_text
    ours_runs, theirs_runs = [], []
    for _ in range(repeats):
        if upstream_first:
            theirs_runs.append(upstream_stream(upstream, utils_infer, ref_path, ref_text, text, nfe_step, seed, device))
        ours_runs.append(ours_stream(service, text, nfe_step, seed))
        if not upstream_first:
            theirs_runs.append(upstream_stream(upstream, utils_infer, ref_path, ref_text, text, nfe_step, seed, device))

    def median(runs, key):
        return round(statistics.median(run[key] for run in runs), 4)

    ours = {key: median(ours_runs, key) for key in ("first_audio_s", "total_s")}
    theirs = {key: median(theirs_runs, key) for key in ("first_audio_s", "total_s")}
    ours.update(audio_s=ours_runs[-1]["audio_s"], chunks=ours_runs[-1]["chunks"], runs=ours_runs)
    theirs.update(audio_s=theirs_runs[-1]["audio_s"], chunks=theirs_runs[-1]["chunks"], runs=theirs_runs)
    (audio, rate), _, batches = upstream_chunks(utils_infer, ref_path, ref_text, text)
    return {
        "text": text,
        "text_chars": len(text),
        "nfe_step": nfe_step,
        "seed": seed,
        "repeats": repeats,
        "order": "upstream first" if upstream_first else "ours first",
        "ours_chunk_frames": ours_chunk_frames(service, text),
        "ref_s": {"ours": round(service.voices.preset("en").duration_s, 3), "upstream": round(audio.shape[-1] / rate, 3)},
        "upstream_chunk_texts": batches,
        "ours": ours,
        "upstream": theirs,
        "ours_first_over_total": round(ours["first_audio_s"] / ours["total_s"], 3),
        "upstream_first_over_ours_first": round(theirs["first_audio_s"] / ours["first_audio_s"], 2),
        "targets": {"first_over_total_max": 0.25, "sooner_than_upstream_min": 2.0},
    }


def ours_chunk_frames(service, text: str) -> list[int]:
    """The worker's chunks for this text when streamed, as mel frames (reference included)."""
    from handler.f5.plan import chunk_frames
    from handler.model import SynthesisParams
    from handler.text_chunks import chunk_text

    voice, backend = service.voices.preset("en"), service.backend
    chunks = chunk_text(service.normalized(text), backend.text_budget(voice, 1.0),
                        first_max_bytes=backend.text_budget(voice, 1.0, service.policy.first_chunk_s))
    return chunk_frames(voice, chunks, SynthesisParams())


def markdown(result: dict) -> str:
    ours, theirs = result["ours"], result["upstream"]
    rows = [
        ["ours (service, stream: true)", ours["first_audio_s"], ours["total_s"], result["ours_first_over_total"],
         ours["audio_s"], ours["chunks"]],
        ["upstream infer_batch_process(streaming=True)", theirs["first_audio_s"], theirs["total_s"],
         round(theirs["first_audio_s"] / theirs["total_s"], 3), theirs["audio_s"], theirs["chunks"]],
    ]
    return "\n".join([
        table(["streamed, six sentences", "first audio (s)", "total (s)", "first / total", "audio (s)", "chunks"], rows),
        "",
        f"Upstream's first audio / ours: {result['upstream_first_over_ours_first']}x "
        f"(target ≥ 2); ours first / total: {result['ours_first_over_total']} (target ≤ 0.25).",
    ])


def build_both(model_dir: Path, device: str, env_extra: dict | None = None):
    """The worker's service (no warm-up of its own: the caller decides) and upstream's model, same files."""
    service = worker_service(model_dir, device, {"F5_WARMUP": "0", **(env_extra or {})})
    upstream, utils_infer = upstream_model(model_dir, device)
    return service, upstream, utils_infer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny model, nfe_step 4, one repeat")
    parser.add_argument("--model-dir", type=Path)
    parser.add_argument("--size", choices=("tiny", "full"), default="full")
    parser.add_argument("--nfe-step", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-warmup", action="store_true", help="skip the untimed pass of each side")
    parser.add_argument("--upstream-first", action="store_true", help="in each repeat, run upstream before ours")
    parser.add_argument("--out", type=Path, help="JSON file to write")
    args = parser.parse_args()
    if args.quick:
        args.size, args.nfe_step, args.repeats = "tiny", 4, 1

    with model_folder(args.model_dir, args.size) as model_dir:
        started = time.perf_counter()
        service, upstream, utils_infer = build_both(model_dir, args.device)
        load_s = time.perf_counter() - started
        if not args.no_warmup:
            preset = service.backend.presets()["en"]
            ours_stream(service, "Warm up.", args.nfe_step, 0)
            upstream_stream(upstream, utils_infer, preset.path, preset.ref_text, "Warm up.", args.nfe_step, 0,
                            args.device)
        result = measure(service, upstream, utils_infer, SIX_SENTENCES, args.nfe_step, args.seed, args.repeats,
                         args.device, args.upstream_first)
    result.update(
        date=utc_stamp(),
        machine=machine(args.device),
        model=model_label(args.model_dir, args.size),
        warmup=not args.no_warmup,
        load_both_s=round(load_s, 2),
    )
    print(markdown(result))
    write_json(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
