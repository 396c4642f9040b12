"""F5-TTS + Vocos: the model backend this worker serves (see handler.model for the protocol).

Everything that knows F5-TTS lives in this package: the manifest section it reads (files.py), the
checkpoint reader (checkpoint.py, checkpoint_keys.py), f5-tts's modules imported without its trainer
(modules.py, deferred_imports.py), the chunk durations and items (plan.py), the memory estimate
(memory.py) and the backend itself (backend.py). Importing this package imports nothing heavy.
"""

from __future__ import annotations

from pathlib import Path


def check(manifest) -> tuple[Path, ...]:
    """Check the manifest's F5 section; return the files whose sha256 this backend checks itself,
    from the bytes it loads (the checkpoint: read once at start-up). That the files exist is
    checked with every other listed file (handler.manifest.verify_files), and again when loading."""
    from handler.f5.files import f5_files

    return (f5_files(manifest, check_present=False).checkpoint,)


def load(manifest, device, dtype):
    """The loaded backend, with the facts the start-up line shows."""
    from handler.f5.backend import F5Backend
    from handler.f5.files import f5_files

    files = f5_files(manifest)
    entry = manifest.entry_for(files.checkpoint) or {}
    pending = manifest.pending_sha256.pop(files.checkpoint, None)
    facts = {"checkpoint": entry.get("dtype", "as-published"), "sha256": str(pending is not None)}
    return F5Backend.load(files, device, dtype, checkpoint_sha256=pending, facts=facts)
