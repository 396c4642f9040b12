"""The F5-TTS engine: load once from local files, then synthesise text chunks as batches.

No `runpod` here: the engine is used alone by tests and benchmarks. It is not thread-safe by design;
`synthesize` and `stream` take the engine's lock, because f5-tts seeds the global RNG and one GPU
runs one batch at a time anyway.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch

from handler.f5_modules import load_f5_modules
from handler.manifest import Manifest

SAMPLE_RATE = 24_000
HOP_LENGTH = 256
N_MELS = 100
TARGET_RMS = 0.1  # f5-tts normalises quiet references to this loudness and scales the output back


@dataclass(frozen=True)
class SynthesisParams:
    nfe_step: int = 32
    cfg_strength: float = 2.0
    sway_sampling_coef: float = -1.0
    speed: float = 1.0
    fix_duration: float | None = None
    seed: int = 0


@dataclass
class PreparedVoice:
    """A reference ready for the model: features computed once and cached with the voice."""

    ref_text: str
    rms: float
    mel: torch.Tensor  # (1, frames, N_MELS) on the engine device, model dtype
    ref_frames: int  # reference length in hop-sized frames, as f5-tts counts it
    duration_s: float


@dataclass
class StageTimer:
    """Accumulates seconds per named stage; `torch.cuda.synchronize` keeps GPU stages honest."""

    device: torch.device
    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, stage: str, started: float) -> float:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        now = time.perf_counter()
        self.seconds[stage] = self.seconds.get(stage, 0.0) + now - started
        return now


def resolve_device(requested: str) -> torch.device:
    if requested == "cuda" or (requested == "auto" and torch.cuda.is_available()):
        return torch.device("cuda")
    return torch.device("cpu")


def default_batch(requested: int, device: torch.device) -> int:
    """Chunks per model call. On a GPU one padded batch beats one call per chunk; on a CPU the
    masked padded batch was measured slower than chunks one at a time (bench/RESULTS.md)."""
    if requested > 0:
        return requested
    return 8 if device.type == "cuda" else 1


def resolve_dtype(requested: str, device: torch.device) -> torch.dtype:
    if requested != "auto":
        return getattr(torch, requested)
    if device.type == "cuda" and torch.cuda.get_device_capability(device)[0] >= 7:
        return torch.float16  # what upstream f5-tts uses on Volta and newer
    return torch.float32


def _read_checkpoint(path, device: torch.device, use_ema: bool) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path), device=str(device))
        state = {"ema_model_state_dict": state} if use_ema else {"model_state_dict": state}
    else:
        state = torch.load(str(path), map_location=device, weights_only=True)
    if use_ema:
        weights = {
            key.removeprefix("ema_model."): value
            for key, value in state["ema_model_state_dict"].items()
            if key.removeprefix("ema_model.") not in ("initted", "step")  # EMA bookkeeping, not weights
        }
    else:
        weights = state["model_state_dict"]
    # buffers that old checkpoints stored and the current code recomputes
    for key in ("mel_spec.mel_stft.mel_scale.fb", "mel_spec.mel_stft.spectrogram.window"):
        weights.pop(key, None)
    return weights


def enable_padding_mask(model) -> int:
    """Make attention ignore padding, so a chunk's audio does not depend on its batch-mates.

    Chunks of one request run as one padded batch. f5-tts's attention processors are plain objects
    (not modules) hanging off each Attention module, so they are found through `.processor`. A
    single-item batch passes no mask, so this costs nothing there. Returns how many were switched.
    """
    switched = 0
    for module in model.modules():
        processor = getattr(module, "processor", None)
        if processor is not None and hasattr(processor, "attn_mask_enabled"):
            processor.attn_mask_enabled = True
            switched += 1
    if switched == 0:
        raise RuntimeError("no attention processor found to mask padding: f5-tts's layout changed")
    return switched


def load_vocoder(vocoder_dir, device: torch.device):
    from vocos import Vocos

    vocoder = Vocos.from_hparams(str(vocoder_dir / "config.yaml"))
    state = torch.load(str(vocoder_dir / "pytorch_model.bin"), map_location="cpu", weights_only=True)
    vocoder.load_state_dict(state)
    return vocoder.eval().to(device)


def crossfade_join(waves: list[np.ndarray], fade_samples: int) -> np.ndarray:
    """Join chunk waves with a linear cross-fade (the same curve f5-tts uses)."""
    joiner = CrossfadeJoiner(fade_samples)
    parts = [joiner.push(wave) for wave in waves]
    parts.append(joiner.finish())
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


class CrossfadeJoiner:
    """Incremental cross-fade: push chunk waves, get back audio that is final as soon as it exists.

    Each push returns everything but the chunk's tail, which waits to be blended with the next
    chunk's head. Concatenating every returned piece plus `finish()` equals `crossfade_join`.
    """

    def __init__(self, fade_samples: int):
        self.fade_samples = max(0, int(fade_samples))
        self._tail = np.zeros(0, dtype=np.float32)
        self._started = False

    def push(self, wave: np.ndarray) -> np.ndarray:
        wave = np.asarray(wave, dtype=np.float32)
        head = wave
        if self._started:
            overlap = min(self.fade_samples, len(self._tail), len(wave))
            if overlap > 0:
                fade_out = np.linspace(1.0, 0.0, overlap, dtype=np.float32)
                blended = self._tail[len(self._tail) - overlap :] * fade_out + wave[:overlap] * (1.0 - fade_out)
                head = np.concatenate([self._tail[: len(self._tail) - overlap], blended, wave[overlap:]])
            else:
                head = np.concatenate([self._tail, wave])
        self._started = True
        keep = min(self.fade_samples, len(head))
        self._tail = head[len(head) - keep :]
        return head[: len(head) - keep]

    def finish(self) -> np.ndarray:
        tail, self._tail = self._tail, np.zeros(0, dtype=np.float32)
        return tail


class Engine:
    def __init__(self, model, vocoder, vocab_char_map: dict[str, int], device, dtype, max_batch: int, f5):
        self.model = model
        self.vocoder = vocoder
        self.vocab_char_map = vocab_char_map
        self.device = device
        self.dtype = dtype
        self.max_batch = max_batch
        self._f5 = f5
        self._lock = threading.Lock()

    @classmethod
    def load(cls, manifest: Manifest, device: torch.device, dtype: torch.dtype, max_batch: int = 0) -> Engine:
        f5 = load_f5_modules()
        backbone = f5.backbones.get(manifest.backbone)
        if backbone is None:
            raise ValueError(f"unknown backbone {manifest.backbone!r} (known: {', '.join(f5.backbones)})")
        vocab_char_map, vocab_size = f5.get_tokenizer(str(manifest.vocab), "custom")
        model = f5.CFM(
            transformer=backbone(**manifest.arch, text_num_embeds=vocab_size, mel_dim=N_MELS),
            mel_spec_kwargs=dict(
                n_fft=1024,
                hop_length=HOP_LENGTH,
                win_length=1024,
                n_mel_channels=N_MELS,
                target_sample_rate=SAMPLE_RATE,
                mel_spec_type="vocos",
            ),
            odeint_kwargs=dict(method="euler"),
            vocab_char_map=vocab_char_map,
        )
        model.load_state_dict(_read_checkpoint(manifest.checkpoint, torch.device("cpu"), manifest.use_ema))
        model = model.to(device=device, dtype=dtype).eval()
        enable_padding_mask(model)
        vocoder = load_vocoder(manifest.vocoder_dir, device)
        return cls(model, vocoder, vocab_char_map, device, dtype, default_batch(max_batch, device), f5)

    # ---- text -------------------------------------------------------------------------------
    def tokens(self, text: str) -> list[str]:
        return self._f5.convert_char_to_pinyin([text])[0]

    def unknown_characters(self, text: str) -> list[str]:
        """Characters (after pinyin conversion) that the model's vocabulary does not have."""
        return sorted({token for token in self.tokens(text) if token not in self.vocab_char_map})

    # ---- voices -------------------------------------------------------------------------------
    @torch.inference_mode()
    def prepare_voice(self, audio: np.ndarray, ref_text: str) -> PreparedVoice:
        """`audio`: mono float32 at 24 kHz, already trimmed. Computes the mel features once."""
        wave = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)).unsqueeze(0)
        rms = float(torch.sqrt(torch.mean(torch.square(wave))))
        if 0 < rms < TARGET_RMS:
            wave = wave * TARGET_RMS / rms
        mel = self.model.mel_spec(wave.to(self.device)).permute(0, 2, 1).to(self.dtype)
        ref_text = ref_text.strip()
        if not ref_text.endswith(". ") and not ref_text.endswith("。"):
            ref_text = ref_text + " " if ref_text.endswith(".") else ref_text + ". "
        if len(ref_text[-1].encode("utf-8")) == 1 and not ref_text.endswith(" "):
            ref_text += " "
        return PreparedVoice(
            ref_text=ref_text,
            rms=rms,
            mel=mel,
            ref_frames=wave.shape[-1] // HOP_LENGTH,
            duration_s=wave.shape[-1] / SAMPLE_RATE,
        )

    def max_chunk_bytes(self, voice: PreparedVoice, speed: float) -> int:
        """How much text fits one chunk so that reference plus chunk stay near 22 s (upstream rule)."""
        ref_bytes = len(voice.ref_text.encode("utf-8"))
        return max(20, int(ref_bytes / voice.duration_s * (22 - voice.duration_s) * speed))

    def _durations(self, voice: PreparedVoice, chunks: list[str], params: SynthesisParams) -> list[int]:
        ref_bytes = len(voice.ref_text.encode("utf-8"))
        if params.fix_duration is not None:
            # split the requested total across chunks by text length, as upstream does
            ref_s = voice.ref_frames * HOP_LENGTH / SAMPLE_RATE
            weights = [len(chunk.encode("utf-8")) for chunk in chunks]
            allocatable = params.fix_duration - ref_s + 0.15 * (len(chunks) - 1)
            seconds = [ref_s + allocatable * w / sum(weights) for w in weights]
            return [max(voice.ref_frames + 1, int(s * SAMPLE_RATE / HOP_LENGTH)) for s in seconds]
        durations = []
        for chunk in chunks:
            chunk_bytes = len(chunk.encode("utf-8"))
            speed = 0.3 if chunk_bytes < 10 else params.speed  # upstream: very short text is spoken slowly
            durations.append(voice.ref_frames + int(voice.ref_frames / ref_bytes * chunk_bytes / speed))
        return durations

    # ---- synthesis ----------------------------------------------------------------------------
    @torch.inference_mode()
    def _run_batch(
        self, voice: PreparedVoice, chunks: list[str], params: SynthesisParams, timer: StageTimer
    ) -> list[np.ndarray]:
        started = time.perf_counter()
        durations = self._durations(voice, chunks, params)
        texts = self._f5.convert_char_to_pinyin([voice.ref_text + chunk for chunk in chunks])
        batch = len(chunks)
        cond = voice.mel.expand(batch, -1, -1)
        mel, _ = self.model.sample(
            cond=cond,
            text=texts,
            duration=torch.tensor(durations, device=self.device, dtype=torch.long),
            lens=torch.full((batch,), voice.mel.shape[1], device=self.device, dtype=torch.long),
            steps=params.nfe_step,
            cfg_strength=params.cfg_strength,
            sway_sampling_coef=params.sway_sampling_coef,
            seed=params.seed,
        )
        started = timer.add("model", started)
        waves = []
        for index, duration in enumerate(durations):
            generated = mel[index : index + 1, voice.ref_frames : duration, :].float().permute(0, 2, 1)
            wave = self.vocoder.decode(generated)
            if voice.rms < TARGET_RMS:
                wave = wave * voice.rms / TARGET_RMS
            waves.append(wave.squeeze(0).float().cpu().numpy())
        timer.add("vocoder", started)
        return waves

    def synthesize(
        self, voice: PreparedVoice, chunks: list[str], params: SynthesisParams, timer: StageTimer
    ) -> list[np.ndarray]:
        """All chunks, in batches of at most `max_batch`; returns one wave per chunk, in order."""
        waves: list[np.ndarray] = []
        with self._lock:
            for start in range(0, len(chunks), self.max_batch):
                waves.extend(self._run_batch(voice, chunks[start : start + self.max_batch], params, timer))
        return waves

    def stream(
        self, voice: PreparedVoice, chunks: list[str], params: SynthesisParams, timer: StageTimer
    ) -> Iterator[np.ndarray]:
        """One chunk at a time, so the first audio exists as early as possible."""
        for chunk in chunks:
            with self._lock:
                wave = self._run_batch(voice, [chunk], params, timer)[0]
            yield wave
