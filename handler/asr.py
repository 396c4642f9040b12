"""Optional speech recognition for references sent without `ref_text`.

Only used when the image bakes a Whisper model (manifest "asr": the folder holds the hub repo's
files as published: config.json, generation_config.json, model.safetensors, preprocessor_config.json
and the tokenizer files). Loaded once at start-up from that folder with `transformers`, offline:
every load passes local_files_only, so a missing file fails the start-up instead of reaching for
the network. The language is detected by Whisper; the task is always transcription.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from handler import audio_dsp

WHISPER_RATE = 16_000


def load_transcriber(model_dir: Path, device: torch.device, input_rate: int) -> Callable[[np.ndarray], str]:
    """Load Whisper from `model_dir` (no network) and return `transcribe(wave) -> text`, for waves at
    `input_rate` (references arrive prepared at the model's rate, handler.voices)."""
    from transformers import WhisperForConditionalGeneration, WhisperProcessor
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # start-up prints one line per step; no deprecation chatter
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    processor = WhisperProcessor.from_pretrained(str(model_dir), local_files_only=True)
    model = WhisperForConditionalGeneration.from_pretrained(str(model_dir), local_files_only=True, dtype=dtype)
    model = model.to(device).eval()
    lock = threading.Lock()  # one clip at a time: transcripts are rare (cached per clip) and short

    def transcribe(wave: np.ndarray) -> str:
        wave = audio_dsp.resample(np.asarray(wave, dtype=np.float32), input_rate, WHISPER_RATE)
        features = processor.feature_extractor(wave, sampling_rate=WHISPER_RATE, return_tensors="pt").input_features
        with lock, torch.inference_mode():
            ids = model.generate(features.to(device, dtype), task="transcribe")
        return str(processor.tokenizer.batch_decode(ids, skip_special_tokens=True)[0]).strip()

    transcribe(np.zeros(input_rate, dtype=np.float32))  # fail now, not in a job; warms the GPU up too
    return transcribe
