"""Signal processing on numpy arrays: mono, resample, silence detection, clipping, trimming.

These replace f5-tts's pydub-based preprocessing (which needs FFmpeg and writes temp files) with
in-memory equivalents that follow the same rules: clip references to 12 s preferring a silence,
trim silent edges at -42 dBFS, pad 50 ms; shorten long silences in generated speech.
"""

from __future__ import annotations

import numpy as np

WINDOW_S = 0.010  # silence is judged on 10 ms windows


def to_mono(samples: np.ndarray) -> np.ndarray:
    """(frames, channels) → (frames,), averaging channels."""
    if samples.ndim == 1:
        return samples.astype(np.float32, copy=False)
    return samples.mean(axis=1, dtype=np.float32)


def resample(wave: np.ndarray, rate: int, target: int) -> np.ndarray:
    if rate == target:
        return wave.astype(np.float32, copy=False)
    import torch
    import torchaudio.functional as AF

    tensor = torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32))
    return AF.resample(tensor, rate, target).numpy()


def window_dbfs(wave: np.ndarray, rate: int) -> np.ndarray:
    """Loudness of each 10 ms window in dBFS (−inf-safe)."""
    size = max(1, int(rate * WINDOW_S))
    count = len(wave) // size
    if count == 0:
        return np.full(1, 20 * np.log10(max(float(np.sqrt(np.mean(wave**2))) if len(wave) else 0.0, 1e-10)))
    frames = wave[: count * size].reshape(count, size)
    rms = np.sqrt(np.mean(np.square(frames, dtype=np.float64), axis=1))
    return 20 * np.log10(np.maximum(rms, 1e-10))


def silent_runs(wave: np.ndarray, rate: int, threshold_db: float, min_s: float) -> list[tuple[int, int]]:
    """(start, end) sample ranges of silences at least `min_s` long."""
    quiet = window_dbfs(wave, rate) < threshold_db
    size = max(1, int(rate * WINDOW_S))
    runs, start = [], None
    for index, is_quiet in enumerate(np.append(quiet, False)):
        if is_quiet and start is None:
            start = index
        elif not is_quiet and start is not None:
            if (index - start) * WINDOW_S >= min_s:
                runs.append((start * size, min(index * size, len(wave))))
            start = None
    return runs


def clip_reference(wave: np.ndarray, rate: int, max_s: float) -> np.ndarray:
    """Cut a reference to at most `max_s`, at the last silence after half of it when there is one."""
    limit = int(max_s * rate)
    if len(wave) <= limit:
        return wave
    for threshold_db, min_silence in ((-50.0, 1.0), (-40.0, 0.1)):  # long pauses first, then short
        cuts = [(start + end) // 2 for start, end in silent_runs(wave, rate, threshold_db, min_silence)]
        cuts = [cut for cut in cuts if limit // 2 <= cut <= limit]
        if cuts:
            return wave[: cuts[-1]]
    return wave[:limit]


def trim_silence(wave: np.ndarray, rate: int, threshold_db: float = -42.0) -> np.ndarray:
    """Drop leading and trailing windows quieter than the threshold."""
    loud = np.nonzero(window_dbfs(wave, rate) >= threshold_db)[0]
    if len(loud) == 0:
        return wave[:0]
    size = max(1, int(rate * WINDOW_S))
    return wave[loud[0] * size : min(len(wave), (loud[-1] + 1) * size)]


def pad_silence(wave: np.ndarray, rate: int, seconds: float) -> np.ndarray:
    return np.concatenate([wave, np.zeros(int(rate * seconds), dtype=np.float32)])


def shorten_silences(
    wave: np.ndarray, rate: int, threshold_db: float = -50.0, min_s: float = 1.0, keep_s: float = 0.5
) -> np.ndarray:
    """Cut every silence of at least `min_s` down to `keep_s` next to each stretch of speech.

    Inner silences keep `keep_s` after the speech before them and `keep_s` before the speech after;
    silences at the very start or end keep only the side that touches speech (as pydub's
    split_on_silence with keep_silence does in upstream's `remove_silence`). A wave that is silent
    throughout keeps `keep_s` (upstream returns nothing: a deliberate difference, so a request never
    gets an empty result as a success).
    """
    keep = int(keep_s * rate)
    pieces, cursor = [], 0
    for start, end in silent_runs(wave, rate, threshold_db, min_s):
        drop_from = start if start == 0 else start + keep
        drop_to = end if end >= len(wave) else end - keep
        if start == 0 and end >= len(wave):  # silence throughout: shortened like any other, never to nothing
            drop_from = keep
        if drop_to > drop_from:
            pieces.append(wave[cursor:drop_from])
            cursor = drop_to
    pieces.append(wave[cursor:])
    return np.concatenate(pieces)
