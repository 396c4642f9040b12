"""`python -m handler`: pick the front door, nothing else.

  python -m handler                          the queue worker (handler/worker.py; on RunPod it takes jobs,
                                             locally it runs test_input.json)
  python -m handler --test_input '{...}'     one local job (the SDK's local mode); --save_audio FILE writes it
  python -m handler --rp_serve_api           the SDK's local HTTP API (/runsync, /run, /status, /stream)
  python -m handler --check                  self-check: verify hashes, load, synthesise, exit 0/1
  python -m handler say "Text" -o out.wav    synthesise to a file (handler/say.py; --help for options)
  python -m handler serve                    the HTTP server: OpenAI-style /v1/audio/speech, /ping (also F5_MODE=http)

Every front door starts through handler.startup.start: a failure before the worker is ready prints
one `[startup] FAILED ...` line, and the process exits with code 1.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    http_by_default = not args and os.environ.get("F5_MODE", "").strip().lower() == "http"
    if args[:1] == ["say"]:
        from handler.say import main as say

        sys.exit(say(args[1:]))
    if args[:1] == ["serve"] or http_by_default:
        from handler.http_serve import main as serve

        sys.exit(serve(args[1:]))
    if "--check" in args:
        from handler.selfcheck import main as check

        sys.exit(check())
    from handler.worker import main as work

    sys.exit(work(args))


if __name__ == "__main__":
    main()
