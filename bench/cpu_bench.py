"""CPU benchmark: this worker's engine against upstream `f5_tts.api.F5TTS.infer`, same run.

Both sides load the same model files (a tiny random F5-TTS of the real architecture, unless
--model-dir names another) and get the same reference clip, texts and seed. Reported: median
seconds per case and the ratio upstream / ours (above 1: ours is faster).

    python bench/cpu_bench.py                 # full run (a few minutes on 2 cores)
    python bench/cpu_bench.py --quick         # CI: one repeat, 4 steps; checks that it runs, not speed

Upstream is called as published, with two harness-level adjustments, both outside the timed path's
logic: the model is built with the tiny architecture (`F5TTS.__init__` only builds full-size
configs), and `torchaudio.load` reads WAV through soundfile, because torchaudio 2.11 on a CPU
torch has no torchcodec. Upstream's own preprocessing (pydub, temp files, caches) is measured.
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import sys
import time
from pathlib import Path

from harness import (
    SENTENCES,
    ask,
    machine,
    model_folder,
    table,
    timed,
    upstream_model,
    worker_service,
    write_json,
)

SHORT = "Hello world, this is a short sentence for the benchmark."
LONG = " ".join(SENTENCES)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--model-dir", type=Path)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--nfe-step", type=int, default=32)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    repeats, nfe = (1, 4) if args.quick else (args.repeats, args.nfe_step)

    with model_folder(args.model_dir) as model_dir:
        return run(args, model_dir, repeats, nfe)


def run(args, model_dir: Path, repeats: int, nfe: int) -> int:
    started = time.perf_counter()
    service = worker_service(model_dir, "cpu")
    ours_start = time.perf_counter() - started
    preset = service.backend.presets()["en"]
    ref_path, ref_text = preset.path, preset.ref_text
    ref_b64 = base64.b64encode(ref_path.read_bytes()).decode()
    started = time.perf_counter()
    upstream, utils_infer = upstream_model(model_dir)
    upstream.infer(str(ref_path), ref_text, "Warm up.", nfe_step=nfe, seed=0, show_info=lambda *a: None, progress=None)
    upstream_start = time.perf_counter() - started

    def ours(text, voice_cache=True, stream=False):
        if not voice_cache:  # a voice never seen before: empty the prepared-voice caches
            service.voices._voices._items.clear()
            service.voices._waves._items.clear()
        job = {"text": text, "ref_audio": ref_b64, "ref_text": ref_text, "nfe_step": nfe, "seed": 7, "stream": stream}
        first = next(ask(service, job))
        if stream:
            return first  # time to first audio
        assert "error" not in first, first
        return first["duration_s"]

    def theirs(text, fresh_voice=True):
        if fresh_voice:
            utils_infer._ref_audio_cache.clear()
        wave, rate, _ = upstream.infer(
            str(ref_path), ref_text, text, nfe_step=nfe, seed=7, show_info=lambda *a: None, progress=None
        )
        return len(wave) / rate

    def theirs_first_audio(text):
        utils_infer._ref_audio_cache.clear()
        ref_file, ref = utils_infer.preprocess_ref_audio_text(str(ref_path), ref_text, show_info=lambda *a: None)
        audio, rate = utils_infer.torchaudio.load(ref_file)
        max_chars = int(len(ref.encode("utf-8")) / (audio.shape[-1] / rate) * (22 - audio.shape[-1] / rate))
        batches = utils_infer.chunk_text(text, max_chars=max_chars)
        stream = utils_infer.infer_batch_process(
            (audio, rate), ref, batches, upstream.ema_model, upstream.vocoder, nfe_step=nfe, device="cpu",
            streaming=True, progress=None,
        )
        return next(stream)

    cases = [
        ("short sentence, new voice", lambda: ours(SHORT, voice_cache=False), lambda: theirs(SHORT)),
        ("long multi-chunk text", lambda: ours(LONG), lambda: theirs(LONG)),
        ("same voice again (short)", lambda: ours(SHORT), lambda: theirs(SHORT, fresh_voice=False)),
        ("streamed: time to first audio (long)", lambda: ours(LONG, stream=True), lambda: theirs_first_audio(LONG)),
    ]
    rows = []
    for name, ours_fn, theirs_fn in cases:
        ours_fn(), theirs_fn()  # one untimed pass each: caches as a running worker would have them
        ours_runs, ours_out = timed(ours_fn, repeats)
        theirs_runs, theirs_out = timed(theirs_fn, repeats)
        ours_s, theirs_s = statistics.median(ours_runs), statistics.median(theirs_runs)
        rows.append({
            "case": name,
            "ours_s": round(ours_s, 4),
            "upstream_s": round(theirs_s, 4),
            "ratio_upstream_over_ours": round(theirs_s / ours_s, 2),
            "audio_s": {"ours": ours_out if isinstance(ours_out, float) else None,
                        "upstream": theirs_out if isinstance(theirs_out, float) else None},
        })
    report = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine("cpu"),
        "model": str(model_dir) if args.model_dir else "tiny random F5-TTS (support/random_model.py)",
        "nfe_step": nfe,
        "repeats": repeats,
        "startup_s": {"ours_including_warmup": round(ours_start, 2), "upstream_load_and_warmup": round(upstream_start, 2)},
        "cases": rows,
    }
    print(table(["case", "ours (s)", "upstream F5TTS.infer (s)", "upstream / ours"],
                [[row["case"], row["ours_s"], row["upstream_s"], row["ratio_upstream_over_ours"]] for row in rows]))
    print(json.dumps(report["startup_s"]))
    write_json(args.out, report)
    service.scheduler.close()  # the streamed case left a chunk in flight
    return 0


if __name__ == "__main__":
    sys.exit(main())
