"""Timestamps and subtitles: each sentence's place in the audio (exact: where its chunks join their
neighbours), SRT and WebVTT read by real subtitle libraries and by ffmpeg, `say --srt/--vtt`, the
queue worker's result; and OpenAI's Server-Sent Events (`stream_format: "sse"`) over real HTTP."""

from __future__ import annotations

import base64
import io
import itertools
import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
from conftest import ROOT, answer, only, tone_env, worker_env

from handler.captions import Segment, srt, vtt
from handler.events import Audio, Failure, Finished
from handler.script import split_sentences

RATE = 24_000
TEXT = ("The first sentence is short. A second one follows it, somewhat longer than the first! "
        "Is this the third? Dr. Smith says the fourth ends here.")
SENTENCES = ["The first sentence is short.", "A second one follows it, somewhat longer than the first!",
             "Is this the third?", "Dr. Smith says the fourth ends here."]
FAST = {"seed": 11, "nfe_step": 4}


def test_sentences_are_split_as_written_and_not_after_abbreviations():
    assert split_sentences(TEXT) == SENTENCES
    assert split_sentences("He said \"Stop.\" Then left.  e.g. this stays. Mr. T waits") == [
        "He said \"Stop.\"", "Then left.", "e.g. this stays.", "Mr. T waits"]
    assert split_sentences("你好。今天天气很好！我们走吧？") == ["你好。", "今天天气很好！", "我们走吧？"]
    assert split_sentences("No stop at the end") == ["No stop at the end"]
    # a list item's number starts its item: never a sentence (and a chunk of four bytes) of its own
    assert split_sentences("Steps: 1. Open the box. 2. Take it out. It costs $5. Done.") == [
        "Steps: 1. Open the box.", "2. Take it out.", "It costs $5.", "Done."]


def test_a_streams_chunks_grow_across_its_sentences(service):
    from handler.batching import FIRST_CHUNK_S, STREAM_CHUNK_GROWTH
    from handler.script import prepare_script
    from handler.text_chunks import grown

    voice = service.voices.preset("en")
    budget = service.backend.text_budget(voice, 1.0)
    limit = service.backend.text_budget(voice, 1.0, FIRST_CHUNK_S)
    text = "Hello. " + " ".join(f"Sentence number {n} goes on for a while, with a clause or two, and it stops." for n in range(12))
    script = prepare_script(service.backend, voice, text, speed=1.0, off=frozenset(), first_chunk_s=FIRST_CHUNK_S,
                            timestamps=True)
    sizes = [len(chunk.encode()) for chunk in script.chunks]
    assert sizes[0] == len("Hello.") and len(script.sentences[1].spoken.encode()) > grown(limit, STREAM_CHUNK_GROWTH)
    for size in sizes:  # every chunk within its growing limit, the next sentences' too, up to the model's
        assert size <= min(limit, budget), (sizes, limit)
        limit = grown(limit, STREAM_CHUNK_GROWTH)
    assert [s.first_chunk for s in script.sentences][-1] == len(sizes) - 1  # by then a sentence is one chunk


def pcm(message) -> np.ndarray:
    return np.frombuffer(base64.b64decode(message["audio_base64"]), "<i2").astype(int)


def check_segments(segments: list[dict], duration_s: float) -> None:
    """In order, not overlapping, covering the audio from 0 to its end."""
    assert segments[0]["start_s"] == 0.0
    for before, after in itertools.pairwise(segments):
        assert before["start_s"] < before["end_s"] == after["start_s"]
    assert segments[-1]["end_s"] == pytest.approx(duration_s, abs=0.001)
    assert all(segment["estimated"] is False for segment in segments)


def test_a_whole_request_gets_its_sentences_timestamps(service):
    result = only(service, {"text": TEXT, "timestamps": True, "format": "pcm", **FAST})
    segments = result["segments"]
    assert [s["text"] for s in segments] == SENTENCES
    assert segments[3]["spoken"] == "Doctor Smith says the fourth ends here."  # normalised, sentence by sentence
    check_segments(segments, result["duration_s"])
    assert "segments" not in only(service, {"text": TEXT, **FAST})  # only when asked


def test_each_sentences_audio_cut_by_its_timestamps_is_that_sentences_chunk(service):
    """Cut out by its timestamps, sentence k is the audio of its own chunk (the request's k-th model
    output) up to the cross-fades at its ends; the first is the first sentence said alone, same seed."""
    from handler.crossfade import CrossfadeJoiner
    from handler.model import SynthesisParams
    from handler.script import prepare_script

    result = only(service, {"text": TEXT, "timestamps": True, "format": "pcm", **FAST})
    audio = pcm(result)
    voice = service.voices.preset("en")
    script = prepare_script(service.backend, voice, TEXT, speed=1.0, off=frozenset(), first_chunk_s=None, timestamps=True)
    assert len(script.chunks) == len(SENTENCES)  # one chunk each: each sentence's bounds are joins
    plan = service.backend.plan(voice, script.chunks, SynthesisParams(**FAST), request=0)
    waves = [f.result().wave for f in service.scheduler.submit(plan.items())]
    fade = int(0.15 * RATE)
    joiner = CrossfadeJoiner(fade)
    for wave in waves:
        joiner.push(wave)
    starts = [0, *[join - fade // 2 for join in joiner.joins]]  # where each chunk's samples begin
    for k, segment in enumerate(result["segments"]):
        cut = audio[round(segment["start_s"] * RATE):round(segment["end_s"] * RATE)]
        own = (np.clip(waves[k], -1, 1) * 32767).round().astype(int)
        inner = slice(fade if k else 0, len(own) - (fade if k < len(waves) - 1 else 0))
        expected = own[inner]
        offset = starts[k] + inner.start - round(segment["start_s"] * RATE)  # the ms-rounding of start_s
        assert abs(offset) <= fade // 2 + RATE // 1000
        np.testing.assert_allclose(cut[offset:offset + len(expected)], expected, atol=1)
    alone = pcm(only(service, {"text": SENTENCES[0], "format": "pcm", **FAST}))
    first_end = round(result["segments"][0]["end_s"] * RATE) - fade
    np.testing.assert_allclose(audio[:first_end], alone[:first_end], atol=1)


def test_a_stream_sends_each_sentence_once_its_end_is_known(service):
    events = list(service.events({"text": TEXT, "timestamps": True, "stream": True, "format": "pcm", **FAST}))
    kinds = [type(event).__name__ for event in events]
    assert kinds[-1] == "Finished" and kinds[0] == "Audio"
    timed = [event for event in events if isinstance(event, Segment)]
    finished = events[-1]
    assert list(finished.segments) == timed and [s.text for s in timed] == SENTENCES
    check_segments([s.public() for s in timed], finished.duration_s)
    # each sentence comes after the audio that holds its end
    sent_s = 0.0
    for event in events:
        if isinstance(event, Audio):
            sent_s += event.samples / RATE
        elif isinstance(event, Segment):
            assert event.end_s <= sent_s + 0.2  # up to the cross-fade's half held back by the joiner
    messages = answer(service, {"text": TEXT, "timestamps": True, "stream": True, **FAST})
    assert [s["text"] for s in messages[-1]["segments"]] == SENTENCES  # the queue stream's summary
    assert all("segments" not in m for m in messages[:-1])


def test_captions_parse_with_subtitle_libraries_and_ffmpeg_takes_them(service, tmp_path):
    import srt as srt_library
    import webvtt

    result = only(service, {"text": TEXT, "captions": "srt", "format": "wav", **FAST})
    subtitles = list(srt_library.parse(result["captions"]))
    assert [s.content for s in subtitles] == SENTENCES
    assert [round(s.start.total_seconds(), 3) for s in subtitles] == [s["start_s"] for s in result["segments"]]
    vtt_result = only(service, {"text": TEXT, "captions": "vtt", "format": "wav", **FAST})
    (tmp_path / "a.vtt").write_text(vtt_result["captions"])
    cues = webvtt.read(str(tmp_path / "a.vtt"))
    assert [c.text for c in cues] == SENTENCES and cues[-1].end == f"00:00:{vtt_result['duration_s']:06.3f}"
    (tmp_path / "a.wav").write_bytes(base64.b64decode(result["audio_base64"]))
    (tmp_path / "a.srt").write_text(result["captions"])
    for subtitles_file, codec, probed in (("a.srt", "srt", "subrip"), ("a.vtt", "webvtt", "webvtt")):
        out = tmp_path / f"{codec}.mkv"
        subprocess.run(["ffmpeg", "-v", "error", "-i", str(tmp_path / "a.wav"), "-i", str(tmp_path / subtitles_file),
                        "-map", "0:a", "-map", "1:s", "-c:a", "copy", "-c:s", codec, str(out)], check=True)
        probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type,codec_name", "-of", "json",
                                str(out)], check=True, capture_output=True, text=True)
        streams = {(s["codec_type"], s["codec_name"]) for s in json.loads(probe.stdout)["streams"]}
        assert ("subtitle", probed) in streams and any(kind == "audio" for kind, _ in streams)


def test_the_subtitle_writers_keep_each_cue_on_one_line_and_escape_arrows():
    segments = [Segment("Line one\nand two --> three", "x", 0.0, 1.2345), Segment("Next", "x", 1.2345, 3723.5)]
    assert srt(segments).splitlines()[1:3] == ["00:00:00,000 --> 00:00:01,234", "Line one and two --> three"]
    assert "01:02:03.500" in vtt(segments) and "and two -> three" in vtt(segments)


def test_say_writes_subtitles_beside_the_audio(tiny_model_dir, tmp_path):
    out, subtitles = tmp_path / "talk.wav", tmp_path / "talk.srt"
    process = subprocess.run(
        [sys.executable, "-m", "handler", "say", TEXT, "-o", str(out), "--srt", str(subtitles), "--vtt",
         str(tmp_path / "talk.vtt"), "--seed", "11", "--nfe-step", "4"],
        cwd=ROOT, env=worker_env(tiny_model_dir, F5_WARMUP="0"), capture_output=True, text=True, timeout=300, check=False)
    assert process.returncode == 0, process.stderr[-3000:]
    import srt as srt_library

    cues = list(srt_library.parse(subtitles.read_text()))
    assert [c.content for c in cues] == SENTENCES
    assert cues[-1].end.total_seconds() == pytest.approx(sf.info(out).duration, abs=0.001)
    assert (tmp_path / "talk.vtt").read_text().startswith("WEBVTT")


def test_an_emoji_only_sentence_is_left_out_and_the_rest_keeps_its_times(service):
    result = only(service, {"text": "Hello there. 🎉🎉. Goodbye now.", "timestamps": True, **FAST})
    assert [s["text"] for s in result["segments"]] == ["Hello there.", "Goodbye now."]
    assert result["dropped"] == ["🎉"]
    check_segments(result["segments"], result["duration_s"])


# ---- SSE over real HTTP, with the official client ------------------------------------------------------------
@pytest.fixture(scope="module")
def sse_server(tiny_model_dir, tmp_path_factory):
    from test_http import Server

    server = Server(tiny_model_dir, tmp_path_factory.mktemp("sse") / "server.log", F5_WARMUP="0")
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def sse_events(server, fmt: str, **body) -> list[dict]:
    import openai

    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0)
    with client.audio.speech.with_streaming_response.create(
            model="tts-1", voice="en", input=TEXT, response_format=fmt, stream_format="sse",
            extra_body={**FAST, **body}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        return [json.loads(line.removeprefix("data: ")) for line in response.iter_lines() if line.startswith("data: ")]


@pytest.mark.parametrize("fmt", ["pcm", "wav", "mp3", "opus", "flac"])
def test_sse_deltas_join_into_one_file_and_done_comes_last_with_usage(sse_server, fmt):
    from conftest import assert_audio_format

    events = sse_events(sse_server, fmt)
    deltas = [e for e in events if e["type"] == "speech.audio.delta"]
    assert len(deltas) > 1 and events[-1]["type"] == "speech.audio.done"
    joined = b"".join(base64.b64decode(e["audio"]) for e in deltas)
    assert_audio_format(joined, fmt)
    usage = events[-1]["usage"]
    assert usage["input_tokens"] > len(TEXT) // 2 and usage["output_tokens"] > 0
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    if fmt == "pcm":  # the same samples as the raw stream of the same request
        import httpx

        raw = httpx.post(f"{sse_server.url}/v1/audio/speech", timeout=120,
                         json={"input": TEXT, "voice": "en", "response_format": "pcm", **FAST}).content
        assert joined == raw
        # 24 kHz, 16-bit: the done event's frames are the model's (hop 256) for this duration
        assert usage["output_tokens"] == len(raw) // 2 // 256


def test_sse_carries_segment_events_when_timestamps_are_asked(sse_server):
    events = sse_events(sse_server, "pcm", timestamps=True)
    segments = [e for e in events if e["type"] == "speech.segment"]
    assert [s["text"] for s in segments] == SENTENCES and events[-1]["type"] == "speech.audio.done"
    assert all(e["type"] != "speech.segment" for e in sse_events(sse_server, "pcm"))


def test_the_captioned_route_answers_audio_and_subtitles_at_once(sse_server):
    import httpx

    answer_body = httpx.post(f"{sse_server.url}/v1/audio/speech/captioned", timeout=120,
                             json={"input": TEXT, "voice": "en", "response_format": "wav", "captions": "vtt", **FAST}).json()
    assert answer_body["captions"].startswith("WEBVTT") and [s["text"] for s in answer_body["segments"]] == SENTENCES
    audio, rate = sf.read(io.BytesIO(base64.b64decode(answer_body["audio"])))
    assert len(audio) / rate == pytest.approx(answer_body["duration_s"], abs=0.001)
    check_segments(answer_body["segments"], answer_body["duration_s"])


def test_openai_speeds_beyond_the_models_range_are_served_and_said(sse_server):
    import httpx

    response = httpx.post(f"{sse_server.url}/v1/audio/speech", timeout=120,
                          json={"input": "Fast.", "voice": "en", "response_format": "pcm", "speed": 4.0, **FAST})
    assert response.status_code == 200 and response.headers["x-speed-applied"] == "3"
    assert httpx.post(f"{sse_server.url}/v1/audio/speech", timeout=60,
                      json={"input": "Fast.", "speed": 4.5}).json()["error"]["param"] == "speed"


def test_an_unknown_stream_format_is_a_400_naming_it(sse_server):
    import httpx

    error = httpx.post(f"{sse_server.url}/v1/audio/speech", timeout=60,
                       json={"input": "Hi.", "stream_format": "websocket"}).json()["error"]
    assert error["param"] == "stream_format" and "websocket" in error["message"]


def test_a_failure_after_the_first_delta_is_an_error_event_then_the_end(tone_model_dir, tmp_path):
    """The tone backend fails a chunk that says "explode": the first sentence is already out."""
    import httpx

    from support.servers import free_port, wait_for_port

    port = free_port()
    with open(tmp_path / "server.log", "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "handler", "serve"], cwd=ROOT, stdout=log, stderr=log,
                                   env=tone_env(tone_model_dir, PORT=str(port), F5_WARMUP="0"))
        try:
            wait_for_port(port, process)
            url = f"http://127.0.0.1:{port}"
            while httpx.get(f"{url}/ping").status_code != 200:
                pass
            with httpx.stream("POST", f"{url}/v1/audio/speech", timeout=60,
                              json={"input": "All fine here. Then it will explode.", "stream_format": "sse",
                                    "response_format": "pcm"}) as response:
                assert response.status_code == 200
                events = [json.loads(line.removeprefix("data: ")) for line in response.iter_lines() if line.startswith("data: ")]
            assert events[0]["type"] == "speech.audio.delta" and events[-1]["type"] == "error"
            assert events[-1]["error"]["code"] == "internal_error" and "explode" in events[-1]["error"]["message"]
            assert httpx.post(f"{url}/v1/audio/speech", json={"input": "Still serving."}).status_code == 200
        finally:
            process.terminate()
            process.wait(timeout=60)


def test_finished_and_failure_events_never_both_end_a_request(service):
    for job in ({"text": TEXT, "timestamps": True, **FAST}, {"text": TEXT, "stream": True, "timestamps": True, **FAST}):
        events = list(service.events(job))
        assert sum(isinstance(e, Finished | Failure) for e in events) == 1 and isinstance(events[-1], Finished)
