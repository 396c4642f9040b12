"""One request in, typed events out: validation, voice, chunking, synthesis, encoding, delivery.

`events()` never raises: every failure becomes one `Failure` event with its kind and the field at
fault (handler.events); a GPU failure also marks this service broken, so it takes no further job.
The front doors (handler.worker, handler.http_app, handler.say) only turn events into their shapes.
Nothing here knows which model it serves: the backend (handler.model) plans and makes the audio.
"""

from __future__ import annotations

import itertools
import json
import logging
import secrets
import time
import traceback
from collections.abc import Iterator
from typing import Any

import numpy as np

from handler import audio_dsp
from handler.audio_codec import OUTPUT_FORMATS, encode_audio
from handler.batching import BatchingPolicy, playback_due, stream_order
from handler.captions import CAPTION_FORMATS, Segment
from handler.crossfade import CrossfadeJoiner
from handler.delivery import Delivery
from handler.errors import InputError, is_cuda_failure
from handler.events import Audio, Event, Failure, FailureKind, Finished, failure_for
from handler.fetch import AddressPolicy, download
from handler.model import ModelBackend, Plan, SynthesisParams, Voice
from handler.scheduler import ItemResult, Scheduler
from handler.schema import MAX_SEED, TTSRequest, parse_request
from handler.script import Script, normalized, prepare_script
from handler.stream_encoder import open_stream_encoder
from handler.timing import StageTimer
from handler.voices import VoiceLibrary, decode_base64_audio

log = logging.getLogger("handler.service")

STREAM_SEGMENT_S = 5.0  # ≤ 5 s per streamed piece: 16-bit WAV is 240 kB, 320 kB in base64
WARMUP_TEXT = "Warm up the model."


class EmptyResult(RuntimeError):
    """The request's audio came out empty: never answered as a success."""


class Service:
    def __init__(self, settings, backend: ModelBackend, scheduler: Scheduler, voices: VoiceLibrary,
                 delivery: Delivery | None = None, policy: BatchingPolicy | None = None, model_name: str = "f5-tts",
                 voice_api=None):
        self.settings = settings
        self.model_name = model_name  # the manifest's name for the model
        self.voice_api = voice_api  # handler.voice_api.VoiceApi: stored voices and consents, for the front doors
        self.backend = backend
        self.scheduler = scheduler
        self.voices = voices
        self.delivery = delivery or Delivery(None, settings.inline_max_bytes)
        self.policy = policy or BatchingPolicy(concurrency=1, bounds=scheduler.bounds)
        self.broken: str | None = None
        self._requests = itertools.count(1)

    @property
    def concurrency(self) -> int:
        """Requests served at once (the SDK's concurrency_modifier, the HTTP mode's bound)."""
        return self.policy.concurrency

    # ---- the one public entry point ------------------------------------------------------------
    def events(self, job_input: Any, job_id: str = "local") -> Iterator[Event]:
        if self.broken:
            yield Failure(FailureKind.WORKER_BROKEN,
                          f"this worker is being replaced after a GPU failure ({self.broken}); retry the job")
            return
        try:
            started = time.perf_counter()
            request = parse_request(job_input, self.settings.max_text_chars)
            yield from self._serve(request, job_id, started)
        except Exception as exc:  # noqa: BLE001 - the worker must answer, whatever broke
            yield self.failure(exc, job_id)

    def failure(self, exc: Exception, job_id: str) -> Failure:
        """What an exception means for the caller; a GPU failure also marks this worker broken."""
        expected = failure_for(exc)
        if expected is not None:
            return expected
        if is_cuda_failure(exc):
            self.broken = f"{type(exc).__name__}: {str(exc)[:200]}"
            log.error("GPU failure, asking for a fresh worker: %s", self.broken)
            return Failure(FailureKind.WORKER_BROKEN, f"GPU failure: {self.broken}; the worker will be replaced, retry the job")
        log.error("internal error on job %s:\n%s", job_id, "".join(traceback.format_exception(exc)))
        return Failure(FailureKind.INTERNAL, f"internal error: {type(exc).__name__}: {exc}")

    def warmup(self) -> dict:
        """Real syntheses through the full path with the default parameters, so the first request pays
        no first-call costs and a setting that would fail requests fails start-up instead: one alone
        (no attention mask) and, where calls are batched, two at once (the masked path). The warm-up
        text is the worker's own, so F5_MAX_TEXT_CHARS does not apply to it."""
        *_, finished = self._serve(TTSRequest(text=WARMUP_TEXT, seed=0), "warmup", time.perf_counter())
        if self.scheduler.bounds.max_items > 1:
            voice = self.voices.preset(self.settings.default_voice)
            plan = self.backend.plan(voice, ["Warm up.", "Warm up the batch."], SynthesisParams(seed=0), request=0)
            for future in self.scheduler.submit(plan.items()):
                future.result()
        return finished.timings

    @staticmethod
    def normalized(text: str, off: frozenset[str] | None = frozenset()) -> str:
        """The text as it will be spoken (handler.script.normalized)."""
        return normalized(text, off)

    # ---- steps -----------------------------------------------------------------------------------
    def _serve(self, request: TTSRequest, job_id: str, started: float) -> Iterator[Event]:
        if request.stream and request.output == "url":
            raise InputError("output 'url' is not available with stream: true (streamed audio is sent as it is made)",
                             field="output")
        voice = self._voice(request)
        # a stream starts with a short chunk so its first audio comes early; otherwise the model's chunks
        script = prepare_script(self.backend, voice, request.text, speed=request.speed, off=request.families_off(),
                                first_chunk_s=self.policy.first_chunk_s if request.stream else None,
                                timestamps=request.timestamps)
        params = SynthesisParams(
            nfe_step=request.nfe_step,
            cfg_strength=request.cfg_strength,
            sway_sampling_coef=request.sway_sampling_coef,
            speed=request.speed,
            fix_duration=request.fix_duration,
            cross_fade_duration=request.cross_fade_duration,
            seed=request.seed if request.seed is not None else secrets.randbelow(MAX_SEED + 1),
        )
        plan = self.backend.plan(voice, script.chunks, params, next(self._requests))
        timer = StageTimer()
        timer.add("preprocess", started)
        if request.stream:
            yield from self._stream(request, plan, script, timer, started)
        else:
            yield from self._whole(request, plan, script, timer, started, job_id)

    def _voice(self, request: TTSRequest) -> Voice:
        if request.ref_audio is None:
            return self.voices.named(request.voice or self.settings.default_voice)
        value = request.ref_audio.strip()
        try:
            if value.startswith(("https://", "http://")):
                data = download(
                    value,
                    max_bytes=self.settings.ref_max_bytes,
                    timeout_s=self.settings.url_timeout_s,
                    policy=AddressPolicy.from_settings(self.settings.allow_private_urls),
                )
            elif "://" in value[:16]:
                raise InputError("ref_audio URL must start with https://")
            else:
                data = decode_base64_audio(value, self.settings.ref_max_bytes)
            if len(data) > self.settings.ref_max_bytes:
                raise InputError(f"ref_audio is larger than the {self.settings.ref_max_bytes}-byte limit")
        except InputError as exc:
            raise InputError(str(exc), field=exc.field or "ref_audio") from None
        return self.voices.from_bytes(data, request.ref_text)

    def _finish_wave(self, wave: np.ndarray, request: TTSRequest) -> np.ndarray:
        rate = self.backend.sample_rate
        return audio_dsp.shorten_silences(wave, rate) if request.remove_silence else wave

    def _results(self, plan: Plan, timer: StageTimer, stats: dict, first_alone: bool) -> Iterator[np.ndarray]:
        """Each chunk's wave, in order, as soon as it exists. A stream sends its first chunk to the
        scheduler alone (so nothing holds it up) and the others the moment it is done, each due when
        its listener will need it (playback_due), all of a stream's ahead of recent whole requests'
        (stream_order); otherwise all chunks go at once, due now, so that they can share model calls
        with each other and other requests."""
        count = len(plan.chunks)
        if first_alone:
            futures = self.scheduler.submit(plan.items(0, 1), due=stream_order([time.monotonic()]))
        else:
            futures = self.scheduler.submit(plan.items(0, count))
        try:
            for index in range(count):
                result: ItemResult = futures[index].result()
                if len(futures) < count:
                    rate = self.backend.sample_rate
                    due = stream_order(playback_due(plan.chunks, len(result.wave) / rate, time.monotonic()))
                    futures += self.scheduler.submit(plan.items(len(futures)), due=due)
                _account(result, timer, stats)
                yield result.wave
        finally:
            for future in futures:
                future.cancel()  # a caller that stops early frees the scheduler of its chunks

    def _whole(self, request, plan, script, timer, started, job_id) -> Iterator[Event]:
        rate = self.backend.sample_rate
        stats: dict = {}
        joiner = CrossfadeJoiner(int(request.cross_fade_duration * rate))
        parts = [joiner.push(self._finish_wave(wave, request)) for wave in self._results(plan, timer, stats, False)]
        wave = np.concatenate([*parts, joiner.finish()])
        if len(wave) == 0:
            raise EmptyResult("the model made no audio for this request")
        step = time.perf_counter()
        audio = encode_audio(wave, rate, request.format)
        timer.add("encode", step)
        fmt = OUTPUT_FORMATS[request.format]
        delivered = self.delivery.deliver(
            audio, output=request.output, fmt=fmt, content_type=fmt.content_type_at(rate), job_id=job_id,
            other_bytes=len(json.dumps(script.text)) * 3 + 1000, timer=timer,  # its text, with timestamps twice more
        )
        yield self._finished(request, plan, script, len(wave), _timings(timer, started, len(wave), rate, stats),
                             _segments(script, joiner, rate), audio=delivered.audio, url=delivered.url)

    def _finished(self, request, plan, script, samples: int, timings: dict, segments, **extra) -> Finished:
        input_tokens, output_tokens = self.backend.usage(script.text, samples)
        usage = {"input_tokens": input_tokens, "output_tokens": output_tokens, "total_tokens": input_tokens + output_tokens}
        captions = CAPTION_FORMATS[request.captions](segments) if request.captions else None
        return Finished(OUTPUT_FORMATS[request.format], self.backend.sample_rate, samples, plan.params.seed,
                        len(plan.chunks), script.text, timings, dropped=script.dropped, usage=usage,
                        segments=segments, captions=captions, **extra)

    def _stream(self, request, plan, script, timer, started) -> Iterator[Event]:
        """Audio pieces as the chunks finish, then the summary. One encoder serves the whole stream,
        so the pieces' bytes joined in order are one valid file in the format."""
        rate = self.backend.sample_rate
        joiner = CrossfadeJoiner(int(request.cross_fade_duration * rate))
        fmt = OUTPUT_FORMATS[request.format]
        encoder = open_stream_encoder(request.format, rate)
        sent, total_samples, pending_samples = 0, 0, 0
        first_audio_s = None

        def piece(audio: bytes, samples: int) -> Audio:
            nonlocal sent, first_audio_s
            event = Audio(fmt, rate, samples, data=audio, index=sent)
            sent += 1
            if first_audio_s is None:
                first_audio_s = time.perf_counter() - started
            return event

        def segments(wave: np.ndarray) -> Iterator[Audio]:
            nonlocal total_samples, pending_samples
            step = int(STREAM_SEGMENT_S * rate)
            for start in range(0, len(wave), step):
                part = wave[start : start + step]
                began = time.perf_counter()
                audio = encoder.push(part)
                timer.add("encode", began)
                total_samples += len(part)
                pending_samples += len(part)
                if audio:  # an encoder may hold samples back until it has a whole page or frame
                    yield piece(audio, pending_samples)
                    pending_samples = 0

        stats: dict = {}
        timed = 0  # sentences whose timestamps were sent
        for wave in self._results(plan, timer, stats, first_alone=True):
            yield from segments(joiner.push(self._finish_wave(wave, request)))
            done = _segments(script, joiner, rate, final=False)  # the sentences whose end is known now
            yield from done[timed:]
            timed = len(done)
        yield from segments(joiner.finish())
        if total_samples == 0:
            raise EmptyResult("the model made no audio for this request")
        began = time.perf_counter()
        audio = encoder.finish()
        timer.add("encode", began)
        if audio or pending_samples:
            yield piece(audio, pending_samples)
        timings = _timings(timer, started, total_samples, rate, stats)
        timings["first_audio_s"] = round(first_audio_s or 0.0, 4)
        segments = _segments(script, joiner, rate)
        yield from segments[timed:]
        yield self._finished(request, plan, script, total_samples, timings, segments, streamed=True, pieces=sent)


def _segments(script: Script, joiner: CrossfadeJoiner, rate: int, final: bool = True) -> tuple[Segment, ...]:
    """Each sentence's place in the joined audio: from where its first chunk joins the one before to
    where its last chunk joins the next (the middle of their cross-fade), the last sentence to the
    end. Before the joiner is finished, only the sentences whose end is already known."""
    pushed = len(joiner.joins) + 1 if joiner.length else 0
    bounds = [0, *joiner.joins, joiner.length]  # chunk k starts at bounds[k]; bounds[-1] ends the audio
    timed = []
    for sentence in script.sentences:
        if not final and sentence.last_chunk + 1 >= pushed:
            break  # the chunk after it has not joined yet
        timed.append(Segment(sentence.written, sentence.spoken, round(bounds[sentence.first_chunk] / rate, 3),
                             round(bounds[sentence.last_chunk + 1] / rate, 3)))
    return tuple(timed)


def _account(result: ItemResult, timer: StageTimer, stats: dict) -> None:
    """Add one chunk's share of the model calls to the request's timings: each call once."""
    calls = stats.setdefault("calls", set())
    if result.call not in calls:
        calls.add(result.call)
        timer.add_seconds("model", result.model_s)
    timer.add_seconds("vocoder", result.vocoder_s)
    stats["batched_with"] = max(stats.get("batched_with", 1), result.batched_with)


def _timings(timer: StageTimer, started: float, samples: int, rate: int, stats: dict) -> dict:
    total = time.perf_counter() - started
    audio_s = samples / rate
    timings = {f"{stage}_s": round(value, 4) for stage, value in timer.seconds.items()}
    timings["total_s"] = round(total, 4)
    timings["rtf"] = round(total / audio_s, 4) if audio_s > 0 else None
    timings["batched_with"] = stats.get("batched_with", 1)
    return timings
