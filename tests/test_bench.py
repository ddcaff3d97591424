"""The benchmarks still run (short versions); their figures are well-formed. Timings are never asserted."""

from __future__ import annotations

import math

import pytest

from bench import bench_box, bench_checkout, bench_ingest, bench_latency
from bench.report import Figure, percentile


@pytest.mark.parametrize(
    "module", [bench_box, bench_ingest, bench_checkout, bench_latency], ids=["box", "ingest", "checkout", "latency"]
)
def test_quick_benchmark_reports_ratios_against_a_same_run_baseline(module: object) -> None:
    figures: list[Figure] = module.run(quick=True)  # type: ignore[attr-defined]
    assert figures
    for fig in figures:
        assert fig.value > 0 and fig.baseline > 0 and math.isfinite(fig.ratio)
        assert "ratio" in fig.line() and fig.baseline_name in fig.line()


def test_a_ratio_above_one_always_means_better_than_the_baseline() -> None:
    rate = Figure("x", 200, "ops/s", "base", 100)
    latency = Figure("y", 1, "ms", "base", 2, higher_is_better=False)
    assert rate.ratio == 2 and latency.ratio == 2


def test_percentile_uses_the_nearest_rank() -> None:
    samples = list(range(1, 101))
    assert percentile(samples, 50) == 50 and percentile(samples, 99) == 99 and percentile(samples, 100) == 100
    with pytest.raises(ValueError):
        percentile([], 50)
