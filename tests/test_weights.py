"""Half-precision weights baked at build time (build/fetch_models.py), and one read of the checkpoint
at start-up (handler/f5/checkpoint.py's `read_checkpoint`), on the tiny random model and on CPU."""

import hashlib
import importlib.util
import json
import shutil
import sys

import numpy as np
import pytest
import torch
from conftest import ROOT, flip_a_byte, load_f5, make_settings, speechlike

from handler.f5.files import f5_files
from handler.manifest import read_manifest, verify_files
from handler.model import SynthesisParams

_spec = importlib.util.spec_from_file_location("fetch_models", ROOT / "build" / "fetch_models.py")
fetch_models = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fetch_models)


@pytest.fixture(scope="module")
def fp16_dir(tiny_model_dir, tmp_path_factory):
    """The tiny model as the image bakes it: the same download, its checkpoint halved in place."""
    copy = tmp_path_factory.mktemp("fp16") / "model"
    shutil.copytree(tiny_model_dir, copy)
    fetch_models.halve_checkpoint(copy)
    return copy


def load(model_dir, dtype):
    return load_f5(model_dir, dtype)


def synthesise(backend, text="Half precision, same voice.", seed=7):
    voice = backend.prepare_voice(speechlike(3.0), "Some call me nature, others call me mother nature.")
    [item] = backend.plan(voice, [text], SynthesisParams(seed=seed, nfe_step=8), 1).items()
    return backend.vocode(item, backend.sample([item])[0])


def test_the_manifest_records_the_source_and_the_baked_file(tiny_model_dir, fp16_dir):
    source = tiny_model_dir / "f5" / "model_random.safetensors"
    manifest = read_manifest(fp16_dir)
    checkpoint = f5_files(manifest).checkpoint
    assert checkpoint.name == "model_random.fp16.safetensors"
    assert not (fp16_dir / "f5" / "model_random.safetensors").exists()  # the float32 file is not baked
    entry = manifest.entry_for(checkpoint)
    assert entry["dtype"] == "float16" and entry["path"] == "f5/model_random.fp16.safetensors"
    assert entry["sha256"] == hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    assert entry["source"] == {"path": "f5/model_random.safetensors", "size": source.stat().st_size,
                               "sha256": hashlib.sha256(source.read_bytes()).hexdigest()}
    assert entry["size"] < 0.6 * source.stat().st_size  # about half: float16 instead of float32
    assert verify_files(manifest, check_hashes=True) > 0

    from safetensors import safe_open

    with safe_open(str(checkpoint), "pt") as baked, safe_open(str(source), "pt") as original:
        assert baked.metadata()["source_sha256"] == entry["source"]["sha256"]
        wanted = {key for key in original.keys() if key not in ("initted", "step")}
        assert set(baked.keys()) == wanted  # the names the worker reads: "ema_model." + module path
        assert {baked.get_tensor(key).dtype for key in baked.keys()} == {torch.float16}


def test_fp16_baked_weights_equal_the_fp32_checkpoint_converted_at_load_time(tiny_model_dir, fp16_dir):
    converted, baked = load(tiny_model_dir, torch.float16), load(fp16_dir, torch.float16)
    ours, theirs = converted.model.state_dict(), baked.model.state_dict()
    assert ours.keys() == theirs.keys()
    for key in ours:  # bitwise: same dtype, same bits
        assert ours[key].dtype == theirs[key].dtype, key
        assert torch.equal(ours[key].view(torch.uint8) if ours[key].is_floating_point() else ours[key],
                           theirs[key].view(torch.uint8) if theirs[key].is_floating_point() else theirs[key]), key
    assert ours["transformer.proj_out.weight"].dtype == torch.float16
    np.testing.assert_array_equal(synthesise(converted), synthesise(baked))  # the same audio, sample for sample


def test_fp16_baked_weights_load_on_cpu_as_float32(tiny_model_dir, fp16_dir):
    from safetensors.torch import load_file

    backend = load(fp16_dir, torch.float32)
    params = backend.model.state_dict()
    assert {value.dtype for value in params.values() if value.is_floating_point()} == {torch.float32}
    stored = load_file(str(tiny_model_dir / "f5" / "model_random.safetensors"))
    key = "transformer.proj_out.weight"  # the float32 weights, rounded once to float16, widened back
    assert torch.equal(params[key], stored["ema_model." + key].half().float())
    wave = synthesise(backend)
    assert wave.dtype == np.float32 and len(wave) > 0 and np.isfinite(wave).all()


def test_a_baked_checkpoint_is_not_halved_twice(fp16_dir):
    with pytest.raises(fetch_models.FetchError, match="already float16"):
        fetch_models.halve_checkpoint(fp16_dir)


def test_a_source_that_does_not_match_its_manifest_is_not_converted(tiny_model_dir, tmp_path):
    copy = tmp_path / "model"
    shutil.copytree(tiny_model_dir, copy)
    path = copy / "f5" / "model_random.safetensors"
    flip_a_byte(path)
    with pytest.raises(fetch_models.FetchError, match=r"the manifest says .*: refusing to convert it"):
        fetch_models.halve_checkpoint(copy)
    assert path.exists() and json.loads((copy / "manifest.json").read_text())["model"]["checkpoint"] == "f5/model_random.safetensors"


def test_values_beyond_float16_range_are_refused():
    from safetensors.torch import save

    data = save({"ema_model.transformer.w": torch.tensor([1.0, 1e6])})
    with pytest.raises(fetch_models.FetchError, match="beyond float16's range; build with KEEP_FP32=1"):
        fetch_models.ema_weights_half(data, ".safetensors", "test: w")


def test_a_pt_checkpoint_is_baked_the_same_way(tmp_path):
    import io

    state = {"ema_model_state_dict": {"initted": torch.tensor([True]), "step": torch.tensor([3]),
                                      "ema_model.transformer.w": torch.tensor([0.1, 0.2])},
             "model_state_dict": {"transformer.w": torch.tensor([9.0, 9.0])}}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    weights = fetch_models.ema_weights_half(buffer.getvalue(), ".pt", "test: model.pt")
    assert list(weights) == ["ema_model.transformer.w"]
    assert torch.equal(weights["ema_model.transformer.w"], torch.tensor([0.1, 0.2]).half())


def test_start_up_opens_the_checkpoint_once_and_checks_its_hash_there(fp16_dir, monkeypatch):
    """One read: the manifest step leaves the checkpoint's sha256 to the model step, which hashes
    the bytes it loads. Every open() of the file during start-up is counted (an audit hook)."""
    from handler.startup import build_service

    checkpoint = str(f5_files(read_manifest(fp16_dir)).checkpoint)
    opened = []
    if not getattr(sys, "_weights_test_hook", None):
        sys._weights_test_hook = opened

        def hook(event, args):
            target = getattr(sys, "_weights_test_hook", None)
            if event == "open" and target is not None and str(args[0]) == target[0]:
                target[1].append(event)

        sys.addaudithook(hook)
    sys._weights_test_hook = (checkpoint, opened)
    try:
        service = build_service(make_settings(fp16_dir, F5_WARMUP="0"))
    finally:
        sys._weights_test_hook = None
    try:
        assert len(opened) == 1
        assert service.backend.describe()["sha256"] == "True"  # and that one read was hashed (by the model step)
    finally:
        service.scheduler.close()


def test_a_corrupted_checkpoint_fails_in_the_model_step_from_the_bytes_read(fp16_dir, tmp_path):
    from handler.errors import StartupError
    from handler.startup import build_service

    copy = tmp_path / "model"
    shutil.copytree(fp16_dir, copy)
    path = copy / "f5" / "model_random.fp16.safetensors"
    flip_a_byte(path)
    with pytest.raises(StartupError, match=r"^model: model file has wrong sha256: .*model_random.fp16.safetensors"):
        build_service(make_settings(copy, F5_WARMUP="0"))


def test_the_one_read_loader_gives_what_the_safetensors_library_gives(tmp_path):
    from safetensors.torch import load_file, save_file

    from handler.f5.checkpoint import read_checkpoint

    tensors = {
        "ema_model.a": torch.randn(3, 5), "ema_model.b": torch.randn(7).half(), "ema_model.c": torch.randn(2, 2).bfloat16(),
        "ema_model.d": torch.tensor([True, False, True]), "ema_model.e": torch.arange(5), "ema_model.f": torch.zeros(0, 4),
        "ema_model.g": torch.tensor(1.5, dtype=torch.float64), "initted": torch.tensor([True]), "step": torch.tensor([3]),
    }
    path = tmp_path / "mixed.safetensors"
    save_file(tensors, str(path))
    expected = {k.removeprefix("ema_model."): v for k, v in load_file(str(path)).items() if k not in ("initted", "step")}
    got = read_checkpoint(path, True, hashlib.sha256(path.read_bytes()).hexdigest())
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key].dtype == value.dtype and got[key].shape == value.shape and torch.equal(got[key], value), key


@pytest.mark.parametrize("damage", ["truncated", "trailing", "header"])
def test_the_one_read_loader_refuses_a_damaged_file(tmp_path, damage):
    from safetensors.torch import save

    from handler.f5.checkpoint import read_checkpoint

    data = save({"ema_model.a": torch.randn(16), "ema_model.b": torch.randn(8)})
    data = {"truncated": data[:-8], "trailing": data + b"\0" * 8, "header": data[:8] + b"x" + data[9:]}[damage]
    path = tmp_path / "bad.safetensors"
    path.write_bytes(data)
    with pytest.raises(ValueError, match="not a valid safetensors file"):
        read_checkpoint(path, True)
