"""Stored voices and consent recordings, shared by every worker of an endpoint: a folder or an S3 prefix.

`F5_VOICE_STORE` picks the place: a folder (a volume mounted into the container, or a RunPod network
volume under /runpod-volume) or `s3://bucket/prefix` (with the BUCKET_* endpoint and keys). Layout:

  voices/<id>.wav      the prepared reference, exactly as the worker uses it (mono float32 at the
                       model's rate, clipped and trimmed): written first
  voices/<id>.json     the record (name, transcript, consent, sha256 of the .wav, ...): written last,
                       so a voice exists only once all of it does; deleted first
  consents/<id>.bin    a consent recording as uploaded (kept as evidence): written first
  consents/<id>.json   its record: written last, deleted first

Keys are made from random ids only (never from a name or any other text a caller sent). A reader
checks what it reads (the record's shape and id, the audio's sha256), so a damaged or foreign object
is an error for that voice alone.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import secrets
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import numpy as np
import soundfile as sf

RECORD_VERSION = "f5tts-voice/1"
VOICE_ID = re.compile(r"voice_[0-9a-f]{32}")  # 128 random bits
CONSENT_ID = re.compile(r"cons_[0-9a-f]{32}")


class StoreError(RuntimeError):
    """The store could not be read or written (unreachable, refused): nothing was changed by halves."""


class NotFound(KeyError):
    """No such voice or consent in the store."""


class Damaged(ValueError):
    """An object in the store is not what this worker wrote (corrupted, foreign, or half-written)."""


def new_id(kind: str) -> str:
    return f"{kind}_{secrets.token_hex(16)}"


# ---- where the bytes live -----------------------------------------------------------------------------
class Blobs(Protocol):
    where: str  # for messages: the folder or s3://bucket/prefix

    def put(self, key: str, data: bytes) -> None: ...  # whole or not at all
    def get(self, key: str) -> bytes: ...  # NotFound when absent
    def exists(self, key: str) -> bool: ...
    def delete(self, key: str) -> None: ...  # absent is fine
    def keys(self, prefix: str) -> list[str]: ...  # sorted


class FolderBlobs:
    def __init__(self, root: Path):
        self.root = root
        self.where = str(root)

    def _path(self, key: str) -> Path:
        return self.root / key

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle, temp = tempfile.mkstemp(dir=path.parent, prefix=".part-")
            try:
                with os.fdopen(handle, "wb") as stream:
                    stream.write(data)
                    stream.flush()
                    os.fsync(stream.fileno())
                os.replace(temp, path)  # atomic: a reader sees the old file, the new one, or none
            except BaseException:
                Path(temp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise StoreError(f"cannot write to the voice store {self.where}: {exc.strerror or exc}") from None

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise NotFound(key) from None
        except OSError as exc:
            raise StoreError(f"cannot read the voice store {self.where}: {exc.strerror or exc}") from None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink(missing_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot delete from the voice store {self.where}: {exc.strerror or exc}") from None

    def keys(self, prefix: str) -> list[str]:
        folder = self._path(prefix)
        if not folder.is_dir():
            return []
        try:
            return sorted(f"{prefix}{p.name}" for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
        except OSError as exc:
            raise StoreError(f"cannot list the voice store {self.where}: {exc.strerror or exc}") from None


class S3Blobs:
    def __init__(self, bucket: str, prefix: str, config, timeout_s: float = 10.0):
        self.bucket, self.prefix = bucket, prefix
        self.where = f"s3://{bucket}/{prefix}"
        self._client = config.client(connect_timeout_s=timeout_s, read_timeout_s=timeout_s)

    def _call(self, action: str, call, **kwargs):
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return call(Bucket=self.bucket, **kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "404", "NotFound"):
                raise NotFound(kwargs.get("Key", "")) from None
            raise StoreError(f"cannot {action} the voice store {self.where}: {code or exc}") from None
        except BotoCoreError as exc:
            raise StoreError(f"cannot {action} the voice store {self.where}: {type(exc).__name__}: {exc}") from None

    def put(self, key: str, data: bytes) -> None:  # an S3 PUT is atomic: the object appears whole
        self._call("write to", self._client.put_object, Key=self.prefix + key, Body=data)

    def get(self, key: str) -> bytes:
        return self._call("read", self._client.get_object, Key=self.prefix + key)["Body"].read()

    def exists(self, key: str) -> bool:
        try:
            self._call("read", self._client.head_object, Key=self.prefix + key)
        except NotFound:
            return False
        return True

    def delete(self, key: str) -> None:
        self._call("delete from", self._client.delete_object, Key=self.prefix + key)

    def keys(self, prefix: str) -> list[str]:
        found, token = [], None
        while True:
            extra = {"ContinuationToken": token} if token else {}
            page = self._call("list", self._client.list_objects_v2, Prefix=self.prefix + prefix, **extra)
            found += [item["Key"][len(self.prefix):] for item in page.get("Contents", [])]
            token = page.get("NextContinuationToken")
            if not token:
                return sorted(found)


def open_blobs(location: str, bucket_config) -> Blobs:
    """`location`: a folder path, or s3://bucket/prefix (endpoint and keys from BUCKET_*)."""
    if location.startswith("s3://"):
        parts = urlsplit(location)
        if not parts.netloc:
            raise ValueError(f"F5_VOICE_STORE={location!r} names no bucket; use s3://bucket/prefix")
        if bucket_config is None:
            raise ValueError(f"F5_VOICE_STORE={location!r} needs BUCKET_ENDPOINT_URL, BUCKET_ACCESS_KEY_ID and "
                             "BUCKET_SECRET_ACCESS_KEY for the S3 endpoint and its keys")
        prefix = parts.path.strip("/")
        return S3Blobs(parts.netloc, f"{prefix}/" if prefix else "", bucket_config)
    if "://" in location:
        raise ValueError(f"F5_VOICE_STORE={location!r}: use a folder path or s3://bucket/prefix")
    return FolderBlobs(Path(location))


# ---- what is stored ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StoredVoice:
    id: str
    name: str
    created_at: int
    ref_text: str
    consent: str | None
    sha256: str  # of the .wav object
    sample_rate: int
    duration_s: float

    def public(self) -> dict[str, Any]:
        """As the OpenAI voices API shows a voice (plus its transcript, which this API keeps)."""
        return {"object": "audio.voice", "id": self.id, "name": self.name, "created_at": self.created_at,
                "type": "audio_sample", "ref_text": self.ref_text, "consent": self.consent,
                "duration_s": self.duration_s}


@dataclass(frozen=True)
class Consent:
    id: str
    name: str
    language: str
    created_at: int
    sha256: str  # of the recording
    size: int

    def public(self) -> dict[str, Any]:
        return {"object": "audio.voice_consent", "id": self.id, "name": self.name, "language": self.language,
                "created_at": self.created_at}


def _record(kind: str, fields: dict) -> bytes:
    return json.dumps({"version": RECORD_VERSION, "kind": kind, **fields}, ensure_ascii=False).encode("utf-8")


def _parse(kind: str, data: bytes, expected_id: str, cls):
    try:
        record = json.loads(data)
        if record.pop("version") != RECORD_VERSION or record.pop("kind") != kind:
            raise ValueError("not a record this worker writes")
        item = cls(**record)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise Damaged(f"{expected_id}: unreadable record ({type(exc).__name__}: {exc})") from None
    if item.id != expected_id:
        raise Damaged(f"{expected_id}: the record names another id ({item.id!r})")
    return item


def _wav(wave: np.ndarray, rate: int) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, np.asarray(wave, dtype=np.float32), rate, format="WAV", subtype="FLOAT")  # lossless
    return buffer.getvalue()


class VoiceStore:
    def __init__(self, blobs: Blobs, max_items: int):
        self.blobs = blobs
        self.max_items = max_items
        self.where = blobs.where

    # ---- voices --------------------------------------------------------------------------------------
    def count_voices(self) -> int:
        return sum(key.endswith(".json") for key in self.blobs.keys("voices/"))

    def count_consents(self) -> int:
        return sum(key.endswith(".json") for key in self.blobs.keys("consents/"))

    def create_voice(self, *, name: str, wave: np.ndarray, rate: int, ref_text: str, consent: str | None) -> StoredVoice:
        voice_id = new_id("voice")
        audio = _wav(wave, rate)
        voice = StoredVoice(id=voice_id, name=name, created_at=int(time.time()), ref_text=ref_text, consent=consent,
                            sha256=hashlib.sha256(audio).hexdigest(), sample_rate=rate,
                            duration_s=round(len(wave) / rate, 3))
        self._put_both(f"voices/{voice_id}.wav", audio, f"voices/{voice_id}.json", _record("voice", asdict(voice)))
        return voice

    def _put_both(self, data_key: str, data: bytes, record_key: str, record: bytes) -> None:
        """The data first, the record that makes it exist last; a failed create leaves nothing behind."""
        self.blobs.put(data_key, data)
        try:
            self.blobs.put(record_key, record)
        except BaseException:
            self.blobs.delete(data_key)
            raise

    def voice(self, voice_id: str) -> StoredVoice:
        if not VOICE_ID.fullmatch(voice_id):
            raise NotFound(voice_id)
        return _parse("voice", self.blobs.get(f"voices/{voice_id}.json"), voice_id, StoredVoice)

    def voice_exists(self, voice_id: str) -> bool:
        return VOICE_ID.fullmatch(voice_id) is not None and self.blobs.exists(f"voices/{voice_id}.json")

    def voice_audio(self, voice: StoredVoice) -> np.ndarray:
        try:
            data = self.blobs.get(f"voices/{voice.id}.wav")
        except NotFound:
            raise Damaged(f"{voice.id}: its audio is missing") from None
        if hashlib.sha256(data).hexdigest() != voice.sha256:
            raise Damaged(f"{voice.id}: its audio does not match its record (sha256)")
        try:
            wave, rate = sf.read(io.BytesIO(data), dtype="float32")
        except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
            raise Damaged(f"{voice.id}: its audio is unreadable ({exc})") from None
        if rate != voice.sample_rate or wave.ndim != 1:
            raise Damaged(f"{voice.id}: its audio is not mono at {voice.sample_rate} Hz")
        return wave

    def delete_voice(self, voice_id: str) -> None:
        """Delete a voice, a damaged one too (that is how it is mended); NotFound if there is none."""
        if not self.voice_exists(voice_id):
            raise NotFound(voice_id)
        self.blobs.delete(f"voices/{voice_id}.json")  # the record first: from now on it does not exist
        self.blobs.delete(f"voices/{voice_id}.wav")

    def voices(self, limit: int, after: str | None = None) -> tuple[list[StoredVoice], bool]:
        """A page of voices by id, after `after` (and whether more follow)."""
        return self._page("voices/", VOICE_ID, self.voice, limit, after)

    def _page(self, folder: str, pattern: re.Pattern, read, limit: int, after: str | None) -> tuple[list, bool]:
        ids = [key[len(folder):-len(".json")] for key in self.blobs.keys(folder) if key.endswith(".json")]
        ids = [i for i in ids if pattern.fullmatch(i) and (after is None or i > after)]
        page = []
        for item_id in ids:
            if len(page) == limit:
                return page, True
            try:
                page.append(read(item_id))
            except (NotFound, Damaged):  # deleted meanwhile, or not ours: left out of listings
                continue
        return page, False

    # ---- consents ------------------------------------------------------------------------------------
    def create_consent(self, *, name: str, language: str, recording: bytes) -> Consent:
        consent = Consent(id=new_id("cons"), name=name, language=language, created_at=int(time.time()),
                          sha256=hashlib.sha256(recording).hexdigest(), size=len(recording))
        self._put_both(f"consents/{consent.id}.bin", recording, f"consents/{consent.id}.json",
                       _record("consent", asdict(consent)))
        return consent

    def consent(self, consent_id: str) -> Consent:
        if not CONSENT_ID.fullmatch(consent_id):
            raise NotFound(consent_id)
        return _parse("consent", self.blobs.get(f"consents/{consent_id}.json"), consent_id, Consent)

    def rename_consent(self, consent_id: str, name: str) -> Consent:
        consent = self.consent(consent_id)
        renamed = Consent(**{**asdict(consent), "name": name})
        self.blobs.put(f"consents/{consent_id}.json", _record("consent", asdict(renamed)))
        return renamed

    def delete_consent(self, consent_id: str) -> None:
        if not CONSENT_ID.fullmatch(consent_id) or not self.blobs.exists(f"consents/{consent_id}.json"):
            raise NotFound(consent_id)
        self.blobs.delete(f"consents/{consent_id}.json")
        self.blobs.delete(f"consents/{consent_id}.bin")

    def consents(self, limit: int, after: str | None = None) -> tuple[list[Consent], bool]:
        return self._page("consents/", CONSENT_ID, self.consent, limit, after)
