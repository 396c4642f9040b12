"""The model backend: the real f5-tts DiT/CFM and a real Vocos (tiny, random), loaded from disk."""

import numpy as np
import pytest
import torch
from conftest import make_settings, only, speechlike

from handler.model import SynthesisParams


@pytest.fixture(scope="module")
def voice(backend):
    return backend.prepare_voice(speechlike(3.0), "Some call me nature, others call me mother nature.")


def items(backend, voice, chunks, request=1, **params):
    return backend.plan(voice, chunks, SynthesisParams(**params), request).items()


def wave(backend, voice, text, **params):
    item = items(backend, voice, [text], **params)[0]
    return backend.vocode(item, backend.sample([item])[0])


def test_loads_the_checkpoint_weights(backend, tiny_model_dir):
    from safetensors.torch import load_file

    stored = load_file(str(tiny_model_dir / "f5" / "model_random.safetensors"))
    key = "transformer.proj_out.weight"
    assert torch.equal(backend.model.state_dict()[key], stored["ema_model." + key])


def test_same_seed_same_audio_other_seed_other_audio(backend, voice):
    first = wave(backend, voice, "Hello world.", seed=5, nfe_step=8)
    again = wave(backend, voice, "Hello world.", seed=5, nfe_step=8)
    other = wave(backend, voice, "Hello world.", seed=6, nfe_step=8)
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)


def test_duration_follows_text_length_and_speed(backend, voice):
    short = wave(backend, voice, "Hello there, friend.", seed=1, nfe_step=4)
    long = wave(backend, voice, "Hello there, friend. " * 3, seed=1, nfe_step=4)
    fast = wave(backend, voice, "Hello there, friend. " * 3, seed=1, nfe_step=4, speed=2.0)
    assert len(long) > 2 * len(short)
    assert abs(len(fast) / len(long) - 0.5) < 0.1


def test_every_attention_layer_masks_padding(backend):
    processors = [block.attn.processor for block in backend.model.transformer.transformer_blocks]
    assert processors and all(p.attn_mask_enabled for p in processors)


def test_padding_does_not_change_an_item_and_the_check_would_see_if_it_did(backend, voice):
    """At mel level: a short item alone, and padded beside a longer one of another voice and request."""
    other_voice = backend.prepare_voice(speechlike(4.5, seed=3), "A different reference, longer than the first.")
    short = items(backend, voice, ["A short one."], seed=3, nfe_step=8)[0]
    long = items(backend, other_voice, ["This one is quite a lot longer than the first and the second."],
                 request=2, seed=4, nfe_step=8)[0]
    alone = backend.sample([short])[0]

    def relative_error():
        padded = backend.sample([short, long])[0]  # the short item is padded here
        return float((padded - alone).norm() / alone.norm())

    assert relative_error() < 1e-6
    processors = [block.attn.processor for block in backend.model.transformer.transformer_blocks]
    try:
        for processor in processors:
            processor.attn_mask_enabled = False
        assert relative_error() > 1e-5  # without the mask, padding leaks into the short item
    finally:
        for processor in processors:
            processor.attn_mask_enabled = True


def test_per_item_cfg_strength_matches_each_alone(backend, voice):
    one = items(backend, voice, ["Guided gently."], seed=3, nfe_step=6, cfg_strength=1.0)[0]
    two = items(backend, voice, ["Guided strongly."], request=2, seed=3, nfe_step=6, cfg_strength=3.5)[0]
    together = backend.sample([one, two])
    for item, mel in zip((one, two), together, strict=True):
        torch.testing.assert_close(mel, backend.sample([item])[0], atol=1e-5, rtol=0)


def test_items_of_different_time_grids_never_share_a_call(backend, voice):
    eight = items(backend, voice, ["Eight steps."], seed=1, nfe_step=8)[0]
    sixteen = items(backend, voice, ["Sixteen steps."], seed=1, nfe_step=16)[0]
    with pytest.raises(ValueError, match="different groups"):
        backend.sample([eight, sixteen])


def test_a_requests_seed_alone_decides_its_noise(backend, voice):
    first = items(backend, voice, ["One.", "Two, three."], seed=7)
    again = items(backend, voice, ["One.", "Two, three."], request=9, seed=7)
    for a, b in zip(first, again, strict=True):
        assert torch.equal(a.noise, b.noise)
    # chunk k draws the k-th noise of the seed's stream, as upstream does after seeding
    generator = torch.Generator().manual_seed(7)
    torch.testing.assert_close(first[0].noise, torch.randn(first[0].frames, 100, generator=generator))
    torch.testing.assert_close(first[1].noise, torch.randn(first[1].frames, 100, generator=generator))


def test_unknown_characters(backend):
    assert backend.unknown_characters("Hello, world! 你好") == []
    assert backend.unknown_characters("smile 😀 now") == ["😀"]


def test_the_loaded_model_is_what_upstreams_loaders_build_from_the_same_files(backend, tiny_model_dir):
    """The worker builds its modules without drawing random initial weights (random_init_skipped);
    every parameter and buffer, computed ones included (rotary frequencies, mel filters, windows),
    must still equal what upstream's own load_model / load_vocoder give from the same files."""
    from handler.f5.files import f5_files
    from handler.manifest import read_manifest
    from support.upstream import utils_infer

    files = f5_files(read_manifest(tiny_model_dir))
    infer = utils_infer()
    theirs = infer.load_model(backend._f5.backbones["DiT"], files.arch, str(files.checkpoint),
                              mel_spec_type="vocos", vocab_file=str(files.vocab), device="cpu")
    their_vocoder = infer.load_vocoder("vocos", is_local=True, local_path=str(files.vocoder_dir), device="cpu")
    computed = {"model": "freqs_cis", "vocoder": "window"}  # a buffer computed at build time, not loaded
    for part, ours, upstream in (("model", backend.model, theirs), ("vocoder", backend.vocoder, their_vocoder)):
        mine = {**dict(ours.named_parameters()), **dict(ours.named_buffers())}
        other = {**dict(upstream.named_parameters()), **dict(upstream.named_buffers())}
        assert set(mine) == set(other)
        differing = [name for name in mine if not torch.equal(mine[name].float(), other[name].float())]
        assert differing == [], differing
        assert any(computed[part] in name for name in mine), (part, sorted(mine)[:10])  # so computed ones were compared


def test_random_init_is_restored_after_loading_even_when_loading_fails():
    from handler.f5.checkpoint import random_init_skipped

    before = torch.nn.init.normal_
    with pytest.raises(RuntimeError, match="boom"), random_init_skipped():
        assert torch.nn.init.normal_ is not before
        torch.nn.Linear(4, 4)  # built, not initialised: whatever the memory held
        raise RuntimeError("boom")
    assert torch.nn.init.normal_ is before
    torch.manual_seed(0)
    layer = torch.nn.Linear(64, 64)
    assert 0.01 < float(layer.weight.std()) < 0.2  # initialised again (kaiming uniform: about 0.07)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_the_time_grid_is_strictly_increasing_for_every_step_count_and_sway(backend, dtype):
    """torchdiffeq refuses a grid that is not strictly increasing; made in bfloat16 (upstream makes it
    in the model's dtype) it is not at the default 32 steps, which failed every default request. The
    grid is upstream's own wherever the model's dtype holds it (always in float32 and float16: parity),
    and made in float32 only where it does not."""
    from handler.f5.backend import _time_grid

    def upstreams(steps, sway):
        t = backend._f5.get_epss_timesteps(steps, device="cpu", dtype=dtype)
        return t + sway * (torch.cos(torch.pi / 2 * t) - 1 + t)

    fell_back = set()
    for steps in range(4, 65):
        for sway in (-1.0, -0.5, 0.0, 0.5, 1.0):
            t = _time_grid(backend._f5.get_epss_timesteps, steps, sway, torch.device("cpu"), dtype)
            assert bool((t[1:] > t[:-1]).all()), (steps, sway)
            theirs = upstreams(steps, sway)
            if t.dtype == dtype:
                assert torch.equal(t, theirs)
            else:
                assert t.dtype == torch.float32 and not bool((theirs[1:] > theirs[:-1]).all())
                fell_back.add((steps, sway))
    if dtype == torch.bfloat16:
        assert (32, -1.0) in fell_back and (16, -1.0) in fell_back
    else:
        assert fell_back == set()


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_every_documented_dtype_serves_a_default_request(tiny_model_dir, dtype):
    """F5_DTYPE end to end at the default nfe_step (32): the warm-up runs the default parameters, so a
    dtype that would fail requests fails start-up instead (float32 is every other test's dtype)."""
    from handler.startup import build_service

    service = build_service(make_settings(tiny_model_dir, F5_DTYPE=dtype))
    try:
        assert service.backend.dtype == getattr(torch, dtype)
        result = only(service, {"text": "Every dtype speaks.", "seed": 3})
        assert "audio_base64" in result and result["duration_s"] > 0.5, result
    finally:
        service.scheduler.close()
