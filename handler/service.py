"""One request in, messages out: validation, voice, chunking, synthesis, encoding, delivery.

No `runpod` import: the RunPod glue (handler.worker) only moves these messages. `messages()` never
raises: every failure becomes one `{"error": ...}` message, and a GPU failure also carries
`"refresh_worker": True` and marks this service broken so it takes no further job.
"""

from __future__ import annotations

import base64
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
from handler.backend import SAMPLE_RATE, ModelBackend, PreparedVoice, StageTimer
from handler.crossfade import CrossfadeJoiner, crossfade_join
from handler.errors import DeliveryError, InputError, is_cuda_failure
from handler.fetch import AddressPolicy, download
from handler.plan import RequestPlan, SynthesisParams, first_chunk_bytes, max_chunk_bytes
from handler.scheduler import ItemResult, Scheduler, SchedulerClosed
from handler.schema import MAX_SEED, TTSRequest, parse_request
from handler.storage import HOW_TO_CONFIGURE, Uploader
from handler.stream_encoder import open_stream_encoder
from handler.text_chunks import chunk_text, normalize_text
from handler.text_normalize import normalize_for_speech
from handler.voices import VoiceLibrary, decode_base64_audio

log = logging.getLogger("handler.service")

STREAM_SEGMENT_S = 5.0  # ≤ 5 s per stream message: 16-bit WAV is 240 kB, 320 kB in base64
STREAM_MESSAGE_LIMIT = 1_000_000  # RunPod's per-message stream limit
FIRST_CHUNK_S = 3.0  # a stream's first chunk: about this much speech, so the first audio comes early


class Service:
    def __init__(self, settings, backend: ModelBackend, scheduler: Scheduler, voices: VoiceLibrary,
                 uploader: Uploader | None, concurrency: int = 1):
        self.settings = settings
        self.concurrency = concurrency  # requests served at once (the SDK's concurrency_modifier)
        self.backend = backend
        self.scheduler = scheduler
        self.voices = voices
        self.uploader = uploader
        self.broken: str | None = None
        self._requests = itertools.count(1)

    # ---- the one public entry point ------------------------------------------------------------
    def messages(self, job_input: Any, job_id: str = "local") -> Iterator[dict]:
        if self.broken:
            yield {"error": f"this worker is being replaced after a GPU failure ({self.broken}); retry the job"}
            return
        try:
            yield from self._run(job_input, job_id)
        except (InputError, DeliveryError, SchedulerClosed) as exc:
            yield {"error": str(exc)}
        except Exception as exc:  # noqa: BLE001 - the worker must answer, whatever broke
            if is_cuda_failure(exc):
                self.broken = f"{type(exc).__name__}: {str(exc)[:200]}"
                log.error("GPU failure, asking for a fresh worker: %s", self.broken)
                yield {"error": f"GPU failure: {self.broken}; the worker will be replaced, retry the job", "refresh_worker": True}
            else:
                log.error("internal error on job %s:\n%s", job_id, traceback.format_exc())
                yield {"error": f"internal error: {type(exc).__name__}: {exc}"}

    def warmup(self) -> dict:
        """Real syntheses through the full path, so the first request pays no first-call costs: one
        alone (no attention mask) and, where calls are batched, two at once (the masked path)."""
        result = list(self._run({"text": "Warm up the model.", "seed": 0, "nfe_step": 8}, "warmup"))[-1]
        if self.scheduler.bounds.max_items > 1:
            plan = RequestPlan(self.backend, self.voices.preset(self.settings.default_voice),
                               ["Warm up.", "Warm up the batch."], SynthesisParams(nfe_step=8, seed=0), request=0)
            for future in self.scheduler.submit(plan.items()):
                future.result()
        return result["timings"]

    # ---- steps -----------------------------------------------------------------------------------
    def _run(self, job_input: Any, job_id: str) -> Iterator[dict]:
        started = time.perf_counter()
        request = parse_request(job_input, self.settings.max_text_chars)
        if request.stream and request.output == "url":
            raise InputError("output 'url' is not available with stream: true (stream messages carry audio inline)")
        voice = self._voice(request)
        text = self.normalized(request.text, request.normalize)
        unknown = self.backend.unknown_characters(text)
        if unknown:
            shown = ", ".join(f"{c!r} (U+{ord(c[0]):04X})" if len(c) == 1 else repr(c) for c in unknown[:10])
            raise InputError(f"text contains characters the model cannot speak: {shown}; remove or spell them out")
        # a stream starts with a short chunk so its first audio comes early; otherwise upstream's chunks
        first = first_chunk_bytes(voice, request.speed, FIRST_CHUNK_S) if request.stream else None
        chunks = chunk_text(text, max_chunk_bytes(voice, request.speed), first_max_bytes=first)
        params = SynthesisParams(
            nfe_step=request.nfe_step,
            cfg_strength=request.cfg_strength,
            sway_sampling_coef=request.sway_sampling_coef,
            speed=request.speed,
            fix_duration=request.fix_duration,
            cross_fade_duration=request.cross_fade_duration,
            seed=request.seed if request.seed is not None else secrets.randbelow(MAX_SEED + 1),
        )
        plan = RequestPlan(self.backend, voice, chunks, params, next(self._requests))
        timer = StageTimer(self.backend.device)
        timer.seconds["preprocess"] = time.perf_counter() - started
        if request.stream:
            yield from self._stream(request, plan, text, timer, started)
        else:
            yield self._whole(request, plan, text, timer, started, job_id)

    @staticmethod
    def normalized(text: str, speak_symbols: bool = True) -> str:
        """The text as it will be spoken: whitespace folded, and numbers, symbols and dates as words."""
        text = normalize_text(text)
        return normalize_text(normalize_for_speech(text)) if speak_symbols else text

    def _voice(self, request: TTSRequest) -> PreparedVoice:
        if request.ref_audio is None:
            return self.voices.preset(request.voice or self.settings.default_voice)
        value = request.ref_audio.strip()
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
        return self.voices.from_bytes(data, request.ref_text)

    def _finish_wave(self, wave: np.ndarray, request: TTSRequest) -> np.ndarray:
        return audio_dsp.shorten_silences(wave, SAMPLE_RATE) if request.remove_silence else wave

    def _results(self, plan: RequestPlan, timer: StageTimer, stats: dict, first_alone: bool) -> Iterator[np.ndarray]:
        """Each chunk's wave, in order, as soon as it exists. A stream sends its first chunk to the
        scheduler alone (so nothing holds it up) and the others the moment it is done; otherwise all
        chunks go at once, so that they can share model calls with each other and other requests."""
        count = len(plan.chunks)
        futures = self.scheduler.submit(plan.items(0, 1 if first_alone else count))
        try:
            for index in range(count):
                result: ItemResult = futures[index].result()
                if len(futures) < count:
                    futures += self.scheduler.submit(plan.items(len(futures)))
                _account(result, timer, stats)
                yield result.wave
        finally:
            for future in futures:
                future.cancel()  # a caller that stops early frees the scheduler of its chunks

    def _whole(self, request, plan, text, timer, started, job_id) -> dict:
        stats: dict = {}
        waves = list(self._results(plan, timer, stats, first_alone=False))
        wave = crossfade_join(waves, int(request.cross_fade_duration * SAMPLE_RATE))
        wave = self._finish_wave(wave, request)
        step = time.perf_counter()
        audio = encode_audio(wave, SAMPLE_RATE, request.format)
        timer.add("encode", step)
        spec = OUTPUT_FORMATS[request.format]
        result: dict[str, Any] = {
            "format": spec.name,
            "content_type": spec.content_type,
            "sample_rate": SAMPLE_RATE,
            "duration_s": round(len(wave) / SAMPLE_RATE, 3),
            "seed": plan.params.seed,
            "chunks": len(plan.chunks),
            "text": text,
        }
        self._deliver(result, audio, request.output, job_id, timer)
        result["timings"] = _timings(timer, started, len(wave), stats)
        return result

    def _deliver(self, result: dict, audio: bytes, output: str, job_id: str, timer: StageTimer) -> None:
        if output != "url":
            encoded = base64.b64encode(audio).decode("ascii")
            size = len(json.dumps(result)) + len(encoded) + 200  # + the key and the timings
            if size <= self.settings.inline_max_bytes:
                result["audio_base64"] = encoded
                return
            if output == "inline":
                raise DeliveryError(
                    f"the audio is {size} bytes as JSON, over the inline limit of {self.settings.inline_max_bytes}; "
                    "use output 'url' with a bucket, a compressed format (mp3, opus), or shorter text"
                )
        if self.uploader is None:
            reason = "the audio is too large to return inline" if output == "auto" else "output 'url' was asked for"
            raise DeliveryError(f"{reason} and no bucket is configured: {HOW_TO_CONFIGURE}")
        step = time.perf_counter()
        spec = OUTPUT_FORMATS[result["format"]]
        result["audio_url"] = self.uploader.upload(
            audio, job_id=job_id, extension=spec.extension, content_type=spec.content_type
        )
        timer.add("upload", step)

    def _stream(self, request, plan, text, timer, started) -> Iterator[dict]:
        """Audio messages as the chunks finish, then a summary. One encoder serves the whole stream,
        so the messages' bytes joined in order are one valid file in the format."""
        joiner = CrossfadeJoiner(int(request.cross_fade_duration * SAMPLE_RATE))
        spec = OUTPUT_FORMATS[request.format]
        encoder = open_stream_encoder(request.format, SAMPLE_RATE)
        index, total_samples, pending_samples = 0, 0, 0
        first_audio_s = None

        def message(audio: bytes, samples: int) -> dict:
            nonlocal index, first_audio_s
            body = {
                "index": index,
                "audio_base64": base64.b64encode(audio).decode("ascii"),
                "format": spec.name,
                "content_type": spec.content_type,
                "sample_rate": SAMPLE_RATE,
                "duration_s": round(samples / SAMPLE_RATE, 3),
            }
            if len(json.dumps(body)) >= STREAM_MESSAGE_LIMIT:  # cannot happen at ≤ 5 s; never send one
                raise DeliveryError("a stream message would exceed RunPod's 1 MB stream limit")
            index += 1
            if first_audio_s is None:
                first_audio_s = time.perf_counter() - started
            return body

        def segments(piece: np.ndarray) -> Iterator[dict]:
            nonlocal total_samples, pending_samples
            step = int(STREAM_SEGMENT_S * SAMPLE_RATE)
            for start in range(0, len(piece), step):
                part = piece[start : start + step]
                began = time.perf_counter()
                audio = encoder.push(part)
                timer.add("encode", began)
                total_samples += len(part)
                pending_samples += len(part)
                if audio:  # an encoder may hold samples back until it has a whole page or frame
                    yield message(audio, pending_samples)
                    pending_samples = 0

        stats: dict = {}
        for wave in self._results(plan, timer, stats, first_alone=True):
            yield from segments(joiner.push(self._finish_wave(wave, request)))
        yield from segments(joiner.finish())
        began = time.perf_counter()
        audio = encoder.finish()
        timer.add("encode", began)
        if audio or pending_samples:
            yield message(audio, pending_samples)
        timings = _timings(timer, started, total_samples, stats)
        timings["first_audio_s"] = round(first_audio_s or 0.0, 4)
        yield {
            "done": True,
            "segments": index,
            "format": spec.name,
            "sample_rate": SAMPLE_RATE,
            "duration_s": round(total_samples / SAMPLE_RATE, 3),
            "seed": plan.params.seed,
            "chunks": len(plan.chunks),
            "text": text,
            "timings": timings,
        }


def _account(result: ItemResult, timer: StageTimer, stats: dict) -> None:
    """Add one chunk's share of the model calls to the request's timings: each call once."""
    calls = stats.setdefault("calls", set())
    if result.call not in calls:
        calls.add(result.call)
        timer.seconds["model"] = timer.seconds.get("model", 0.0) + result.model_s
    timer.seconds["vocoder"] = timer.seconds.get("vocoder", 0.0) + result.vocoder_s
    stats["batched_with"] = max(stats.get("batched_with", 1), result.batched_with)


def _timings(timer: StageTimer, started: float, samples: int, stats: dict) -> dict:
    total = time.perf_counter() - started
    audio_s = samples / SAMPLE_RATE
    timings = {f"{stage}_s": round(value, 4) for stage, value in timer.seconds.items()}
    timings["total_s"] = round(total, 4)
    timings["rtf"] = round(total / audio_s, 4) if audio_s > 0 else None
    timings["batched_with"] = stats.get("batched_with", 1)
    return timings
