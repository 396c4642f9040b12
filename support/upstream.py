"""Upstream f5-tts's own inference code, importable beside the worker (tests and benchmarks).

`f5_tts.infer.utils_infer` does `from f5_tts.model import CFM`; the worker registers `f5_tts.model`
as a bare package (handler/f5/modules.py), so the names it needs are put on that package first.
"""

from __future__ import annotations

import sys


def utils_infer():
    from handler.f5.modules import load_f5_modules

    f5 = load_f5_modules()
    package = sys.modules["f5_tts.model"]
    package.CFM, package.DiT, package.UNetT = f5.CFM, f5.backbones["DiT"], f5.backbones["UNetT"]
    from f5_tts.infer import utils_infer as module

    return module
