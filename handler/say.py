"""`python -m handler say "Text to speak" -o out.wav`: synthesise one text into a file.

The same start-up as the worker (`handler.startup.build_service`: verified files, model, voices,
warm-up), then one ordinary request through `Service.messages`, so the validation and the error
messages are the endpoint's own. On success it prints one line on stdout:

  out.wav duration_s=1.152 seed=1234 preprocess_s=0.0004 model_s=0.2666 ... total_s=0.2797 rtf=0.2428

Exit codes: 0 written; 1 the worker could not start (`[startup] FAILED: ...`); 2 the request was
refused or failed, or the arguments are wrong (`error: ...` on stderr, no traceback).
Start-up lines go to stderr. Unlike the worker, it runs without a GPU too (F5_REQUIRE_GPU is ignored).
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

EXTENSION_FORMATS = {"wav": "wav", "flac": "flac", "mp3": "mp3", "opus": "opus", "ogg": "ogg", "pcm": "pcm", "raw": "pcm"}
CONTAINER_HINT = ' (in a container, add --user "$(id -u):$(id -g)" so the mounted folder is writable)'


class UsageError(Exception):
    """Something wrong with the command line or its files: `error: ...`, exit code 2."""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m handler say",
        description="Synthesise TEXT into a file with the worker's own model and request handling.",
    )
    p.add_argument("text", help='what to say; "-" reads it from standard input')
    p.add_argument("-o", "--out", required=True, help="the file to write; its extension picks the format (wav, flac, mp3, opus, ogg, pcm)")
    p.add_argument("--voice", help="a preset voice (default: F5_DEFAULT_VOICE, en)")
    p.add_argument("--ref-audio", help="a clip of the voice to clone (WAV, FLAC, OGG, MP3), or an https:// URL")
    p.add_argument("--ref-text", help="the exact transcript of --ref-audio")
    p.add_argument("--format", help="output format, when the extension of --out does not say it")
    p.add_argument("--seed", type=int, help="the same seed gives the same audio on the same machine")
    p.add_argument("--nfe-step", type=int, help="denoising steps, 4 to 64 (default 32): fewer is faster")
    p.add_argument("--speed", type=float, help="speaking rate, 0.3 to 3.0 (default 1.0)")
    return p


def build_request(args: argparse.Namespace) -> dict:
    """The request dict an endpoint caller would send. Checks only what the service cannot: files."""
    text = sys.stdin.read() if args.text == "-" else args.text
    fmt = args.format
    if fmt is None:
        extension = Path(args.out).suffix.lower().lstrip(".")
        fmt = EXTENSION_FORMATS.get(extension)
        if fmt is None:
            raise UsageError(f"cannot tell the format from {args.out!r}; name the file .wav, .flac, .mp3, .opus, .ogg or .pcm, or add --format")
    request: dict = {"text": text, "format": fmt, "output": "inline"}
    if args.voice is not None:
        request["voice"] = args.voice
    if args.ref_audio is not None:
        if args.ref_audio.startswith(("https://", "http://")):
            request["ref_audio"] = args.ref_audio
        else:
            try:
                request["ref_audio"] = base64.b64encode(Path(args.ref_audio).read_bytes()).decode("ascii")
            except OSError as exc:
                raise UsageError(f"cannot read --ref-audio {args.ref_audio}: {exc.strerror or exc}") from None
    if args.ref_text is not None:
        request["ref_text"] = args.ref_text
    for name in ("seed", "nfe_step", "speed"):
        value = getattr(args, name)
        if value is not None:
            request[name] = value
    folder = Path(args.out).resolve().parent
    if not folder.is_dir():
        raise UsageError(f"cannot write {args.out}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise UsageError(f"cannot write {args.out}: the folder {folder} is not writable{CONTAINER_HINT}")
    return request


def write_atomically(path: str, data: bytes) -> None:
    folder = Path(path).resolve().parent
    handle, temp = tempfile.mkstemp(dir=folder, prefix=".say-", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temp, 0o666 & ~umask)  # mkstemp's 0600 would make the file private
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def summary_line(path: str, result: dict) -> str:
    fields = {"duration_s": result.get("duration_s"), "seed": result.get("seed"), **result.get("timings", {})}
    return " ".join([path, *(f"{key}={value}" for key, value in fields.items())])


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)  # wrong arguments: argparse's usage line, exit code 2
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        request = build_request(args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2

    from handler.errors import StartupError
    from handler.startup import say

    started = time.perf_counter()
    try:
        from handler.config import Settings
        from handler.startup import build_service

        # A local command: no GPU requirement (that guards platform workers), and no inline limit
        # (that guards the platform's payload limits; here the audio goes to a file).
        settings = dataclasses.replace(Settings.from_env(), require_gpu=False, inline_max_bytes=sys.maxsize)
        service = build_service(settings)
    except StartupError as exc:
        print(f"[startup] FAILED: {exc}", file=sys.stderr, flush=True)
        return 1
    except Exception as exc:  # noqa: BLE001 - an import error or a bug must still end in one clear line
        print(f"[startup] FAILED: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return 1
    say(f"ready in {time.perf_counter() - started:.2f} s")

    result: dict = {}
    for message in service.messages(request, "say"):
        if "error" in message:
            print(f"error: {message['error']}", file=sys.stderr, flush=True)
            return 2
        result = message
    if not result.get("audio_base64"):
        print("error: the service returned no inline audio", file=sys.stderr, flush=True)
        return 2
    try:
        write_atomically(args.out, base64.b64decode(result["audio_base64"]))
    except OSError as exc:
        print(f"error: cannot write {args.out}: {exc.strerror or exc}", file=sys.stderr, flush=True)
        return 2
    print(summary_line(args.out, result), flush=True)
    return 0
