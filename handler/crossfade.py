"""Join chunk waves with a linear cross-fade (the curve f5-tts uses), all at once or as they come."""

from __future__ import annotations

import numpy as np


def crossfade_join(waves: list[np.ndarray], fade_samples: int) -> np.ndarray:
    """Join chunk waves with a linear cross-fade."""
    joiner = CrossfadeJoiner(fade_samples)
    parts = [joiner.push(wave) for wave in waves]
    parts.append(joiner.finish())
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


class CrossfadeJoiner:
    """Incremental cross-fade: push chunk waves, get back audio that is final as soon as it exists.

    Each push returns everything but the chunk's tail, which waits to be blended with the next
    chunk's head. Concatenating every returned piece plus `finish()` equals `crossfade_join`.
    `joins[k - 1]` is where chunk k joins chunk k - 1 in the joined audio, in samples: the middle of
    their cross-fade (timestamps take a sentence's bounds from these).
    """

    def __init__(self, fade_samples: int):
        self.fade_samples = max(0, int(fade_samples))
        self._tail = np.zeros(0, dtype=np.float32)
        self._started = False
        self.joins: list[int] = []
        self.length = 0  # samples of the joined audio so far (what was returned, and the tail held back)

    def push(self, wave: np.ndarray) -> np.ndarray:
        wave = np.asarray(wave, dtype=np.float32)
        head = wave
        if self._started:
            overlap = min(self.fade_samples, len(self._tail), len(wave))
            # never before the previous join (a chunk shorter than the fade is blended into its neighbours)
            self.joins.append(max(self.length - overlap + overlap // 2, self.joins[-1] if self.joins else 0))
            self.length -= overlap
            if overlap > 0:
                fade_out = np.linspace(1.0, 0.0, overlap, dtype=np.float32)
                blended = self._tail[len(self._tail) - overlap :] * fade_out + wave[:overlap] * (1.0 - fade_out)
                head = np.concatenate([self._tail[: len(self._tail) - overlap], blended, wave[overlap:]])
            else:
                head = np.concatenate([self._tail, wave])
        self._started = True
        self.length += len(wave)
        keep = min(self.fade_samples, len(head))
        self._tail = head[len(head) - keep :]
        return head[: len(head) - keep]

    def finish(self) -> np.ndarray:
        tail, self._tail = self._tail, np.zeros(0, dtype=np.float32)
        return tail
