"""A stored voice against the same reference sent inline as base64: request size, time to first audio
byte and total time, through the HTTP mode's /v1/audio/speech, same model, text, seed and clip.

    python bench/voices_bench.py                          # tiny random model, CPU, a 10 s reference
    python bench/voices_bench.py --model-dir DIR --repeats 10 --out bench/voices_cpu.json

One HTTP worker with a folder store runs as a real process. The clip becomes a stored voice once;
then the two kinds of request alternate (inline, stored, inline, ...), each after one untimed request,
so neither gets the warmer machine. Inline requests of one clip hit the worker's cache of prepared
references after the first, as they would in production; the first inline request of a new clip
also pays for decoding, resampling and trimming it, which a stored voice never does again.
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import requests
from harness import machine, model_folder, write_json

TEXT = "A stored voice is named by its id. The reference stays on the server, and only the text travels."
REF_TEXT = "The words of the reference clip, as its speaker says them."


def clip(seconds: float) -> bytes:
    """A speech-like WAV at 24 kHz: the size a caller would send."""
    import io

    import numpy as np
    import soundfile as sf

    rate, rng = 24_000, np.random.default_rng(0)
    t = np.arange(int(seconds * rate)) / rate
    wave = 0.3 * np.sin(2 * np.pi * 180 * t) * (np.sin(2 * np.pi * 2.5 * t) > -0.3) + 0.01 * rng.standard_normal(len(t))
    buffer = io.BytesIO()
    sf.write(buffer, wave.astype(np.float32), rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def once(url: str, body: dict) -> tuple[float, float, int]:
    data = json.dumps(body).encode()
    started = time.perf_counter()
    first = None
    with requests.post(f"{url}/v1/audio/speech", data=data, headers={"Content-Type": "application/json"},
                       stream=True, timeout=600) as response:
        response.raise_for_status()
        for piece in response.iter_content(chunk_size=None):
            if piece and first is None:
                first = time.perf_counter() - started
    return first or 0.0, time.perf_counter() - started, len(data)


def summary(samples: list[tuple[float, float, int]]) -> dict:
    return {"request_bytes": samples[0][2],
            "first_byte_s_p50": round(statistics.median(s[0] for s in samples), 4),
            "total_s_p50": round(statistics.median(s[1] for s in samples), 4)}


def measure(model_dir: Path, args) -> tuple[list, list, float]:
    from support.servers import http_server

    reference = clip(args.ref_seconds)
    with tempfile.TemporaryDirectory(prefix="voices-bench-") as store, \
            http_server(model_dir, F5_VOICE_STORE=store, F5_VOICE_CONSENT="0") as url:
        started = time.perf_counter()
        voice = requests.post(f"{url}/v1/audio/voices", timeout=600, data={"name": "Bench", "ref_text": REF_TEXT},
                              files={"audio_sample": ("ref.wav", reference, "audio/wav")}).json()
        create_s = time.perf_counter() - started
        common = {"model": "tts-1", "input": TEXT, "response_format": "pcm", "seed": 7, "nfe_step": args.nfe_step}
        inline = {**common, "voice": "en", "ref_audio": base64.b64encode(reference).decode(), "ref_text": REF_TEXT}
        stored = {**common, "voice": {"id": voice["id"]}}
        once(url, inline), once(url, stored)  # untimed: caches and first calls
        inline_runs, stored_runs = [], []
        for _ in range(args.repeats):
            inline_runs.append(once(url, inline))
            stored_runs.append(once(url, stored))
    return inline_runs, stored_runs, create_s


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--nfe-step", type=int, default=16)
    parser.add_argument("--ref-seconds", type=float, default=10.0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with model_folder(args.model_dir) as model_dir:
        inline, stored, create_s = measure(model_dir, args)
    results = {
        "date": date.today().isoformat(),
        "machine": machine("cpu"),
        "command": "python bench/voices_bench.py " + " ".join(sys.argv[1:]),
        "ref_seconds": args.ref_seconds,
        "nfe_step": args.nfe_step,
        "repeats": args.repeats,
        "create_voice_s": round(create_s, 4),
        "inline": summary(inline),
        "stored": summary(stored),
    }
    results["request_bytes_ratio_inline_over_stored"] = round(
        results["inline"]["request_bytes"] / results["stored"]["request_bytes"], 1)
    results["first_byte_ratio_inline_over_stored"] = round(
        results["inline"]["first_byte_s_p50"] / max(results["stored"]["first_byte_s_p50"], 1e-9), 2)
    print(json.dumps(results, indent=2))
    write_json(args.out, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
