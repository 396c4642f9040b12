"""client/f5tts_client.py against the worker behind the SDK's local API server."""

import io
import json
import subprocess
import sys

import pytest
import soundfile as sf
from conftest import ROOT, assert_audio_format, speechlike, wav_bytes

sys.path.insert(0, str(ROOT / "client"))
from f5tts_client import EndpointError, synthesize

LONG = " ".join(f"Client sentence number {i} makes this text long enough for chunks." for i in range(6))


@pytest.mark.parametrize("mode", ["runsync", "run"])
def test_plain_modes_return_the_audio(api, mode):
    result = synthesize(api, {"text": "Client call.", "format": "flac", "seed": 4, "nfe_step": 4}, mode=mode)
    assert_audio_format(result.audio, "flac")
    audio, rate = sf.read(io.BytesIO(result.audio))
    assert rate == 24000 and abs(len(audio) / rate - result.summary["duration_s"]) < 0.05
    assert result.summary["seed"] == 4


@pytest.mark.parametrize("fmt", ["wav", "pcm", "ogg"])
def test_stream_mode_joins_segments_into_one_file(api, fmt):
    pieces: list[bytes] = []
    result = synthesize(api, {"text": LONG, "format": fmt, "seed": 5, "nfe_step": 4}, mode="stream",
                        on_audio=pieces.append)
    summary = result.summary
    assert summary["done"] is True and summary["segments"] >= 2 and len(pieces) == summary["segments"]
    assert b"".join(pieces) == result.audio
    assert_audio_format(result.audio, fmt)  # one file in its own container and codec, not any that decodes
    if fmt == "pcm":
        assert abs(len(result.audio) / 2 / 24000 - summary["duration_s"]) <= 0.0005
    else:
        audio, rate = sf.read(io.BytesIO(result.audio))
        assert abs(len(audio) / rate - summary["duration_s"]) < 0.01


def test_a_bad_request_raises_with_the_workers_message(api):
    with pytest.raises(EndpointError, match="nfe_step"):
        synthesize(api, {"text": "x", "nfe_step": 1})


def test_cli_with_a_reference_file(api, tmp_path):
    ref = tmp_path / "ref.wav"
    ref.write_bytes(wav_bytes(speechlike(3.0), 24000))
    out = tmp_path / "cloned.wav"
    result = subprocess.run(
        [sys.executable, str(ROOT / "client" / "f5tts_client.py"), "--url", api, "--text", "Cloned voice.",
         "--ref-audio", str(ref), "--ref-text", "A reference clip.", "--param", "nfe_step=4", "--out", str(out)],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["bytes"] == out.stat().st_size and sf.read(out)[1] == 24000
    assert_audio_format(out.read_bytes(), "wav")  # the default format


def test_cli_reports_an_unreachable_endpoint(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "client" / "f5tts_client.py"), "--url", "http://127.0.0.1:9", "--text", "x",
         "--out", str(tmp_path / "x.wav"), "--timeout", "5"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 1 and result.stderr.startswith("error: POST /runsync")


def test_cli_streams_mp3_to_standard_output(api):
    result = subprocess.run(
        [sys.executable, str(ROOT / "client" / "f5tts_client.py"), "--url", api, "--mode", "stream", "--text", LONG,
         "--format", "mp3", "--param", "nfe_step=4", "--out", "-"],
        capture_output=True, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stderr.decode().strip().splitlines()[-1])
    assert summary["bytes"] == len(result.stdout) and summary["segments"] >= 2
    assert_audio_format(result.stdout, "mp3")
    audio, rate = sf.read(io.BytesIO(result.stdout))
    assert abs(len(audio) / rate - summary["duration_s"]) < 0.1  # MP3: the encoder's delay and padding
