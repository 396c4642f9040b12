"""Encoders kept across a stream's segments: the bytes of all segments joined are one valid file.

A stream's messages each carry the bytes its encoder produced since the last message, so a player can
play them as they arrive and a caller can concatenate them into one file:
- wav: one header (sizes set to 0xFFFFFFFF, the convention for a WAV of unknown length), then samples;
- pcm: raw 16-bit little-endian samples;
- mp3: raw MPEG frames from LAME (lameenc), without the Xing header whose frame count would
  otherwise end playback after the first segment;
- opus, ogg (Vorbis), flac: one libsndfile encoder writing into a forward-only sink. At the end it
  seeks back to patch lengths already sent; those patches are dropped, which leaves Ogg files valid
  (their granule positions give the length) and a FLAC whose header says "length unknown".
"""

from __future__ import annotations

import struct

import numpy as np
import soundfile as sf

from handler.audio_codec import OUTPUT_FORMATS, to_int16

UNKNOWN_SIZE = 0xFFFFFFFF
MP3_KBPS = 64  # mono speech at 24 kHz


class PcmStream:
    def push(self, wave: np.ndarray) -> bytes:
        return to_int16(wave).tobytes()

    def finish(self) -> bytes:
        return b""


class WavStream(PcmStream):
    def __init__(self, sample_rate: int):
        self.sample_rate = sample_rate
        self._started = False

    def push(self, wave: np.ndarray) -> bytes:
        samples = super().push(wave)
        if self._started:
            return samples
        self._started = True
        fmt = struct.pack("<IHHIIHH", 16, 1, 1, self.sample_rate, self.sample_rate * 2, 2, 16)
        header = b"RIFF" + struct.pack("<I", UNKNOWN_SIZE) + b"WAVEfmt " + fmt + b"data" + struct.pack("<I", UNKNOWN_SIZE)
        return header + samples


class Mp3Stream:
    def __init__(self, sample_rate: int):
        import lameenc

        self._encoder = lameenc.Encoder()
        self._encoder.set_bit_rate(MP3_KBPS)
        self._encoder.set_in_sample_rate(sample_rate)
        self._encoder.set_channels(1)
        self._encoder.set_quality(2)

    def push(self, wave: np.ndarray) -> bytes:
        return bytes(self._encoder.encode(to_int16(wave).tobytes()))

    def finish(self) -> bytes:
        return bytes(self._encoder.flush())


class _ForwardSink:
    """A file for libsndfile that hands out appended bytes once; rewrites of sent bytes are dropped."""

    def __init__(self):
        self._buffer = bytearray()
        self._position = 0
        self._sent = 0

    def write(self, data) -> int:
        data = bytes(data)
        end = self._position + len(data)
        if end > len(self._buffer):
            self._buffer.extend(b"\0" * (end - len(self._buffer)))
        self._buffer[self._position : end] = data
        self._position = end
        return len(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        base = (0, self._position, len(self._buffer))[whence]
        self._position = base + offset
        return self._position

    def tell(self) -> int:
        return self._position

    def read(self, size: int = -1) -> bytes:
        return b""  # write-only: libsndfile never needs to read back what it wrote here

    def take(self) -> bytes:
        fresh = bytes(self._buffer[self._sent :])
        self._sent = len(self._buffer)
        return fresh


class SoundfileStream:
    def __init__(self, sample_rate: int, fmt: str):
        spec = OUTPUT_FORMATS[fmt]
        self._sink = _ForwardSink()
        self._file = sf.SoundFile(self._sink, mode="w", samplerate=sample_rate, channels=1,
                                  format=spec.soundfile_format, subtype=spec.subtype)

    def push(self, wave: np.ndarray) -> bytes:
        self._file.write(np.clip(np.nan_to_num(np.asarray(wave, dtype=np.float32)), -1.0, 1.0))
        return self._sink.take()

    def finish(self) -> bytes:
        self._file.close()
        return self._sink.take()


def open_stream_encoder(fmt: str, sample_rate: int):
    """An encoder with `push(wave) -> bytes` and `finish() -> bytes` for one stream in `fmt`."""
    if fmt == "pcm":
        return PcmStream()
    if fmt == "wav":
        return WavStream(sample_rate)
    if fmt == "mp3":
        return Mp3Stream(sample_rate)
    return SoundfileStream(sample_rate, fmt)
