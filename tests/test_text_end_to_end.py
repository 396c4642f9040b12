"""Text as language models write it (issue 20), end to end: markdown, SSML, links, a phone number and
emoji sent to the queue worker (through the real RunPod SDK's local API) and to the HTTP mode (the
official `openai` client's SSE, and the captioned route) complete, with the spoken text as expected,
the emoji reported as dropped, and the rule families a request switches off left as written."""

from __future__ import annotations

import base64
import json

import pytest
import requests

from support.servers import http_server

FAST = {"nfe_step": 4, "seed": 7}
REPLY = ("# Release notes\n- **Faster** start 🎉\n- Docs at https://example.com/docs\n"
         "Call +1 (555) 010-9999 or mail john.doe@example.org.")
SPOKEN = ("Release notes. Faster start. Docs at example dot com slash docs. Call plus one, five five five, "
          "zero one zero, nine nine nine nine or mail john dot doe at example dot org.")
SSML = '<speak>Great job! 🎉 The box is <emphasis>5 km</emphasis> away<break time="300ms"/>and weighs 3 kg.</speak>'
SSML_SPOKEN = "Great job! The box is five kilometers away, and weighs three kilograms."


def queue_job(api: str, **job) -> dict:
    body = requests.post(f"{api}/runsync", json={"input": {**FAST, **job}}, timeout=180).json()
    assert body["status"] == "COMPLETED", body
    [result] = body["output"]
    assert "error" not in result, result["error"]
    return result


def test_the_queue_worker_reads_markdown_links_and_phone_numbers_and_drops_emoji(api):
    result = queue_job(api, text=REPLY)
    assert result["text"] == SPOKEN
    assert result["dropped"] == ["🎉"] and result["duration_s"] > 0
    ssml = queue_job(api, text=SSML)
    assert ssml["text"] == SSML_SPOKEN and ssml["dropped"] == ["🎉"]


def test_a_request_switches_rule_families_off(api):
    off = queue_job(api, text=REPLY, normalize={"markdown": False, "urls": False, "phones": True})
    # markdown and the link as written (whitespace folded); the phone number and the address still read
    assert off["text"] == ("# Release notes - **Faster** start - Docs at https://example.com/docs Call plus one, "
                           "five five five, zero one zero, nine nine nine nine or mail john dot doe at example dot org.")
    assert queue_job(api, text="It is 5 km.", normalize=False)["text"] == "It is 5 km."


def test_an_unknown_family_is_refused_naming_it_and_the_families(api):
    body = requests.post(f"{api}/runsync", json={"input": {"text": "Hi.", "normalize": {"url": False}}}, timeout=60).json()
    error = body["output"][0]["error"]
    assert "normalize" in error and "url" in error and "urls, emails, phones" in error


@pytest.fixture(scope="module")
def server(tiny_model_dir):
    with http_server(tiny_model_dir, F5_WARMUP="0") as url:
        yield url


def test_the_http_mode_reads_the_same_and_says_what_it_spoke(server):
    import httpx
    import openai

    client = openai.OpenAI(base_url=f"{server}/v1", api_key="unused", max_retries=0)
    with client.audio.speech.with_streaming_response.create(
            model="tts-1", voice="en", input=REPLY, response_format="pcm", stream_format="sse",
            extra_body=FAST) as response:
        events = [json.loads(line.removeprefix("data: ")) for line in response.iter_lines() if line.startswith("data: ")]
    done = events[-1]
    assert done["type"] == "speech.audio.done" and done["text"] == SPOKEN and done["dropped"] == ["🎉"]
    assert sum(len(base64.b64decode(e["audio"])) for e in events if e["type"] == "speech.audio.delta") > 0
    # with subtitles: the sentences are the markdown's lines, read as text (no marks, no emoji)
    answer = httpx.post(f"{server}/v1/audio/speech/captioned", timeout=120,
                        json={"input": REPLY, "voice": "en", "response_format": "wav", "captions": "srt", **FAST}).json()
    assert answer["text"] == SPOKEN and answer["dropped"] == ["🎉"]
    assert [s["text"] for s in answer["segments"]] == [
        "Release notes.", "Faster start 🎉.", "Docs at https://example.com/docs.",
        "Call +1 (555) 010-9999 or mail john.doe@example.org."]
    assert "**" not in answer["captions"] and "# " not in answer["captions"]
    refused = httpx.post(f"{server}/v1/audio/speech", timeout=60,
                         json={"input": "Hi.", "normalize": {"markdown": "no"}}).json()["error"]
    assert refused["param"] == "normalize" and "true or false" in refused["message"]
