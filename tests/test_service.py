"""A request end to end through the Service, read as the queue worker answers it: voices, formats,
streaming, delivery, faults; and the typed failures every front door reads."""

import base64
import hashlib
import io
import json
import os
import subprocess
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.request import urlopen

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import (
    FaultyBackend,
    answer,
    assert_audio_format,
    decode_b64_audio,
    make_settings,
    only,
    service_with_scheduler,
    speechlike,
    wav_bytes,
)
from s3_server import S3Server

from handler.audio_codec import OUTPUT_FORMATS
from handler.delivery import Delivery
from handler.events import Failure, FailureKind
from handler.platform_limits import STREAM_MESSAGE_BYTES
from handler.service import Service
from handler.storage import BucketConfig, Uploader
from handler.voices import VoiceLibrary

LONG_TEXT = " ".join(
    f"Sentence number {i} is here to make the text long enough for several chunks." for i in range(12)
)


def clone(service, tiny_model_dir, uploader=None, **env):
    """A Service with other settings over the same loaded model and scheduler."""
    settings = make_settings(tiny_model_dir, **env)
    voices = VoiceLibrary.from_settings(service.backend, settings)
    return Service(settings, service.backend, service.scheduler, voices, Delivery(uploader, settings.inline_max_bytes))


def test_default_voice_result(service):
    result = only(service, {"text": "Hello world, this is a test.", "seed": 42, "nfe_step": 8})
    audio, rate = decode_b64_audio(result["audio_base64"])
    assert rate == result["sample_rate"] == 24000
    assert result["format"] == "wav" and result["content_type"] == "audio/wav"
    assert result["seed"] == 42 and result["chunks"] == 1
    assert abs(len(audio) / rate - result["duration_s"]) < 0.01
    timings = result["timings"]
    for key in ("preprocess_s", "model_s", "vocoder_s", "encode_s", "total_s", "rtf"):
        assert timings[key] >= 0, key
    assert timings["total_s"] >= timings["model_s"] + timings["vocoder_s"]


def test_a_seed_is_always_returned_and_reproduces_the_audio(service):
    first = only(service, {"text": "Reproduce me.", "nfe_step": 8})
    assert isinstance(first["seed"], int)
    again = only(service, {"text": "Reproduce me.", "nfe_step": 8, "seed": first["seed"]})
    assert again["audio_base64"] == first["audio_base64"]


@pytest.mark.parametrize("fmt", ["wav", "flac", "mp3", "opus", "ogg", "pcm"])
def test_every_format(service, fmt):
    result = only(service, {"text": "Format test.", "format": fmt, "seed": 1, "nfe_step": 4})
    data = base64.b64decode(result["audio_base64"])
    assert result["format"] == fmt and result["content_type"].startswith(OUTPUT_FORMATS[fmt].content_type)
    assert_audio_format(data, fmt)
    if fmt == "pcm":
        samples = len(data) // 2
    else:
        samples = len(sf.read(io.BytesIO(data))[0])
    assert abs(samples / 24000 - result["duration_s"]) < 0.1


def test_long_text_is_chunked_and_joined(service):
    result = only(service, {"text": LONG_TEXT, "seed": 3, "nfe_step": 4})
    assert result["chunks"] > 2
    audio, _ = decode_b64_audio(result["audio_base64"])
    assert len(audio) / 24000 == pytest.approx(result["duration_s"], abs=0.01)


def test_stream_messages_add_up_to_its_chunks_joined(service):
    """A stream starts with a short chunk (deliberately unlike upstream); the rest of its chunks follow
    upstream's rule, and its messages joined are exactly those chunks' audio cross-faded."""
    from handler.batching import FIRST_CHUNK_S, STREAM_CHUNK_GROWTH
    from handler.crossfade import crossfade_join
    from handler.model import SynthesisParams
    from handler.text_chunks import chunk_text

    request = {"text": LONG_TEXT, "seed": 9, "nfe_step": 4, "format": "pcm"}
    voice = service.voices.preset("en")
    budget = service.backend.text_budget
    chunks = chunk_text(service.normalized(LONG_TEXT), budget(voice, 1.0), first_max_bytes=budget(voice, 1.0, FIRST_CHUNK_S),
                        min_rest_bytes=service.backend.shortest_chunk_bytes, growth=STREAM_CHUNK_GROWTH)
    sizes = [len(chunk.encode()) for chunk in chunks]
    assert sizes[0] < sizes[-1] and min(sizes) >= service.backend.shortest_chunk_bytes  # short first, no orphan word
    plan = service.backend.plan(voice, chunks, SynthesisParams(nfe_step=4, seed=9), request=0)
    waves = [future.result().wave for future in service.scheduler.submit(plan.items())]
    whole = (np.clip(crossfade_join(waves, int(0.15 * 24000)), -1, 1) * 32767).round().astype("<i2")
    messages = answer(service, {**request, "stream": True}, "stream-job")
    *parts, summary = messages
    assert summary["done"] is True and summary["segments"] == len(parts) > 1
    assert [m["index"] for m in parts] == list(range(len(parts)))
    assert all(len(json.dumps(m)) < STREAM_MESSAGE_BYTES for m in messages)
    assert summary["timings"]["first_audio_s"] <= summary["timings"]["total_s"]
    streamed = np.concatenate([np.frombuffer(base64.b64decode(m["audio_base64"]), "<i2") for m in parts])
    assert summary["chunks"] == len(chunks) > 2
    assert len(streamed) == len(whole)
    assert np.max(np.abs(streamed.astype(int) - whole.astype(int))) <= 1


def ffmpeg_seconds(data: bytes, suffix: str) -> float:
    """Decode with ffmpeg (not the encoder that made the bytes) and count the samples it gives."""
    with tempfile.NamedTemporaryFile(suffix=suffix) as handle:
        handle.write(data)
        handle.flush()
        raw = ["-f", "s16le", "-ar", "24000", "-ac", "1"]
        source = [*raw, "-i", handle.name] if suffix == ".pcm" else ["-i", handle.name]
        done = subprocess.run(["ffmpeg", "-v", "error", *source, *raw, "-"], capture_output=True, check=True)
    assert done.stderr == b"", done.stderr
    return len(done.stdout) / 2 / 24000


@pytest.mark.parametrize("fmt", ["wav", "pcm", "mp3", "opus", "ogg", "flac"])
def test_a_stream_joined_is_one_playable_file_in_its_format(service, fmt):
    text = " ".join(LONG_TEXT.split(". ")[:4])
    *parts, summary = answer(service, {"text": text, "stream": True, "format": fmt, "nfe_step": 4, "seed": 2})
    assert summary["done"] and len(parts) > 1
    joined = b"".join(base64.b64decode(part["audio_base64"]) for part in parts)
    assert_audio_format(joined, fmt)  # one file in its own container and codec, not any that decodes
    assert sum(part["duration_s"] for part in parts) == pytest.approx(summary["duration_s"], abs=0.01)
    slack = 0.1 if fmt == "mp3" else 0.01  # an MP3 decoder adds the encoder's delay and padding
    assert ffmpeg_seconds(joined, f".{fmt}") == pytest.approx(summary["duration_s"], abs=slack)
    if fmt in ("wav", "ogg", "opus", "mp3"):  # and a second decoder: libsndfile
        data, rate = sf.read(io.BytesIO(joined), dtype="float32")
        assert len(data) / rate == pytest.approx(summary["duration_s"], abs=slack)


def audio_id(result: dict) -> str:
    """A short name for a result's audio bytes, so that a failed comparison prints something readable."""
    return hashlib.sha256(result["audio_base64"].encode()).hexdigest()[:16]


def test_a_preset_speaks_with_its_own_clip(service):
    """`voice: zh` is zh's clip and transcript (the same audio as sending them inline, same seed),
    not the English preset's."""
    zh = service.voices.presets["zh"]
    request = {"text": "你好，世界。", "seed": 1, "nfe_step": 4}
    preset = only(service, {**request, "voice": "zh"})
    inline = only(service, {**request, "ref_audio": base64.b64encode(zh.path.read_bytes()).decode(), "ref_text": zh.ref_text})
    english = only(service, {**request, "voice": "en"})
    assert preset["duration_s"] > 0
    assert audio_id(preset) == audio_id(inline) != audio_id(english)


def test_the_default_voice_is_the_one_named_by_f5_default_voice(service, tiny_model_dir, tmp_path):
    clip = wav_bytes(speechlike(3.0, seed=21), 24000)
    (tmp_path / "narrator.wav").write_bytes(clip)
    (tmp_path / "voices.json").write_text(json.dumps({"narrator": {"file": "narrator.wav", "ref_text": "Hello there."}}))
    narrated = clone(service, tiny_model_dir, F5_VOICES_DIR=str(tmp_path), F5_DEFAULT_VOICE="narrator")
    request = {"text": "Who is speaking?", "seed": 1, "nfe_step": 4}
    unnamed = only(narrated, request)
    named = only(narrated, {**request, "voice": "narrator"})
    inline = only(narrated, {**request, "ref_audio": base64.b64encode(clip).decode(), "ref_text": "Hello there."})
    english = only(narrated, {**request, "voice": "en"})
    assert audio_id(unnamed) == audio_id(named) == audio_id(inline) != audio_id(english)


def test_custom_reference_as_base64_and_data_url_share_the_cache(service, tiny_model_dir):
    service = clone(service, tiny_model_dir)
    clip = wav_bytes(speechlike(4.0, seed=11), 24000)
    encoded = base64.b64encode(clip).decode()
    before = len(service.voices._voices)
    first = only(service, {"text": "Custom voice.", "ref_audio": encoded, "ref_text": "A custom reference.", "seed": 1, "nfe_step": 4})
    second = only(service, {"text": "Custom voice.", "ref_audio": f"data:audio/wav;base64,{encoded}", "ref_text": "A custom reference.", "seed": 1, "nfe_step": 4})
    assert first["audio_base64"] == second["audio_base64"]
    assert len(service.voices._voices) == before + 1  # prepared once, by content hash


def test_custom_reference_from_a_url(service, tiny_model_dir):
    clip = wav_bytes(speechlike(3.0, seed=12), 16000)

    class Serve(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(clip)))
            self.end_headers()
            self.wfile.write(clip)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Serve)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_port}/ref.wav"
    try:
        refused = only(service, {"text": "From a URL.", "ref_audio": url, "ref_text": "Reference."})
        assert "https" in refused["error"]
        permissive = clone(service, tiny_model_dir, F5_ALLOW_PRIVATE_URLS="1")
        result = only(permissive, {"text": "From a URL.", "ref_audio": url, "ref_text": "Reference.", "nfe_step": 4})
        assert result["duration_s"] > 0
    finally:
        httpd.shutdown()


@pytest.mark.parametrize(
    "job_input, needle",
    [
        ({"text": "x", "ref_audio": "%%%not-base64%%%", "ref_text": "t"}, "not valid base64"),
        ({"text": "x", "ref_audio": base64.b64encode(b"garbage" * 50).decode(), "ref_text": "t"}, "could not be decoded"),
        ({"text": "x", "ref_audio": base64.b64encode(wav_bytes(np.zeros(48000, np.float32), 24000)).decode(), "ref_text": "t"}, "less than 0.5 s of sound"),
        ({"text": "x", "ref_audio": base64.b64encode(wav_bytes(speechlike(2.0), 24000)).decode()}, "ref_text is required"),
        ({"text": "x", "voice": "alloy"}, "available: en, zh"),
        ({"text": "مرحبا بالعالم"}, "cannot speak: 'ا' (U+0627)"),
        ({"text": "🎉 👍"}, "nothing the model can speak once '🎉' (U+1F389), '👍' (U+1F44D) are left out"),
        ({"text": "x", "ref_audio": "ftp://host/a.wav", "ref_text": "t"}, "https"),
        ({"text": "x", "stream": True, "output": "url"}, "not available with stream"),
        ({"text": "x", "output": "url"}, "no bucket is configured"),
        ("just a string", "JSON object"),
    ],
)
def test_bad_requests_get_clear_errors(service, job_input, needle):
    result = only(service, job_input)
    assert set(result) == {"error"} and needle in result["error"], result


def test_reference_over_the_duration_cap(service, tiny_model_dir):
    strict = clone(service, tiny_model_dir, F5_REF_MAX_SECONDS="5")
    clip = base64.b64encode(wav_bytes(speechlike(6.0), 24000)).decode()
    assert "limit is 5 s" in only(strict, {"text": "x", "ref_audio": clip, "ref_text": "t"})["error"]


def test_reference_over_the_size_cap(service, tiny_model_dir):
    strict = clone(service, tiny_model_dir, F5_REF_MAX_BYTES="10000")
    clip = base64.b64encode(wav_bytes(speechlike(3.0), 24000)).decode()
    assert "10000-byte limit" in only(strict, {"text": "x", "ref_audio": clip, "ref_text": "t"})["error"]


def test_emoji_and_soundless_symbols_are_dropped_and_reported_not_refused(service):
    """One emoji must not cost a reply its audio: soundless characters the model cannot speak are left
    out of the text, reported in the result, and the rest is spoken exactly as without them."""
    with_emoji = only(service, {"text": "Great job! 🎉 See you soon 👋🏽.", "seed": 3, "nfe_step": 4})
    plain = only(service, {"text": "Great job! See you soon.", "seed": 3, "nfe_step": 4})
    assert with_emoji["dropped"] == sorted({"🎉", "👋", "🏽"}) and plain["dropped"] == []
    assert with_emoji["text"] == plain["text"] == "Great job! See you soon."
    assert with_emoji["audio_base64"] == plain["audio_base64"]


def test_remove_silence_never_answers_an_empty_success(service):
    """The tiny random model's voice is quiet noise, under the silence threshold throughout: before the
    fix, remove_silence took all of it away and the job completed with 0.0 s of audio. (That it is
    wired up at all, and how much it removes, test_seam.py shows with a voice of known silences.)"""
    plain = only(service, {"text": "Silence test.", "seed": 4, "nfe_step": 4})
    trimmed = only(service, {"text": "Silence test.", "seed": 4, "nfe_step": 4, "remove_silence": True})
    audio, rate = decode_b64_audio(trimmed["audio_base64"])
    assert 0 < trimmed["duration_s"] <= plain["duration_s"]
    assert len(audio) / rate == pytest.approx(trimmed["duration_s"], abs=0.001)


def test_fix_duration_within_the_reference_is_refused_by_name(service):
    """fix_duration counts the reference voice; at or below the reference's own length it leaves no
    room for speech (before the fix: a 0.011 s "success")."""
    reference_s = service.voices.preset("en").duration_s
    [failure] = list(service.events({"text": "Too short.", "fix_duration": reference_s, "nfe_step": 4}))
    assert isinstance(failure, Failure) and failure.kind is FailureKind.INVALID_INPUT
    assert failure.field == "fix_duration" and "counts the reference voice" in failure.message
    longer = only(service, {"text": "Long enough.", "fix_duration": reference_s + 2.0, "nfe_step": 4, "seed": 1})
    assert longer["duration_s"] == pytest.approx(2.0, abs=0.05)  # the reference is not in the answer


@pytest.mark.parametrize(
    "job_input, kind, field",
    [
        ({"text": "x", "voice": "alloy"}, FailureKind.INVALID_INPUT, "voice"),
        ({"text": "x", "nfe_step": 1000}, FailureKind.INVALID_INPUT, "nfe_step"),
        ({"input": "x", "response_format": "aac"}, FailureKind.INVALID_INPUT, "format"),
        ({"text": "x", "colour": "red"}, FailureKind.INVALID_INPUT, "colour"),
        ({"text": "x", "ref_audio": "%%%", "ref_text": "t"}, FailureKind.INVALID_INPUT, "ref_audio"),
        ({"text": "x", "ref_audio": base64.b64encode(wav_bytes(speechlike(2.0), 24000)).decode()},
         FailureKind.INVALID_INPUT, "ref_text"),
        ({"text": "x", "voice": "en", "ref_audio": "AAAA"}, FailureKind.INVALID_INPUT, "voice"),
        ({"text": "Hello मित्र"}, FailureKind.INVALID_INPUT, "text"),
        ({"text": "x", "stream": True, "output": "url"}, FailureKind.INVALID_INPUT, "output"),
        ({"text": "x", "output": "url"}, FailureKind.DELIVERY, None),
    ],
)
def test_failures_carry_their_kind_and_field(service, job_input, kind, field):
    """What the front doors read instead of the wording (the HTTP mode's status and `param`)."""
    [failure] = list(service.events(job_input))
    assert isinstance(failure, Failure) and (failure.kind, failure.field) == (kind, field), failure
    assert not failure.replace_worker


def test_no_temp_files_are_left(service):
    before = set(os.listdir(tempfile.gettempdir()))
    clip = base64.b64encode(wav_bytes(speechlike(3.0, seed=99), 44100)).decode()
    only(service, {"text": "Temp test.", "ref_audio": clip, "ref_text": "Temp.", "format": "mp3", "nfe_step": 4})
    assert set(os.listdir(tempfile.gettempdir())) - before == set()


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    server = S3Server(tmp_path_factory.mktemp("s3"))
    yield server
    server.stop()


def test_output_url_uploads_to_the_bucket(service, tiny_model_dir, s3):
    uploader = Uploader(BucketConfig.from_env(s3.env), 600)
    with_bucket = clone(service, tiny_model_dir, uploader=uploader)
    result = only(with_bucket, {"text": "Upload me.", "format": "mp3", "output": "url", "seed": 2, "nfe_step": 4})
    assert "audio_base64" not in result
    with urlopen(result["audio_url"]) as response:
        assert response.headers["Content-Type"] == "audio/mpeg"
        audio, rate = sf.read(io.BytesIO(response.read()))
    assert rate == 24000 and abs(len(audio) / rate - result["duration_s"]) < 0.1


def test_too_large_for_inline_goes_to_the_bucket_or_fails_clearly(service, tiny_model_dir, s3):
    tiny_budget = {"F5_INLINE_MAX_BYTES": "2000"}
    request = {"text": "This will not fit inline.", "nfe_step": 4}
    no_bucket = only(clone(service, tiny_model_dir, **tiny_budget), request)
    assert "too large to return inline and no bucket is configured" in no_bucket["error"]
    assert "BUCKET_ENDPOINT_URL" in no_bucket["error"]
    forced_inline = only(clone(service, tiny_model_dir, **tiny_budget), {**request, "output": "inline"})
    assert "over the inline limit" in forced_inline["error"]
    uploader = Uploader(BucketConfig.from_env(s3.env), 600)
    uploaded = only(clone(service, tiny_model_dir, uploader=uploader, **tiny_budget), request)
    assert uploaded["audio_url"].startswith(s3.env["BUCKET_ENDPOINT_URL"])


def test_an_unreachable_bucket_fails_the_job_without_a_result(service, tiny_model_dir):
    from conftest import free_port

    dead = BucketConfig.from_env({**{"BUCKET_ACCESS_KEY_ID": "k", "BUCKET_SECRET_ACCESS_KEY": "s"},
                                  "BUCKET_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}/bucket"})
    result = only(clone(service, tiny_model_dir, uploader=Uploader(dead, 600)), {"text": "x", "output": "url", "nfe_step": 4})
    assert set(result) == {"error"} and "upload to bucket 'bucket'" in result["error"]


def test_cuda_out_of_memory_fails_the_job_and_asks_for_a_fresh_worker(service):
    oom = lambda: torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")  # noqa: E731
    victim = service_with_scheduler(service, FaultyBackend(service.backend, oom))
    result = only(victim, {"text": "x"})
    assert result["refresh_worker"] is True and "GPU failure" in result["error"]
    assert "out of GPU memory on one chunk" in result["error"]  # the scheduler tried it alone first
    after = only(victim, {"text": "x"})  # a broken worker takes no further job
    assert "being replaced" in after["error"] and "audio_base64" not in after
    assert "audio_base64" in only(service, {"text": "x", "nfe_step": 4})  # other services unaffected


def test_an_unexpected_error_is_reported_and_the_worker_keeps_working(service):
    faulty = FaultyBackend(service.backend, lambda: ZeroDivisionError("division by zero"))
    victim = service_with_scheduler(service, faulty)
    result = only(victim, {"text": "x"})
    assert result == {"error": "internal error: ZeroDivisionError: division by zero"}
    faulty.sample = service.backend.sample  # the fault goes away: the same service serves again
    assert "audio_base64" in only(victim, {"text": "x", "nfe_step": 4})
