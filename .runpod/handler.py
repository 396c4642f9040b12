"""RunPod Hub entry point: the worker is the `handler` package at the repository root.

The image runs `python -m handler` (see Dockerfile); this file exists because the Hub looks for a
handler.py. Run from the repository root: `python .runpod/handler.py` is the same as `python -m handler`.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from handler.__main__ import main

if __name__ == "__main__":
    main()
