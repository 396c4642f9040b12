"""Voices: baked presets, stored voices and custom references, prepared once and cached.

A preset is a reference clip with its exact transcript. The model's own presets (the backend's
`presets()`: for F5-TTS the English and Chinese clips f5-tts ships) are always available; a folder
named by F5_VOICES_DIR may add more with a `voices.json`:
{"name": {"file": "name.wav", "ref_text": "...", "language": "en"}}.
A stored voice (`voice_…`, handler.voice_store) is prepared once per worker and cached by id; a
cached one is checked against the store again after `recheck_s` (F5_VOICE_RECHECK_S), so a voice
deleted through one worker is refused by every worker within that bound. Custom references are cached by content hash.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import numpy as np

from handler import audio_dsp, metrics
from handler.audio_codec import decode_audio
from handler.errors import InputError, StartupError, UnavailableError
from handler.model import ModelBackend, Preset, Voice
from handler.voice_store import VOICE_ID, Damaged, NotFound, StoreError, VoiceStore

MIN_REFERENCE_S = 0.5


def load_presets(builtin: dict[str, Preset], voices_dir: Path | None) -> dict[str, Preset]:
    """The model's presets, plus (and overridden by) those of F5_VOICES_DIR; each file must exist."""
    presets = dict(builtin)
    if voices_dir is not None:
        index = voices_dir / "voices.json"
        try:
            entries = json.loads(index.read_text(encoding="utf-8"))
            for name, entry in entries.items():
                presets[name] = Preset(name, voices_dir / entry["file"], entry["ref_text"], entry.get("language", ""))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise StartupError(f"voices index unreadable: {index}: {type(exc).__name__}: {exc}") from None
    for preset in presets.values():
        if not preset.path.is_file():
            raise StartupError(f"preset voice {preset.name!r} file missing: {preset.path}")
    return presets


_DATA_URL = re.compile(r"^data:(?P<mime>[\w/+.-]*)(?P<params>(;[\w=.-]+)*)?;base64,(?P<data>.*)$", re.DOTALL)


def decode_base64_audio(value: str, max_bytes: int, field: str = "ref_audio") -> bytes:
    """Raw base64 or a `data:audio/...;base64,` URL → bytes, with the size cap applied first."""
    match = _DATA_URL.match(value) if value.startswith("data:") else None
    if value.startswith("data:") and not match:
        raise InputError(f"{field} data URL must look like data:audio/wav;base64,<data>", field=field)
    payload = match.group("data") if match else value
    payload = re.sub(r"\s+", "", payload)
    if len(payload) * 3 // 4 - payload[-2:].count("=") > max_bytes:  # the decoded size: padding is no data
        raise InputError(f"{field} is larger than the {max_bytes}-byte limit", field=field)
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise InputError(f"{field} is not valid base64 (send base64 or a data URL)", field=field) from None


# libsndfile names the in-memory file it was handed ("Error opening <_io.BytesIO object at 0x7f...>:
# Format not recognised."): an address means nothing to a caller, so it is left out of the answer
_OPENING = re.compile(r"Error opening <[^<>]*>:\s*")
_OBJECT_REPR = re.compile(r"<[\w.]+ object at 0x[0-9a-fA-F]+>")


def _without_reprs(message: str) -> str:
    return _OBJECT_REPR.sub("the data", _OPENING.sub("", message))


def prepare_reference_wave(data: bytes, max_seconds: float, clip_seconds: float, rate: int,
                           field: str = "ref_audio") -> np.ndarray:
    """Decoded bytes → mono float32 at `rate`, clipped to `clip_seconds`, silent edges trimmed, 50 ms pad."""
    try:
        decoded = decode_audio(data, max_seconds, clip_seconds, field)
    except InputError as exc:
        raise InputError(_without_reprs(str(exc)), field=field) from None
    wave = audio_dsp.to_mono(decoded.samples)
    wave = audio_dsp.resample(wave, decoded.sample_rate, rate)
    wave = audio_dsp.clip_reference(wave, rate, clip_seconds)
    wave = audio_dsp.trim_silence(wave, rate)
    if len(wave) < MIN_REFERENCE_S * rate:
        raise InputError(
            f"{field} has less than {MIN_REFERENCE_S} s of sound after trimming silence; "
            f"send a clip of 3 to {clip_seconds:g} s of clear speech",
            field=field,
        )
    return audio_dsp.pad_silence(wave, rate, 0.05)


class LRUCache:
    """A small thread-safe LRU map; size 0 disables caching."""

    def __init__(self, size: int):
        self.size = size
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        return None

    def put(self, key, value) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def pop(self, key) -> None:
        with self._lock:
            self._items.pop(key, None)

    def __len__(self) -> int:
        return len(self._items)


class VoiceLibrary:
    """Turns a request's voice choice into a prepared voice (the backend's), reusing earlier work where it can."""

    def __init__(
        self,
        backend: ModelBackend,
        presets: dict[str, Preset],
        *,
        cache_size: int,
        max_seconds: float,
        clip_seconds: float,
        transcribe: Callable[[np.ndarray], str] | None = None,
        store: VoiceStore | None = None,
        recheck_s: float = 30.0,
    ):
        self.backend = backend
        self.presets = presets
        self.max_seconds = max_seconds
        self.clip_seconds = clip_seconds
        self.transcribe = transcribe
        self.store = store
        self.recheck_s = recheck_s
        self._voices = LRUCache(cache_size)  # (audio hash, ref_text) → prepared voice
        self._waves = LRUCache(cache_size)  # audio hash → preprocessed wave
        self._transcripts = LRUCache(cache_size)  # audio hash → ASR transcript
        self._stored = LRUCache(cache_size)  # stored voice id → (prepared voice, when last checked)

    @classmethod
    def from_settings(cls, backend: ModelBackend, settings, transcribe=None, store=None) -> VoiceLibrary:
        return cls(
            backend,
            load_presets(backend.presets(), settings.voices_dir),
            cache_size=settings.ref_cache_size,
            max_seconds=settings.ref_max_seconds,
            clip_seconds=settings.ref_clip_seconds,
            transcribe=transcribe,
            store=store,
            recheck_s=settings.voice_recheck_s,
        )

    @property
    def can_transcribe(self) -> bool:
        return self.transcribe is not None

    def named(self, name: str) -> Voice:
        """A request's `voice`: a stored voice's id, or a preset's name."""
        return self.stored(name) if VOICE_ID.fullmatch(name) else self.preset(name)

    def stored(self, voice_id: str) -> Voice:
        if self.store is None:
            raise InputError(f"voice {voice_id!r} is a stored voice, and this worker has no voice store "
                             "(F5_VOICE_STORE is not set)", field="voice")
        now = time.monotonic()
        cached = self._stored.get(voice_id)
        try:
            if cached is not None:
                voice, checked = cached
                if now - checked < self.recheck_s:
                    metrics.record_voice_lookup("stored", hit=True)
                    return voice
                if self.store.voice_exists(voice_id):  # still there: good for another recheck_s
                    self._stored.put(voice_id, (voice, now))
                    metrics.record_voice_lookup("stored", hit=True)
                    return voice
                self._stored.pop(voice_id)
            record = self.store.voice(voice_id)
            wave = self.store.voice_audio(record)
        except NotFound:
            raise InputError(f"voice {voice_id!r} does not exist in the voice store (deleted, or never created)",
                             field="voice") from None
        except Damaged as exc:
            raise InputError(f"voice {voice_id!r} is damaged in the voice store ({exc}); delete it and create it "
                             "again", field="voice") from None
        except StoreError as exc:
            raise UnavailableError(str(exc)) from None
        if record.sample_rate != self.backend.sample_rate:
            raise InputError(f"voice {voice_id!r} was stored at {record.sample_rate} Hz, for another model; "
                             "create it again", field="voice")
        voice = self.backend.prepare_voice(wave, record.ref_text)
        self._stored.put(voice_id, (voice, now))
        metrics.record_voice_lookup("stored", hit=False)
        return voice

    def forget(self, voice_id: str) -> None:
        """Drop a stored voice from this worker's cache (it was deleted through this worker)."""
        self._stored.pop(voice_id)

    def preset(self, name: str) -> Voice:
        preset = self.presets.get(name)
        if preset is None:
            raise InputError(f"voice {name!r} is not a preset; available: {', '.join(sorted(self.presets))}", field="voice")
        return self.from_bytes(preset.path.read_bytes(), preset.ref_text, kind="preset")

    def from_bytes(self, data: bytes, ref_text: str | None, kind: str = "reference") -> Voice:
        digest, wave, ref_text = self.reference(data, ref_text)
        key = (digest, ref_text)
        voice = self._voices.get(key)
        metrics.record_voice_lookup(kind, hit=voice is not None)
        if voice is None:
            voice = self.backend.prepare_voice(wave, ref_text)
            self._voices.put(key, voice)
        return voice

    def reference(self, data: bytes, ref_text: str | None, field: str = "ref_audio") -> tuple[str, np.ndarray, str]:
        """A clip's content hash, its wave as the model takes it, and its transcript (ref_text, or the
        baked ASR's, once per clip). `field`: what the clip is called in the request."""
        digest = hashlib.sha256(data).hexdigest()
        wave = self._waves.get(digest)
        if wave is None:
            wave = prepare_reference_wave(data, self.max_seconds, self.clip_seconds, self.backend.sample_rate, field)
            self._waves.put(digest, wave)
        if not ref_text or not ref_text.strip():
            ref_text = self._transcript(digest, wave)
        return digest, wave, ref_text

    def _transcript(self, digest: str, wave: np.ndarray) -> str:
        if self.transcribe is None:
            raise InputError(
                "ref_text is required: this image carries no speech recognition model to transcribe "
                "the reference clip (send its exact transcript as ref_text)",
                field="ref_text",
            )
        text = self._transcripts.get(digest)
        if text is None:
            text = self.transcribe(wave).strip()
            if not text:
                raise InputError("the reference clip could not be transcribed (no speech found); send ref_text",
                                 field="ref_text")
            self._transcripts.put(digest, text)
        return text
