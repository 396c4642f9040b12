"""Which model backend a worker serves, by name: `F5_BACKEND` (default `f5`).

A backend is a module with two functions (handler/f5/__init__.py is the example):
- `check(manifest) -> tuple[Path, ...]`: check its part of the model folder's manifest; return the
  files whose sha256 it verifies itself while loading them;
- `load(manifest, device, dtype) -> handler.model.ModelBackend`.
A name in BUILT_IN, or any importable module path (a fork's own package, a test's tone generator).
"""

from __future__ import annotations

import importlib
from types import ModuleType

from handler.errors import StartupError

BUILT_IN = {"f5": "handler.f5"}


def backend_module(name: str) -> ModuleType:
    path = BUILT_IN.get(name, name)
    try:
        module = importlib.import_module(path)
    except ImportError as exc:
        known = ", ".join(BUILT_IN)
        raise StartupError(f"F5_BACKEND={name!r}: cannot import {path} ({exc}); built in: {known}") from None
    missing = [function for function in ("check", "load") if not callable(getattr(module, function, None))]
    if missing:
        raise StartupError(f"F5_BACKEND={name!r}: {path} has no {' or '.join(missing)} function")
    return module
