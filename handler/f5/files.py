"""The F5-TTS part of manifest.json: which files make the model, and where they are.

  "model":   {"name": "F5TTS_v1_Base", "backbone": "DiT", "arch": {...backbone kwargs...},
              "checkpoint": "f5/model.safetensors", "vocab": "f5/vocab.txt", "use_ema": true},
  "vocoder": {"dir": "vocos"}     (config.yaml and pytorch_model.bin of a Vocos model)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from handler.errors import StartupError
from handler.manifest import MANIFEST_NAME, Manifest


@dataclass(frozen=True)
class F5Files:
    backbone: str
    arch: dict[str, Any]
    checkpoint: Path
    vocab: Path
    use_ema: bool
    vocoder_dir: Path

    @property
    def vocoder_config(self) -> Path:
        return self.vocoder_dir / "config.yaml"

    @property
    def vocoder_weights(self) -> Path:
        return self.vocoder_dir / "pytorch_model.bin"


def f5_files(manifest: Manifest, check_present: bool = True) -> F5Files:
    """The model's files as the manifest names them; StartupError if the section is malformed or (with
    `check_present`) a file is missing."""
    try:
        model = manifest.model
        files = F5Files(
            backbone=str(model.get("backbone", "DiT")),
            arch=dict(model["arch"]),
            checkpoint=manifest.path(model["checkpoint"], "checkpoint"),
            vocab=manifest.path(model["vocab"], "vocab"),
            use_ema=bool(model.get("use_ema", True)),
            vocoder_dir=manifest.path(manifest.data["vocoder"]["dir"], "vocoder"),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise StartupError(
            f"model manifest unreadable: {manifest.root / MANIFEST_NAME}: {type(exc).__name__}: {exc}"
        ) from None
    for needed in (files.checkpoint, files.vocab, files.vocoder_config, files.vocoder_weights) if check_present else ():
        if not needed.is_file():
            raise StartupError(f"model file missing: {needed}")
    return files
