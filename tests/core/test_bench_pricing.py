"""The pricing benchmark still runs and reports well-formed figures (its timings are never asserted)."""

from __future__ import annotations

import math
import random

from bench import bench_pricing
from bench.report import Figure
from core.pricing import price


def test_quick_run_reports_every_figure_beside_a_same_run_baseline() -> None:
    figures = bench_pricing.run(quick=True)
    names = [f.name for f in figures]
    assert len(names) == len(set(names)) == 3 + len(bench_pricing.SIZES)
    for figure in figures:
        assert isinstance(figure, Figure)
        assert figure.unit == "ms"
        assert figure.higher_is_better is False
        assert figure.value > 0
        assert figure.baseline > 0
        assert math.isfinite(figure.ratio)
        assert figure.baseline_name.startswith("plain sum")
        assert figure.line().startswith(figure.name)
    headline = figures[0]
    assert headline.target == "p99 <= 2 ms"
    assert headline.met is (headline.value <= bench_pricing.TARGET_P99_MS)
    assert any("5,000 promotions" in name for name in names)


def test_the_benchmark_catalogue_mostly_misses_the_basket() -> None:
    rng = random.Random(bench_pricing.SEED)
    basket = bench_pricing.basket(rng)
    book = bench_pricing.catalogue(rng, 500, basket)
    receipt = price(basket, None, None, book, bench_pricing.jurisdiction(), bench_pricing.NOW)
    assert len(book) == 500
    assert receipt.not_considered > 400
    assert len(receipt.lines) == bench_pricing.BASKET_LINES
    assert {t.tax_id for t in receipt.taxes} == {"federal", "state", "vat"}
