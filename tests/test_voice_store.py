"""The voice store on its two real backends: a folder and an S3-compatible server (s3rver)."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
from conftest import speechlike
from s3_server import BUCKET, S3Server

from handler.storage import BucketConfig
from handler.voice_store import VOICE_ID, Damaged, NotFound, StoreError, VoiceStore, open_blobs

RATE = 24_000


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    server = S3Server(tmp_path_factory.mktemp("s3-voices"))
    yield server
    server.stop()


@pytest.fixture(params=["folder", "s3"])
def store(request, tmp_path, s3):
    if request.param == "folder":
        location = str(tmp_path / "voices")
    else:
        location = f"s3://{BUCKET}/store-{tmp_path.name}"
    return VoiceStore(open_blobs(location, BucketConfig.from_env(s3.env)), max_items=50)


def make(store, name="Narrator", seconds=2.0, seed=0):
    wave = speechlike(seconds, seed=seed)
    return store.create_voice(name=name, wave=wave, rate=RATE, ref_text="Some words.", consent=None), wave


def test_a_voice_round_trips_exactly(store):
    voice, wave = make(store)
    assert VOICE_ID.fullmatch(voice.id)
    again = store.voice(voice.id)
    assert again == voice and again.ref_text == "Some words." and again.duration_s == 2.0
    np.testing.assert_array_equal(store.voice_audio(again), wave)  # float32, bit for bit
    assert store.voice_exists(voice.id) and store.count_voices() == 1


def test_ids_are_random_and_names_never_make_keys(store):
    first, _ = make(store, name="../../etc/passwd")
    second, _ = make(store, name="../../etc/passwd")
    assert first.id != second.id
    keys = store.blobs.keys("voices/")
    assert sorted(keys) == sorted(f"voices/{v.id}.{ext}" for v in (first, second) for ext in ("json", "wav"))


def test_listing_pages_by_id(store):
    made = sorted(make(store, seed=i)[0].id for i in range(5))
    first, more = store.voices(limit=2)
    assert [v.id for v in first] == made[:2] and more
    rest, more = store.voices(limit=10, after=first[-1].id)
    assert [v.id for v in rest] == made[2:] and not more


def test_delete_removes_the_record_first_and_then_everything(store):
    voice, _ = make(store)
    store.delete_voice(voice.id)
    assert not store.voice_exists(voice.id) and store.blobs.keys("voices/") == []
    with pytest.raises(NotFound):
        store.voice(voice.id)
    with pytest.raises(NotFound):
        store.delete_voice(voice.id)


def test_a_half_written_voice_is_invisible(store):
    """The audio without its record (a create that died between the two writes) is no voice."""
    voice, _ = make(store)
    store.blobs.delete(f"voices/{voice.id}.json")
    assert store.voices(limit=10) == ([], False) and not store.voice_exists(voice.id)
    with pytest.raises(NotFound):
        store.voice(voice.id)


@pytest.mark.parametrize("failing", [".json", ".wav"])
def test_a_failed_create_leaves_nothing_behind(store, monkeypatch, failing):
    real_put = store.blobs.put

    def fail_on_record(key, data):
        if key.endswith(failing):
            raise StoreError("the store went away")
        real_put(key, data)

    monkeypatch.setattr(store.blobs, "put", fail_on_record)
    with pytest.raises(StoreError):
        make(store)
    assert store.blobs.keys("voices/") == []


@pytest.mark.parametrize("damage", ["audio", "record", "foreign", "other-id"])
def test_damaged_or_foreign_objects_are_an_error_for_that_voice_only(store, damage):
    good, _ = make(store, name="Good")
    bad, _ = make(store, name="Bad", seed=1)
    if damage == "audio":
        store.blobs.put(f"voices/{bad.id}.wav", b"RIFF not really")
    elif damage == "record":
        store.blobs.put(f"voices/{bad.id}.json", b"{not json")
    elif damage == "foreign":
        store.blobs.put(f"voices/{bad.id}.json", json.dumps({"hello": "world"}).encode())
    else:  # a record copied from another voice: never that voice's audio
        store.blobs.put(f"voices/{bad.id}.json", store.blobs.get(f"voices/{good.id}.json"))
    with pytest.raises(Damaged):
        store.voice_audio(store.voice(bad.id))
    listed = {v.id for v in store.voices(limit=10)[0]}
    assert listed == ({good.id, bad.id} if damage == "audio" else {good.id})  # a bad record is left out of listings
    np.testing.assert_array_equal(store.voice_audio(store.voice(good.id)), speechlike(2.0, seed=0))
    store.delete_voice(bad.id)  # a damaged voice can still be deleted
    assert not store.voice_exists(bad.id)


def test_unreadable_ids_are_not_found_without_touching_the_store(store):
    for voice_id in ("voice_../../x", "en", "voice_" + "g" * 32, ""):
        with pytest.raises(NotFound):
            store.voice(voice_id)


def test_concurrent_creates_and_deletes_lose_nothing(store):
    keep = [make(store, name=f"keep {i}", seed=i)[0].id for i in range(3)]
    created: list[str] = []
    errors: list[Exception] = []

    def create(i):
        try:
            created.append(make(store, name=f"new {i}", seed=10 + i)[0].id)
        except Exception as exc:  # noqa: BLE001 - collected, asserted below
            errors.append(exc)

    def delete(voice_id):
        try:
            store.delete_voice(voice_id)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(6)]
    threads += [threading.Thread(target=delete, args=(voice_id,)) for voice_id in keep[:2]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    listed = {v.id for v in store.voices(limit=100)[0]}
    assert listed == {*created, keep[2]}
    for voice_id in listed:
        assert len(store.voice_audio(store.voice(voice_id))) > 0
    assert len(store.blobs.keys("voices/")) == 2 * len(listed)  # no partial voice left


def test_consents_keep_the_recording_as_evidence(store):
    recording = b"RIFF....WAVE-the-recording-bytes"
    consent = store.create_consent(name="Jane", language="en-US", recording=recording)
    assert store.consent(consent.id) == consent and consent.public()["object"] == "audio.voice_consent"
    assert store.blobs.get(f"consents/{consent.id}.bin") == recording
    renamed = store.rename_consent(consent.id, "Jane Doe")
    assert store.consent(consent.id).name == "Jane Doe" == renamed.name
    assert [c.id for c in store.consents(limit=5)[0]] == [consent.id]
    store.delete_consent(consent.id)
    assert store.blobs.keys("consents/") == []


def test_an_unreachable_s3_store_is_a_store_error(s3):
    dead = dict(s3.env, BUCKET_ENDPOINT_URL="http://127.0.0.1:9/nowhere")
    store = VoiceStore(open_blobs(f"s3://{BUCKET}/x", BucketConfig.from_env(dead)), max_items=5)
    with pytest.raises(StoreError, match="cannot list the voice store s3://"):
        store.voices(limit=5)


@pytest.mark.parametrize(
    ("location", "env", "message"),
    [
        ("s3://", True, "names no bucket"),
        ("s3://bucket/prefix", False, "needs BUCKET_ENDPOINT_URL"),
        ("https://example.com/voices", True, "use a folder path or s3://"),
    ],
)
def test_bad_store_settings_are_refused_with_what_to_do(s3, location, env, message):
    with pytest.raises(ValueError, match=message):
        open_blobs(location, BucketConfig.from_env(s3.env) if env else None)
