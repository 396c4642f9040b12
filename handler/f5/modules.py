"""Import the f5-tts model classes without running `f5_tts.model/__init__.py`.

That `__init__` imports the trainer, which drags in wandb, accelerate, ema_pytorch and datasets:
hundreds of MB that inference never uses. We register `f5_tts.model` as a bare package pointing at
the same folder, so `f5_tts.model.cfm` and friends import exactly as published, minus the trainer.
If the real package was already imported (by a benchmark of the upstream API, say), it is reused.
While they import, the modules that inference never calls are served by stand-ins
(handler.f5.deferred_imports): the same code, seconds less start-up.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from pathlib import Path

from handler.f5.deferred_imports import deferred


def f5_package_dir() -> Path:
    spec = importlib.util.find_spec("f5_tts")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("f5-tts is not installed (pip install f5-tts)")
    return Path(next(iter(spec.submodule_search_locations)))


def _register_bare_model_package() -> None:
    if "f5_tts.model" in sys.modules:
        return
    model_dir = f5_package_dir() / "model"
    package = types.ModuleType("f5_tts.model")
    package.__path__ = [str(model_dir)]
    package.__package__ = "f5_tts.model"
    sys.modules["f5_tts.model"] = package


def load_f5_modules() -> types.SimpleNamespace:
    """Return the classes and helpers the engine needs, imported from the installed f5-tts."""
    _register_bare_model_package()
    with deferred():
        cfm = importlib.import_module("f5_tts.model.cfm")
        utils = importlib.import_module("f5_tts.model.utils")
        backbones = {
            "DiT": importlib.import_module("f5_tts.model.backbones.dit").DiT,
            "UNetT": importlib.import_module("f5_tts.model.backbones.unett").UNetT,
        }
    return types.SimpleNamespace(
        CFM=cfm.CFM,
        backbones=backbones,
        convert_char_to_pinyin=utils.convert_char_to_pinyin,
        get_tokenizer=utils.get_tokenizer,
        list_str_to_idx=utils.list_str_to_idx,
        lens_to_mask=utils.lens_to_mask,
        get_epss_timesteps=utils.get_epss_timesteps,
    )


def f5_package_file(relative: str) -> Path:
    """Path of a data file shipped inside the f5_tts package (example voices, vocab)."""
    return f5_package_dir() / relative
