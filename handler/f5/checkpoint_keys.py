"""Checkpoint entries that are not model weights. No imports: the build's fetch stage (which has no
torch) reads these too, when it bakes a checkpoint in float16 (build/fetch_models.py)."""

EMA_PREFIX = "ema_model."
# EMA bookkeeping that upstream's trainer stores next to the EMA weights
EMA_BOOKKEEPING = ("initted", "step")
# buffers that old checkpoints stored and the current f5-tts code computes when it builds the model
RECOMPUTED = (
    "mel_spec.mel_stft.mel_scale.fb",
    "mel_spec.mel_stft.spectrogram.window",
    "transformer.mel_spec.mel_stft.mel_scale.fb",
)


def is_weight(name: str) -> bool:
    """Whether a checkpoint entry (its `ema_model.` prefix removed) is a weight the model loads."""
    return name not in EMA_BOOKKEEPING and name not in RECOMPUTED
