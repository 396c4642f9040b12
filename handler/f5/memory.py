"""Estimated memory of one F5-TTS sampling call, from the architecture (bench/gpu_bench.py measures
the real peak and compares)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CostModel:
    """Bytes per frame (activations of the doubled CFG batch) and, for batches above one (masked
    attention), per frame pair (the attention mask as a float bias)."""

    bytes_per_frame: float
    bytes_per_frame_pair: float

    @classmethod
    def for_model(cls, dim: int, heads: int, element_bytes: int) -> CostModel:
        passes = 2  # conditional and unconditional pass in one batch
        return cls(bytes_per_frame=passes * dim * element_bytes * 24, bytes_per_frame_pair=passes * heads * element_bytes * 2)

    @classmethod
    def for_transformer(cls, transformer, element_bytes: int) -> CostModel:
        heads = next((m.heads for m in transformer.modules() if isinstance(getattr(m, "heads", None), int)), 16)
        return cls.for_model(getattr(transformer, "dim", 1024), heads, element_bytes)

    def batch_bytes(self, items: int, longest: int) -> float:
        pairs = items * longest * longest if items > 1 else 0
        return items * longest * self.bytes_per_frame + pairs * self.bytes_per_frame_pair
