"""F5-TTS with the Vocos vocoder as a model backend (handler.model.ModelBackend).

Load once, prepare voices, plan a request's chunks, run batched sampling calls, vocode. No locks, no
queues: `handler.scheduler` owns the device and is the only caller of `sample` and `vocode`.

`sample` follows upstream `CFM.sample` step for step (same time grid, same ODE solver, same
classifier-free guidance), with three changes that keep every item's audio independent of its
batch-mates: each item brings its own initial noise, its own cfg strength, and its own reference.
One more, for bfloat16 only: upstream makes the time grid in the model's dtype, and bfloat16 cannot
hold it strictly increasing (1 - cos(πt/2) rounds to 0 near t = 0), so there it is made in float32.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from handler.f5.checkpoint import load_vocoder, random_init_skipped, read_checkpoint
from handler.f5.files import F5Files
from handler.f5.memory import CostModel
from handler.f5.modules import f5_package_file, load_f5_modules
from handler.f5.plan import (
    HOP_LENGTH,
    N_MELS,
    NO_CFG_BELOW,
    SAMPLE_RATE,
    SLOW_BELOW_BYTES,
    Item,
    PreparedVoice,
    RequestPlan,
    chunk_bytes_for,
    max_chunk_bytes,
    prepare_ref_text,
)
from handler.model import Preset, SynthesisParams

TARGET_RMS = 0.1  # f5-tts normalises quiet references to this loudness and scales the output back
BUILTIN_PRESETS = {  # the example voices f5-tts ships, with their exact transcripts
    "en": ("infer/examples/basic/basic_ref_en.wav", "Some call me nature, others call me mother nature.", "en"),
    "zh": ("infer/examples/basic/basic_ref_zh.wav", "对，这就是我，万人敬仰的太乙真人。", "zh"),
}


def enable_padding_mask(model) -> int:
    """Make attention ignore padding, so an item's audio does not depend on its batch-mates.

    f5-tts's attention processors are plain objects (not modules) hanging off each Attention module,
    so they are found through `.processor`. A single-item batch passes no mask, so this costs nothing
    there. Returns how many were switched.
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


def builtin_presets() -> dict[str, Preset]:
    return {name: Preset(name, f5_package_file(relative), text, language)
            for name, (relative, text, language) in BUILTIN_PRESETS.items()}


class F5Backend:
    sample_rate = SAMPLE_RATE
    shortest_chunk_bytes = SLOW_BELOW_BYTES  # upstream speaks shorter text at speed 0.3

    def __init__(self, model, vocoder, vocab_char_map: dict[str, int], device, dtype, f5, facts: dict | None = None):
        self.model = model
        self.vocoder = vocoder
        self.vocab_char_map = vocab_char_map
        self.device = device
        self.dtype = dtype
        self._f5 = f5
        self._facts = facts or {}
        self.cost = CostModel.for_transformer(model.transformer, torch.finfo(dtype).bits // 8)

    @classmethod
    def load(cls, files: F5Files, device: torch.device, dtype: torch.dtype, checkpoint_sha256: str | None = None,
             facts: dict | None = None) -> F5Backend:
        f5 = load_f5_modules()
        backbone = f5.backbones.get(files.backbone)
        if backbone is None:
            raise ValueError(f"unknown backbone {files.backbone!r} (known: {', '.join(f5.backbones)})")
        vocab_char_map, vocab_size = f5.get_tokenizer(str(files.vocab), "custom")
        with random_init_skipped():  # every weight is overwritten by the checkpoint (strict) below
            model = f5.CFM(
                transformer=backbone(**files.arch, text_num_embeds=vocab_size, mel_dim=N_MELS),
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
        weights = read_checkpoint(files.checkpoint, files.use_ema, checkpoint_sha256)
        model = model.to(dtype=dtype)
        model.load_state_dict(weights)
        del weights
        model = model.to(device=device).eval()
        enable_padding_mask(model)
        vocoder = load_vocoder(files.vocoder_dir, device)
        return cls(model, vocoder, vocab_char_map, device, dtype, f5, facts)

    # ---- what start-up and the batching policy read -------------------------------------------------
    @property
    def device_kind(self) -> str:
        return self.device.type

    def describe(self) -> dict[str, str]:
        params = sum(p.numel() for p in self.model.parameters())
        return {"params_m": f"{params / 1e6:.1f}", "vocab": str(len(self.vocab_char_map)), **self._facts}

    def presets(self) -> dict[str, Preset]:
        return builtin_presets()

    def batch_bytes(self, count: int, longest: int) -> float:
        return self.cost.batch_bytes(count, longest)

    def usage(self, text: str, samples: int) -> tuple[int, int]:
        return len(self.tokens(text)), samples // HOP_LENGTH  # text tokens (pinyin for Chinese), mel frames

    def free_memory_bytes(self) -> float | None:
        if self.device.type != "cuda":
            return None
        free, _ = torch.cuda.mem_get_info(self.device)
        return float(free)

    def device_memory(self) -> dict[str, float] | None:
        if self.device.type != "cuda":
            return None
        return {"allocated": float(torch.cuda.memory_allocated(self.device)),
                "reserved": float(torch.cuda.memory_reserved(self.device)),
                "total": float(torch.cuda.get_device_properties(self.device).total_memory)}

    def synchronize(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def release_memory(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    # ---- text -------------------------------------------------------------------------------
    def tokens(self, text: str) -> list[str]:
        return self._f5.convert_char_to_pinyin([text])[0]

    def unknown_characters(self, text: str) -> list[str]:
        """Characters (after pinyin conversion) that the model's vocabulary does not have."""
        return sorted({token for token in self.tokens(text) if token not in self.vocab_char_map})

    def text_budget(self, voice: PreparedVoice, speed: float, seconds: float | None = None) -> int:
        return max_chunk_bytes(voice, speed) if seconds is None else chunk_bytes_for(voice, speed, seconds)

    # ---- voices and plans ---------------------------------------------------------------------------
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

    def plan(self, voice: PreparedVoice, chunks: list[str], params: SynthesisParams, request: int) -> RequestPlan:
        return RequestPlan(self, voice, chunks, params, request)

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

        t = self.time_grid(first.nfe_step, first.sway_sampling_coef)
        try:
            trajectory = _odeint(flow, noise, t, **self.model.odeint_kwargs)
        finally:
            transformer.clear_cache()
        out = torch.where(cond_mask, cond, trajectory[-1])
        return [out[row, item.voice.ref_frames : item.frames].float() for row, item in enumerate(items)]

    def time_grid(self, steps: int, sway: float) -> torch.Tensor:
        return _time_grid(self._f5.get_epss_timesteps, steps, sway, self.device, self.dtype)

    @torch.inference_mode()
    def vocode(self, item: Item, mel: torch.Tensor) -> np.ndarray:
        wave = self.vocoder.decode(mel.T.unsqueeze(0))
        if item.voice.rms < TARGET_RMS:
            wave = wave * item.voice.rms / TARGET_RMS
        return wave.squeeze().float().cpu().numpy()


@functools.lru_cache(maxsize=256)
def _time_grid(timesteps, steps: int, sway: float, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Upstream's time grid (epss steps, then sway sampling), in the model's dtype as upstream makes
    it, unless that dtype cannot hold it strictly increasing (bfloat16): then in float32 (the ODE
    solver checks the grid in its own dtype and hands the model each t in the model's dtype).
    Cached: a few grids serve every call, and the check below waits for the device once per grid."""
    for grid_dtype in (dtype, torch.float32):
        t = timesteps(steps, device=device, dtype=grid_dtype)
        t = t + sway * (torch.cos(torch.pi / 2 * t) - 1 + t)
        if bool((t[1:] > t[:-1]).all()):
            return t
    raise ValueError(f"no strictly increasing time grid for {steps} steps and sway {sway}")


def _per_item(items: list[Item]) -> torch.Tensor:
    values = [item.cfg_strength for item in items]
    return torch.tensor(values, device=items[0].noise.device, dtype=torch.float32).view(-1, 1, 1)


def _odeint(flow, y0, t, **kwargs):
    from torchdiffeq import odeint  # what upstream CFM.sample integrates with

    return odeint(flow, y0, t, **kwargs)
