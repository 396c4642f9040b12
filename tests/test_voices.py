"""Voice library: the ASR hook (what happens when ref_text is omitted), presets and caches.
The transcriber is injected here: the hook's rules are ours; Whisper itself is not in the tests."""

import base64
import hashlib
import re

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


def upstream_examples() -> dict[str, tuple[str, str]]:
    """The example clips of the installed f5-tts, each with the transcript upstream pairs it with, read
    from upstream's own files: the English one from its basic CLI config (basic.toml), the Chinese
    one from the speech-editing script's example (commented out there)."""
    import tomllib

    from handler.f5.modules import f5_package_dir

    package = f5_package_dir()
    basic = tomllib.loads((package / "infer" / "examples" / "basic" / "basic.toml").read_text(encoding="utf-8"))
    edit = (package / "infer" / "speech_edit.py").read_text(encoding="utf-8")
    clip, text = re.search(r'audio_to_edit = "src/f5_tts/(infer/examples/basic/basic_ref_zh\.wav)"\s*\n#\s*origin_text = "([^"]+)"', edit).groups()
    return {"en": (basic["ref_audio"], basic["ref_text"]), "zh": (clip, text)}


def test_preset_clips_and_transcripts_are_upstreams(backend):
    """Each preset is one of upstream's example clips with upstream's transcript for it, and the clip is
    the file the f5-tts wheel shipped (its sha256 in the wheel's RECORD), not another in its place."""
    from importlib.metadata import files

    from handler.f5.modules import f5_package_dir

    presets = load_presets(backend.presets(), None)
    package = f5_package_dir()
    shipped = {str(f): f.hash for f in files("f5-tts") if f.hash}
    for name, (clip, text) in upstream_examples().items():
        assert presets[name].ref_text == text, name
        assert presets[name].path.resolve() == (package / clip).resolve(), name
        digest = base64.urlsafe_b64encode(hashlib.sha256(presets[name].path.read_bytes()).digest()).rstrip(b"=").decode()
        assert shipped[f"f5_tts/{clip}"].mode == "sha256" and shipped[f"f5_tts/{clip}"].value == digest, name
