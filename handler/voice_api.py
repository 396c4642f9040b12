"""The voices API: create, list, show and delete stored voices and consent recordings.

One set of operations behind two front doors: the HTTP mode's OpenAI-style routes
(`/v1/audio/voices`, `/v1/audio/voice_consents`) and the queue worker's voice operations (a job with
`"operation": "create_voice"`, ...). Every refusal names the field at fault and why; the answers are
the OpenAI API's objects (`audio.voice`, `audio.voice_consent`).

A voice is made once, at creation: the clip is decoded, clipped and trimmed exactly as a request's
`ref_audio` is (handler.voices), transcribed by the baked Whisper when no `ref_text` comes with it,
and stored with its transcript (handler.voice_store). Using it later reads what was stored.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from handler.audio_codec import decode_audio
from handler.errors import InputError, NotConfiguredError, NotFoundError, UnavailableError
from handler.voice_store import CONSENT_ID, VOICE_ID, Damaged, NotFound, StoreError, VoiceStore

SAMPLE_MAX_BYTES = 10 * 2**20  # an audio_sample or a consent recording: 10 MiB, as OpenAI's API
NAME_MAX_CHARS = 64
REF_TEXT_MAX_CHARS = 1000  # as a request's ref_text
LIST_LIMIT = (1, 100, 20)  # lowest, highest, default page size
LANGUAGE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*")  # a BCP 47 tag such as en or en-US
HOW_TO_CONFIGURE = ("set F5_VOICE_STORE to a folder (a mounted volume, or /runpod-volume/voices on RunPod) or to "
                    "s3://bucket/prefix (with the BUCKET_* endpoint and keys), on every worker of the endpoint")


def _name(value: Any, field: str = "name") -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{field} is required: a label of 1 to {NAME_MAX_CHARS} characters", field=field)
    value = value.strip()
    if len(value) > NAME_MAX_CHARS:
        raise InputError(f"{field} is {len(value)} characters; at most {NAME_MAX_CHARS}", field=field)
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in value):
        raise InputError(f"{field} contains control characters; send a plain label", field=field)
    return value


def _sample(data: Any, field: str) -> bytes:
    if not isinstance(data, bytes | bytearray) or not data:
        raise InputError(f"{field} is required: an audio file (WAV, FLAC, OGG/Opus or MP3)", field=field)
    if len(data) > SAMPLE_MAX_BYTES:
        raise InputError(f"{field} is {len(data)} bytes; the limit is {SAMPLE_MAX_BYTES} (10 MiB)", field=field)
    return bytes(data)


def _limit(value: Any) -> int:
    low, high, default = LIST_LIMIT
    if value is None or value == "":
        return default
    try:
        limit = int(value)
    except (TypeError, ValueError):
        raise InputError(f"limit must be a whole number from {low} to {high}", field="limit") from None
    if not low <= limit <= high:
        raise InputError(f"limit must be from {low} to {high}, not {limit}", field="limit")
    return limit


def _after(value: Any, pattern: re.Pattern) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise InputError(f"after must be an id from an earlier page, not {str(value)[:60]!r}", field="after")
    return value


class VoiceApi:
    def __init__(self, voices, store: VoiceStore | None, *, consent_required: bool, max_seconds: float):
        self.voices = voices  # handler.voices.VoiceLibrary: presets, preparation, transcription
        self.store = store
        self.consent_required = consent_required
        self.max_seconds = max_seconds

    def _store(self) -> VoiceStore:
        if self.store is None:
            raise NotConfiguredError(f"this worker has no voice store: {HOW_TO_CONFIGURE}")
        return self.store

    @staticmethod
    def _guarded(call, *args, **kwargs):
        """Store failures as the caller sees them: unreachable (retry) or a clear error."""
        try:
            return call(*args, **kwargs)
        except StoreError as exc:
            raise UnavailableError(str(exc)) from None

    # ---- voices --------------------------------------------------------------------------------------
    def create_voice(self, *, name: Any, audio_sample: Any, ref_text: Any = None, consent: Any = None) -> dict:
        store = self._store()
        name = _name(name)
        data = _sample(audio_sample, "audio_sample")
        if ref_text is not None and (not isinstance(ref_text, str) or len(ref_text) > REF_TEXT_MAX_CHARS):
            raise InputError(f"ref_text must be text of at most {REF_TEXT_MAX_CHARS} characters", field="ref_text")
        consent_id = self._consent_for_voice(store, consent)
        if self._guarded(store.count_voices) >= store.max_items:
            raise InputError(f"the voice store holds its limit of {store.max_items} voices (F5_VOICE_STORE_MAX); "
                             "delete some first")
        _, wave, ref_text = self.voices.reference(data, ref_text, "audio_sample")  # as a ref_audio is prepared
        voice = self._guarded(store.create_voice, name=name, wave=wave, rate=self.voices.backend.sample_rate,
                              ref_text=ref_text.strip(), consent=consent_id)
        return voice.public()

    def _consent_for_voice(self, store: VoiceStore, consent: Any) -> str | None:
        if consent is None or consent == "":
            if self.consent_required:
                raise InputError("consent is required: the id of a consent recording from POST "
                                 "/v1/audio/voice_consents (or F5_VOICE_CONSENT=0 on the endpoint)", field="consent")
            return None
        try:
            return self._guarded(store.consent, str(consent)).id
        except (NotFound, Damaged):
            raise InputError(f"consent {str(consent)[:60]!r} is not a consent recording in the voice store",
                             field="consent") from None

    def voice(self, voice_id: str) -> dict:
        preset = self.voices.presets.get(voice_id)
        if preset is not None:
            return _preset(preset)
        try:
            return self._guarded(self._store().voice, voice_id).public()
        except NotFound:
            raise NotFoundError(f"no voice {voice_id[:60]!r}", field="voice_id") from None
        except Damaged as exc:
            raise NotFoundError(f"voice {voice_id[:60]!r} is damaged in the store ({exc})", field="voice_id") from None

    def delete_voice(self, voice_id: str) -> dict:
        if voice_id in self.voices.presets:
            raise InputError(f"{voice_id!r} is a preset baked into the image; only stored voices can be deleted",
                             field="voice_id")
        try:
            self._guarded(self._store().delete_voice, voice_id)
        except NotFound:
            raise NotFoundError(f"no voice {voice_id[:60]!r}", field="voice_id") from None
        finally:
            self.voices.forget(voice_id)  # this worker refuses it at once; the others within F5_VOICE_RECHECK_S
        return {"object": "audio.voice.deleted", "id": voice_id, "deleted": True}

    def list_voices(self, *, limit: Any = None, after: Any = None) -> dict:
        """Presets first (on the first page), then stored voices by id, `limit` at a time."""
        limit, after = _limit(limit), _after(after, VOICE_ID)
        presets = [] if after else [_preset(p) for _, p in sorted(self.voices.presets.items())]
        stored, more = self._guarded(self.store.voices, limit, after) if self.store else ([], False)
        return _page(presets + [v.public() for v in stored], more)

    # ---- consents ------------------------------------------------------------------------------------
    def create_consent(self, *, name: Any, language: Any, recording: Any) -> dict:
        store = self._store()
        name = _name(name)
        if not isinstance(language, str) or not LANGUAGE.fullmatch(language.strip()):
            raise InputError("language must be a BCP 47 tag such as en or en-US", field="language")
        data = _sample(recording, "recording")
        decode_audio(data, self.max_seconds, field="recording")  # the evidence must be a recording
        if self._guarded(store.count_consents) >= store.max_items:
            raise InputError(f"the voice store holds its limit of {store.max_items} consents; delete some first")
        return self._guarded(store.create_consent, name=name, language=language.strip(), recording=data).public()

    def consent(self, consent_id: str) -> dict:
        try:
            return self._guarded(self._store().consent, consent_id).public()
        except (NotFound, Damaged):
            raise NotFoundError(f"no consent recording {consent_id[:60]!r}", field="consent_id") from None

    def rename_consent(self, consent_id: str, *, name: Any) -> dict:
        name = _name(name)
        try:
            return self._guarded(self._store().rename_consent, consent_id, name).public()
        except (NotFound, Damaged):
            raise NotFoundError(f"no consent recording {consent_id[:60]!r}", field="consent_id") from None

    def delete_consent(self, consent_id: str) -> dict:
        try:
            self._guarded(self._store().delete_consent, consent_id)
        except NotFound:
            raise NotFoundError(f"no consent recording {consent_id[:60]!r}", field="consent_id") from None
        return {"object": "audio.voice_consent", "id": consent_id, "deleted": True}

    def list_consents(self, *, limit: Any = None, after: Any = None) -> dict:
        consents, more = self._guarded(self._store().consents, _limit(limit), _after(after, CONSENT_ID))
        return _page([c.public() for c in consents], more)


# The queue worker's voice operations (a job's "operation"): each one's method and the fields it takes;
# FILE_FIELDS come as base64 in a job (handler.worker decodes them), as files over HTTP.
OPERATIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "create_voice": ("create_voice", ("name", "audio_sample", "ref_text", "consent")),
    "list_voices": ("list_voices", ("limit", "after")),
    "get_voice": ("voice", ("voice_id",)),
    "delete_voice": ("delete_voice", ("voice_id",)),
    "create_consent": ("create_consent", ("name", "language", "recording")),
    "list_consents": ("list_consents", ("limit", "after")),
    "get_consent": ("consent", ("consent_id",)),
    "rename_consent": ("rename_consent", ("consent_id", "name")),
    "delete_consent": ("delete_consent", ("consent_id",)),
}
FILE_FIELDS = ("audio_sample", "recording")
ID_FIELDS = ("voice_id", "consent_id")  # passed by position, as the HTTP routes take them from the path


def run_operation(api: VoiceApi, operation: Any, fields: dict[str, Any]) -> dict:
    """One voice operation from a job: checks the operation and its fields, then runs it."""
    if operation not in OPERATIONS:
        raise InputError(f"operation {str(operation)[:40]!r} is unknown; use speech (the default) or one of "
                         f"{', '.join(OPERATIONS)}", field="operation")
    method, allowed = OPERATIONS[operation]
    unknown = sorted(set(fields) - set(allowed))
    if unknown:
        raise InputError(f"unknown field {unknown[0]!r} for {operation} (it takes {', '.join(allowed)})", field=unknown[0])
    ids = [fields.pop(name) for name in ID_FIELDS if name in allowed]
    if any(not isinstance(value, str) or not value for value in ids):
        missing = next(name for name in ID_FIELDS if name in allowed)
        raise InputError(f"{missing} is required for {operation}", field=missing)
    return getattr(api, method)(*ids, **fields)


def _preset(preset) -> dict:
    return {"object": "audio.voice", "id": preset.name, "name": preset.name, "created_at": 0, "type": "preset",
            "language": preset.language, "ref_text": preset.ref_text}


def _page(data: list[dict], more: bool) -> dict:
    return {"object": "list", "data": data, "has_more": more,
            "first_id": data[0]["id"] if data else None, "last_id": data[-1]["id"] if data else None}
