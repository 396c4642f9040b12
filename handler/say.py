"""`python -m handler say "Text to speak" -o out.wav`: synthesise one text into a file.

The same start-up as the worker (`handler.startup.start`: verified files, model, voices, warm-up),
then one ordinary request through `Service.events`, so the validation and the error messages are the
endpoint's own. On success it prints one line on stdout:

  out.wav duration_s=1.152 seed=1234 preprocess_s=0.0004 model_s=0.2666 ... total_s=0.2797 rtf=0.2428

`-o -` writes the audio to standard output instead, as it is made (a streamed request: the first
chunk is short, so a player piped to it starts early), and the line goes to standard error.
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
from pathlib import Path

from handler.audio_codec import OUTPUT_FORMATS
from handler.captions import CAPTION_FORMATS
from handler.events import Audio, Failure, Finished

EXTENSION_FORMATS = {**{spec.extension: name for name, spec in OUTPUT_FORMATS.items()}, "raw": "pcm"}
TO_STDOUT = "-"
CONTAINER_HINT = ' (in a container, add --user "$(id -u):$(id -g)" so the mounted folder is writable)'


class UsageError(Exception):
    """Something wrong with the command line or its files: `error: ...`, exit code 2."""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m handler say",
        description="Synthesise TEXT into a file with the worker's own model and request handling.",
    )
    p.add_argument("text", help='what to say; "-" reads it from standard input')
    p.add_argument("-o", "--out", required=True,
                   help=f"the file to write; its extension picks the format ({', '.join(OUTPUT_FORMATS)}); "
                        '"-" writes the audio to standard output as it is made (add --format)')
    p.add_argument("--voice", help="a preset voice (default: F5_DEFAULT_VOICE, en)")
    p.add_argument("--ref-audio", help="a clip of the voice to clone (WAV, FLAC, OGG, MP3), or an https:// URL")
    p.add_argument("--ref-text", help="the exact transcript of --ref-audio")
    p.add_argument("--format", help="output format, when the extension of --out does not say it")
    p.add_argument("--seed", type=int, help="the same seed gives the same audio on the same machine")
    p.add_argument("--nfe-step", type=int, help="denoising steps, 4 to 64 (default 32): fewer is faster")
    p.add_argument("--speed", type=float, help="speaking rate, 0.3 to 3.0 (default 1.0)")
    p.add_argument("--srt", help="also write subtitles (each sentence's start and end) to this SRT file")
    p.add_argument("--vtt", help="also write subtitles to this WebVTT file")
    return p


def build_request(args: argparse.Namespace) -> dict:
    """The request dict an endpoint caller would send. Checks only what the service cannot: files."""
    text = sys.stdin.read() if args.text == "-" else args.text
    fmt = args.format
    if fmt is None and args.out == TO_STDOUT:
        fmt = "wav"
    if fmt is None:
        extension = Path(args.out).suffix.lower().lstrip(".")
        fmt = EXTENSION_FORMATS.get(extension)
        if fmt is None:
            names = ", ".join(f".{spec.extension}" for spec in OUTPUT_FORMATS.values())
            raise UsageError(f"cannot tell the format from {args.out!r}; name the file {names}, or add --format")
    request: dict = {"text": text, "format": fmt, "output": "inline"}
    if args.out == TO_STDOUT:
        request["stream"] = True
    if args.srt or args.vtt:
        request["timestamps"] = True
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
    for path in (args.out, args.srt, args.vtt):
        if not path or path == TO_STDOUT:
            continue
        folder = Path(path).resolve().parent
        if not folder.is_dir():
            raise UsageError(f"cannot write {path}: the folder {folder} does not exist")
        if not os.access(folder, os.W_OK):
            raise UsageError(f"cannot write {path}: the folder {folder} is not writable{CONTAINER_HINT}")
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


def summary_line(path: str, finished: Finished) -> str:
    fields = {"duration_s": finished.duration_s, "seed": finished.seed, **finished.timings}
    return " ".join([path, *(f"{key}={value}" for key, value in fields.items())])


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)  # wrong arguments: argparse's usage line, exit code 2
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        request = build_request(args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2

    from handler.startup import start

    # A local command: no GPU requirement (that guards platform workers), and no inline limit
    # (that guards the platform's payload limits; here the audio goes to a file).
    started = start(adjust=lambda s: dataclasses.replace(s, require_gpu=False, inline_max_bytes=sys.maxsize))
    if started.failure is not None:
        return 1
    stdout = args.out == TO_STDOUT
    for event in started.service.events(request, "say"):
        if isinstance(event, Failure):
            print(f"error: {event.message}", file=sys.stderr, flush=True)
            return 2
        if isinstance(event, Audio):  # only with -o -: a streamed request
            sys.stdout.buffer.write(event.data)
            sys.stdout.buffer.flush()
        elif isinstance(event, Finished):
            files = {} if stdout else {args.out: event.audio or b""}
            for path, kind in ((args.srt, "srt"), (args.vtt, "vtt")):
                if path:
                    files[path] = CAPTION_FORMATS[kind](event.segments).encode("utf-8")
            for path, data in files.items():
                try:
                    write_atomically(path, data)
                except OSError as exc:
                    print(f"error: cannot write {path}: {exc.strerror or exc}", file=sys.stderr, flush=True)
                    return 2
            print(summary_line(args.out, event), file=sys.stderr if stdout else sys.stdout, flush=True)
    return 0
