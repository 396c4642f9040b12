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

import torch

from handler.errors import InputError
from handler.model import SynthesisParams

SAMPLE_RATE = 24_000
HOP_LENGTH = 256
N_MELS = 100
MAX_FRAMES = 65_536  # upstream CFM.sample's max_duration
NO_CFG_BELOW = 1e-5  # upstream: a cfg strength below this runs the model once, without guidance
CHUNK_SECONDS = 22  # upstream: reference plus chunk stay near this many seconds
MIN_CHUNK_BYTES = 20  # unlike upstream: a reference near 22 s would otherwise leave no room at all
SLOW_BELOW_BYTES = 10  # upstream: text this short is spoken at speed 0.3
SLOW_SPEED = 0.3


@dataclass
class PreparedVoice:
    """A reference ready for the model: features computed once and cached with the voice."""

    ref_text: str  # as upstream's preprocess_ref_audio_text leaves it (ends with ". " or "。")
    rms: float
    mel: torch.Tensor  # (1, frames, N_MELS) on the backend device, model dtype
    ref_frames: int  # reference length in hop-sized frames, as f5-tts counts it
    duration_s: float

    @property
    def model_text(self) -> str:
        """The reference text as upstream's infer_batch_process gives it to the model: one more
        space after a one-byte last character (so "nature. " becomes "nature.  ")."""
        return self.ref_text + " " if len(self.ref_text[-1].encode("utf-8")) == 1 else self.ref_text


def prepare_ref_text(ref_text: str) -> str:
    """Upstream's preprocess_ref_audio_text ending rule, after stripping outer whitespace."""
    ref_text = ref_text.strip()
    if not ref_text.endswith(". ") and not ref_text.endswith("。"):
        ref_text += " " if ref_text.endswith(".") else ". "
    return ref_text


@dataclass(eq=False)
class Item:
    """One chunk of one request, ready to sample: everything the model call needs, nothing shared."""

    request: int  # which request it serves (to count distinct requests per call)
    voice: PreparedVoice
    tokens: list[str]  # reference text + chunk text, as model tokens
    frames: int  # total mel frames, reference included, clamped as upstream clamps them
    noise: torch.Tensor  # (frames, N_MELS): this item's initial noise, drawn from its request's seed
    nfe_step: int
    cfg_strength: float
    sway_sampling_coef: float

    @property
    def group(self) -> tuple:
        """Items of one group can share a sampling call: the same time grid and the same passes."""
        return (self.nfe_step, self.sway_sampling_coef, self.cfg_strength < NO_CFG_BELOW)


def max_chunk_bytes(voice: PreparedVoice, speed: float) -> int:
    """How much text fits one chunk so that reference plus chunk stay near 22 s (upstream's rule),
    never below MIN_CHUNK_BYTES."""
    ref_bytes = len(voice.ref_text.encode("utf-8"))
    return max(MIN_CHUNK_BYTES, int(ref_bytes / voice.duration_s * (CHUNK_SECONDS - voice.duration_s) * speed))


def chunk_bytes_for(voice: PreparedVoice, speed: float, seconds: float) -> int:
    """Text bytes for about `seconds` of speech in this voice (a stream's short first chunk)."""
    ref_bytes = len(voice.ref_text.encode("utf-8"))
    return max(SLOW_BELOW_BYTES, int(ref_bytes / voice.duration_s * seconds * speed))


def chunk_frames(voice: PreparedVoice, chunks: list[str], params: SynthesisParams) -> list[int]:
    """Each chunk's total length in mel frames (reference included), before the model's clamp."""
    ref_len = voice.ref_frames
    if params.fix_duration is not None:
        if params.fix_duration <= voice.duration_s:
            raise InputError(
                f"fix_duration {params.fix_duration:g} s leaves no room for speech: it counts the reference "
                f"voice too, which is {voice.duration_s:.2f} s here; ask for more than that, or leave it out",
                field="fix_duration",
            )
        ref_s = ref_len * HOP_LENGTH / SAMPLE_RATE
        seconds = [params.fix_duration] * len(chunks)
        if len(chunks) > 1:
            weights = [len(chunk.encode("utf-8")) for chunk in chunks]
            allocatable = params.fix_duration - ref_s + params.cross_fade_duration * (len(chunks) - 1)
            seconds = [ref_s + allocatable * weight / sum(weights) for weight in weights]
        return [int(s * SAMPLE_RATE / HOP_LENGTH) for s in seconds]
    ref_bytes = len(voice.model_text.encode("utf-8"))
    frames = []
    for chunk in chunks:
        chunk_bytes = len(chunk.encode("utf-8"))
        speed = SLOW_SPEED if chunk_bytes < SLOW_BELOW_BYTES else params.speed
        frames.append(ref_len + int(ref_len / ref_bytes * chunk_bytes / speed))
    return frames


class RequestPlan:
    """One request's items, made in chunk order so that each draws its noise in turn."""

    def __init__(self, backend, voice: PreparedVoice, chunks: list[str], params: SynthesisParams, request: int):
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
