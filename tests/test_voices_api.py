"""Stored voices end to end: the voices API through the official `openai` client against real HTTP
workers sharing one store (an S3-compatible server), the queue worker's voice operations through the
RunPod SDK's local API, `say --voice`, and in-process against a folder store."""

from __future__ import annotations

import base64
import subprocess
import sys
import time

import httpx
import numpy as np
import pytest
from conftest import ROOT, local_api, make_settings, only, speechlike, wav_bytes, worker_env
from s3_server import BUCKET, S3Server
from test_http import Server

from handler.events import Failure, FailureKind

KEY = "voices-key"
CLIP = wav_bytes(speechlike(3.0, seed=21), 24000)
CLIP_TEXT = "A clip of my own voice."
CONSENT = wav_bytes(speechlike(2.0, seed=22), 16000)
SAY = "Hello from a stored voice."
FAST = {"seed": 5, "nfe_step": 4}


# ---- in process, on a folder store ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def folder_service(tiny_model_dir, tmp_path_factory):
    from handler.startup import build_service

    store = tmp_path_factory.mktemp("folder-store")
    service = build_service(make_settings(tiny_model_dir, F5_VOICE_STORE=str(store), F5_WARMUP="0"))
    service.store_dir = store
    yield service
    service.scheduler.close()


def create(service, **fields) -> dict:
    consent = service.voice_api.create_consent(name="Speaker", language="en", recording=CONSENT)
    return service.voice_api.create_voice(**{"name": "Mine", "audio_sample": CLIP, "ref_text": CLIP_TEXT,
                                             "consent": consent["id"], **fields})


def test_a_stored_voice_is_the_same_conditioning_as_the_reference_sent_inline(folder_service):
    voice = create(folder_service)
    assert voice["object"] == "audio.voice" and voice["type"] == "audio_sample" and voice["id"].startswith("voice_")
    stored = only(folder_service, {"text": SAY, "voice": voice["id"], **FAST})
    inline = only(folder_service, {"text": SAY, "ref_audio": base64.b64encode(CLIP).decode(), "ref_text": CLIP_TEXT, **FAST})
    assert stored["audio_base64"] == inline["audio_base64"]
    preset = only(folder_service, {"text": SAY, "voice": "en", **FAST})
    assert preset["audio_base64"] != stored["audio_base64"]  # the voice matters


def test_creating_a_voice_refuses_what_it_cannot_keep_and_names_the_field(folder_service):
    api = folder_service.voice_api
    consent = api.create_consent(name="Speaker", language="en", recording=CONSENT)["id"]
    cases = [
        (dict(name="x", audio_sample=b"not audio at all" * 10, ref_text="t", consent=consent), "audio_sample"),
        (dict(name="x", audio_sample=wav_bytes(speechlike(70.0), 24000), ref_text="t", consent=consent), "audio_sample"),
        (dict(name="x", audio_sample=b"\0" * (10 * 2**20 + 1), ref_text="t", consent=consent), "audio_sample"),
        (dict(name="x", audio_sample=CLIP, consent=consent), "ref_text"),  # no ASR in this image
        (dict(name="", audio_sample=CLIP, ref_text="t", consent=consent), "name"),
        (dict(name="a\nb", audio_sample=CLIP, ref_text="t", consent=consent), "name"),
        (dict(name="x" * 65, audio_sample=CLIP, ref_text="t", consent=consent), "name"),
        (dict(name="x", audio_sample=CLIP, ref_text="t"), "consent"),  # F5_VOICE_CONSENT defaults to required
        (dict(name="x", audio_sample=CLIP, ref_text="t", consent="cons_" + "0" * 32), "consent"),
    ]
    before = sorted(p.name for p in folder_service.store_dir.rglob("voices/*"))
    for fields, field in cases:
        failure = refusal(api, "create_voice", fields)
        assert failure.kind is FailureKind.INVALID_INPUT and failure.field == field, (field, failure)
    assert sorted(p.name for p in folder_service.store_dir.rglob("voices/*")) == before  # a refused create leaves nothing behind


def refusal(api, operation, fields) -> Failure:
    """How a front door reports a voice operation that fails: its typed failure."""
    from handler.events import failure_for
    from handler.voice_api import run_operation

    with pytest.raises(Exception) as raised:  # any expected error: its failure is checked below
        run_operation(api, operation, dict(fields))
    failure = failure_for(raised.value)
    assert failure is not None, raised.value  # an expected error, not a crash
    return failure


def test_speech_with_an_unknown_or_malformed_voice_id_is_a_clear_error(folder_service):
    for voice in ("voice_" + "0" * 32, "voice_nope", "voice_" + "0" * 31 + "/"):
        [failure] = list(folder_service.events({"text": "Hi.", "voice": voice}))
        assert failure.kind is FailureKind.INVALID_INPUT and failure.field == "voice", failure


def test_without_a_store_creating_a_voice_says_how_to_configure_one(service):
    from handler.voice_api import VoiceApi

    api = VoiceApi(service.voices, None, consent_required=True, max_seconds=60)
    failure = refusal(api, "create_voice", dict(name="x", audio_sample=CLIP, ref_text="t"))
    assert failure.kind is FailureKind.NOT_CONFIGURED and "F5_VOICE_STORE" in failure.message
    assert api.list_voices()["data"][0]["type"] == "preset"  # listing works without a store: the presets


def test_say_speaks_a_stored_voice_from_a_folder_store(folder_service, tiny_model_dir, tmp_path):
    voice = create(folder_service)
    out = tmp_path / "say.wav"
    process = subprocess.run(
        [sys.executable, "-m", "handler", "say", SAY, "-o", str(out), "--voice", voice["id"], "--seed", "5", "--nfe-step", "4"],
        cwd=ROOT, env=worker_env(tiny_model_dir, F5_VOICE_STORE=str(folder_service.store_dir), F5_WARMUP="0"),
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert process.returncode == 0, process.stderr[-3000:]
    expected = only(folder_service, {"text": SAY, "voice": voice["id"], "format": "wav", **FAST})
    assert out.read_bytes() == base64.b64decode(expected["audio_base64"])


# ---- real workers on one S3 store ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    server = S3Server(tmp_path_factory.mktemp("s3-api"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def store_env(s3):
    return {**s3.env, "F5_VOICE_STORE": f"s3://{BUCKET}/endpoint-voices", "F5_VOICE_RECHECK_S": "1",
            "F5_WARMUP": "0", "F5_API_KEY": KEY}


@pytest.fixture(scope="module")
def workers(tiny_model_dir, tmp_path_factory, store_env):
    """Two HTTP workers of one endpoint: the same store, nothing else shared."""
    folder = tmp_path_factory.mktemp("workers")
    started = [Server(tiny_model_dir, folder / f"{name}.log", **store_env) for name in ("a", "b")]
    try:
        for server in started:
            server.wait_ready()
        yield started
    finally:
        for server in started:
            server.stop()


def client(server):
    import openai

    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=KEY, max_retries=0)


def speak(server, voice, **extra) -> httpx.Response:
    body = {"model": "tts-1", "input": SAY, "voice": voice, "response_format": "pcm", **FAST, **extra}
    return httpx.post(f"{server.url}/v1/audio/speech", json=body, headers={"Authorization": f"Bearer {KEY}"}, timeout=120)


def test_the_openai_client_creates_a_voice_and_speaks_with_it(workers):
    a, _ = workers
    openai_client = client(a)
    consent = openai_client.audio.voice_consents.create(name="Speaker", language="en-US",
                                                        recording=("consent.wav", CONSENT, "audio/wav"))
    assert consent.object == "audio.voice_consent" and consent.id.startswith("cons_")
    voice = openai_client.audio.voices.create(name="Narrator", audio_sample=("me.wav", CLIP, "audio/wav"),
                                              consent=consent.id, extra_body={"ref_text": CLIP_TEXT})
    assert voice.object == "audio.voice" and voice.name == "Narrator" and voice.type == "audio_sample"
    stored = openai_client.audio.speech.create(model="tts-1", voice={"id": voice.id}, input=SAY, response_format="pcm",
                                               extra_body=FAST).content
    # the reference inline instead (extra_body): it wins over `voice`, which the client requires
    inline = openai_client.audio.speech.create(
        model="tts-1", voice="en", input=SAY, response_format="pcm",
        extra_body={"ref_audio": base64.b64encode(CLIP).decode(), "ref_text": CLIP_TEXT, **FAST}).content
    assert stored == inline and len(stored) > 0
    assert speak(a, voice.id).content == stored  # the id as a plain string too
    assert openai_client.audio.voice_consents.retrieve(consent.id).name == "Speaker"


def test_a_voice_made_on_one_worker_works_on_the_other_and_a_delete_reaches_both(workers):
    a, b = workers
    consent = client(a).audio.voice_consents.create(name="Speaker", language="en", recording=("c.wav", CONSENT, "audio/wav"))
    voice = client(a).audio.voices.create(name="Shared", audio_sample=("me.wav", CLIP, "audio/wav"),
                                          consent=consent.id, extra_body={"ref_text": CLIP_TEXT})
    on_a, on_b = speak(a, {"id": voice.id}), speak(b, {"id": voice.id})  # b has never seen it: usable at once
    assert on_a.status_code == on_b.status_code == 200 and on_a.content == on_b.content
    deleted = client(a).audio.voices.delete(voice.id)
    assert deleted.deleted and deleted.id == voice.id
    refused = speak(a, {"id": voice.id})  # the worker that deleted it refuses it at once
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "voice"
    deadline = time.monotonic() + 10  # F5_VOICE_RECHECK_S=1 here (30 by default)
    while (answer_b := speak(b, {"id": voice.id})).status_code == 200:
        assert time.monotonic() < deadline, "the other worker still speaks a deleted voice"
        time.sleep(0.3)
    assert answer_b.status_code == 400 and "does not exist" in answer_b.json()["error"]["message"]


def test_listing_pages_and_getting_and_deleting_by_id(workers):
    a, _ = workers
    headers = {"Authorization": f"Bearer {KEY}"}
    consent = client(a).audio.voice_consents.create(name="Speaker", language="en", recording=("c.wav", CONSENT, "audio/wav"))
    made = sorted(client(a).audio.voices.create(name=f"Voice {i}", audio_sample=("me.wav", CLIP, "audio/wav"),
                                                consent=consent.id, extra_body={"ref_text": CLIP_TEXT}).id for i in range(3))
    first = httpx.get(f"{a.url}/v1/audio/voices", params={"limit": 2}, headers=headers).json()
    assert [v["id"] for v in first["data"][:2]] == ["en", "zh"] and first["default"] == "en"
    listed, after = [v["id"] for v in first["data"] if v["type"] == "audio_sample"], first["last_id"]
    while first["has_more"]:
        first = httpx.get(f"{a.url}/v1/audio/voices", params={"limit": 2, "after": after}, headers=headers).json()
        listed += [v["id"] for v in first["data"]]
        after = first["last_id"]
    assert set(made) <= set(listed) and listed == sorted(listed)
    got = httpx.get(f"{a.url}/v1/audio/voices/{made[0]}", headers=headers).json()
    assert got["id"] == made[0] and got["ref_text"] == CLIP_TEXT
    assert httpx.delete(f"{a.url}/v1/audio/voices/{made[0]}", headers=headers).json()["deleted"] is True
    missing = httpx.get(f"{a.url}/v1/audio/voices/{made[0]}", headers=headers)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    consents = list(client(a).audio.voice_consents.list(limit=1))  # the client follows the cursor
    assert consent.id in {c.id for c in consents}


def test_bad_voice_requests_get_4xx_naming_the_field_and_the_worker_keeps_serving(workers):
    import openai

    a, _ = workers
    openai_client = client(a)
    headers = {"Authorization": f"Bearer {KEY}"}
    no_consent = httpx.post(f"{a.url}/v1/audio/voices", headers=headers, timeout=60,  # the client requires one
                            files={"audio_sample": ("me.wav", CLIP, "audio/wav")}, data={"name": "No consent", "ref_text": "t"})
    assert no_consent.status_code == 400 and no_consent.json()["error"]["param"] == "consent"
    with pytest.raises(openai.BadRequestError) as refused:
        openai_client.audio.voice_consents.create(name="x", language="not a tag", recording=("c.wav", CONSENT, "audio/wav"))
    assert refused.value.body["param"] == "language"
    with pytest.raises(openai.BadRequestError) as refused:
        openai_client.audio.voice_consents.create(name="x", language="en", recording=("c.txt", b"plain text", "text/plain"))
    assert refused.value.body["param"] == "recording"
    with pytest.raises(openai.NotFoundError):
        openai_client.audio.voices.delete("voice_" + "0" * 32)
    too_big = httpx.post(f"{a.url}/v1/audio/voices", headers=headers, timeout=60,
                         files={"audio_sample": ("big.wav", b"\0" * (11 * 2**20), "audio/wav")}, data={"name": "Big"})
    assert too_big.status_code == 413
    not_form = httpx.post(f"{a.url}/v1/audio/voices", headers=headers, json={"name": "x"})
    assert not_form.status_code == 415
    assert speak(a, "en").status_code == 200


def test_a_queue_job_creates_a_voice_that_the_http_mode_then_speaks(workers, tiny_model_dir, store_env):
    a, _ = workers
    import requests

    env = {k: v for k, v in store_env.items() if k != "F5_API_KEY"}
    with local_api(tiny_model_dir, **env) as queue:
        def job(**fields):
            body = requests.post(f"{queue}/runsync", json={"input": fields}, timeout=120).json()
            return body["output"][0]

        consent = job(operation="create_consent", name="Speaker", language="en",
                      recording=base64.b64encode(CONSENT).decode())
        voice = job(operation="create_voice", name="From a job", audio_sample=base64.b64encode(CLIP).decode(),
                    ref_text=CLIP_TEXT, consent=consent["id"])
        assert voice["object"] == "audio.voice", voice
        assert job(operation="get_voice", voice_id=voice["id"])["name"] == "From a job"
        assert "unknown" in job(operation="fly", voice_id=voice["id"])["error"]
        spoken = job(text=SAY, voice=voice["id"], format="pcm", **FAST)  # a speech job with the id
    over_http = speak(a, {"id": voice["id"]})
    assert over_http.status_code == 200
    # two processes: the same samples up to 16-bit rounding (their CPU kernels may round differently)
    http_samples = np.frombuffer(over_http.content, "<i2").astype(int)
    queue_samples = np.frombuffer(base64.b64decode(spoken["audio_base64"]), "<i2").astype(int)
    assert len(http_samples) == len(queue_samples) and np.abs(http_samples - queue_samples).max() <= 1


def test_an_unreachable_store_is_a_503_and_presets_still_speak(tiny_model_dir, tmp_path, s3):
    dead = {**s3.env, "BUCKET_ENDPOINT_URL": "http://127.0.0.1:9/nowhere", "F5_VOICE_STORE": f"s3://{BUCKET}/x",
            "F5_WARMUP": "0"}
    server = Server(tiny_model_dir, tmp_path / "dead.log", **dead)
    try:
        server.wait_ready()
        listing = httpx.get(f"{server.url}/v1/audio/voices", timeout=60)
        assert listing.status_code == 503 and listing.headers["retry-after"] == "1"
        unusable = httpx.post(f"{server.url}/v1/audio/speech", timeout=60,
                              json={"input": SAY, "voice": "voice_" + "1" * 32, "response_format": "pcm"})
        assert unusable.status_code == 503 and unusable.json()["error"]["code"] == "unavailable"
        assert httpx.post(f"{server.url}/v1/audio/speech", timeout=120,
                          json={"input": SAY, "voice": "en", "response_format": "pcm", **FAST}).status_code == 200
    finally:
        server.stop()


def test_the_prepared_wave_is_stored_exactly(folder_service):
    """What the store keeps is the wave the worker uses: float32, bit for bit."""
    from handler.voice_store import VoiceStore, open_blobs

    voice = create(folder_service)
    store = VoiceStore(open_blobs(str(folder_service.store_dir), None), max_items=10)
    _, wave, _ = folder_service.voices.reference(CLIP, CLIP_TEXT)
    np.testing.assert_array_equal(store.voice_audio(store.voice(voice["id"])), wave)


def test_with_the_baked_whisper_a_voice_is_transcribed_once_at_creation(tiny_model_dir, tmp_path):
    """No ref_text: the image's Whisper transcribes the clip when the voice is created; the transcript
    is returned and stored, and using the voice never transcribes again."""
    import shutil

    from handler.startup import build_service
    from support.random_model import add_tiny_whisper

    model_dir = add_tiny_whisper(shutil.copytree(tiny_model_dir, tmp_path / "models"))
    service = build_service(make_settings(model_dir, F5_VOICE_STORE=str(tmp_path / "store"), F5_WARMUP="0",
                                          F5_VOICE_CONSENT="0"))
    try:
        voice = service.voice_api.create_voice(name="Heard", audio_sample=CLIP)
        assert voice["ref_text"].strip()  # random weights: some text, but text
        assert service.voice_api.voice(voice["id"])["ref_text"] == voice["ref_text"]

        def must_not_run(wave):
            raise AssertionError("the stored transcript must be used, not a new one")

        service.voices.transcribe = must_not_run
        service.voices.forget(voice["id"])  # prepared again from the store
        assert "audio_base64" in only(service, {"text": SAY, "voice": voice["id"], **FAST})
    finally:
        service.scheduler.close()
