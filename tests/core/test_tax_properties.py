"""Properties of compute_taxes that must hold for every document, checked with hypothesis."""

from __future__ import annotations

import dataclasses
import datetime as dt
from fractions import Fraction

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from core.errors import InvalidInput
from core.money import Rounding
from core.tax import (
    Category,
    Jurisdiction,
    Pricing,
    RoundingScope,
    Tax,
    TaxableLine,
    TaxBreakdown,
    TaxKind,
    compute_taxes,
    shipped_jurisdiction,
    shipped_jurisdiction_ids,
)

SHIPPED = [shipped_jurisdiction(i) for i in shipped_jurisdiction_ids()]


def demo(pricing: Pricing, rounding: RoundingScope, mode: Rounding) -> Jurisdiction:
    """A jurisdiction exercising every feature: per-unit, compound, zero-rated, exempt and grouped taxes."""
    taxes = (
        Tax(
            "excise",
            "Excise per litre",
            TaxKind.PER_UNIT,
            per_unit_minor=Fraction(30818, 100),
            measure_unit="litre",
        ),
        Tax("ad_valorem", "Excise 8%", TaxKind.PERCENTAGE, rate=Fraction(8, 100)),
        Tax("vat", "VAT", TaxKind.PERCENTAGE, rate=Fraction(16, 100), compound=True),
        Tax("vat_zero", "VAT 0%", TaxKind.PERCENTAGE, rate=Fraction(0), compound=True),
        Tax("state", "State", TaxKind.PERCENTAGE, rate=Fraction(625, 10_000), group="sales"),
        Tax("city", "City", TaxKind.PERCENTAGE, rate=Fraction(2, 100), group="sales"),
        Tax("gst", "GST", TaxKind.PERCENTAGE, rate=Fraction(5, 100)),
        Tax("pst", "PST", TaxKind.PERCENTAGE, rate=Fraction(7, 100)),
    )
    categories = (
        Category("general", ("vat",)),
        Category("drink", ("excise", "vat")),
        Category("snack", ("ad_valorem", "vat_zero")),
        Category("food", ("vat_zero",), ("pst",)),
        Category("book", (), ("vat",)),
        Category("us", ("state", "city")),
        Category("canada", ("gst", "pst")),
    )
    return Jurisdiction(
        "demo", "Demo", "MX", "", "MXN", pricing, rounding, mode, dt.date(2026, 1, 1), taxes, categories
    )


DEMOS = [demo(p, r, m) for p in Pricing for r in RoundingScope for m in Rounding]
ALL = DEMOS + SHIPPED


@st.composite
def documents(draw: st.DrawFn, jurisdiction: Jurisdiction, min_amount: int = 0) -> list[TaxableLine]:
    count = draw(st.integers(0, 8))
    lines = []
    for n in range(count):
        category = draw(st.sampled_from(jurisdiction.category_ids()))
        needs_measure = any(jurisdiction.tax(t).kind is TaxKind.PER_UNIT for t in jurisdiction.category(category).taxes)
        lines.append(
            TaxableLine(
                line_id=f"l{n}",
                category=category,
                quantity=draw(st.integers(1, 5)),
                amount_minor=draw(st.integers(min_amount, 2_000_000)),
                measure_per_unit_milli=draw(st.integers(1, 3000)) if needs_measure else 0,
            )
        )
    return lines


@st.composite
def cases(draw: st.DrawFn, pool: list[Jurisdiction] = ALL) -> tuple[Jurisdiction, list[TaxableLine]]:
    jurisdiction = draw(st.sampled_from(pool))
    return jurisdiction, draw(documents(jurisdiction))


def compute(lines: list[TaxableLine], jurisdiction: Jurisdiction) -> TaxBreakdown:
    try:
        return compute_taxes(lines, jurisdiction)
    except InvalidInput as exc:
        # A gross price smaller than the per-litre taxes it must contain is a refused input, not a result.
        assume("fixed per-unit taxes" not in exc.problem)
        raise


@settings(max_examples=300)
@given(cases())
def test_tax_is_never_negative_for_non_negative_amounts(case: tuple[Jurisdiction, list[TaxableLine]]) -> None:
    jurisdiction, lines = case
    result = compute(lines, jurisdiction)
    assert result.tax_minor >= 0
    for lt in result.lines:
        assert lt.tax_minor >= 0
        assert lt.net_minor >= 0
        assert all(t.amount_minor >= 0 for t in lt.taxes)


@settings(max_examples=300)
@given(cases())
def test_net_plus_tax_is_gross_and_totals_are_the_sums_of_the_lines(
    case: tuple[Jurisdiction, list[TaxableLine]],
) -> None:
    jurisdiction, lines = case
    result = compute(lines, jurisdiction)
    for lt, given_line in zip(result.lines, lines, strict=True):
        assert lt.net_minor + lt.tax_minor == lt.gross_minor
        assert lt.tax_minor == sum(t.amount_minor for t in lt.taxes)
        priced = lt.gross_minor if jurisdiction.pricing is Pricing.INCLUSIVE else lt.net_minor
        assert priced == given_line.amount_minor
    assert result.net_minor + result.tax_minor == result.gross_minor
    assert result.net_minor == sum(lt.net_minor for lt in result.lines)
    assert result.tax_minor == sum(lt.tax_minor for lt in result.lines)
    assert result.tax_minor == sum(t.amount_minor for t in result.taxes)
    for total in result.taxes:
        borne = [t for lt in result.lines for t in lt.taxes if t.tax_id == total.tax_id]
        assert total.amount_minor == sum(t.amount_minor for t in borne)
        assert total.base_minor == sum(t.base_minor for t in borne)


@settings(max_examples=150)
@given(cases([j for j in ALL if j.rounding is RoundingScope.PER_LINE]))
def test_under_per_line_rounding_each_line_is_taxed_as_if_alone(
    case: tuple[Jurisdiction, list[TaxableLine]],
) -> None:
    jurisdiction, lines = case
    result = compute(lines, jurisdiction)
    for lt, given_line in zip(result.lines, lines, strict=True):
        assert compute_taxes([given_line], jurisdiction).lines == (lt,)


def _error_bound(jurisdiction: Jurisdiction, lines: list[TaxableLine]) -> dict[str, Fraction]:
    """Bound on |per-document total - per-line total| per rounding unit, from the module's stated rule."""
    half = Fraction(1, 2) if jurisdiction.rounding_mode in (Rounding.HALF_UP, Rounding.HALF_EVEN) else Fraction(1)
    bound: dict[str, Fraction] = {}
    for line in lines:
        taxes = [jurisdiction.tax(t) for t in jurisdiction.category(line.category).taxes]
        errors: list[Fraction] = []
        for tax in taxes:
            error = half
            if jurisdiction.pricing is Pricing.EXCLUSIVE and tax.compound and tax.rate is not None:
                error += tax.rate * sum(errors, Fraction(0))
            errors.append(error)
        units: dict[str, Fraction] = {}
        for tax, error in zip(taxes, errors, strict=True):
            # A group is rounded once per line, so its members share one rounding error.
            units[tax.rounding_unit] = half if tax.group else units.get(tax.rounding_unit, Fraction(0)) + error
        for unit, error in units.items():
            bound[unit] = bound.get(unit, half) + error
    return bound


@settings(max_examples=300)
@given(cases(DEMOS + SHIPPED))
def test_per_document_totals_stay_within_the_documented_bound_of_per_line_totals(
    case: tuple[Jurisdiction, list[TaxableLine]],
) -> None:
    jurisdiction, lines = case
    per_line = compute(lines, dataclasses.replace(jurisdiction, rounding=RoundingScope.PER_LINE))
    per_doc = compute(lines, dataclasses.replace(jurisdiction, rounding=RoundingScope.PER_DOCUMENT))
    strict = jurisdiction.rounding_mode in (Rounding.UP, Rounding.DOWN)
    for unit, bound in _error_bound(jurisdiction, lines).items():
        members = [t.tax_id for t in jurisdiction.taxes if t.rounding_unit == unit]

        def unit_total(result: TaxBreakdown, members: list[str] = members) -> int:
            return sum(t.amount_minor for t in result.taxes if t.tax_id in members)

        difference = abs(unit_total(per_doc) - unit_total(per_line))
        assert difference < bound if strict else difference <= bound


single_rate = st.fractions(min_value=0, max_value=Fraction(3, 2), max_denominator=100_000)


def one_tax(rate: Fraction, pricing: Pricing, rounding: RoundingScope, mode: Rounding) -> Jurisdiction:
    tax = Tax("t", "T", TaxKind.PERCENTAGE, rate=rate)
    return Jurisdiction(
        "one",
        "One",
        "MX",
        "",
        "MXN",
        pricing,
        rounding,
        mode,
        dt.date(2026, 1, 1),
        (tax,),
        (Category("c", ("t",)),),
    )


@settings(max_examples=300)
@given(
    single_rate,
    st.sampled_from(list(RoundingScope)),
    st.sampled_from(list(Rounding)),
    st.lists(st.integers(0, 10_000_000), min_size=1, max_size=6),
)
def test_inclusive_pricing_of_the_exclusive_gross_gives_back_the_same_tax_for_a_single_tax(
    rate: Fraction, rounding: RoundingScope, mode: Rounding, nets: list[int]
) -> None:
    lines = [TaxableLine(f"l{i}", "c", 1, net) for i, net in enumerate(nets)]
    exclusive = compute_taxes(lines, one_tax(rate, Pricing.EXCLUSIVE, rounding, mode))
    grosses = [TaxableLine(lt.line_id, "c", 1, lt.gross_minor) for lt in exclusive.lines]
    inclusive = compute_taxes(grosses, one_tax(rate, Pricing.INCLUSIVE, rounding, mode))
    assert (inclusive.net_minor, inclusive.tax_minor) == (exclusive.net_minor, exclusive.tax_minor)
    if rounding is RoundingScope.PER_LINE:
        assert [lt.tax_minor for lt in inclusive.lines] == [lt.tax_minor for lt in exclusive.lines]


@settings(max_examples=200)
@given(st.sampled_from(list(Rounding)), st.integers(0, 10_000_000))
def test_inclusive_and_exclusive_agree_within_one_unit_per_tax_for_parallel_taxes(mode: Rounding, net: int) -> None:
    excl = demo(Pricing.EXCLUSIVE, RoundingScope.PER_LINE, mode)
    incl = demo(Pricing.INCLUSIVE, RoundingScope.PER_LINE, mode)
    forward = compute_taxes([TaxableLine("a", "canada", 1, net)], excl).lines[0]
    back = compute_taxes([TaxableLine("a", "canada", 1, forward.gross_minor)], incl).lines[0]
    for f, b in zip(forward.taxes, back.taxes, strict=True):
        assert abs(f.amount_minor - b.amount_minor) <= 1
    assert abs(forward.net_minor - back.net_minor) <= len(forward.taxes)


@settings(max_examples=150)
@given(cases())
def test_the_result_is_deterministic(case: tuple[Jurisdiction, list[TaxableLine]]) -> None:
    jurisdiction, lines = case
    first = compute(lines, jurisdiction)
    assert compute_taxes(list(lines), dataclasses.replace(jurisdiction)) == first
    assert compute_taxes(tuple(lines), jurisdiction) == first


@settings(max_examples=150)
@given(cases(DEMOS))
def test_a_document_of_returns_mirrors_the_sale(case: tuple[Jurisdiction, list[TaxableLine]]) -> None:
    jurisdiction, lines = case
    sale = compute(lines, jurisdiction)
    returns = [dataclasses.replace(x, quantity=-x.quantity, amount_minor=-x.amount_minor) for x in lines]
    refund = compute_taxes(returns, jurisdiction)
    assert (refund.net_minor, refund.tax_minor, refund.gross_minor) == (
        -sale.net_minor,
        -sale.tax_minor,
        -sale.gross_minor,
    )
