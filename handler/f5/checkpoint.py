"""Read an F5-TTS checkpoint and the Vocos vocoder from local files, and build modules without
drawing random weights that the checkpoint overwrites anyway."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import mmap
import os
from pathlib import Path

import torch

from handler.f5.checkpoint_keys import EMA_PREFIX, is_weight
from handler.manifest import sha256_matches


def read_checkpoint(path: Path, use_ema: bool, sha256: str | None = None) -> dict[str, torch.Tensor]:
    """The model's weights from a checkpoint (safetensors or torch .pt), in the dtype stored there.

    The file is read once: with `sha256` given, the bytes read are hashed and checked before they are
    parsed, so start-up never reads the checkpoint twice (once to verify it, once to load it). A
    safetensors file's tensors are views of that one mapping (no copy before the model's own); its
    header is checked as the safetensors library checks it (offsets contiguous, inside the file)."""
    # one private mapping of the file: the hash reads it, the tensors are views of it (copy-on-write,
    # so writable for torch, and never written); no buffer the size of the file is allocated
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        data = mmap.mmap(handle.fileno(), size, access=mmap.ACCESS_COPY) if size else bytearray()
    view = memoryview(data)
    if sha256 is not None:
        sha256_matches(path, hashlib.sha256(view).hexdigest(), sha256)
    if path.suffix == ".safetensors":
        dtypes = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
                  "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
                  "U8": torch.uint8, "BOOL": torch.bool}
        try:
            length = int.from_bytes(view[:8], "little")
            header = json.loads(bytes(view[8 : 8 + length]))
            header.pop("__metadata__", None)
            base, state, end = 8 + length, {}, 0
            for key, info in sorted(header.items(), key=lambda item: item[1]["data_offsets"]):
                dtype, (start, stop) = dtypes[info["dtype"]], info["data_offsets"]
                count = stop - start
                if start != end or base + stop > len(data) or count != torch.Size(info["shape"]).numel() * dtype.itemsize:
                    raise ValueError(f"tensor {key}: data offsets {start}..{stop} do not fit the file")
                end = stop
                if count == 0:
                    tensor = torch.empty(0, dtype=dtype)
                elif (base + start) % dtype.itemsize:  # unaligned (the format pads, but be safe): a copy
                    tensor = torch.frombuffer(bytearray(view[base + start : base + stop]), dtype=dtype)
                else:
                    tensor = torch.frombuffer(data, dtype=dtype, count=count // dtype.itemsize, offset=base + start)
                state[key] = tensor.reshape(info["shape"])
            if base + end != len(data):
                raise ValueError(f"{len(data) - base - end} bytes after the last tensor")
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise ValueError(f"{path}: not a valid safetensors file: {type(exc).__name__}: {exc}") from None
        state = {"ema_model_state_dict": state} if use_ema else {"model_state_dict": state}
    else:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    del data
    if use_ema:
        entries = {key.removeprefix(EMA_PREFIX): value for key, value in state["ema_model_state_dict"].items()}
    else:
        entries = state["model_state_dict"]
    return {name: value for name, value in entries.items() if is_weight(name)}


@contextlib.contextmanager
def random_init_skipped():
    """Build modules without drawing their random initial weights (torch.nn.init's in-place
    initialisers do nothing here), for a model whose every weight the checkpoint then overwrites.
    Drawing 336 M random numbers took 2.9 s of a full-size model's start-up on CPU, for nothing.
    Buffers computed in constructors (rotary frequencies, mel filters) are not initialisers and are
    built as usual; `load_state_dict` stays strict, so a weight the checkpoint lacks is an error,
    never left unset. Start-up builds one model at a time, so patching the module is safe there."""
    saved = {name: value for name, value in vars(torch.nn.init).items()
             if name.endswith("_") and not name.startswith("_") and callable(value)}

    def unchanged(tensor, *args, **kwargs):
        return tensor

    try:
        for name in saved:
            setattr(torch.nn.init, name, unchanged)
        yield
    finally:
        for name, value in saved.items():
            setattr(torch.nn.init, name, value)


def load_vocoder(vocoder_dir, device: torch.device):
    from vocos import Vocos

    with random_init_skipped():  # strict load_state_dict below
        vocoder = Vocos.from_hparams(str(vocoder_dir / "config.yaml"))
    state = torch.load(str(vocoder_dir / "pytorch_model.bin"), map_location="cpu", weights_only=True)
    vocoder.load_state_dict(state)
    return vocoder.eval().to(device)
