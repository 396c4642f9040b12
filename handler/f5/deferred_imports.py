"""Stand-ins for modules that upstream imports at import time but the worker's inference never calls.

f5-tts's model modules, and the libraries they import, pull in three heavy modules only for
features the worker does not use:
- `librosa.filters` (`mel`), which brings numba, scipy.signal and pooch: f5-tts calls it only for
  BigVGAN mel spectrograms; the worker's Vocos path computes its mel with torchaudio;
- `einx`, which brings `torch._dynamo` and sympy: `x_transformers` imports it, but the two pieces
  of x_transformers that F5-TTS uses (`RotaryEmbedding`, `apply_rotary_pos_emb`) never call it;
- `scipy.integrate` (`solve_ivp`): torchdiffeq's `scipy_solver` method only; F5-TTS integrates with
  torchdiffeq's own fixed-grid solvers.
Together they are seconds of every worker's start-up (bench/RESULTS.md). `deferred()` serves these
names by stand-ins while a block of imports runs: a stand-in imports the real module the first time
any of its attributes is used, and forwards to it, so nothing behaves differently; only the import
moves to the first use, which the worker never makes. When the block ends, `sys.modules` holds what
it held before, so any other code that imports these modules gets the real ones.
The image goes one step further and leaves librosa out (Dockerfile, deps stage): there, a first use
of `librosa.filters` fails with ModuleNotFoundError naming librosa, and the worker never makes one.
"""

from __future__ import annotations

import importlib
import sys
import threading
import types
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

# module → the names that importers take with `from module import name` (those must exist on the
# stand-in at import time; any other attribute is looked up on first use)
UNUSED_BY_INFERENCE: Mapping[str, tuple[str, ...]] = {
    "librosa.filters": ("mel",),
    "einx": (),
    "scipy.integrate": ("solve_ivp",),
}


class StandIn(types.ModuleType):
    """A module object that imports the real module on first use of any attribute."""

    def __init__(self, name: str, from_names: tuple[str, ...]):
        super().__init__(name, f"stand-in for {name}, imported on first use (handler.f5.deferred_imports)")
        self.__dict__["_real_module"] = None
        self.__dict__["_lock"] = threading.RLock()  # re-entrant: the real import may touch it
        for attr in from_names:
            self.__dict__[attr] = _forwarder(self, attr)

    def real_module(self) -> types.ModuleType:
        with self._lock:
            if self._real_module is None:
                if sys.modules.get(self.__name__) is self:
                    del sys.modules[self.__name__]
                self.__dict__["_real_module"] = importlib.import_module(self.__name__)
            return self._real_module

    def __getattr__(self, attr: str):  # only for attributes the stand-in does not hold
        if attr.startswith("__") and attr.endswith("__"):
            # the import system probes __path__, __spec__ and friends: answering must not load
            raise AttributeError(attr)
        return getattr(self.real_module(), attr)


def _forwarder(stand_in: StandIn, attr: str):
    def forward(*args, **kwargs):
        return getattr(stand_in.real_module(), attr)(*args, **kwargs)

    forward.__name__ = forward.__qualname__ = attr
    forward.__doc__ = f"{stand_in.__name__}.{attr}, imported on first call"
    return forward


@contextmanager
def deferred(modules: Mapping[str, tuple[str, ...]] = UNUSED_BY_INFERENCE) -> Iterator[dict[str, StandIn]]:
    """Serve `modules` (those not imported yet) by stand-ins while the block runs; yields them."""
    stand_ins = {name: StandIn(name, names) for name, names in modules.items() if name not in sys.modules}
    sys.modules.update(stand_ins)
    try:
        yield stand_ins
    finally:
        for name, stand_in in stand_ins.items():
            if sys.modules.get(name) is stand_in:
                del sys.modules[name]


def loaded(stand_in: StandIn) -> bool:
    """Whether a stand-in has imported its real module (for tests and start-up reports)."""
    return stand_in._real_module is not None
