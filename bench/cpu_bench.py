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
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

SHORT = "Hello world, this is a short sentence for the benchmark."
LONG = " ".join(
    [
        "The quick brown fox jumps over the lazy dog, and then it runs back to the forest.",
        "Benchmarks should measure what users wait for, not what is easy to count.",
        "Every request carries a reference voice, a text, and a handful of parameters.",
        "Long texts are split into chunks that the model can speak in one go.",
        "Those chunks are joined again with a short cross-fade between them.",
        "A worker that starts fast and answers fast costs less on every request.",
        "This paragraph is long enough to need several chunks on a short reference.",
        "The end of the paragraph is near, and so is the end of this benchmark case.",
    ]
)


def upstream_model(manifest, device: str = "cpu"):
    """Upstream's F5TTS object, holding the same weights, built the way its __init__ would.

    Upstream's code is imported through tests/upstream.py (the same import the parity tests use);
    `torchaudio.load` reads WAV through soundfile (no torchcodec on a CPU torch 2.11)."""
    import soundfile as sf
    import torch
    import torchaudio
    from upstream import utils_infer as upstream_utils_infer

    from handler.f5_modules import load_f5_modules

    def load_wav(path, *args, **kwargs):
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
        return torch.from_numpy(data.T.copy()), rate

    torchaudio.load = load_wav
    utils_infer = upstream_utils_infer()
    from f5_tts.api import F5TTS

    f5 = load_f5_modules()
    model = F5TTS.__new__(F5TTS)
    model.mel_spec_type, model.target_sample_rate = "vocos", 24000
    model.ode_method, model.use_ema, model.device = "euler", True, device
    model.vocoder = utils_infer.load_vocoder("vocos", True, str(manifest.vocoder_dir), device)
    model.ema_model = utils_infer.load_model(
        f5.backbones[manifest.backbone], manifest.arch, str(manifest.checkpoint), "vocos", str(manifest.vocab), device=device
    )
    return model, utils_infer


def timed(fn, repeats):
    seconds, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = fn()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--model-dir", type=Path)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--nfe-step", type=int, default=32)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    repeats, nfe = (1, 4) if args.quick else (args.repeats, args.nfe_step)

    import torch

    from handler.config import Settings
    from handler.manifest import read_manifest
    from handler.startup import build_service
    from handler.voices import BUILTIN_PRESETS, f5_package_file

    scratch = tempfile.TemporaryDirectory()
    model_dir = args.model_dir
    if model_dir is None:
        from random_model import write_random_model

        model_dir = write_random_model(Path(scratch.name) / "model", "tiny")
    ref_path = f5_package_file(BUILTIN_PRESETS["en"][0])
    ref_text = BUILTIN_PRESETS["en"][1]
    ref_b64 = base64.b64encode(ref_path.read_bytes()).decode()

    env = {**os.environ, "F5_MODEL_DIR": str(model_dir), "F5_DEVICE": "cpu"}
    started = time.perf_counter()
    service = build_service(Settings.from_env(env))
    ours_start = time.perf_counter() - started
    started = time.perf_counter()
    upstream, utils_infer = upstream_model(read_manifest(model_dir))
    upstream.infer(str(ref_path), ref_text, "Warm up.", nfe_step=nfe, seed=0, show_info=lambda *a: None, progress=None)
    upstream_start = time.perf_counter() - started

    def ours(text, voice_cache=True, stream=False):
        if not voice_cache:  # a voice never seen before: empty the prepared-voice caches
            service.voices._voices._items.clear()
            service.voices._waves._items.clear()
        job = {"text": text, "ref_audio": ref_b64, "ref_text": ref_text, "nfe_step": nfe, "seed": 7, "stream": stream}
        messages = service.messages(job, "bench")
        first = next(messages)
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
        ours_s, ours_out = timed(ours_fn, repeats)
        theirs_s, theirs_out = timed(theirs_fn, repeats)
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
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads",
        "model": str(model_dir) if args.model_dir else "tiny random F5-TTS (tests/random_model.py)",
        "nfe_step": nfe,
        "repeats": repeats,
        "startup_s": {"ours_including_warmup": round(ours_start, 2), "upstream_load_and_warmup": round(upstream_start, 2)},
        "cases": rows,
    }
    print("| case | ours (s) | upstream F5TTS.infer (s) | upstream / ours |")
    print("| --- | --- | --- | --- |")
    for row in rows:
        print(f"| {row['case']} | {row['ours_s']} | {row['upstream_s']} | {row['ratio_upstream_over_ours']} |")
    print(json.dumps(report["startup_s"]))
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    service.scheduler.close()  # the streamed case left a chunk in flight
    scratch.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
