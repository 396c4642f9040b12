"""`python -m handler --check`: verify every file's sha256, load, synthesise one phrase, exit 0 or 1.

Runs anywhere, on a CPU too (F5_REQUIRE_GPU does not apply): the image's smoke test and a user's
first look at a GPU box.
"""

from __future__ import annotations

import dataclasses
import logging
import sys

from handler.events import Failure, Finished


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from handler.startup import start

    started = start(adjust=lambda s: dataclasses.replace(s, require_gpu=False), verify_hashes=True)
    if started.failure is not None:
        return 1
    events = list(started.service.events({"text": "Self check.", "seed": 1}, "check"))
    last = events[-1]
    if isinstance(last, Failure) or not isinstance(last, Finished) or not last.audio:
        reason = last.message if isinstance(last, Failure) else "no audio returned"
        print(f"[check] FAILED: {reason}", file=sys.stderr, flush=True)
        return 1
    print(f"[check] ok: {last.duration_s} s of audio in {last.timings['total_s']} s", flush=True)
    return 0
