"""A second model backend, as trivial as one can be: each word becomes a beep at the voice's pitch.

It proves the seam (handler.model): the queue worker, the HTTP mode and `say` serve it unchanged with
`F5_BACKEND=tone_backend` (this folder on PYTHONPATH) and a model folder from `write_tone_model`, and
nothing of F5-TTS is imported then. Its audio is exactly predictable, which the service tests use:
- a word is BEEP_S of a sine at the voice's pitch, then GAP_S of silence; "..." is PAUSE_S of silence
  (so `remove_silence` has something to shorten);
- the pitch of a voice is its reference's dominant frequency (a preset: PRESET_HZ);
- a chunk containing "slow" makes its model call take SLOW_S (to show what waits for what), and one
  containing "explode" makes it fail (a failure in the middle of a stream).
It records which threads call `synchronize`, the one call that waits for the "device".
"""

from __future__ import annotations

import io
import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from handler.errors import InputError
from handler.manifest import file_entry, write_manifest
from handler.model import Preset, SynthesisParams

SAMPLE_RATE = 16_000
PRESET_HZ = 440.0
BEEP_S, GAP_S, PAUSE_S = 0.12, 0.04, 1.6
SLOW_S = 1.5
CHUNK_BYTES = 40


def beep(hz: float, seconds: float, rate: int = SAMPLE_RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def wav_bytes_of(wave: np.ndarray, rate: int = SAMPLE_RATE) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, wave, rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def write_tone_model(out: Path) -> Path:
    """A model folder for this backend: a manifest and one preset clip."""
    out.mkdir(parents=True, exist_ok=True)
    clip = out / "en.wav"
    sf.write(clip, np.concatenate([beep(PRESET_HZ, 1.0), np.zeros(SAMPLE_RATE // 10, np.float32)]), SAMPLE_RATE)
    model = {"name": "tone-generator", "preset": "en.wav", "preset_text": "A pure tone."}
    write_manifest(out, model=model, asr_dir=None, files=[file_entry(out, clip, repo="tones")])
    return out


def dominant_hz(wave: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(wave))
    return float(np.fft.rfftfreq(len(wave), 1 / rate)[int(np.argmax(spectrum))])


@dataclass(frozen=True)
class ToneVoice:
    ref_text: str
    duration_s: float
    hz: float


@dataclass(eq=False)
class ToneItem:
    request: int
    frames: int
    text: str
    hz: float
    speed: float
    nfe_step: int

    @property
    def group(self) -> tuple:
        return (self.nfe_step,)


@dataclass
class TonePlan:
    voice: ToneVoice
    chunks: list[str]
    params: SynthesisParams
    request: int

    def items(self, start: int = 0, stop: int | None = None) -> list[ToneItem]:
        stop = len(self.chunks) if stop is None else stop
        return [ToneItem(self.request, len(chunk), chunk, self.voice.hz, self.params.speed, self.params.nfe_step)
                for chunk in self.chunks[start:stop]]


class ToneBackend:
    sample_rate = SAMPLE_RATE
    device_kind = "cpu"
    shortest_chunk_bytes = 0

    def __init__(self, preset: Preset):
        self._preset = preset
        self.sync_threads: set[str] = set()
        self.calls: list[int] = []  # items per sample call
        self.plans: list[TonePlan] = []  # every plan made, in order (the warm-up's first)

    def describe(self) -> dict[str, str]:
        return {"kind": "tone"}

    def presets(self) -> dict[str, Preset]:
        return {self._preset.name: self._preset}

    def unknown_characters(self, text: str) -> list[str]:
        return sorted({c for c in text if ord(c) > 0x24F})  # Latin only

    def prepare_voice(self, wave, ref_text: str) -> ToneVoice:
        return ToneVoice(ref_text.strip(), len(wave) / SAMPLE_RATE, round(dominant_hz(wave, SAMPLE_RATE)))

    def text_budget(self, voice: ToneVoice, speed: float, seconds: float | None = None) -> int:
        return CHUNK_BYTES if seconds is None else max(5, int(seconds * 8))

    def plan(self, voice: ToneVoice, chunks: list[str], params: SynthesisParams, request: int) -> TonePlan:
        if params.fix_duration is not None:
            raise InputError("fix_duration: a tone generator has no fixed durations", field="fix_duration")
        plan = TonePlan(voice, chunks, params, request)
        self.plans.append(plan)
        return plan

    def sample(self, items: list[ToneItem]) -> list[np.ndarray]:
        self.calls.append(len(items))
        if any("slow" in item.text for item in items):
            time.sleep(SLOW_S)
        if any("explode" in item.text for item in items):
            raise RuntimeError("the tone generator was told to explode")
        return [self._speak(item) for item in items]

    def _speak(self, item: ToneItem) -> np.ndarray:
        parts = []
        for word in item.text.split():
            if word.strip(".,;:!?") == "" and "..." in word:
                parts.append(np.zeros(int(PAUSE_S * SAMPLE_RATE), np.float32))
                continue
            parts += [beep(item.hz, BEEP_S / item.speed), np.zeros(int(GAP_S * SAMPLE_RATE), np.float32)]
        return np.concatenate(parts) if parts else np.zeros(0, np.float32)

    def vocode(self, item: ToneItem, output: np.ndarray) -> np.ndarray:
        return output

    def batch_bytes(self, count: int, longest: int) -> float:
        return float(count * longest)

    def usage(self, text: str, samples: int) -> tuple[int, int]:
        return len(text.split()), samples // 160  # words in, 10 ms frames out

    def free_memory_bytes(self) -> float | None:
        return None

    def device_memory(self) -> dict[str, float] | None:
        return None

    def synchronize(self) -> None:
        self.sync_threads.add(threading.current_thread().name)

    def release_memory(self) -> None:
        pass


# ---- what handler.backends asks of a backend module ----------------------------------------------
def check(manifest) -> tuple[Path, ...]:
    preset = manifest.path(manifest.model["preset"], "preset")
    if not preset.is_file():
        from handler.errors import StartupError

        raise StartupError(f"model file missing: {preset}")
    return ()


def load(manifest, device, dtype) -> ToneBackend:
    model = manifest.model
    return ToneBackend(Preset("en", manifest.path(model["preset"], "preset"), model["preset_text"], "en"))


if __name__ == "__main__":  # python tests/tone_backend.py DIR
    import sys

    print(json.dumps(str(write_tone_model(Path(sys.argv[1])))))
