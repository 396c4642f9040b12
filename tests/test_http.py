"""The HTTP mode (`python -m handler serve`) as a real process on the tiny model, with real clients:
the official `openai` package and plain HTTP (httpx)."""

from __future__ import annotations

import io
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf
from conftest import ROOT, assert_audio_format, flip_a_byte, free_port, worker_env

from handler.audio_codec import OUTPUT_FORMATS

FAST = {"nfe_step": 4}
SHORT = "Hello there."
TWO_CHUNKS = "Hello there, how are you today? This is the second sentence of the test."  # two stream chunks
LONG = " ".join(f"Sentence number {n} of a longer text, read aloud." for n in range(1, 9))
RATE = 24_000
KEY = "s3cret-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


class Server:
    def __init__(self, model_dir: Path, log_path: Path, **env: str):
        self.port = free_port()
        self.health_port = int(env.get("PORT_HEALTH", 0)) or self.port
        self.url = f"http://127.0.0.1:{self.port}"
        self.health_url = f"http://127.0.0.1:{self.health_port}"
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "handler", "serve"],
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=worker_env(model_dir, PORT=str(self.port), **env),
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def ping(self) -> httpx.Response | None:
        try:
            return httpx.get(f"{self.health_url}/ping", timeout=5)
        except httpx.TransportError:
            return None

    def wait_ready(self, timeout: float = 240.0) -> list[int]:
        """Poll /ping until 200; returns the distinct statuses seen, in order."""
        seen: list[int] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"server exited with {self.process.returncode}:\n{self.log()[-3000:]}"
            response = self.ping()
            if response is not None and (not seen or seen[-1] != response.status_code):
                seen.append(response.status_code)
            if response is not None and response.status_code == 200:
                return seen
            time.sleep(0.05)
        raise TimeoutError(f"not ready in {timeout} s:\n{self.log()[-3000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


@pytest.fixture(scope="module")
def server(tiny_model_dir, tmp_path_factory):
    """One server for the module: a bound of 3 in flight, /ping on a port of its own, a bearer token,
    and model calls of up to 3 chunks (1 is the CPU default) so that concurrent requests share them."""
    served = Server(
        tiny_model_dir,
        tmp_path_factory.mktemp("http") / "server.log",
        F5_HTTP_MAX_INFLIGHT="3",
        F5_MAX_BATCH="3",
        PORT_HEALTH=str(free_port()),
        F5_API_KEY=KEY,
    )
    try:
        served.seen = served.wait_ready()
        yield served
    finally:
        served.stop()


def speech(url: str, body, headers: dict | None = AUTH, timeout: float = 120) -> httpx.Response:
    return httpx.post(f"{url}/v1/audio/speech", json=body, headers=headers, timeout=timeout)


def format_of(content_type: str) -> str:
    """The output format a response's Content-Type names (exactly as handler.audio_codec writes it)."""
    [name] = [name for name, spec in OUTPUT_FORMATS.items() if spec.content_type_at(RATE) == content_type]
    return name


def audio_body(response, fmt: str, data: bytes | None = None) -> bytes:
    """A 200 answer's body, checked: its Content-Type names `fmt`, and the bytes are that container
    and codec (the header comes from a table, so only the bytes can tell what was really sent)."""
    assert response.status_code == 200, response.status_code
    content_type = response.headers["content-type"]
    assert format_of(content_type) == fmt, (fmt, content_type)
    data = response.content if data is None else data
    assert_audio_format(data, fmt)
    return data


def decode(data: bytes, fmt: str) -> np.ndarray:
    """The samples of a response body, decoded by FFmpeg (another decoder than the encoder's library);
    WAV, Ogg and MP3 are also read with libsndfile and must agree in length."""
    if fmt == "pcm":
        return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32767.0
    assert shutil.which("ffmpeg"), "needs ffmpeg (scripts/dev-setup.sh installs it)"  # a failure, never a skip
    with tempfile.NamedTemporaryFile(suffix=f".{fmt}") as handle:
        handle.write(data)
        handle.flush()
        done = subprocess.run(
            ["ffmpeg", "-v", "error", "-i", handle.name, "-f", "s16le", "-ar", str(RATE), "-ac", "1", "-"],
            capture_output=True,
            check=True,
        )
    assert done.stderr == b"", done.stderr
    samples = np.frombuffer(done.stdout, dtype="<i2").astype(np.float32) / 32767.0
    if fmt in ("wav", "ogg", "opus", "mp3"):
        other, rate = sf.read(io.BytesIO(data), dtype="float32")
        assert rate == RATE and abs(len(other) - len(samples)) <= (0.1 * RATE if fmt == "mp3" else 0.01 * RATE)
    return samples


def assert_openai_error(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    return error


# ---- the OpenAI client, every format ---------------------------------------------------------------------
def test_openai_client_gets_audio_of_the_right_length_in_each_format(server):
    import openai

    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=KEY, max_retries=0)
    lengths = {}
    for fmt in ("pcm", "wav", "flac", "mp3", "opus"):
        with client.audio.speech.with_streaming_response.create(
            model="tts-1", voice="en", input=TWO_CHUNKS, response_format=fmt, extra_body={"seed": 7, **FAST}
        ) as response:
            assert response.headers["x-seed"] == "7"
            data = audio_body(response, fmt, b"".join(response.iter_bytes()))
        lengths[fmt] = len(decode(data, fmt))
    expected = lengths.pop("pcm")  # raw samples: the stream's bytes are the samples themselves
    assert expected > 0.5 * RATE
    # one valid file of the whole length (not the first segment only), exact for the lossless containers
    assert lengths["wav"] == expected and lengths["flac"] == expected
    for fmt in ("mp3", "opus"):  # lossy encoders pad a little at the ends
        assert abs(lengths[fmt] - expected) < 0.1 * RATE, (fmt, lengths[fmt], expected)


def test_ogg_and_default_format_over_plain_http(server):
    response = speech(server.url, {"input": SHORT, "response_format": "ogg", "seed": 3, **FAST})
    assert response.headers["content-type"] == "audio/ogg" and len(decode(audio_body(response, "ogg"), "ogg")) > 0
    assert response.headers["x-seed"] == "3"
    response = speech(server.url, {"model": "tts-1", "input": SHORT, "voice": "en", **FAST})
    assert response.headers["content-type"] == "audio/mpeg"  # OpenAI's default format
    assert 0 <= int(response.headers["x-seed"]) < 2**31  # chosen by the server, and told
    assert len(decode(audio_body(response, "mp3"), "mp3")) > 0


def test_models_and_voices(server):
    models = httpx.get(f"{server.url}/v1/models", headers=AUTH).json()
    assert models["object"] == "list" and {"tts-1", "f5-tts"} <= {m["id"] for m in models["data"]}
    voices = httpx.get(f"{server.url}/v1/audio/voices", headers=AUTH).json()
    assert voices["voices"] == ["en", "zh"] and voices["default"] == "en"


# ---- streaming, concurrency, the in-flight bound -------------------------------------------------------------
def test_first_bytes_arrive_before_the_request_is_done(server):
    started = time.monotonic()
    arrivals = []
    with httpx.stream(
        "POST",
        f"{server.url}/v1/audio/speech",
        headers=AUTH,
        json={"input": LONG, "response_format": "pcm", **FAST},
        timeout=120,
    ) as response:
        assert response.status_code == 200
        assert response.headers.get("transfer-encoding") == "chunked"
        for piece in response.iter_raw():
            arrivals.append((time.monotonic() - started, len(piece)))
    total = arrivals[-1][0]
    assert sum(size for _, size in arrivals) > 10 * RATE * 2  # many seconds of 16-bit audio
    assert arrivals[0][0] < 0.6 * total, arrivals  # the first sentence came long before the last


def _alone_and_together(url: str, bodies: list[dict]) -> tuple[list[bytes], list[httpx.Response]]:
    alone = [speech(url, body).content for body in bodies]
    results: list = [None] * len(bodies)
    barrier = threading.Barrier(len(bodies))

    def run(i: int) -> None:
        barrier.wait()
        results[i] = speech(url, bodies[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return alone, results


def test_concurrent_requests_each_get_their_own_audio(server):
    bodies = [
        {"input": text, "seed": seed, "response_format": "pcm", **FAST}
        for text, seed in (("Good morning.", 1), ("Nice to meet you.", 2), ("See you later.", 3))
    ]
    alone, together = _alone_and_together(server.url, bodies)
    assert [r.status_code for r in together] == [200, 200, 200]
    # they did share model calls (the server logs each request's batched_with), and each still got
    # its own audio, the same as alone up to 16-bit rounding of float error
    batched = [batched_with(server, r.headers["x-request-id"]) for r in together]
    assert max(batched) >= 2, batched
    for response, solo in zip(together, alone, strict=True):
        wave, expected = np.frombuffer(response.content, "<i2").astype(int), np.frombuffer(solo, "<i2").astype(int)
        assert len(wave) == len(expected) and np.max(np.abs(wave - expected)) <= 2
    assert len(set(alone)) == 3


def batched_with(server: Server, request_id: str) -> int:
    """How many requests shared the model calls of this one, from the line the server logs when it is done."""
    [line] = [line for line in server.log().splitlines() if f" {request_id} done status=200 " in line]
    return int(line.rsplit("batched_with=", 1)[1].split()[0])


def test_above_the_bound_some_get_429_and_the_server_goes_on(server):
    results: list = [None] * 5
    barrier = threading.Barrier(5)

    def run(i: int) -> None:
        barrier.wait()
        results[i] = speech(server.url, {"input": "Busy busy.", "seed": i, "response_format": "pcm", **FAST})

    threads = [threading.Thread(target=run, args=(i,)) for i in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(r.status_code for r in results)
    assert statuses.count(200) >= 3 and statuses.count(429) >= 1, statuses
    assert set(statuses) <= {200, 429}
    refused = next(r for r in results if r.status_code == 429)
    assert refused.headers["retry-after"] == "1"
    assert assert_openai_error(refused, 429)["code"] == "rate_limit_exceeded"
    assert speech(server.url, {"input": SHORT, "response_format": "pcm", **FAST}).status_code == 200


def test_a_client_that_goes_away_frees_its_slot_and_stops_its_work(server):
    with httpx.stream(
        "POST",
        f"{server.url}/v1/audio/speech",
        headers=AUTH,
        json={"input": LONG + " " + LONG, "response_format": "pcm", **FAST},
        timeout=120,
    ) as response:
        assert response.status_code == 200
        next(response.iter_raw())
        left = time.monotonic()
    # the slot comes back as soon as the chunk being made is done, not when the whole text would be
    while server.ping().json()["in_flight"] != 0:
        assert time.monotonic() - left < 20, "the slot was not freed"
        time.sleep(0.05)
    assert "stopped: the client went away" in server.log()
    started = time.monotonic()
    assert speech(server.url, {"input": SHORT, "response_format": "pcm", **FAST}).status_code == 200
    assert time.monotonic() - started < 20  # not queued behind the abandoned request's chunks


# ---- bad input ---------------------------------------------------------------------------------------
BAD_BODIES = [
    ({"input": ""}, "input"),
    ({"voice": "en"}, "input"),
    ({"input": "Hi.", "voice": "alloy"}, "voice"),
    ({"input": "Hi.", "response_format": "aac"}, "response_format"),
    ({"input": "Hi.", "response_format": "m4a"}, "response_format"),
    ({"input": "Hi.", "speed": "fast"}, "speed"),
    ({"input": "Hi.", "speed": 100}, "speed"),
    ({"input": "Hi.", "nfe_step": 1000}, "nfe_step"),
    ({"input": "Hi.", "seed": -1}, "seed"),
    ({"input": "Hi.", "temperature": 1}, "temperature"),
    ({"input": "Hi.", "stream_format": "ndjson"}, "stream_format"),
    ({"input": "Hi.", "ref_audio": "not base64 !!"}, "ref_audio"),
    ({"input": "Hi.", "ref_text": "no audio"}, "ref_text"),
    ({"input": "Hi.", "text": "Hi."}, "input"),
    ({"input": 42}, "input"),
    ([1, 2], None),
    ("just a string", None),
]


def test_bad_inputs_get_4xx_json_and_the_server_keeps_serving(server):
    for body, param in BAD_BODIES:
        response = speech(server.url, body)
        error = assert_openai_error(response, 400)
        assert error["type"] == "invalid_request_error"
        assert error["param"] == param, (body, error)
    assert "supported" in speech(server.url, {"input": "Hi.", "response_format": "aac"}).json()["error"]["message"]
    raw = [
        httpx.post(f"{server.url}/v1/audio/speech", content=b"{not json", headers=AUTH, timeout=30),
        httpx.post(f"{server.url}/v1/audio/speech", content=b"", headers=AUTH, timeout=30),
        httpx.post(f"{server.url}/v1/audio/speech", content=b"\xff\xfe", headers=AUTH, timeout=30),
    ]
    for response in raw:
        assert_openai_error(response, 400)
    assert_openai_error(httpx.get(f"{server.url}/v1/audio/speech", headers=AUTH), 405)
    assert_openai_error(httpx.get(f"{server.url}/v1/nothing", headers=AUTH), 404)

    import openai

    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=KEY, max_retries=0)
    with pytest.raises(openai.BadRequestError, match="not a preset"):
        client.audio.speech.create(model="tts-1", voice="nobody", input="Hi.")
    assert speech(server.url, {"input": SHORT, "response_format": "wav", **FAST}).status_code == 200


# ---- health, auth, shutdown ---------------------------------------------------------------------------
def test_ping_goes_204_then_200_on_its_own_port_and_the_token_is_enforced(server):
    assert server.seen == [204, 200]  # starting, then ready (PORT_HEALTH)
    assert httpx.get(f"{server.url}/ping").status_code == 200  # on the main port too, without a token
    body = {"input": SHORT, "response_format": "pcm", **FAST}
    assert_openai_error(speech(server.url, body, headers=None), 401)
    assert_openai_error(speech(server.url, body, {"Authorization": "Bearer wrong"}), 401)
    assert_openai_error(httpx.get(f"{server.url}/v1/models", headers={"Authorization": KEY}), 401)
    assert httpx.get(f"{server.health_url}/v1/models", headers=AUTH).status_code == 404  # the health port: /ping only

    import openai

    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{server.url}/v1", api_key="wrong", max_retries=0).models.list()
    assert KEY not in server.log()


def test_sigterm_finishes_the_requests_in_flight(server):  # the module's last test on `server`: it stops it
    body = {"input": SHORT, "response_format": "pcm", **FAST}
    with httpx.stream(
        "POST",
        f"{server.url}/v1/audio/speech",
        headers=AUTH,
        timeout=120,
        json={"input": LONG, "response_format": "wav", "seed": 5, **FAST},
    ) as response:
        assert response.status_code == 200
        pieces = response.iter_raw()
        chunks = [next(pieces)]
        server.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        while (ping := server.ping()) is None or ping.status_code != 503:  # /ping turns 503
            assert time.monotonic() < deadline, "ping did not turn 503"
            time.sleep(0.05)
        assert_openai_error(speech(server.url, body, timeout=10), 503)  # new requests are refused
        chunks.extend(pieces)  # the request in flight goes on to its end (raises if the stream is cut)
    assert_audio_format(b"".join(chunks), "wav")
    assert len(decode(b"".join(chunks), "wav")) > 5 * RATE
    assert server.process.wait(timeout=60) == 0
    assert "draining: signal SIGTERM; 1 request(s) in flight" in server.log()


def test_ping_503_and_exit_1_when_the_model_is_corrupted(tiny_model_dir, tmp_path):
    broken = tmp_path / "model"
    shutil.copytree(tiny_model_dir, broken)
    path = broken / "f5" / "model_random.safetensors"
    flip_a_byte(path)
    served = Server(broken, tmp_path / "server.log")
    try:
        seen = set()
        deadline = time.monotonic() + 120
        while served.process.poll() is None and time.monotonic() < deadline:
            response = served.ping()
            if response is not None:
                if response.status_code == 503 and 503 not in seen:
                    assert "wrong sha256" in response.json()["reason"]
                    assert_openai_error(speech(served.url, {"input": "Hi."}), 503)
                seen.add(response.status_code)
            time.sleep(0.05)
        assert 503 in seen and 200 not in seen, seen
        assert served.process.wait(timeout=30) == 1
        failures = [line for line in served.log().splitlines() if line.startswith("[startup] FAILED")]
        assert len(failures) == 1 and "wrong sha256" in failures[0]
        assert "Traceback" not in served.log()
    finally:
        served.stop()


def test_settings_refuse_bad_http_values():
    from handler.config import Settings
    from handler.errors import StartupError

    settings = Settings.from_env({"F5_API_KEY": "top-secret"})
    assert settings.http_port == 8000 and settings.http_health_port == 0 and settings.http_max_inflight == 0
    assert "top-secret" not in repr(settings)
    for env in ({"PORT": "http"}, {"PORT_HEALTH": "70000"}, {"F5_HTTP_MAX_INFLIGHT": "-1"}):
        with pytest.raises(StartupError, match=next(iter(env))):
            Settings.from_env(env)


def test_to_job_maps_openai_fields():
    from handler.http_speech import ApiError, to_job

    speech = to_job(
        {"model": "tts-1", "input": "Hi.", "voice": "en", "instructions": "cheerful", "stream_format": "audio"}
    )
    job = speech.job
    assert job["response_format"] == "mp3" and job["stream"] is True and isinstance(job["seed"], int)
    assert "instructions" not in job and "stream_format" not in job and not speech.sse
    assert to_job({"input": "Hi.", "stream_format": "sse"}).sse
    assert to_job({"input": "Hi.", "format": "wav", "seed": 4}).job["seed"] == 4
    assert "response_format" not in to_job({"input": "Hi.", "format": "wav"}).job
    with pytest.raises(ApiError, match="aac"):
        to_job({"input": "Hi.", "response_format": "AAC"})
    assert json.dumps(to_job({"input": "Hi.", "stream": "yes"}).job["stream"]) == '"yes"'  # left to the contract
    inline = to_job({"input": "Hi.", "voice": "en", "ref_audio": "AAAA"}).job
    assert "voice" not in inline  # an inline reference wins over the voice OpenAI's clients must send


@pytest.mark.parametrize(("speed", "applied"), [(0.25, 0.3), (4.0, 3.0), (2.0, None), (0.3, None)])
def test_openai_speeds_beyond_the_models_range_are_applied_at_its_ends_and_said(speed, applied):
    from handler.http_speech import to_job

    speech = to_job({"input": "Hi.", "speed": speed})
    assert speech.job["speed"] == (applied if applied is not None else speed)
    assert speech.headers.get("X-Speed-Applied") == (f"{applied:g}" if applied is not None else None)
    assert to_job({"input": "Hi.", "speed": 4.5}).job["speed"] == 4.5  # beyond OpenAI's too: the contract refuses it


def test_every_failure_kind_has_a_status_and_none_is_read_from_the_wording():
    """The status of a service failure comes from its kind (a table), its `param` from its field."""
    from handler.events import Failure, FailureKind
    from handler.http_common import FAILURE_STATUS, service_error

    assert set(FAILURE_STATUS) == set(FailureKind)
    reworded = service_error(Failure(FailureKind.INVALID_INPUT, "any wording at all", "format"))
    assert (reworded.status, reworded.param) == (400, "response_format")  # OpenAI's name for the field
    assert service_error(Failure(FailureKind.WORKER_BROKEN, "internal error: looks like a bug")).status == 503
    assert service_error(Failure(FailureKind.INTERNAL, "the worker is shutting down")).status == 500
    shutting = service_error(Failure(FailureKind.SHUTTING_DOWN, "bye"))
    assert shutting.status == 503 and shutting.headers["Retry-After"]
