"""The baked model manifest: what the image carries, and the check that it is all there.

`manifest.json` sits at the root of the model directory. The build writes it (build/fetch_models.py);
the worker reads it at start-up and refuses to start when a file is missing, has the wrong size or,
with hash verification on, the wrong sha256.

{
  "model":   {"name": "F5TTS_v1_Base", ...what the model backend reads (handler/f5/files.py)...},
  "asr":     {"dir": "whisper"} | null,
  "files":   [{"repo": "...", "revision": "...", "file": "...", "path": "f5/model.safetensors",
               "size": 123, "sha256": "..."}]
}

Every file the worker reads is listed in `files`, so this module checks all of them without knowing
what they are; the backend says which files it hashes itself, from the bytes it loads.

A checkpoint the build converted (float16 by default) has `"dtype": "float16"` in its files[] entry
and `"source": {"path", "size", "sha256"}`: the file downloaded and verified against the hub,
before conversion. `sha256` is always the hash of the file on disk.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from handler.errors import StartupError

MANIFEST_NAME = "manifest.json"


@dataclass(frozen=True)
class Manifest:
    """The generic part of manifest.json. The `model` section (and any other top-level section, such
    as `vocoder`) belongs to the model backend, which reads it (handler/f5/files.py for F5-TTS)."""

    root: Path
    model_name: str
    data: dict[str, Any]  # the whole manifest, as written
    asr_dir: Path | None
    files: list[dict[str, Any]]
    # sha256 values `verify_files` left to whoever reads the file next (path -> expected hash): the
    # checkpoint is hashed from the same bytes that are loaded, so it is read once at start-up
    pending_sha256: dict[Path, str] = field(default_factory=dict, compare=False)

    @property
    def model(self) -> dict[str, Any]:
        return self.data["model"]

    def path(self, relative: str, what: str) -> Path:
        """A path the manifest names, resolved under the model folder (never outside it)."""
        return _inside(self.root, relative, what)

    def entry_for(self, path: Path) -> dict[str, Any] | None:
        """The files[] record of a file under the model folder, if the manifest lists it."""
        for entry in self.files:
            if _inside(self.root, entry["path"], "file") == path.resolve():
                return entry
        return None


def sha256_of(path: Path, block: int = 8 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(block):
            digest.update(chunk)
    return digest.hexdigest()


def _inside(root: Path, relative: str, what: str) -> Path:
    path = (root / relative).resolve()
    if root.resolve() not in path.parents and path != root.resolve():
        raise StartupError(f"manifest: {what} path {relative!r} points outside {root}")
    return path


def read_manifest(model_dir: Path) -> Manifest:
    path = model_dir / MANIFEST_NAME
    if not path.is_file():
        raise StartupError(f"model manifest missing: {path} (set F5_MODEL_DIR to the folder that holds it)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        asr = data.get("asr") or None
        manifest = Manifest(
            root=model_dir,
            model_name=str(data["model"]["name"]),
            data=data,
            asr_dir=_inside(model_dir, asr["dir"], "asr") if asr else None,
            files=[dict(entry) for entry in data["files"]],
        )
        for entry in manifest.files:
            for key in ("path", "size", "sha256"):
                if key not in entry:
                    raise KeyError(f"files[].{key}")
    except StartupError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StartupError(f"model manifest unreadable: {path}: {type(exc).__name__}: {exc}") from None
    return manifest


def sha256_matches(path: Path, actual: str, expected: str) -> None:
    if actual != expected:
        raise StartupError(f"model file has wrong sha256: {path}: {actual}, manifest says {expected}")


def verify_files(manifest: Manifest, check_hashes: bool, defer: tuple[Path, ...] = ()) -> int:
    """Check every listed file; return the total bytes checked. Raises StartupError naming the file.

    Files in `defer` get their size checked now and their expected sha256 put in
    `manifest.pending_sha256`, for the loader to check against the bytes it reads anyway."""
    total = 0
    deferred = {path.resolve() for path in defer}
    for entry in manifest.files:
        path = _inside(manifest.root, entry["path"], "file")
        if not path.is_file():
            raise StartupError(f"model file missing: {path} (listed in {MANIFEST_NAME})")
        size = path.stat().st_size
        if size != int(entry["size"]):
            raise StartupError(f"model file has wrong size: {path}: {size} bytes, manifest says {entry['size']}")
        if check_hashes and path in deferred:
            manifest.pending_sha256[path] = entry["sha256"]
        elif check_hashes:
            sha256_matches(path, sha256_of(path), entry["sha256"])
        total += size
    return total


def file_entry(root: Path, path: Path, *, repo: str = "", revision: str = "", file: str = "") -> dict[str, Any]:
    """One `files[]` record for a file under `root`, hashed now."""
    return {
        "repo": repo,
        "revision": revision,
        "file": file or path.name,
        "path": path.relative_to(root).as_posix(),
        "size": path.stat().st_size,
        "sha256": sha256_of(path),
    }


def write_manifest(root: Path, *, model: dict[str, Any], asr_dir: str | None, files: list[dict], **sections: Any) -> Path:
    """Write manifest.json; `sections` are the backend's own top-level sections (F5-TTS: `vocoder`)."""
    path = root / MANIFEST_NAME
    data = {"model": model, **sections, "asr": {"dir": asr_dir} if asr_dir else None, "files": files}
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
