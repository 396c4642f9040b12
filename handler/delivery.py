"""Where a whole (not streamed) result's audio goes: back in the answer, or up to a bucket.

`output` is the request's choice: `auto` answers inline while the answer stays within the inline
limit (F5_INLINE_MAX_BYTES; inline audio travels as base64, a third larger) and uploads otherwise;
`inline` never uploads; `url` always does. Without a bucket an upload is a DeliveryError that says
how to configure one: there is no local-file fallback.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from handler.audio_codec import OutputFormat
from handler.errors import DeliveryError
from handler.storage import HOW_TO_CONFIGURE, Uploader
from handler.timing import StageTimer


def inline_size(audio_bytes: int, other_bytes: int) -> int:
    """The size of an answer that carries `audio_bytes` of audio as base64 and `other_bytes` else."""
    return 4 * -(-audio_bytes // 3) + other_bytes


@dataclass(frozen=True)
class Delivered:
    audio: bytes | None = None  # to answer inline
    url: str | None = None  # where it was uploaded


class Delivery:
    def __init__(self, uploader: Uploader | None, inline_max_bytes: int):
        self.uploader = uploader
        self.inline_max_bytes = inline_max_bytes

    def deliver(self, audio: bytes, *, output: str, fmt: OutputFormat, content_type: str, job_id: str,
                other_bytes: int, timer: StageTimer) -> Delivered:
        if output != "url":
            size = inline_size(len(audio), other_bytes)
            if size <= self.inline_max_bytes:
                return Delivered(audio=audio)
            if output == "inline":
                raise DeliveryError(
                    f"the audio is {size} bytes as JSON, over the inline limit of {self.inline_max_bytes}; "
                    "use output 'url' with a bucket, a compressed format (mp3, opus), or shorter text"
                )
        if self.uploader is None:
            reason = "the audio is too large to return inline" if output == "auto" else "output 'url' was asked for"
            raise DeliveryError(f"{reason} and no bucket is configured: {HOW_TO_CONFIGURE}")
        started = time.perf_counter()
        url = self.uploader.upload(audio, job_id=job_id, extension=fmt.extension, content_type=content_type)
        timer.add("upload", started)
        return Delivered(url=url)
