"""The model backend: load F5-TTS and the vocoder once, prepare voices, run batched sampling calls.

Nothing else: no locks, no queues, no requests. `handler.scheduler` owns the device and is the only
caller of `sample` and `vocode`; `handler.plan` turns a request's chunks into the items sampled here.
No `runpod` import, so tests and benchmarks use the backend alone.

`sample` follows upstream `CFM.sample` step for step (same time grid, same ODE solver, same
classifier-free guidance), with three changes that keep every item's audio independent of its
batch-mates: each item brings its own initial noise, its own cfg strength, and its own reference.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from handler.f5_modules import load_f5_modules
from handler.manifest import Manifest

SAMPLE_RATE = 24_000
HOP_LENGTH = 256
N_MELS = 100
TARGET_RMS = 0.1  # f5-tts normalises quiet references to this loudness and scales the output back
MAX_FRAMES = 65_536  # upstream CFM.sample's max_duration
NO_CFG_BELOW = 1e-5  # upstream: a cfg strength below this runs the model once, without guidance


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


def resolve_device(requested: str) -> torch.device:
    if requested == "cuda" or (requested == "auto" and torch.cuda.is_available()):
        return torch.device("cuda")
    return torch.device("cpu")


def resolve_dtype(requested: str, device: torch.device) -> torch.dtype:
    if requested != "auto":
        return getattr(torch, requested)
    if device.type == "cuda" and torch.cuda.get_device_capability(device)[0] >= 7:
        return torch.float16  # what upstream f5-tts uses on Volta and newer
    return torch.float32


def _read_checkpoint(path, device: torch.device, use_ema: bool, sha256: str | None = None) -> dict[str, torch.Tensor]:
    """The model's weights from a checkpoint (safetensors or torch .pt), in the dtype stored there.

    The file is read once: with `sha256` given, the bytes read are hashed and checked before they are
    parsed, so start-up never reads the checkpoint twice (once to verify it, once to load it). A
    safetensors file's tensors are views of that one mapping (no copy before the model's own); its
    header is checked as the safetensors library checks it (offsets contiguous, inside the file)."""
    import hashlib
    import io
    import json
    import mmap
    import os

    # one private mapping of the file: the hash reads it, the tensors are views of it (copy-on-write,
    # so writable for torch, and never written); no buffer the size of the file is allocated
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        data = mmap.mmap(handle.fileno(), size, access=mmap.ACCESS_COPY) if size else bytearray()
    view = memoryview(data)
    if sha256 is not None:
        from handler.manifest import sha256_matches

        sha256_matches(path, hashlib.sha256(view).hexdigest(), sha256)
    if path.suffix == ".safetensors":
        dtypes = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
                  "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
                  "U8": torch.uint8, "BOOL": torch.bool}
        try:
            length = int.from_bytes(view[:8], "little")
            header = json.loads(bytes(view[8 : 8 + length]))
            header.pop("__metadata__", None)
            base, state, end = 8 + length, {}, 0
            for key, info in sorted(header.items(), key=lambda item: item[1]["data_offsets"]):
                dtype, (start, stop) = dtypes[info["dtype"]], info["data_offsets"]
                count = stop - start
                if start != end or base + stop > len(data) or count != torch.Size(info["shape"]).numel() * dtype.itemsize:
                    raise ValueError(f"tensor {key}: data offsets {start}..{stop} do not fit the file")
                end = stop
                if count == 0:
                    tensor = torch.empty(0, dtype=dtype)
                elif (base + start) % dtype.itemsize:  # unaligned (the format pads, but be safe): a copy
                    tensor = torch.frombuffer(bytearray(view[base + start : base + stop]), dtype=dtype)
                else:
                    tensor = torch.frombuffer(data, dtype=dtype, count=count // dtype.itemsize, offset=base + start)
                state[key] = tensor.reshape(info["shape"])
            if base + end != len(data):
                raise ValueError(f"{len(data) - base - end} bytes after the last tensor")
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise ValueError(f"{path}: not a valid safetensors file: {type(exc).__name__}: {exc}") from None
        if device.type != "cpu":
            state = {key: value.to(device) for key, value in state.items()}
        state = {"ema_model_state_dict": state} if use_ema else {"model_state_dict": state}
    else:
        state = torch.load(io.BytesIO(data), map_location=device, weights_only=True)
    del data
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


@contextlib.contextmanager
def random_init_skipped():
    """Build modules without drawing their random initial weights (torch.nn.init's in-place
    initialisers do nothing here), for a model whose every weight the checkpoint then overwrites.
    Drawing 336 M random numbers took 2.9 s of a full-size model's start-up on CPU, for nothing.
    Buffers computed in constructors (rotary frequencies, mel filters) are not initialisers and are
    built as usual; `load_state_dict` stays strict, so a weight the checkpoint lacks is an error,
    never left unset. Start-up builds one model at a time, so patching the module is safe there."""
    saved = {name: value for name, value in vars(torch.nn.init).items()
             if name.endswith("_") and not name.startswith("_") and callable(value)}

    def unchanged(tensor, *args, **kwargs):
        return tensor

    try:
        for name in saved:
            setattr(torch.nn.init, name, unchanged)
        yield
    finally:
        for name, value in saved.items():
            setattr(torch.nn.init, name, value)


def load_vocoder(vocoder_dir, device: torch.device):
    from vocos import Vocos

    with random_init_skipped():  # strict load_state_dict below
        vocoder = Vocos.from_hparams(str(vocoder_dir / "config.yaml"))
    state = torch.load(str(vocoder_dir / "pytorch_model.bin"), map_location="cpu", weights_only=True)
    vocoder.load_state_dict(state)
    return vocoder.eval().to(device)


class ModelBackend:
    def __init__(self, model, vocoder, vocab_char_map: dict[str, int], device, dtype, f5):
        self.model = model
        self.vocoder = vocoder
        self.vocab_char_map = vocab_char_map
        self.device = device
        self.dtype = dtype
        self._f5 = f5

    @classmethod
    def load(cls, manifest: Manifest, device: torch.device, dtype: torch.dtype) -> ModelBackend:
        f5 = load_f5_modules()
        backbone = f5.backbones.get(manifest.backbone)
        if backbone is None:
            raise ValueError(f"unknown backbone {manifest.backbone!r} (known: {', '.join(f5.backbones)})")
        vocab_char_map, vocab_size = f5.get_tokenizer(str(manifest.vocab), "custom")
        with random_init_skipped():  # every weight is overwritten by the checkpoint (strict) below
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
        # read once (hashed from the same bytes when the manifest step left the hash to this read),
        # then copied into a model already in its dtype: a float16 checkpoint lands in float16 on a
        # GPU unchanged, and in float32 on a CPU
        weights = _read_checkpoint(manifest.checkpoint, torch.device("cpu"), manifest.use_ema,
                                   manifest.pending_sha256.pop(manifest.checkpoint, None))
        model = model.to(dtype=dtype)
        model.load_state_dict(weights)
        del weights
        model = model.to(device=device).eval()
        enable_padding_mask(model)
        vocoder = load_vocoder(manifest.vocoder_dir, device)
        return cls(model, vocoder, vocab_char_map, device, dtype, f5)

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
        return PreparedVoice(
            ref_text=prepare_ref_text(ref_text),
            rms=rms,
            mel=mel,
            ref_frames=wave.shape[-1] // HOP_LENGTH,
            duration_s=wave.shape[-1] / SAMPLE_RATE,
        )

    def noise_generator(self, seed: int) -> torch.Generator:
        """A request's own noise source: the same numbers upstream draws after seeding the global RNG."""
        return torch.Generator(device=self.device).manual_seed(seed)

    def draw_noise(self, generator: torch.Generator, frames: int) -> torch.Tensor:
        return torch.randn(frames, N_MELS, generator=generator, device=self.device, dtype=self.dtype)

    # ---- the batched sampling call --------------------------------------------------------------
    @torch.inference_mode()
    def sample(self, items: list[Item]) -> list[torch.Tensor]:
        """One padded, attention-masked sampling call for items of one group. Returns each item's
        generated mel (reference cut off), float32, shape (frames - ref_frames, N_MELS)."""
        if len({item.group for item in items}) != 1:
            raise ValueError("items of different groups cannot share a sampling call")
        first = items[0]
        batch, longest = len(items), max(item.frames for item in items)
        cond = torch.zeros(batch, longest, N_MELS, device=self.device, dtype=self.dtype)
        noise = torch.zeros(batch, longest, N_MELS, device=self.device, dtype=self.dtype)
        cond_lens = []
        for row, item in enumerate(items):
            ref = item.voice.mel[0]
            cond[row, : ref.shape[0]] = ref
            noise[row, : item.frames] = item.noise
            cond_lens.append(ref.shape[0])
        text = self._f5.list_str_to_idx([item.tokens for item in items], self.vocab_char_map).to(self.device)
        frames = torch.tensor([item.frames for item in items], device=self.device, dtype=torch.long)
        cond_mask = self._f5.lens_to_mask(torch.tensor(cond_lens, device=self.device), length=longest).unsqueeze(-1)
        mask = self._f5.lens_to_mask(frames) if batch > 1 else None  # upstream: no mask for one item
        guided = first.cfg_strength >= NO_CFG_BELOW
        strengths = {item.cfg_strength for item in items}
        strength = first.cfg_strength if len(strengths) == 1 else _per_item(items)
        transformer = self.model.transformer

        def flow(t, x):
            if not guided:
                return transformer(x=x, cond=cond, text=text, time=t, mask=mask,
                                   drop_audio_cond=False, drop_text=False, cache=True)
            pred, null_pred = torch.chunk(
                transformer(x=x, cond=cond, text=text, time=t, mask=mask, cfg_infer=True, cache=True), 2, dim=0
            )
            if isinstance(strength, float):
                return pred + (pred - null_pred) * strength
            # per item: multiply in float32 and round once, as a scalar multiply does in half precision
            return pred + ((pred - null_pred).float() * strength).to(pred.dtype)

        steps = first.nfe_step
        t = self._f5.get_epss_timesteps(steps, device=self.device, dtype=self.dtype)
        t = t + first.sway_sampling_coef * (torch.cos(torch.pi / 2 * t) - 1 + t)
        try:
            trajectory = _odeint(flow, noise, t, **self.model.odeint_kwargs)
        finally:
            transformer.clear_cache()
        out = torch.where(cond_mask, cond, trajectory[-1])
        return [out[row, item.voice.ref_frames : item.frames].float() for row, item in enumerate(items)]

    @torch.inference_mode()
    def vocode(self, item: Item, mel: torch.Tensor) -> np.ndarray:
        wave = self.vocoder.decode(mel.T.unsqueeze(0))
        if item.voice.rms < TARGET_RMS:
            wave = wave * item.voice.rms / TARGET_RMS
        return wave.squeeze().float().cpu().numpy()


def _per_item(items: list[Item]) -> torch.Tensor:
    values = [item.cfg_strength for item in items]
    return torch.tensor(values, device=items[0].noise.device, dtype=torch.float32).view(-1, 1, 1)


def _odeint(flow, y0, t, **kwargs):
    from torchdiffeq import odeint  # what upstream CFM.sample integrates with

    return odeint(flow, y0, t, **kwargs)
