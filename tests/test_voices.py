"""Voice library: the ASR hook (what happens when ref_text is omitted), presets and caches.
The transcriber is injected here: the hook's rules are ours; Whisper itself is not in the tests."""

import pytest
from conftest import speechlike, wav_bytes

from handler.errors import InputError
from handler.voices import LRUCache, VoiceLibrary, load_presets


@pytest.fixture
def library(service):
    calls = []

    def transcribe(wave):
        calls.append(len(wave))
        return "  Heard this.  " if len(calls) < 99 else ""

    voices = VoiceLibrary(service.backend, service.backend.presets(), cache_size=4, max_seconds=60, clip_seconds=12,
                          transcribe=transcribe)
    return voices, calls


def test_missing_ref_text_is_transcribed_once_per_clip(library):
    voices, calls = library
    clip = wav_bytes(speechlike(3.0, seed=5), 24000)
    first = voices.from_bytes(clip, None)
    again = voices.from_bytes(clip, "   ")
    assert first.ref_text == "Heard this. " and again is first
    assert len(calls) == 1  # the transcript is cached by the clip's content hash


def test_a_given_ref_text_is_never_transcribed(library):
    voices, calls = library
    voice = voices.from_bytes(wav_bytes(speechlike(3.0, seed=6), 24000), "Given text")
    assert voice.ref_text == "Given text. " and calls == []


def test_an_empty_transcript_is_a_clear_error(service):
    voices = VoiceLibrary(service.backend, service.backend.presets(), cache_size=4, max_seconds=60, clip_seconds=12,
                          transcribe=lambda wave: "")
    with pytest.raises(InputError, match="could not be transcribed"):
        voices.from_bytes(wav_bytes(speechlike(3.0, seed=7), 24000), None)


def test_the_cache_is_bounded_and_keeps_the_most_recently_used():
    cache = LRUCache(3)
    for key in range(10):
        cache.put(key, key)
    assert len(cache) == 3 and cache.get(0) is None and cache.get(9) == 9
    cache.get(7)  # used: now the most recent
    cache.put(10, 10)
    assert cache.get(7) == 7 and cache.get(8) is None  # the least recently used went
    empty = LRUCache(0)
    empty.put("k", "v")  # size 0 caches nothing, silently
    assert len(empty) == 0 and empty.get("k") is None


def test_preset_transcripts_are_upstreams(backend):
    presets = load_presets(backend.presets(), None)
    assert presets["en"].ref_text == "Some call me nature, others call me mother nature."
    assert presets["zh"].ref_text == "对，这就是我，万人敬仰的太乙真人。"
    assert all(p.path.is_file() for p in presets.values())
