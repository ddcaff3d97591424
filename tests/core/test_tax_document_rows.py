"""The rows the pricing engine reads agree with the breakdown :func:`compute_taxes` builds from them."""

from __future__ import annotations

from bench import bench_pricing
from core.tax import TaxableLine, compute_taxes
from core.tax.compute import tax_document


def test_rows_agree_with_the_breakdown() -> None:
    jurisdiction = bench_pricing.jurisdiction()
    lines = [TaxableLine(str(n), "general", n % 5 + 1, 997 * n + 13) for n in range(1, 25)]
    breakdown = compute_taxes(lines, jurisdiction)
    document = tax_document(lines, jurisdiction)
    assert document.taxes == breakdown.taxes
    assert document.net_minor == breakdown.net_minor
    assert document.tax_minor == breakdown.tax_minor
    assert document.net_minor + document.tax_minor == breakdown.gross_minor
    assert document.exempt_base_minor == breakdown.exempt_base_minor
    assert document.zero_rated_base_minor == breakdown.zero_rated_base_minor
    for (category, net, tax_minor, rows), line in zip(document.lines, breakdown.lines, strict=True):
        assert (category.category_id, net, tax_minor, category.exempt_from) == (
            line.category,
            line.net_minor,
            line.tax_minor,
            line.exempt_from,
        )
        assert [(e.tax_id, base, amount, measure) for e, base, amount, measure in rows] == [
            (t.tax_id, t.base_minor, t.amount_minor, t.measure_milli) for t in line.taxes
        ]
