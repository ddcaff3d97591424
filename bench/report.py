"""Figures a benchmark reports, and how they are printed."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    """One measured figure beside its same-run baseline.

    ``ratio`` is ``value / baseline`` when higher is better (a rate) and ``baseline / value`` when lower is
    better (a latency), so a ratio above 1 always means "better than the baseline".
    """

    name: str
    value: float
    unit: str
    baseline_name: str
    baseline: float
    higher_is_better: bool = True
    target: str = ""
    met: bool | None = None

    @property
    def ratio(self) -> float:
        if self.value <= 0 or self.baseline <= 0:
            return math.nan
        return self.value / self.baseline if self.higher_is_better else self.baseline / self.value

    def line(self) -> str:
        verdict = "" if self.met is None else ("  [target met]" if self.met else "  [TARGET MISSED]")
        target = f"  target: {self.target}" if self.target else ""
        return (
            f"{self.name}: {self.value:,.3f} {self.unit}  vs  {self.baseline_name}: {self.baseline:,.3f} "
            f"{self.unit}  ->  ratio {self.ratio:.2f}x{target}{verdict}"
        )


def percentile(samples: Sequence[float], pct: float) -> float:
    """The ``pct`` percentile (0-100) of ``samples`` by the nearest-rank method."""
    if not samples:
        raise ValueError("percentile of no samples")
    ordered = sorted(samples)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def median(samples: Sequence[float]) -> float:
    return float(statistics.median(samples))
