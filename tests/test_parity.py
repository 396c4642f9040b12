"""Same speech as upstream: the backend, planner and scheduler against upstream f5-tts's own
`infer_batch_process`, on the same model object, the same prepared reference, text, parameters and
seed, compared on the waveform. Upstream runs its real code; only its thread pool is given one thread,
so that its chunks draw their noise in order (with more threads the order is a race)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from conftest import speechlike

from handler.batching import BatchBounds
from handler.crossfade import crossfade_join
from handler.f5.plan import SAMPLE_RATE, RequestPlan, max_chunk_bytes
from handler.model import SynthesisParams
from handler.scheduler import Scheduler
from handler.text_chunks import chunk_text
from support.upstream import utils_infer

EN_REF = "Some call me nature, others call me mother nature."
ZH_REF = "对，这就是我，万人敬仰的太乙真人。"
TEXTS = {
    "one": "I don't really care what you call me.",
    "short": "Hi.",  # under 10 bytes: upstream speaks it slowly
    "three": "I have been a silent spectator, watching species evolve. Empires rise and fall, and rise again. "
    "But always remember, I am mighty and enduring, and my patience has no end at all.",
    "zh": "突然，身边一阵笑声。我看着他们，意气风发地挺直了胸膛，甩了甩那稍显肉感的双臂。",
}
ATOL = 2e-5  # float32 on CPU: batching changes the order of a few reductions, nothing more


@pytest.fixture(scope="module")
def upstream(monkeypatch_module):
    module = utils_infer()
    monkeypatch_module.setattr(module, "ThreadPoolExecutor", lambda: ThreadPoolExecutor(max_workers=1))
    return module


@pytest.fixture(scope="module")
def monkeypatch_module():
    patcher = pytest.MonkeyPatch()
    yield patcher
    patcher.undo()


@pytest.fixture(scope="module")
def voices(backend):
    return {
        "en": (speechlike(3.0, seed=1), EN_REF),
        # a long reference leaves little room per chunk, so a paragraph takes several chunks
        "long": (speechlike(9.0, seed=3), EN_REF),
        "zh": (0.5 * speechlike(2.2, seed=2), ZH_REF),  # quieter than the target RMS: upstream scales it
    }


_UPSTREAM: dict = {}


def upstream_cached(key, upstream, backend, audio, ref_text, chunks, params):
    """Upstream's chunks (its streaming path) and joined wave, computed once per case."""
    if key not in _UPSTREAM:
        _UPSTREAM[key] = (
            upstream_wave(upstream, backend, audio, ref_text, chunks, params, streaming=True),
            upstream_wave(upstream, backend, audio, ref_text, chunks, params) if len(chunks) > 1 else None,
        )
    return _UPSTREAM[key]


def make_scheduler(backend, max_items):
    bounds = BatchBounds(max_items=max_items, memory_bytes=float("inf"), max_pending=64)
    return Scheduler(backend, bounds)


def upstream_wave(upstream, backend, audio, ref_text, chunks, params, streaming=False):
    """Upstream's infer_batch_process as F5TTS.infer calls it, after `seed_everything(seed)`."""
    torch.manual_seed(params.seed)
    output = upstream.infer_batch_process(
        (torch.from_numpy(audio).unsqueeze(0), SAMPLE_RATE), ref_text, chunks, backend.model, backend.vocoder,
        progress=None, cross_fade_duration=params.cross_fade_duration, nfe_step=params.nfe_step,
        cfg_strength=params.cfg_strength, sway_sampling_coef=params.sway_sampling_coef, speed=params.speed,
        fix_duration=params.fix_duration, device="cpu", streaming=streaming, chunk_size=10**9,
    )
    if streaming:
        return [wave for wave, _ in output]
    wave, _, _ = next(output)
    return wave


def ours(backend, scheduler, voice, chunks, params, request=1, company=()):
    """Our chunks' waves, submitted together with `company` (other requests' items) when given."""
    plan = RequestPlan(backend, voice, chunks, params, request)
    items = plan.items()
    mixed = [*items[:1], *company, *items[1:]]
    futures = scheduler.submit(mixed)
    results = {id(item): future.result() for item, future in zip(mixed, futures, strict=True)}
    return [results[id(item)] for item in items]


CASES = [  # nfe 5, 6, 7 and 16 use upstream's pruned time grid, others an even one
    ("en", "one", dict(nfe_step=8, seed=11)),
    ("en", "short", dict(nfe_step=6, seed=12)),
    ("en", "one", dict(nfe_step=16, seed=14, speed=1.7, cfg_strength=1.5)),
    ("en", "one", dict(nfe_step=7, seed=15, sway_sampling_coef=0.0, cfg_strength=0.0)),
    ("en", "one", dict(nfe_step=5, seed=16, fix_duration=6.0)),
    ("long", "three", dict(nfe_step=4, seed=13, speed=1.3)),
    ("long", "three", dict(nfe_step=4, seed=17, fix_duration=16.0, cross_fade_duration=0.3)),
    ("zh", "zh", dict(nfe_step=8, seed=18)),
    ("zh", "zh", dict(nfe_step=6, seed=19, fix_duration=9.0, speed=0.8)),
]


@pytest.mark.parametrize("max_items", [1, 8], ids=["one-at-a-time", "batched"])
@pytest.mark.parametrize(("lang", "text", "params"), CASES, ids=[f"{c[0]}-{c[1]}-{i}" for i, c in enumerate(CASES)])
def test_same_waveform_as_upstream(backend, upstream, voices, lang, text, params, max_items):
    audio, ref_text = voices[lang]
    voice = backend.prepare_voice(audio, ref_text)
    params = SynthesisParams(**params)
    chunks = chunk_text(TEXTS[text], max_chunk_bytes(voice, params.speed))
    assert chunks == upstream.chunk_text(TEXTS[text], max_chars=max_chunk_bytes(voice, params.speed))
    if text == "three":
        assert len(chunks) > 1, "the case must cover several chunks"

    scheduler = make_scheduler(backend, max_items)
    try:
        # other requests ride along: another voice, another seed, another cfg strength
        other_voice = backend.prepare_voice(speechlike(2.0, seed=9), "Another voice entirely.")
        other = RequestPlan(backend, other_voice, ["Some company in the batch, longer than the rest of it."],
                            SynthesisParams(nfe_step=params.nfe_step, sway_sampling_coef=params.sway_sampling_coef,
                                            cfg_strength=params.cfg_strength + 0.5 if params.cfg_strength else 0.0,
                                            seed=99), request=2).items()
        results = ours(backend, scheduler, voice, chunks, params, company=other)
    finally:
        scheduler.close()
    if max_items > 1:
        assert max(r.batched_with for r in results) == 2, "the other request shared a model call"
    waves = [r.wave for r in results]

    expected_chunks, expected = upstream_cached((lang, text, params), upstream, backend, audio, voice.ref_text,
                                                chunks, params)
    assert [len(w) for w in waves] == [len(w) for w in expected_chunks]
    for got, want in zip(waves, expected_chunks, strict=True):
        np.testing.assert_allclose(got, want, atol=ATOL, rtol=0)
    if expected is not None:  # several chunks: upstream's own join and fix_duration split too
        joined = crossfade_join(waves, int(params.cross_fade_duration * SAMPLE_RATE))
        assert len(joined) == len(expected)
        np.testing.assert_allclose(joined, expected, atol=ATOL, rtol=0)


def test_fix_duration_sets_the_total_whatever_the_batches(backend, voices):
    """16 s asked for a several-chunk text gives 16 s (the reference included), one at a time or batched."""
    audio, ref_text = voices["long"]
    voice = backend.prepare_voice(audio, ref_text)
    chunks = chunk_text(TEXTS["three"], max_chunk_bytes(voice, 1.0))
    assert len(chunks) >= 3
    params = SynthesisParams(nfe_step=4, seed=1, fix_duration=16.0)
    for max_items in (1, 2, 8):
        scheduler = make_scheduler(backend, max_items)
        try:
            waves = [r.wave for r in ours(backend, scheduler, voice, chunks, params)]
        finally:
            scheduler.close()
        total = len(crossfade_join(waves, int(0.15 * SAMPLE_RATE))) / SAMPLE_RATE
        assert abs(total - (16.0 - voice.duration_s)) < 0.05, (max_items, total)


def test_reference_text_is_given_to_the_model_as_upstream_gives_it(backend):
    voice = backend.prepare_voice(speechlike(1.0), "  Some call me nature.")
    assert voice.ref_text == "Some call me nature. "  # preprocess_ref_audio_text's ending
    assert voice.model_text == "Some call me nature.  "  # infer_batch_process adds one more space
    assert backend.prepare_voice(speechlike(1.0), "你好。").model_text == "你好。"
