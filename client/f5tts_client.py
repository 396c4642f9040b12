"""Call an F5-TTS endpoint and write the audio to a file. Standard library only: copy it anywhere.

    python client/f5tts_client.py --url https://api.runpod.ai/v2/ENDPOINT_ID --text "Hello" --out hello.wav
    python client/f5tts_client.py --url http://localhost:8000 --mode stream --format pcm --text "..." --out a.pcm

Modes: `runsync` (one call; falls back to polling if the job outlives it), `run` (submit, then poll
`/status/{id}`), `stream` (submit, then read `/stream/{id}` until the job ends). The API key comes
from --api-key or RUNPOD_API_KEY. From Python:

    from f5tts_client import synthesize
    result = synthesize("https://api.runpod.ai/v2/ID", {"text": "Hello", "format": "mp3"}, api_key="...")
    open("hello.mp3", "wb").write(result.audio)
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field

DONE = {"COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"}


class EndpointError(RuntimeError):
    """The endpoint or the job failed; the message is what it said."""


@dataclass
class Result:
    audio: bytes
    format: str
    messages: list[dict] = field(default_factory=list)  # every message the job produced

    @property
    def summary(self) -> dict:
        """The result (or, when streaming, the final summary) without the audio."""
        last = self.messages[-1] if self.messages else {}
        return {k: v for k, v in last.items() if k != "audio_base64"}


class Endpoint:
    def __init__(self, base_url: str, api_key: str | None = None, timeout: float = 120.0):
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout

    def _call(self, method: str, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.base_url}{path}", data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if self.api_key:
            request.add_header("Authorization", f"Bearer {self.api_key}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            if exc.code == 405 and method == "GET":  # the SDK's local API server takes POST here
                return self._call("POST", path, body)
            detail = exc.read().decode(errors="replace")[:500]
            raise EndpointError(f"{method} {path}: HTTP {exc.code}: {detail}") from None
        except urllib.error.URLError as exc:
            raise EndpointError(f"{method} {path}: {exc.reason}") from None

    def run(self, job_input: dict) -> str:
        return self._call("POST", "/run", {"input": job_input})["id"]

    def runsync(self, job_input: dict) -> dict:
        return self._call("POST", "/runsync", {"input": job_input})

    def status(self, job_id: str) -> dict:
        return self._call("GET", f"/status/{job_id}")

    def stream(self, job_id: str) -> dict:
        return self._call("GET", f"/stream/{job_id}")


def _check(job: dict) -> None:
    if job.get("status") in ("FAILED", "CANCELLED", "TIMED_OUT") or job.get("error"):
        raise EndpointError(f"job {job.get('id', '?')} {job.get('status', 'failed')}: {job.get('error', 'no detail')}")


def _messages(output) -> list[dict]:
    """The worker returns the list of its messages (return_aggregate_stream); accept a bare dict too."""
    messages = output if isinstance(output, list) else [output]
    for message in messages:
        if isinstance(message, dict) and message.get("error"):
            raise EndpointError(message["error"])
    return [m for m in messages if isinstance(m, dict)]


def _poll(endpoint: Endpoint, job_id: str, deadline: float, interval: float) -> dict:
    while True:
        job = endpoint.status(job_id)
        _check(job)
        if job.get("status") == "COMPLETED":
            return job
        if time.monotonic() > deadline:
            raise EndpointError(f"job {job_id} not finished in time (status {job.get('status')})")
        time.sleep(interval)


def _audio_of(message: dict) -> bytes:
    if "audio_base64" in message:
        return base64.b64decode(message["audio_base64"])
    if "audio_url" in message:
        with urllib.request.urlopen(message["audio_url"], timeout=300) as response:
            return response.read()
    raise EndpointError(f"the result carries no audio: {sorted(message)}")


def synthesize(
    base_url: str,
    job_input: dict,
    *,
    api_key: str | None = None,
    mode: str = "runsync",
    timeout: float = 600.0,
    poll_interval: float = 1.0,
    on_audio=None,
) -> Result:
    """Run one job. In stream mode, `on_audio(bytes)` gets each message's audio as it arrives: the
    worker keeps one encoder per stream, so those bytes in order are one playable file in any format."""
    endpoint = Endpoint(base_url, api_key)
    deadline = time.monotonic() + timeout
    fmt = job_input.get("format") or job_input.get("response_format") or "wav"
    if mode == "stream":
        job_id = endpoint.run({**job_input, "stream": True})
        messages = []
        while True:
            chunk = endpoint.stream(job_id)
            _check(chunk)
            fresh = _messages([item.get("output") for item in chunk.get("stream", [])])
            for message in fresh:
                if on_audio is not None and "audio_base64" in message:
                    on_audio(_audio_of(message))
            messages += fresh
            if chunk.get("status") in DONE:
                break
            if time.monotonic() > deadline:
                raise EndpointError(f"stream of job {job_id} not finished in time")
            time.sleep(poll_interval)
        if not messages or not messages[-1].get("done"):
            raise EndpointError(f"stream of job {job_id} ended without its final message")
        audio = b"".join(_audio_of(m) for m in messages if "audio_base64" in m)
        return Result(audio, fmt, messages)
    if mode == "runsync":
        job = endpoint.runsync(job_input)
        _check(job)
        if job.get("status") != "COMPLETED":  # runsync gave up waiting; the job goes on
            job = _poll(endpoint, job["id"], deadline, poll_interval)
    elif mode == "run":
        job = _poll(endpoint, endpoint.run(job_input), deadline, poll_interval)
    else:
        raise ValueError("mode must be runsync, run or stream")
    messages = _messages(job.get("output"))
    if not messages:
        raise EndpointError("the job completed without output")
    return Result(_audio_of(messages[-1]), messages[-1].get("format", fmt), messages)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="https://api.runpod.ai/v2/ENDPOINT_ID, or http://localhost:8000")
    parser.add_argument("--api-key", default=os.environ.get("RUNPOD_API_KEY"))
    parser.add_argument("--mode", choices=("runsync", "run", "stream"), default="runsync")
    parser.add_argument("--text", required=True)
    parser.add_argument("--voice")
    parser.add_argument("--ref-audio", help="a local audio file to clone (sent as base64)")
    parser.add_argument("--ref-text")
    parser.add_argument("--format", default="wav")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=JSON", help="any other field, e.g. nfe_step=16")
    parser.add_argument("--out", required=True, help="a file, or - for standard output (play while receiving)")
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args(argv)

    job_input: dict = {"text": args.text, "format": args.format}
    if args.voice:
        job_input["voice"] = args.voice
    if args.ref_audio:
        with open(args.ref_audio, "rb") as handle:
            job_input["ref_audio"] = base64.b64encode(handle.read()).decode()
    if args.ref_text:
        job_input["ref_text"] = args.ref_text
    for item in args.param:
        key, _, value = item.partition("=")
        job_input[key] = json.loads(value)
    to_stdout = args.out == "-"
    handle = sys.stdout.buffer if to_stdout else open(args.out, "wb")

    def write(audio: bytes) -> None:  # streamed audio is written as it arrives, so a player can start
        handle.write(audio)
        handle.flush()

    try:
        result = synthesize(args.url, job_input, api_key=args.api_key, mode=args.mode, timeout=args.timeout,
                            on_audio=write if args.mode == "stream" else None)
        if args.mode != "stream":
            write(result.audio)
    except (EndpointError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        if not to_stdout:
            handle.close()
    # the summary goes to stderr when the audio goes to stdout
    print(json.dumps({"out": args.out, "bytes": len(result.audio), **result.summary}),
          file=sys.stderr if to_stdout else sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
