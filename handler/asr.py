"""Optional speech recognition for references sent without `ref_text`.

Only used when the image bakes a Whisper model (manifest "asr"). Loaded at start-up from the local
folder with the `transformers` pipeline, never from the network.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch


def load_transcriber(model_dir: Path, device: torch.device) -> Callable[[np.ndarray], str]:
    from transformers import pipeline

    dtype = torch.float16 if device.type == "cuda" else torch.float32
    asr = pipeline(
        "automatic-speech-recognition",
        model=str(model_dir),
        torch_dtype=dtype,
        device=device,
        model_kwargs={"local_files_only": True},
    )

    def transcribe(wave_24k: np.ndarray) -> str:
        # Whisper wants 16 kHz; the pipeline resamples when told the rate
        result = asr(
            {"raw": wave_24k.astype(np.float32), "sampling_rate": 24_000},
            generate_kwargs={"task": "transcribe"},
            return_timestamps=False,
        )
        return str(result["text"]).strip()

    return transcribe
