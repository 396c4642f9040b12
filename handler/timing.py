"""Per-stage wall-clock timings of one request, on the request's own thread.

Only CPU work and waiting are timed here: nothing here waits for the device. GPU time is measured
where GPU work is launched, by the scheduler (handler.scheduler), and reaches a request through its
items' results, so one request's timings never include another request's model calls.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class StageTimer:
    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, stage: str, started: float) -> float:
        """Add the time since `started` (a perf_counter reading) to `stage`; returns now."""
        now = time.perf_counter()
        self.seconds[stage] = self.seconds.get(stage, 0.0) + now - started
        return now

    def add_seconds(self, stage: str, seconds: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds
