"""The real f5-tts DiT/CFM and a real Vocos (tiny, random) loaded through the worker's code path."""

import numpy as np
import pytest
import torch
from conftest import speechlike

from handler.engine import SAMPLE_RATE, Engine, StageTimer, SynthesisParams
from handler.manifest import read_manifest


@pytest.fixture(scope="module")
def engine(tiny_model_dir):
    return Engine.load(read_manifest(tiny_model_dir), torch.device("cpu"), torch.float32, max_batch=8)


@pytest.fixture(scope="module")
def voice(engine):
    return engine.prepare_voice(speechlike(3.0), "Some call me nature, others call me mother nature.")


def synth(engine, voice, chunks, **params):
    return engine.synthesize(voice, chunks, SynthesisParams(**params), StageTimer(engine.device))


def test_loads_the_checkpoint_weights(engine, tiny_model_dir):
    from safetensors.torch import load_file

    stored = load_file(str(tiny_model_dir / "f5" / "model_random.safetensors"))
    key = "transformer.proj_out.weight"
    assert torch.equal(engine.model.state_dict()[key], stored["ema_model." + key])


def test_same_seed_same_audio_other_seed_other_audio(engine, voice):
    first = synth(engine, voice, ["Hello world."], seed=5, nfe_step=8)[0]
    again = synth(engine, voice, ["Hello world."], seed=5, nfe_step=8)[0]
    other = synth(engine, voice, ["Hello world."], seed=6, nfe_step=8)[0]
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)


def test_duration_follows_text_length_and_speed(engine, voice):
    short = synth(engine, voice, ["Hello there, friend."], seed=1, nfe_step=4)[0]
    long = synth(engine, voice, ["Hello there, friend. " * 3], seed=1, nfe_step=4)[0]
    fast = synth(engine, voice, ["Hello there, friend. " * 3], seed=1, nfe_step=4, speed=2.0)[0]
    assert len(long) > 2 * len(short)
    assert abs(len(fast) / len(long) - 0.5) < 0.1


def test_fix_duration_sets_the_total(engine, voice):
    waves = synth(engine, voice, ["One sentence here.", "And another one here."], seed=1, nfe_step=4, fix_duration=8.0)
    total = sum(len(w) for w in waves) / SAMPLE_RATE
    # fix_duration counts the reference (3 s) too; chunks overlap by the 0.15 s cross-fade
    assert abs(total - (8.0 - voice.duration_s + 0.15)) < 0.1


def test_every_attention_layer_masks_padding(engine):
    processors = [block.attn.processor for block in engine.model.transformer.transformer_blocks]
    assert processors and all(p.attn_mask_enabled for p in processors)


def _chunk_mel(engine, voice, chunks, index, params):
    """The model's mel for chunk `index` when `chunks` run as one batch."""
    durations = engine._durations(voice, chunks, params)
    texts = engine._f5.convert_char_to_pinyin([voice.ref_text + c for c in chunks])
    mel, _ = engine.model.sample(
        cond=voice.mel.expand(len(chunks), -1, -1), text=texts, duration=torch.tensor(durations),
        lens=torch.full((len(chunks),), voice.mel.shape[1]), steps=params.nfe_step, cfg_strength=2.0,
        sway_sampling_coef=-1.0, seed=params.seed,
    )
    return mel[index, voice.ref_frames : durations[index]]


def test_padding_does_not_change_a_chunk_and_the_check_would_see_if_it_did(engine, voice):
    short, long = "A short one.", "This chunk is quite a lot longer than the first and the second one."
    params = SynthesisParams(nfe_step=8, seed=3)
    alone = _chunk_mel(engine, voice, [short], 0, params)

    def relative_error():
        padded = _chunk_mel(engine, voice, [short, long], 0, params)  # the short chunk is padded here
        return float((padded - alone).norm() / alone.norm())

    assert relative_error() < 1e-6
    processors = [block.attn.processor for block in engine.model.transformer.transformer_blocks]
    try:
        for processor in processors:
            processor.attn_mask_enabled = False
        assert relative_error() > 1e-5  # without the mask, padding leaks into the short chunk
    finally:
        for processor in processors:
            processor.attn_mask_enabled = True


def test_batched_chunks_match_one_at_a_time(engine, voice):
    chunks = ["A short one.", "This chunk is quite a lot longer than the first.", "Middle sized chunk."]
    batched = synth(engine, voice, chunks, seed=3, nfe_step=8)
    single = [synth(engine, voice, [c], seed=3, nfe_step=8)[0] for c in chunks]
    for b, s in zip(batched, single, strict=True):
        assert len(b) == len(s)
        np.testing.assert_allclose(b, s, atol=2e-4)  # padding is masked out: same audio up to float error


def test_batches_are_capped(engine, voice, monkeypatch):
    sizes = []
    original = engine._run_batch
    monkeypatch.setattr(engine, "max_batch", 2)
    monkeypatch.setattr(engine, "_run_batch", lambda v, c, p, t: sizes.append(len(c)) or original(v, c, p, t))
    waves = synth(engine, voice, ["One.", "Two.", "Three.", "Four.", "Five."], seed=1, nfe_step=4)
    assert sizes == [2, 2, 1] and len(waves) == 5


def test_unknown_characters(engine):
    assert engine.unknown_characters("Hello, world! 你好") == []
    assert engine.unknown_characters("smile 😀 now") == ["😀"]


def test_timer_records_model_and_vocoder(engine, voice):
    timer = StageTimer(engine.device)
    engine.synthesize(voice, ["Hello."], SynthesisParams(nfe_step=4), timer)
    assert timer.seconds["model"] > 0 and timer.seconds["vocoder"] > 0


def test_batch_size_by_device():
    from handler.engine import default_batch

    assert default_batch(0, torch.device("cuda")) == 8
    assert default_batch(0, torch.device("cpu")) == 1
    assert default_batch(3, torch.device("cpu")) == 3
