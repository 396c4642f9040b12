"""Modules that upstream imports but inference never calls are imported on first use only: the worker
starts and serves requests without them, and code that does use them gets the real thing."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from conftest import ROOT, worker_env

from handler.f5.deferred_imports import UNUSED_BY_INFERENCE, StandIn, deferred, loaded

# what the stand-ins keep out of the process (the modules themselves and what they bring)
HEAVY = ("einx", "librosa", "librosa.filters", "scipy.integrate", "scipy.signal", "sympy", "torch._dynamo", "numba")


def run_python(code: str, env: dict | None = None) -> str:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=False, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


# Start the worker (warm-up included), serve an English and a Chinese request (pinyin), a stream and
# every encoder family, print what was imported: none of them may need what was deferred, or the
# saving would only move into the first request. Run here and inside the image (tests/test_image.py).
SERVE_AND_LIST_IMPORTS = textwrap.dedent(f"""
        import json, os, sys
        from handler.config import Settings
        from handler.startup import build_service
        from handler.worker import messages
        service = build_service(Settings.from_env(os.environ))
        out = []
        for request in [{{"text": "Hello there, one short sentence.", "seed": 1}},
                        {{"text": "突然，身边一阵笑声。", "voice": "zh", "format": "mp3", "seed": 2}},
                        {{"text": "A stream. In two chunks, please.", "format": "ogg", "stream": True, "seed": 3}},
                        {{"text": "Flac too.", "format": "flac", "nfe_step": 4, "seed": 4}}]:
            out.extend(messages(service.events(request)))
        errors = [m["error"] for m in out if "error" in m]
        print(json.dumps({{"errors": errors, "messages": len(out),
                          "imported": [m for m in {HEAVY!r} if m in sys.modules]}}))
    """)


def check_served_without_deferred_modules(stdout: str) -> None:
    report = json.loads(stdout.strip().splitlines()[-1])
    assert report["errors"] == []
    assert report["messages"] >= 5
    assert report["imported"] == [], "inference now uses a deferred module: drop it from UNUSED_BY_INFERENCE"


def test_the_worker_starts_and_serves_requests_without_the_deferred_modules(tiny_model_dir):
    check_served_without_deferred_modules(run_python(SERVE_AND_LIST_IMPORTS, worker_env(tiny_model_dir, F5_WARMUP="1")))


def test_a_stand_in_forwards_to_the_real_module_on_first_use():
    code = """
        import json, math, sys
        import numpy as np
        from handler.f5.deferred_imports import deferred, loaded
        with deferred() as stand_ins:
            from librosa.filters import mel
            import einx
            from scipy.integrate import solve_ivp
        before = {name: name in sys.modules for name in ("librosa", "einx", "scipy.integrate")}
        untouched = not any(loaded(s) for s in stand_ins.values())

        got = mel(sr=24000, n_fft=1024, n_mels=100)
        import librosa.filters as real_filters  # after the block: the real module, not the stand-in
        same_mel = bool(np.array_equal(got, real_filters.mel(sr=24000, n_fft=1024, n_mels=100)))
        outer = einx.subtract("i, j -> i j", np.arange(3.0), np.arange(2.0))
        decay = solve_ivp(lambda t, y: -y, (0.0, 1.0), [1.0], rtol=1e-9, atol=1e-12).y[0, -1]
        import einx as real_einx
        print(json.dumps({
            "before": before, "untouched": untouched, "same_mel": same_mel,
            "einx": bool(np.array_equal(outer, np.subtract.outer(np.arange(3.0), np.arange(2.0)))),
            "decay": bool(abs(decay - math.exp(-1.0)) < 1e-6),
            "real_after": real_filters is not stand_ins["librosa.filters"] and real_einx is not stand_ins["einx"],
            "loaded": sorted(name for name, s in stand_ins.items() if loaded(s)),
        }))
    """
    report = json.loads(run_python(code))
    assert report["before"] == {"librosa": False, "einx": False, "scipy.integrate": False}
    assert report["untouched"]
    assert report["same_mel"] and report["einx"] and report["decay"]
    assert report["real_after"]
    assert report["loaded"] == sorted(UNUSED_BY_INFERENCE)


def test_bigvgan_mel_which_calls_librosa_still_works():
    # the one f5-tts feature that uses a deferred module: it imports librosa on its first call
    code = """
        import json, sys
        import torch
        from handler.f5.modules import load_f5_modules
        load_f5_modules()
        from f5_tts.model.modules import MelSpec
        before = "librosa" in sys.modules
        mel = MelSpec(mel_spec_type="bigvgan")(torch.sin(torch.arange(24000) / 10.0).unsqueeze(0))
        print(json.dumps({"before": before, "after": "librosa.filters" in sys.modules,
                          "shape": list(mel.shape), "finite": bool(torch.isfinite(mel).all())}))
    """
    report = json.loads(run_python(code))
    assert report == {"before": False, "after": True, "shape": [1, 100, 93], "finite": True}


def test_import_probes_do_not_load_and_a_missing_module_fails_on_first_use():
    stand_in = StandIn("handler_test_no_such_module", ("function",))
    assert not hasattr(stand_in, "__path__")  # what `from X import name` probes
    assert stand_in.__spec__ is None
    assert not loaded(stand_in)
    with pytest.raises(ModuleNotFoundError, match="handler_test_no_such_module"):
        stand_in.function()
    with pytest.raises(ModuleNotFoundError, match="handler_test_no_such_module"):
        stand_in.anything_else  # noqa: B018 - the attribute access is the test


def test_modules_already_imported_are_left_alone():
    before = sys.modules["json"]
    with deferred({"json": ("dumps",), "handler_test_not_imported": ()}) as stand_ins:
        assert sys.modules["json"] is before
        assert list(stand_ins) == ["handler_test_not_imported"]
        assert sys.modules["handler_test_not_imported"] is stand_ins["handler_test_not_imported"]
    assert "handler_test_not_imported" not in sys.modules
