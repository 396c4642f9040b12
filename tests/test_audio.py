"""Audio decode/encode and the signal processing, on generated signals."""

import io

import numpy as np
import pytest
import soundfile as sf
from conftest import assert_audio_format, speechlike, wav_bytes

from handler import audio_dsp
from handler.audio_codec import OUTPUT_FORMATS, decode_audio, encode_audio
from handler.crossfade import CrossfadeJoiner, crossfade_join
from handler.errors import InputError

RATE = 24_000


@pytest.mark.parametrize("fmt", ["wav", "flac", "mp3", "opus", "ogg"])
def test_every_format_decodes_back_to_24k_mono_of_the_right_length(fmt):
    wave = speechlike(1.5)
    data = encode_audio(wave, RATE, fmt)
    assert_audio_format(data, fmt)  # its own container and codec, not just something that decodes
    decoded, rate = sf.read(io.BytesIO(data), dtype="float32")
    assert rate == RATE and decoded.ndim == 1
    assert abs(len(decoded) - len(wave)) <= 0.1 * RATE  # codecs may pad a few frames
    if fmt in ("wav", "flac"):
        assert np.max(np.abs(decoded - wave)) < 1e-3


def test_pcm_is_raw_little_endian_16_bit():
    wave = np.array([0.0, 0.5, -0.5, 1.5, -2.0], dtype=np.float32)
    data = encode_audio(wave, RATE, "pcm")
    assert_audio_format(data, "pcm", samples=len(wave))
    assert np.frombuffer(data, "<i2").tolist() == [0, 16384, -16384, 32767, -32767]


def test_content_types():
    assert OUTPUT_FORMATS["mp3"].content_type == "audio/mpeg"
    assert OUTPUT_FORMATS["wav"].content_type == "audio/wav"
    assert OUTPUT_FORMATS["opus"].content_type.startswith("audio/ogg")


def test_decode_reads_any_supported_container_whatever_it_is_called():
    # an MP3 sent where WAV was expected is still decoded by content, not by name
    data = encode_audio(speechlike(1.0), RATE, "mp3")
    decoded = decode_audio(data, max_seconds=60)
    assert decoded.sample_rate == RATE and decoded.duration_s > 0.9


def test_eight_channels_at_192k_are_accepted():
    wave = np.tile(speechlike(0.5, rate=192_000)[:, None], (1, 8))
    decoded = decode_audio(wav_bytes(wave, 192_000), max_seconds=60)
    assert decoded.samples.shape[1] == 8 and decoded.sample_rate == 192_000


@pytest.mark.parametrize(
    "data, needle",
    [
        (b"", "empty"),
        (b"not audio at all" * 10, "could not be decoded"),
        (wav_bytes(speechlike(1.0), RATE)[:30], "could not be decoded"),
        (wav_bytes(np.zeros(0, dtype=np.float32), RATE), "zero-length"),
    ],
)
def test_bad_audio_is_a_clear_input_error(data, needle):
    with pytest.raises(InputError, match=needle):
        decode_audio(data, max_seconds=60)


def test_truncated_wav_body_decodes_what_is_there():
    data = wav_bytes(speechlike(2.0), RATE)
    decoded = decode_audio(data[: len(data) // 2], max_seconds=60)
    assert 0.5 < decoded.duration_s < 1.5


def test_duration_cap():
    with pytest.raises(InputError, match="limit is 2 s"):
        decode_audio(wav_bytes(speechlike(3.0), RATE), max_seconds=2)


def test_clip_reference_prefers_a_silence():
    speech, pause = speechlike(4.0), np.zeros(int(1.2 * RATE), dtype=np.float32)
    wave = np.concatenate([speech, speech, pause, speech, speech])  # 8 s, pause, 8 s
    clipped = audio_dsp.clip_reference(wave, RATE, 12.0)
    assert 8.0 <= len(clipped) / RATE <= 9.3  # cut inside the pause, not at 12 s


def test_clip_reference_hard_cut_without_silence():
    wave = 0.3 * np.ones(20 * RATE, dtype=np.float32)
    assert len(audio_dsp.clip_reference(wave, RATE, 12.0)) == 12 * RATE


def test_trim_silence_and_pad():
    wave = np.concatenate([np.zeros(RATE), speechlike(1.0), np.zeros(RATE)]).astype(np.float32)
    trimmed = audio_dsp.trim_silence(wave, RATE)
    assert 0.9 <= len(trimmed) / RATE <= 1.05
    assert len(audio_dsp.pad_silence(trimmed, RATE, 0.05)) == len(trimmed) + int(0.05 * RATE)


def test_shorten_silences_keeps_half_a_second_next_to_speech():
    speech = speechlike(1.0)
    wave = np.concatenate([np.zeros(2 * RATE), speech, np.zeros(3 * RATE), speech, np.zeros(2 * RATE)]).astype(np.float32)
    shortened = audio_dsp.shorten_silences(wave, RATE)
    # 0.5 s lead + 1 s speech + 1.0 s gap + 1 s speech + 0.5 s tail
    assert abs(len(shortened) / RATE - 4.0) < 0.1


def test_shorten_silences_leaves_short_pauses_alone():
    wave = np.concatenate([speechlike(1.0), np.zeros(int(0.5 * RATE)), speechlike(1.0)]).astype(np.float32)
    assert len(audio_dsp.shorten_silences(wave, RATE)) == len(wave)


def test_resample_to_24k():
    assert len(audio_dsp.resample(speechlike(1.0, rate=16_000), 16_000, RATE)) == RATE


def test_incremental_crossfade_equals_the_whole_join():
    rng = np.random.default_rng(1)
    waves = [rng.standard_normal(n).astype(np.float32) for n in (5000, 300, 7000, 3600)]
    whole = crossfade_join(waves, 3600)
    joiner = CrossfadeJoiner(3600)
    pieces = [joiner.push(w) for w in waves] + [joiner.finish()]
    np.testing.assert_array_equal(np.concatenate(pieces), whole)
    assert len(whole) == sum(map(len, waves)) - 300 - 3600 - 3600  # each overlap as long as both allow


def test_crossfade_blends_linearly():
    joined = crossfade_join([np.ones(10, np.float32), np.zeros(10, np.float32)], 5)
    assert len(joined) == 15
    np.testing.assert_allclose(joined[5:10], [1.0, 0.75, 0.5, 0.25, 0.0])
