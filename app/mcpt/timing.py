"""Per-stage wall-clock accounting for progress bars, summaries and benchmarks."""

from __future__ import annotations

import time
from collections import defaultdict
from contextlib import contextmanager

import numpy as np


class StageTimer:
    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = defaultdict(list)
        self.items: dict[str, int] = defaultdict(int)

    @contextmanager
    def stage(self, name: str, items: int = 0):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.samples[name].append(time.perf_counter() - t0)
            self.items[name] += items

    def add(self, name: str, seconds: float, items: int = 0) -> None:
        self.samples[name].append(seconds)
        self.items[name] += items

    def total(self, name: str) -> float:
        return float(np.sum(self.samples.get(name, [0.0])))

    def ms(self, name: str, q: float | None = None) -> float:
        v = self.samples.get(name)
        if not v:
            return 0.0
        a = np.asarray(v) * 1000.0
        return float(np.mean(a) if q is None else np.percentile(a, q))

    def names(self) -> list[str]:
        return list(self.samples)
