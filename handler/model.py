"""What serving needs from a text-to-speech model: the model backend protocol.

Serving code (the service, the scheduler, voices, start-up, the front doors) talks to a model only
through these types; it knows no fact of any one model. F5-TTS with Vocos implements them in
`handler/f5/`. Adding a model is one package with a `load` function (see `handler.backends`).

The life of a request, as the backend sees it:
1. `prepare_voice(wave, ref_text)` once per reference (cached by the voice library);
2. `text_budget(voice, speed, seconds)` tells the service how much text fits one chunk;
3. `plan(voice, chunks, params, request)` turns a request's chunks into items, in chunk order;
4. the scheduler puts items of one `group` together and calls `sample(items)` then `vocode(item, out)`
   for each, within `batch_bytes(count, longest)` of memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class SynthesisParams:
    """A request's synthesis parameters, as the request contract (handler.schema) names them. A
    backend uses those it understands; the defaults are the contract's."""

    nfe_step: int = 32
    cfg_strength: float = 2.0
    sway_sampling_coef: float = -1.0
    speed: float = 1.0
    fix_duration: float | None = None
    cross_fade_duration: float = 0.15
    seed: int = 0


@dataclass(frozen=True)
class Preset:
    """A baked voice: a reference clip and its exact transcript."""

    name: str
    path: Path
    ref_text: str
    language: str


class Voice(Protocol):
    """A reference prepared for the model (features computed once)."""

    ref_text: str
    duration_s: float


class Item(Protocol):
    """One chunk of one request, ready for a model call."""

    request: int  # which request it serves (to count distinct requests per call)
    frames: int  # its padded length: what a batch's memory grows with

    @property
    def group(self) -> tuple:
        """Items of one group can share a model call."""


class Plan(Protocol):
    """One request's items, made in chunk order (each may draw from the request's random stream)."""

    chunks: list[str]
    params: SynthesisParams

    def items(self, start: int = 0, stop: int | None = None) -> list[Any]: ...


@runtime_checkable
class ModelBackend(Protocol):
    sample_rate: int
    device_kind: str  # "cuda" or "cpu": which batching defaults apply
    shortest_chunk_bytes: int  # text shorter than this is spoken differently: a stream's cut never leaves it alone

    def describe(self) -> dict[str, str]:
        """Facts for the start-up line (parameters, vocabulary, checkpoint precision, ...)."""

    def presets(self) -> dict[str, Preset]:
        """The voices the model ships with."""

    def unknown_characters(self, text: str) -> list[str]:
        """What in `text` the model cannot speak (empty when it can speak all of it)."""

    def prepare_voice(self, wave: np.ndarray, ref_text: str) -> Voice:
        """`wave`: mono float32 at `sample_rate`, trimmed."""

    def text_budget(self, voice: Voice, speed: float, seconds: float | None = None) -> int:
        """UTF-8 bytes of text for one chunk in this voice: about `seconds` of speech, or the
        longest chunk the model takes when `seconds` is None."""

    def plan(self, voice: Voice, chunks: list[str], params: SynthesisParams, request: int) -> Plan:
        """The request's items. Raises handler.errors.InputError for parameters the model cannot honour."""

    def sample(self, items: list[Any]) -> list[Any]:
        """One model call for items of one group; one output per item."""

    def vocode(self, item: Any, output: Any) -> np.ndarray:
        """An item's output as a mono float32 wave at `sample_rate`."""

    def usage(self, text: str, samples: int) -> tuple[int, int]:
        """A request's usage: the model's text tokens for `text`, and the audio frames it made."""

    def batch_bytes(self, count: int, longest: int) -> float:
        """Estimated memory of one call on `count` items padded to `longest` frames."""

    def device_memory(self) -> dict[str, float] | None:
        """Device memory in bytes: allocated, reserved and total (None on a CPU): for /metrics."""

    def free_memory_bytes(self) -> float | None:
        """Device memory free for batches now (None: unbounded, e.g. on a CPU)."""

    def synchronize(self) -> None:
        """Wait for the device's queued work (called by the scheduler only, to time its calls)."""

    def release_memory(self) -> None:
        """Give cached device memory back (after an out-of-memory error)."""
