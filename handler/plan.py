"""Turn one request's chunks into model items: durations and initial noise, as upstream computes them.

The rules are upstream `infer_batch_process`'s: a chunk's length follows the reference's speaking rate
(very short text is spoken slowly), `fix_duration` is shared across all of a request's chunks by their
text length (once per request, whatever batches the chunks later run in), and the model clamps each
length to at least its text and reference plus one frame. Noise comes from the request's own seed, one
draw per chunk in chunk order: what upstream draws after `seed_everything(seed)` when it runs the
chunks in order (its streaming path always does).
"""

from __future__ import annotations

from dataclasses import dataclass

from handler.backend import HOP_LENGTH, MAX_FRAMES, SAMPLE_RATE, Item, ModelBackend, PreparedVoice


@dataclass(frozen=True)
class SynthesisParams:
    nfe_step: int = 32
    cfg_strength: float = 2.0
    sway_sampling_coef: float = -1.0
    speed: float = 1.0
    fix_duration: float | None = None
    cross_fade_duration: float = 0.15  # fix_duration adds back what the cross-fades take away
    seed: int = 0


def max_chunk_bytes(voice: PreparedVoice, speed: float) -> int:
    """How much text fits one chunk so that reference plus chunk stay near 22 s (upstream's rule).
    Unlike upstream, never below 20 bytes: a reference near 22 s would otherwise give no room at all."""
    ref_bytes = len(voice.ref_text.encode("utf-8"))
    return max(20, int(ref_bytes / voice.duration_s * (22 - voice.duration_s) * speed))


def first_chunk_bytes(voice: PreparedVoice, speed: float, seconds: float) -> int:
    """Text bytes for about `seconds` of speech in this voice: the short first chunk of a stream."""
    ref_bytes = len(voice.ref_text.encode("utf-8"))
    return max(10, int(ref_bytes / voice.duration_s * seconds * speed))


def chunk_frames(voice: PreparedVoice, chunks: list[str], params: SynthesisParams) -> list[int]:
    """Each chunk's total length in mel frames (reference included), before the model's clamp."""
    ref_len = voice.ref_frames
    if params.fix_duration is not None:
        seconds = [params.fix_duration] * len(chunks)
        if len(chunks) > 1:
            ref_s = ref_len * HOP_LENGTH / SAMPLE_RATE
            weights = [len(chunk.encode("utf-8")) for chunk in chunks]
            allocatable = params.fix_duration - ref_s + params.cross_fade_duration * (len(chunks) - 1)
            seconds = [ref_s + allocatable * weight / sum(weights) for weight in weights]
        return [int(s * SAMPLE_RATE / HOP_LENGTH) for s in seconds]
    ref_bytes = len(voice.model_text.encode("utf-8"))
    frames = []
    for chunk in chunks:
        chunk_bytes = len(chunk.encode("utf-8"))
        speed = 0.3 if chunk_bytes < 10 else params.speed  # upstream: very short text is spoken slowly
        frames.append(ref_len + int(ref_len / ref_bytes * chunk_bytes / speed))
    return frames


class RequestPlan:
    """One request's items, made in chunk order so that each draws its noise in turn."""

    def __init__(self, backend: ModelBackend, voice: PreparedVoice, chunks: list[str], params: SynthesisParams,
                 request: int):
        self.backend = backend
        self.voice = voice
        self.chunks = chunks
        self.params = params
        self.request = request
        self.frames = chunk_frames(voice, chunks, params)
        self._generator = backend.noise_generator(params.seed)
        self._made = 0

    def item(self, index: int) -> Item:
        if index != self._made:
            raise ValueError(f"items are made in chunk order: expected chunk {self._made}, got {index}")
        self._made += 1
        tokens = self.backend.tokens(self.voice.model_text + self.chunks[index])
        cond_frames = self.voice.mel.shape[1]
        # upstream CFM.sample: at least the text and the reference plus one frame, at most MAX_FRAMES
        frames = min(max(max(len(tokens), cond_frames) + 1, self.frames[index]), MAX_FRAMES)
        return Item(
            request=self.request,
            voice=self.voice,
            tokens=tokens,
            frames=frames,
            noise=self.backend.draw_noise(self._generator, frames),
            nfe_step=self.params.nfe_step,
            cfg_strength=self.params.cfg_strength,
            sway_sampling_coef=self.params.sway_sampling_coef,
        )

    def items(self, start: int = 0, stop: int | None = None) -> list[Item]:
        return [self.item(index) for index in range(start, len(self.chunks) if stop is None else stop)]

