"""Audio bytes in and out: decode references, encode results. soundfile only, no FFmpeg.

Decoding accepts WAV, FLAC, OGG (Vorbis/Opus) and MP3, whatever the container says; encoding writes
wav (16-bit PCM), flac, mp3, opus (in Ogg), ogg (Vorbis) and raw little-endian 16-bit PCM.
OUTPUT_FORMATS is the one list of output formats: the request contract, the HTTP mode, `say` and the
stream encoders all read it. A new format is one entry here (and an encoder in stream_encoder.py).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import soundfile as sf

from handler.errors import InputError


@dataclass(frozen=True)
class OutputFormat:
    name: str
    content_type: str
    extension: str
    soundfile_format: str | None  # None: raw PCM, written by hand
    subtype: str | None

    def content_type_at(self, sample_rate: int) -> str:
        """The media type; raw PCM's names its rate, the one thing a player cannot find in the bytes."""
        return f"{self.content_type}; rate={sample_rate}; channels=1" if self.soundfile_format is None else self.content_type


OUTPUT_FORMATS: dict[str, OutputFormat] = {
    "wav": OutputFormat("wav", "audio/wav", "wav", "WAV", "PCM_16"),
    "flac": OutputFormat("flac", "audio/flac", "flac", "FLAC", "PCM_16"),
    "mp3": OutputFormat("mp3", "audio/mpeg", "mp3", "MP3", "MPEG_LAYER_III"),
    "opus": OutputFormat("opus", "audio/ogg; codecs=opus", "opus", "OGG", "OPUS"),
    "ogg": OutputFormat("ogg", "audio/ogg", "ogg", "OGG", "VORBIS"),
    "pcm": OutputFormat("pcm", "audio/L16", "pcm", None, None),
}


def to_int16(wave: np.ndarray) -> np.ndarray:
    clipped = np.clip(np.nan_to_num(np.asarray(wave, dtype=np.float32)), -1.0, 1.0)
    return (clipped * 32767.0).round().astype("<i2")


def encode_audio(wave: np.ndarray, sample_rate: int, fmt: str) -> bytes:
    """Encode a mono float wave in [-1, 1] to the named output format."""
    spec = OUTPUT_FORMATS[fmt]
    if spec.soundfile_format is None:
        return to_int16(wave).tobytes()
    buffer = io.BytesIO()
    data = np.clip(np.nan_to_num(np.asarray(wave, dtype=np.float32)), -1.0, 1.0)
    sf.write(buffer, data, sample_rate, format=spec.soundfile_format, subtype=spec.subtype)
    return buffer.getvalue()


@dataclass(frozen=True)
class DecodedAudio:
    samples: np.ndarray  # float32, shape (frames, channels)
    sample_rate: int

    @property
    def duration_s(self) -> float:
        return self.samples.shape[0] / self.sample_rate


MAX_CHANNELS = 8
SAMPLE_RATE_RANGE = (4_000, 384_000)


def decode_audio(data: bytes, max_seconds: float, clip_seconds: float | None = None,
                 field: str = "ref_audio") -> DecodedAudio:
    """Decode a clip sent as `field`. Every failure is an InputError that names the field and says what
    is wrong (`clip_seconds`: how much of a clip is used, for the message that refuses a long one)."""
    if not data:
        raise InputError(f"{field} is empty (0 bytes)", field=field)
    try:
        with sf.SoundFile(io.BytesIO(data)) as handle:
            rate, channels, frames = handle.samplerate, handle.channels, handle.frames
            if not SAMPLE_RATE_RANGE[0] <= rate <= SAMPLE_RATE_RANGE[1]:
                raise InputError(f"{field} sample rate {rate} Hz is outside {SAMPLE_RATE_RANGE[0]}-{SAMPLE_RATE_RANGE[1]} Hz", field=field)
            if not 1 <= channels <= MAX_CHANNELS:
                raise InputError(f"{field} has {channels} channels; at most {MAX_CHANNELS} are accepted", field=field)
            if frames > 0 and frames / rate > max_seconds:
                used = f"only the first {clip_seconds:g} s are used: " if clip_seconds else ""
                raise InputError(
                    f"{field} is {frames / rate:.1f} s long; the limit is {max_seconds:g} s ({used}send a shorter clip)",
                    field=field,
                )
            # read at most the cap (+1 frame) even where the header lies about the length
            limit = int(max_seconds * rate) + 1
            samples = handle.read(frames=limit, dtype="float32", always_2d=True)
    except InputError:
        raise
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError, OverflowError) as exc:
        raise InputError(
            f"{field} could not be decoded as WAV, FLAC, OGG/Opus or MP3 "
            f"({str(exc).strip() or type(exc).__name__}); send one of those formats",
            field=field,
        ) from None
    if samples.shape[0] == 0:
        raise InputError(f"{field} holds no samples (zero-length audio)", field=field)
    if samples.shape[0] / rate > max_seconds:
        raise InputError(f"{field} is longer than the {max_seconds:g} s limit; send a shorter clip", field=field)
    if not np.isfinite(samples).all():
        raise InputError(f"{field} contains NaN or infinite samples", field=field)
    return DecodedAudio(samples=samples, sample_rate=rate)
