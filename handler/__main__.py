"""`python -m handler`: load everything, then serve RunPod jobs.

  python -m handler                          the platform worker (or test_input.json locally)
  python -m handler --test_input '{...}'     one local job (the SDK's local mode)
  python -m handler --test_input '{...}' --save_audio out.wav   ... and write its audio to a file
  python -m handler --rp_serve_api           the SDK's local HTTP API (/runsync, /run, /status, /stream)
  python -m handler --check                  self-check: verify hashes, load, synthesise, exit 0/1
  python -m handler say "Text" -o out.wav    synthesise to a file (handler/say.py; --help for options)
  python -m handler serve                    the HTTP server: OpenAI-style /v1/audio/speech, /ping (also F5_MODE=http)

F5_HANDLER=stream|plain picks the handler shape on the platform and with --rp_serve_api (see worker.py).
Any failure before the worker is ready prints one `[startup] FAILED ...` line and exits with code 1.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import logging
import os
import sys
import time

from handler.errors import StartupError


def _own_arguments(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(prog="python -m handler", add_help=False)
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--save_audio", default=None)
    return parser.parse_known_args(argv)


def _on_platform() -> bool:
    return bool(os.environ.get("RUNPOD_WEBHOOK_GET_JOB"))


def _fail(reason: str) -> None:
    print(f"[startup] FAILED: {reason}", file=sys.stderr, flush=True)
    if _on_platform():
        # Let the SDK's fitness check report the reason to the platform; it then exits non-zero.
        import runpod

        def model_loaded() -> None:
            raise RuntimeError(reason)

        runpod.serverless.register_fitness_check(model_loaded)
        runpod.serverless.start({"handler": lambda job: {"error": reason}})
    sys.exit(1)


def _save(result: dict, path: str) -> None:
    messages = result.get("stream") or [result]
    audio = b"".join(base64.b64decode(m["audio_base64"]) for m in messages if "audio_base64" in m)
    if not audio:
        print(f"[handler] nothing saved to {path}: the result has no inline audio", file=sys.stderr, flush=True)
        return
    with open(path, "wb") as handle:
        handle.write(audio)
    print(f"[handler] wrote {len(audio)} bytes of audio to {path}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["say"]:  # the local command that writes a file
        from handler.say import main as say_main

        sys.exit(say_main(args[1:]))
    if args[:1] == ["serve"] or (not args and os.environ.get("F5_MODE", "").strip().lower() == "http"):
        from handler.http_serve import main as serve_main  # the HTTP server (RunPod load-balancing endpoints)

        sys.exit(serve_main(args[1:]))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    own, rest = _own_arguments(args)
    started = time.perf_counter()
    try:
        from handler.config import Settings
        from handler.startup import build_service, say

        settings = Settings.from_env()
        if own.check:  # the self-check runs anywhere: on CPU when there is no GPU
            settings = dataclasses.replace(settings, require_gpu=False)
        service = build_service(settings, verify_hashes=True if own.check else None)
    except StartupError as exc:
        _fail(str(exc))
        return
    except Exception as exc:  # noqa: BLE001 - an import error or a bug must still end in one clear line
        _fail(f"{type(exc).__name__}: {exc}")
        return
    say(f"ready in {time.perf_counter() - started:.2f} s")

    if own.check:
        result = next(service.messages({"text": "Self check.", "seed": 1}))
        if "error" in result or not result.get("audio_base64"):
            print(f"[check] FAILED: {result.get('error', 'no audio returned')}", file=sys.stderr, flush=True)
            sys.exit(1)
        print(f"[check] ok: {result['duration_s']} s of audio in {result['timings']['total_s']} s", flush=True)
        sys.exit(0)

    import runpod

    from handler.worker import Worker

    sdk_config: dict = {"concurrency_modifier": lambda _current: service.concurrency}
    worker = Worker(service, sdk_config)
    plain = settings.handler_mode == "plain"
    local_single_job = not _on_platform() and "--rp_serve_api" not in rest
    if local_single_job:
        one_job = worker.result_handler if plain else worker.plain_handler
        if own.save_audio:

            async def handler(job: dict) -> dict:
                result = await one_job(job)
                if "error" not in result:
                    _save(result, own.save_audio)
                return result

        else:
            handler = one_job
    else:
        if plain:  # a coroutine: /runsync answers the result object, nothing is posted to the stream route
            handler = worker.result_handler
        else:  # an async generator: stream: true works, /runsync answers the list of messages
            handler = worker.stream_handler
            sdk_config["return_aggregate_stream"] = True
        say(f"handler {settings.handler_mode} (F5_HANDLER)")

        def model_ready() -> None:
            if service.broken:
                raise RuntimeError(service.broken)

        runpod.serverless.register_fitness_check(model_ready)
    sdk_config["handler"] = handler
    sys.argv = [sys.argv[0], *rest]
    runpod.serverless.start(sdk_config)


if __name__ == "__main__":
    main()
