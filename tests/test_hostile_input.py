"""Property-based tests: thousands of random and malformed inputs; no crash, no hang, every
rejection a clear InputError that names what is wrong."""

import base64
import io
import math
import struct
import time

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handler.audio_codec import decode_audio
from handler.errors import InputError
from handler.schema import OPENAI_ALIASES, TTSRequest, parse_request
from handler.voices import decode_base64_audio

FIELDS = [*sorted(TTSRequest.model_fields), "input", "response_format"]
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=50),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=10,
)
REQUESTS = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=12), JSON_VALUES, max_size=8)


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(REQUESTS)
def test_parser_accepts_or_names_the_problem(data):
    try:
        request = parse_request(data, max_text_chars=5000)
    except InputError as exc:
        message = str(exc)
        assert message and len(message) < 4000
        # the message names the field at fault (a field of the contract, or a key the request sent),
        # past the generic "invalid input: " that every validation message starts with
        named = message.removeprefix("invalid input: ")
        assert exc.field in {*TTSRequest.model_fields, *OPENAI_ALIASES, *map(str, data)}, (exc.field, message)
        assert exc.field in named, (exc.field, message)
        return
    assert request.text.strip() and len(request.text) <= 5000
    for value in (request.cfg_strength, request.speed, request.sway_sampling_coef, request.cross_fade_duration):
        assert math.isfinite(value)


@settings(max_examples=500, deadline=None)
@given(JSON_VALUES)
def test_any_json_value_as_input(value):
    try:
        parse_request(value, max_text_chars=5000)
    except InputError as exc:
        assert isinstance(value, dict) or "must be a JSON object" in str(exc)  # not a dict: says what it must be


def _wav(samples: np.ndarray, rate: int) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096))
def test_decoder_on_random_bytes(data):
    started = time.monotonic()
    try:
        decoded = decode_audio(data, max_seconds=60)
        assert decoded.samples.shape[0] > 0 and np.isfinite(decoded.samples).all()
    except InputError as exc:
        assert str(exc).startswith("ref_audio")
    assert time.monotonic() - started < 5


VALID = _wav(np.sin(np.linspace(0, 200, 24000)).astype(np.float32) * 0.3, 24000)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(VALID) - 1), st.binary(min_size=1, max_size=64), st.integers(0, len(VALID)))
def test_decoder_on_corrupted_wav(position, garbage, cut):
    # flip bytes anywhere (headers included), then truncate: a decoder's nightmare, never a crash
    data = bytearray(VALID[:cut] if cut > 44 else VALID)
    data[position % len(data) : position % len(data) + len(garbage)] = garbage
    try:
        decoded = decode_audio(bytes(data), max_seconds=60)
        assert np.isfinite(decoded.samples).all()
    except InputError as exc:
        assert str(exc).startswith("ref_audio")


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 400_000), st.integers(1, 70_000))
def test_decoder_header_lies_about_rate_and_length(rate, frames):
    data = bytearray(VALID)
    struct.pack_into("<I", data, 24, rate)  # sample rate field
    struct.pack_into("<I", data, 40, frames * 2)  # data chunk size
    try:
        decode_audio(bytes(data), max_seconds=60)
    except InputError as exc:
        assert str(exc).startswith("ref_audio")


@settings(max_examples=1000, deadline=None)
@given(st.text(max_size=300) | st.builds(lambda b: "data:audio/wav;base64," + b, st.text(max_size=300)))
def test_base64_decoding_of_anything(value):
    try:
        decoded = decode_base64_audio(value, max_bytes=10_000)
        assert len(decoded) <= 10_000  # whatever is accepted is within the cap (the bytes: the round trip below)
    except InputError as exc:
        assert "ref_audio" in str(exc)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=3000), st.sampled_from(["", "data:audio/wav;base64,", "data:audio/mpeg;codecs=mp3;base64,"]),
       st.integers(0, 2**32 - 1))
def test_base64_decoding_gives_back_the_bytes_sent(data, prefix, where):
    """Raw base64 or a data URL, with line breaks and spaces anywhere in the payload: the exact bytes."""
    encoded = base64.b64encode(data).decode()
    cut = where % (len(encoded) + 1)
    spaced = encoded[:cut] + "\n " + encoded[cut:] if encoded else encoded
    if not (prefix or spaced):
        return  # the empty string is no base64 at all
    assert decode_base64_audio(prefix + spaced, max_bytes=max(len(data), 1)) == data


def test_base64_size_cap_is_checked_before_decoding(monkeypatch):
    """An oversize payload is refused for its size without being decoded: here it is not even valid
    base64, and the decoder must not be called at all."""
    def decoder_called(*args, **kwargs):
        raise AssertionError("the payload was decoded before its size was checked")

    monkeypatch.setattr("handler.voices.base64.b64decode", decoder_called)
    for payload in ("!" * 40_000, base64.b64encode(b"x" * 30_000).decode()):
        with pytest.raises(InputError, match="larger than the 10000-byte limit"):
            decode_base64_audio(payload, max_bytes=10_000)
