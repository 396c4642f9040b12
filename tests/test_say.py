"""`python -m handler say`: the local command that writes a file, run as a real process on the tiny model."""

import base64
import subprocess
import sys

import pytest
import soundfile as sf
from conftest import ROOT, answer, speechlike, wav_bytes, worker_env


def say(model_dir, *args, **env):
    return subprocess.run(  # noqa: PLW1510 - the tests read returncode
        [sys.executable, "-m", "handler", "say", *map(str, args)],
        cwd=ROOT,
        env=worker_env(model_dir, F5_WARMUP="0", **env),
        capture_output=True,
        text=True,
        timeout=300,
    )


def summary(process) -> tuple[str, dict[str, str]]:
    """The one stdout line: `PATH key=value ...`."""
    lines = process.stdout.splitlines()
    assert len(lines) == 1, process.stdout
    path, *pairs = lines[0].split(" ")
    return path, dict(pair.split("=", 1) for pair in pairs)


def test_say_writes_a_wav_with_the_reported_duration_and_seed(tiny_model_dir, tmp_path, service):
    out = tmp_path / "hello.wav"
    process = say(tiny_model_dir, "Hello from the command line.", "-o", out, "--seed", 7, "--nfe-step", 8)
    assert process.returncode == 0, process.stderr[-3000:]
    path, fields = summary(process)
    assert path == str(out) and fields["seed"] == "7"
    assert {"duration_s", "model_s", "vocoder_s", "encode_s", "total_s", "rtf"} <= set(fields)
    audio, rate = sf.read(out)
    assert rate == 24000 and len(audio) == pytest.approx(float(fields["duration_s"]) * rate, abs=13)  # duration_s is rounded to 1 ms
    # the very request an endpoint caller would send, through the same service: the same bytes
    [result] = answer(service, {"text": "Hello from the command line.", "seed": 7, "nfe_step": 8}, "same")
    assert out.read_bytes() == base64.b64decode(result["audio_base64"])


def test_say_dash_o_dash_streams_the_audio_to_stdout_and_the_line_to_stderr(tiny_model_dir, service):
    """`-o -`: the audio on standard output as it is made (the endpoint's stream), nothing else there;
    no file named "-" is written."""
    process = subprocess.run(  # noqa: PLW1510 - the test reads returncode
        [sys.executable, "-m", "handler", "say", "Hello there. A second sentence, to stream.", "-o", "-",
         "--format", "pcm", "--seed", "5", "--nfe-step", "4"],
        cwd=ROOT, env=worker_env(tiny_model_dir, F5_WARMUP="0"), capture_output=True, timeout=300,
    )
    assert process.returncode == 0, process.stderr.decode()[-3000:]
    assert not (ROOT / "-").exists()
    *parts, done = answer(service, {"text": "Hello there. A second sentence, to stream.", "format": "pcm",
                                    "seed": 5, "nfe_step": 4, "stream": True, "output": "inline"})
    assert len(parts) > 1 and process.stdout == b"".join(base64.b64decode(p["audio_base64"]) for p in parts)
    line = process.stderr.decode().strip().splitlines()[-1]
    assert line.startswith("- duration_s=") and f"duration_s={done['duration_s']}" in line


def test_say_clones_a_reference_clip_into_mp3_from_the_extension(tiny_model_dir, tmp_path):
    ref = tmp_path / "me.wav"
    ref.write_bytes(wav_bytes(speechlike(4.0), 24000))
    out = tmp_path / "me.mp3"
    process = say(
        tiny_model_dir, "Cloned words.", "-o", out, "--ref-audio", ref, "--ref-text", "What I say in the clip.",
        "--speed", 1.2, "--nfe-step", 4,
    )
    assert process.returncode == 0, process.stderr[-3000:]
    _, fields = summary(process)
    assert sf.info(out).format == "MP3"  # the format came from the extension
    audio, rate = sf.read(out)
    assert rate == 24000 and len(audio) / rate == pytest.approx(float(fields["duration_s"]), abs=0.1)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["Hello", "--voice", "nobody"], "error: voice 'nobody' is not a preset; available: en, zh"),
        (["   "], "error: invalid input: text: text is empty or only whitespace"),
    ],
    ids=["unknown-voice", "empty-text"],
)
def test_a_refused_request_exits_2_with_the_service_message(tiny_model_dir, tmp_path, args, message):
    out = tmp_path / "never.wav"
    process = say(tiny_model_dir, *args, "-o", out)
    assert process.returncode == 2, process.stderr[-3000:]
    assert message in process.stderr
    assert "Traceback" not in process.stderr and process.stdout == ""
    assert list(tmp_path.iterdir()) == []  # no file, not even a partial one


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["Hi", "-o", "{tmp}/out.xyz"], "error: cannot tell the format from"),
        (["Hi", "-o", "{tmp}/out.wav", "--ref-audio", "{tmp}/missing.wav"], "error: cannot read --ref-audio"),
        (["Hi", "-o", "{tmp}/no/such/folder/out.wav"], "does not exist"),
        (["Hi"], "the following arguments are required: -o/--out"),
    ],
    ids=["unknown-extension", "missing-reference", "missing-folder", "no-output"],
)
def test_bad_arguments_exit_2_before_loading_the_model(tiny_model_dir, tmp_path, args, message):
    process = say(tiny_model_dir, *(a.format(tmp=tmp_path) for a in args))
    assert process.returncode == 2
    assert message in process.stderr
    assert "Traceback" not in process.stderr and "[startup]" not in process.stderr  # no model was loaded


def test_a_start_up_failure_exits_1_with_one_line(tmp_path):
    process = say(tmp_path / "nothing-here", "Hi", "-o", tmp_path / "out.wav")
    assert process.returncode == 1
    assert "[startup] FAILED: manifest" in process.stderr and "Traceback" not in process.stderr
