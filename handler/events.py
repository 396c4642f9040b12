"""What the service yields for one request: typed events, the same for every front door.

A streamed request gives `Audio` events, one per piece in order (their bytes joined are one file),
and, with timestamps, a `Segment` for each sentence once its end is known; then `Finished`; a whole request gives only `Finished`, which carries the file (or the URL it was
uploaded to). At any point one `Failure` may come instead, and nothing follows it. The front doors
turn these into their own shapes: RunPod JSON with base64 (handler.worker), HTTP bodies and status
codes (handler.http_app), a file (handler.say). None of them reads a message's wording: the kind,
the field and `replace_worker` say what they need.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from handler.audio_codec import OutputFormat
from handler.captions import Segment


class FailureKind(enum.Enum):
    INVALID_INPUT = "invalid_input"  # the request is wrong; the message says what to fix
    NOT_FOUND = "not_found"  # what it names (a stored voice, a consent) does not exist
    NOT_CONFIGURED = "not_configured"  # it needs what this deployment has not set up (a voice store)
    UNAVAILABLE = "unavailable"  # a dependency (the voice store) failed; a retry may succeed
    DELIVERY = "delivery"  # the audio was made but could not be handed back (bucket)
    SHUTTING_DOWN = "shutting_down"  # the worker is stopping; retry on another
    WORKER_BROKEN = "worker_broken"  # the GPU failed: this worker must be replaced; retry on another
    INTERNAL = "internal"  # a fault of the worker's own code


@dataclass(frozen=True)
class _Sound:
    format: OutputFormat
    sample_rate: int
    samples: int

    @property
    def duration_s(self) -> float:
        return round(self.samples / self.sample_rate, 3)

    @property
    def content_type(self) -> str:
        return self.format.content_type_at(self.sample_rate)


@dataclass(frozen=True)
class Audio(_Sound):
    """Encoded audio: the bytes of `samples` samples (an encoder may hold a few back until the next
    piece, so bytes and samples need not match one to one within a stream)."""

    data: bytes
    index: int = 0


@dataclass(frozen=True)
class Finished(_Sound):
    """The request is done: what was made, and how long each stage took."""

    seed: int
    chunks: int
    text: str  # the text as spoken (after normalisation)
    timings: dict[str, Any]
    dropped: tuple[str, ...] = ()  # characters left out of the text: soundless, and not in the model's vocabulary
    usage: dict[str, int] | None = None  # the model's text tokens in, audio frames out (handler.model)
    segments: tuple[Segment, ...] = ()  # with timestamps: each sentence's place in the audio
    captions: str | None = None  # the segments as subtitles, when asked for (SRT or WebVTT)
    streamed: bool = False
    pieces: int = 0  # Audio events sent before this one (a stream's)
    audio: bytes | None = None  # a whole request's file, to hand back
    url: str | None = None  # where a whole request's file was uploaded instead


@dataclass(frozen=True)
class Failure:
    kind: FailureKind
    message: str
    field: str | None = None  # the request field at fault (the contract's name), when there is one

    @property
    def replace_worker(self) -> bool:
        return self.kind is FailureKind.WORKER_BROKEN


Event = Audio | Segment | Finished | Failure  # a Segment: a sentence's timestamps, as soon as they are known


def failure_for(exc: BaseException) -> Failure | None:
    """The failure an expected error stands for (None for anything else: a bug, a GPU fault)."""
    from handler.errors import (
        DeliveryError,
        InputError,
        NotConfiguredError,
        NotFoundError,
        UnavailableError,
    )
    from handler.scheduler import SchedulerClosed

    kinds = ((InputError, FailureKind.INVALID_INPUT), (NotFoundError, FailureKind.NOT_FOUND),
             (NotConfiguredError, FailureKind.NOT_CONFIGURED), (UnavailableError, FailureKind.UNAVAILABLE),
             (DeliveryError, FailureKind.DELIVERY), (SchedulerClosed, FailureKind.SHUTTING_DOWN))
    for error, kind in kinds:
        if isinstance(exc, error):
            return Failure(kind, str(exc), getattr(exc, "field", None))
    return None
