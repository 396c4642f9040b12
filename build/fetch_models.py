"""Download, verify and lay out the model files the image bakes; write manifest.json.

Runs in the Dockerfile's weights stage (and anywhere else, to fill a local model folder):

    python build/fetch_models.py --out /models [--model F5TTS_v1_Base | F5TTS_Base | E2TTS_Base | custom] ...

- Downloads with huggingface_hub, from HF_ENDPOINT when set (a mirror), each repo pinned by revision;
  the revision is resolved to its commit and recorded.
- Verifies every file against the hub's own hash: the LFS sha256 for large files, the git blob id
  for small ones; `--expect-sha256 PATH=HASH` adds a pinned value that must match too.
- The architecture comes from f5-tts's own `configs/<model>.yaml` (or a custom config in the
  checkpoint's repo); the vocabulary is f5-tts's `infer/examples/vocab.txt`, as `f5_tts.api` uses,
  unless a custom one is named.
- A token, when needed, is read from the build secret file /run/secrets/hf_token (never a build
  argument), or HF_TOKEN.
- The checkpoint's EMA weights are then written in float16 (safetensors, the key names the worker
  reads, `ema_model.` prefix kept), from the verified bytes; the manifest lists the baked file with
  its own sha256 and, under `source`, the downloaded file's path, size and sha256.
  `--checkpoint-dtype float32` keeps the downloaded file as it is (the Dockerfile's KEEP_FP32=1).
  The conversion needs torch and safetensors: in the Dockerfile it runs in a stage of its own, on
  the worker's venv (`--halve-existing`), so the weights stage stays free of torch.
- Any error ends the build with one line that names the repo and file.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from handler.f5.checkpoint_keys import EMA_PREFIX, is_weight
from handler.f5.modules import f5_package_dir as installed_f5_package_dir
from handler.manifest import MANIFEST_NAME, file_entry, sha256_of, write_manifest

# The one source of the default model, vocoder and ASR repositories and the commits they are pinned
# to. The Dockerfile's build-arg defaults and the docs repeat some of them; tests/test_facts.py holds
# those copies to these names.
# Upstream checkpoints: (repo, file in repo), and the commit each repo is pinned to by default.
# The pins were taken from public references; they could not be checked from this project's
# machines (no access to the hub): a wrong one fails the build with "revision not reachable".
PRESETS = {
    "F5TTS_v1_Base": ("SWivid/F5-TTS", "F5TTS_v1_Base/model_1250000.safetensors"),
    "F5TTS_Base": ("SWivid/F5-TTS", "F5TTS_Base/model_1200000.safetensors"),
    "E2TTS_Base": ("SWivid/E2-TTS", "E2TTS_Base/model_1200000.safetensors"),
}
DEFAULT_MODEL = "F5TTS_v1_Base"  # also the default --custom-config (an f5-tts config name)
VOCODER_REPO = "charactr/vocos-mel-24khz"
ASR_REPO = "openai/whisper-large-v3-turbo"
PINNED_REVISIONS = {
    PRESETS[DEFAULT_MODEL][0]: "84e5a410d9cead4de2f847e7c9369a6440bdfaca",
    VOCODER_REPO: "0feb3fdd929bcd6649e0e7c5a688cf7dd012ef21",
    # the hub's main of 2024-10-04, as pinned by several public projects (not checked from here)
    ASR_REPO: "41f01f3fe87f28c78e2fbf8b568835947dd65ed9",
}
# sha256 of files at a given commit, checked on top of the hub's own hash whenever that commit is
# fetched (LFS sha256 as published by public references, not checked from here: a wrong one fails
# the build with "does not match its pinned sha256").
PINNED_SHA256 = {
    (ASR_REPO, PINNED_REVISIONS[ASR_REPO]): {
        "model.safetensors": "542566a422ae4f3fd23f1ba11add198fca01bbf82e66e6a2857b3f608b1eb9d1",  # 1,617,824,864 bytes
    },
}


def revision_for(repo: str, requested: str) -> str:
    """An explicit revision wins; otherwise the pinned commit, or main for repos with no pin."""
    return requested or PINNED_REVISIONS.get(repo, "main")
VOCODER_FILES = ("config.yaml", "pytorch_model.bin")
# Whisper in the hub's transformers layout: every top-level config, tokenizer and safetensors file
# (not README.md, .gitattributes, or the same weights in other formats), and at least these:
ASR_PATTERNS = ("*.json", "*.txt", "*.safetensors")
ASR_REQUIRED = ("config.json", "generation_config.json", "preprocessor_config.json", "tokenizer_config.json")
SECRET_TOKEN_FILE = Path("/run/secrets/hf_token")


class FetchError(RuntimeError):
    pass


def hub_token() -> str | None:
    if SECRET_TOKEN_FILE.is_file():
        token = SECRET_TOKEN_FILE.read_text(encoding="utf-8").strip()
        return token or None
    return os.environ.get("HF_TOKEN") or None


def git_blob_sha1(path: Path) -> str:
    digest = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    with open(path, "rb") as handle:
        while block := handle.read(8 << 20):
            digest.update(block)
    return digest.hexdigest()


class Hub:
    def __init__(self, token: str | None):
        from huggingface_hub import HfApi

        self.api = HfApi(token=token)
        self.token = token

    def snapshot(self, repo: str, revision: str):
        """Resolve a revision to its commit and the files' hub-side hashes."""
        try:
            info = self.api.model_info(repo, revision=revision, files_metadata=True)
        except Exception as exc:  # noqa: BLE001 - the hub client raises many types; all end the build
            raise FetchError(f"{repo}@{revision}: repository or revision not reachable: {type(exc).__name__}: {exc}") from None
        return info.sha, {sibling.rfilename: sibling for sibling in info.siblings or []}

    def fetch(self, repo: str, revision: str, filename: str, dest: Path, expected: dict[str, str]) -> dict:
        from huggingface_hub import hf_hub_download

        commit, siblings = self.snapshot(repo, revision)
        sibling = siblings.get(filename)
        if sibling is None:
            raise FetchError(f"{repo}@{commit}: file {filename} is not in the repository")
        with tempfile.TemporaryDirectory(dir=dest.parent.parent) as scratch:
            try:
                downloaded = Path(
                    hf_hub_download(repo, filename, revision=commit, local_dir=scratch, token=self.token)
                )
            except Exception as exc:  # noqa: BLE001 - as above
                raise FetchError(f"{repo}@{commit}: download of {filename} failed: {type(exc).__name__}: {exc}") from None
            pins = (expected.get(filename), PINNED_SHA256.get((repo, commit), {}).get(filename))
            verify(repo, filename, downloaded, sibling, *pins)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(downloaded), dest)
        print(f"[fetch] {repo}@{commit[:12]} {filename} -> {dest} ({dest.stat().st_size} bytes, verified)", flush=True)
        return {"repo": repo, "revision": commit, "file": filename}


def verify(repo: str, filename: str, path: Path, sibling, *pinned_sha256: str | None) -> None:
    pins = [pin for pin in pinned_sha256 if pin]
    size = path.stat().st_size
    lfs = getattr(sibling, "lfs", None)
    sha256 = sha256_of(path) if lfs is not None or pins else None  # hashed once, used for every check
    if lfs is not None:
        expected = lfs.sha256 if hasattr(lfs, "sha256") else lfs["sha256"]
        actual = sha256
        if actual != expected:
            raise FetchError(f"{repo}: {filename} has sha256 {actual}, the hub says {expected}: refusing to bake it")
    elif getattr(sibling, "blob_id", None):
        actual = git_blob_sha1(path)
        if actual != sibling.blob_id:
            raise FetchError(f"{repo}: {filename} has git blob id {actual}, the hub says {sibling.blob_id}: refusing to bake it")
    else:
        raise FetchError(f"{repo}: the hub gave no hash for {filename}; cannot verify it")
    if sibling.size is not None and size != sibling.size:
        raise FetchError(f"{repo}: {filename} is {size} bytes, the hub says {sibling.size}")
    for pin in pins:
        if sha256 != pin:
            raise FetchError(f"{repo}: {filename} has sha256 {sha256}, which does not match its pinned sha256 {pin}")


HALF = "float16"


def half_name(source: Path) -> str:
    return source.name.removesuffix(source.suffix) + ".fp16.safetensors"


def ema_weights_half(data: bytes, suffix: str, label: str) -> dict:
    """The EMA weights of a checkpoint's bytes, floating point ones in float16, named as the worker
    reads them (`ema_model.<module path>`). Refuses values that float16 cannot hold."""
    import torch

    if suffix == ".safetensors":
        from safetensors.torch import load

        ema = load(data)
    else:
        import io

        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        if not isinstance(state, dict) or "ema_model_state_dict" not in state:
            raise FetchError(f"{label}: a .pt checkpoint without ema_model_state_dict; build with KEEP_FP32=1 to bake it as it is")
        ema = state["ema_model_state_dict"]
    out = {}
    for key, value in ema.items():
        name = key.removeprefix(EMA_PREFIX)
        if not is_weight(name):  # the same entries the worker drops when it loads (handler/f5/checkpoint_keys.py)
            continue
        if value.is_floating_point() and value.dtype != torch.float16:
            half = value.to(torch.float16)
            if not bool(torch.isfinite(half).all()) and bool(torch.isfinite(value).all()):
                raise FetchError(f"{label}: tensor {key} has values beyond float16's range; build with KEEP_FP32=1")
            value = half
        out[EMA_PREFIX + name] = value.contiguous()
    if not out:
        raise FetchError(f"{label}: no weights found in the checkpoint")
    return out


def halve_checkpoint(out: Path) -> Path:
    """Rewrite the checkpoint of a fetched folder in float16, in place, and update manifest.json.

    The downloaded file is read once: hashed against the manifest (which holds the hash the hub
    vouched for), parsed from the same bytes, converted, and deleted once the baked file is written."""
    import hashlib

    manifest_path = out / MANIFEST_NAME
    data = json.loads(manifest_path.read_text(encoding="utf-8"))
    relative = data["model"]["checkpoint"]
    [entry] = [item for item in data["files"] if item["path"] == relative]
    if entry.get("dtype") == HALF:
        raise FetchError(f"{relative} is already float16")
    source = out / relative
    label = f"{entry.get('repo', '')}: {entry.get('file', relative)}"
    raw = source.read_bytes()
    actual = hashlib.sha256(raw).hexdigest()
    if actual != entry["sha256"]:
        raise FetchError(f"{label} has sha256 {actual}, the manifest says {entry['sha256']}: refusing to convert it")
    weights = ema_weights_half(raw, source.suffix, label)
    del raw
    from safetensors.torch import save

    # one metadata entry: safetensors writes several in no fixed order, and the same source must
    # give the same bytes (a reproducible layer)
    baked = save(weights, metadata={"source_sha256": actual})
    del weights
    target = source.with_name(half_name(source))
    target.write_bytes(baked)
    baked_sha256 = hashlib.sha256(baked).hexdigest()
    source.unlink()
    new_relative = target.relative_to(out).as_posix()
    entry.update(
        path=new_relative, size=len(baked), sha256=baked_sha256, dtype=HALF,
        source={"path": relative, "size": entry["size"], "sha256": actual},
    )
    data["model"]["checkpoint"] = new_relative
    write_manifest(out, model=data["model"], vocoder=data["vocoder"],
                   asr_dir=(data.get("asr") or {}).get("dir"), files=data["files"])
    print(f"[fetch] {relative} ({entry['source']['size']} bytes, sha256 {actual[:12]}) -> {new_relative} "
          f"({len(baked)} bytes, float16, sha256 {baked_sha256[:12]})", flush=True)
    return target


def check_asr_files(repo: str, commit: str, files: list[str]) -> None:
    """A Whisper repo must hold what handler/asr.py loads, before a byte of it is downloaded."""
    missing = [name for name in ASR_REQUIRED if name not in files]
    if not any(name.endswith(".safetensors") for name in files):
        missing.append("*.safetensors (the weights)")
    if "tokenizer.json" not in files and not {"vocab.json", "merges.txt"} <= set(files):
        missing.append("tokenizer.json or vocab.json + merges.txt")
    if missing:
        raise FetchError(f"{repo}@{commit}: not a Whisper model in transformers layout: missing {', '.join(missing)}")


def f5_package_dir() -> Path:
    try:
        return installed_f5_package_dir()
    except ImportError:
        raise FetchError("f5-tts must be installed where this runs (its configs and vocab are used)") from None


def read_arch(config_path: Path) -> tuple[str, dict]:
    try:
        model = yaml.safe_load(config_path.read_text(encoding="utf-8"))["model"]
        backbone, arch = str(model["backbone"]), dict(model["arch"])
        mel = model.get("mel_spec", {}).get("mel_spec_type", "vocos")
    except (OSError, KeyError, TypeError, yaml.YAMLError) as exc:
        raise FetchError(f"model config {config_path} unreadable: {type(exc).__name__}: {exc}") from None
    if mel != "vocos":
        raise FetchError(f"model config {config_path}: mel_spec_type {mel!r}; only vocos models are served")
    return backbone, arch


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"{', '.join(PRESETS)} or custom")
    parser.add_argument("--revision", default="", help="revision of the model repo (a commit; default: the pin)")
    parser.add_argument("--custom-repo", default="")
    parser.add_argument("--custom-checkpoint", default="", help="file in the custom repo (.safetensors or .pt)")
    parser.add_argument("--custom-vocab", default="", help="vocab.txt in the custom repo (default: f5-tts's)")
    parser.add_argument("--custom-config", default=DEFAULT_MODEL, help="an f5-tts config name, or a .yaml in the custom repo")
    parser.add_argument("--vocoder-repo", default=VOCODER_REPO)
    parser.add_argument("--vocoder-revision", default="")
    parser.add_argument("--asr", choices=("0", "1"), default="0", help="1: bake the Whisper model")
    parser.add_argument("--asr-repo", default=ASR_REPO)
    parser.add_argument("--asr-revision", default="")
    parser.add_argument("--expect-sha256", action="append", default=[], metavar="FILE=SHA256")
    parser.add_argument("--checkpoint-dtype", choices=(HALF, "float32"), default=HALF,
                        help="float16: bake the EMA weights in float16 (needs torch); float32: the file as published")
    parser.add_argument("--halve-existing", action="store_true",
                        help="only convert the checkpoint of the folder --out, fetched before with --checkpoint-dtype float32")
    return parser.parse_args(argv)


def fetch_all(args) -> Path:
    out: Path = args.out
    if out.exists() and any(out.iterdir()):
        raise FetchError(f"{out} is not empty; fetch into a new folder")
    out.mkdir(parents=True, exist_ok=True)
    expected = dict(item.split("=", 1) for item in args.expect_sha256)
    hub = Hub(hub_token())
    package = f5_package_dir()
    files, sources = [], {}

    if args.model == "custom":
        if not args.custom_repo or not args.custom_checkpoint:
            raise FetchError("--model custom needs --custom-repo and --custom-checkpoint")
        repo, checkpoint_file, name = args.custom_repo, args.custom_checkpoint, args.custom_repo
    elif args.model in PRESETS:
        (repo, checkpoint_file), name = PRESETS[args.model], args.model
    else:
        raise FetchError(f"unknown model {args.model!r}: use one of {', '.join(PRESETS)} or custom")

    revision = revision_for(repo, args.revision)
    checkpoint = out / "f5" / Path(checkpoint_file).name
    sources[checkpoint] = hub.fetch(repo, revision, checkpoint_file, checkpoint, expected)

    vocab = out / "f5" / "vocab.txt"
    if args.model == "custom" and args.custom_vocab:
        sources[vocab] = hub.fetch(repo, revision, args.custom_vocab, vocab, expected)
    else:
        shutil.copyfile(package / "infer" / "examples" / "vocab.txt", vocab)
        sources[vocab] = {"repo": "f5-tts (package)", "revision": _f5_version(), "file": "infer/examples/vocab.txt"}

    config_name = args.custom_config if args.model == "custom" else args.model
    if config_name.endswith((".yaml", ".yml")):
        config_path = out / "f5" / "config.yaml"
        sources[config_path] = hub.fetch(repo, revision, config_name, config_path, expected)
    else:
        config_path = package / "configs" / f"{config_name}.yaml"
        if not config_path.is_file():
            raise FetchError(f"f5-tts has no config named {config_name!r} (see f5_tts/configs/)")
    backbone, arch = read_arch(config_path)

    for filename in VOCODER_FILES:
        dest = out / "vocos" / filename
        sources[dest] = hub.fetch(args.vocoder_repo, revision_for(args.vocoder_repo, args.vocoder_revision), filename, dest, expected)

    asr_dir = None
    if args.asr == "1":
        commit, siblings = hub.snapshot(args.asr_repo, revision_for(args.asr_repo, args.asr_revision))
        from fnmatch import fnmatch

        wanted = sorted(f for f in siblings if "/" not in f and any(fnmatch(f, p) for p in ASR_PATTERNS))
        check_asr_files(args.asr_repo, commit, wanted)
        for filename in wanted:
            dest = out / "whisper" / filename
            sources[dest] = hub.fetch(args.asr_repo, commit, filename, dest, expected)
        asr_dir = "whisper"

    for path, source in sources.items():
        files.append(file_entry(out, path, **source))
    write_manifest(
        out,
        model={
            "name": name,
            "backbone": backbone,
            "arch": arch,
            "checkpoint": checkpoint.relative_to(out).as_posix(),
            "vocab": vocab.relative_to(out).as_posix(),
            "use_ema": True,
        },
        vocoder={"dir": "vocos"},
        asr_dir=asr_dir,
        files=files,
    )
    if args.checkpoint_dtype == HALF:
        halve_checkpoint(out)
        files = json.loads((out / MANIFEST_NAME).read_text(encoding="utf-8"))["files"]
    total = sum(entry["size"] for entry in files)
    print(f"[fetch] wrote {out / 'manifest.json'}: {len(files)} files, {total / 1e6:.1f} MB", flush=True)
    return out


def _f5_version() -> str:
    from importlib.metadata import version

    return version("f5-tts")


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        if args.halve_existing:
            halve_checkpoint(args.out)
        else:
            fetch_all(args)
    except FetchError as exc:
        print(f"[fetch] FAILED: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
