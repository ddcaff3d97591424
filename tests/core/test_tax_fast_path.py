"""The integer tax engine gives exactly what the rational reference gives, for any jurisdiction and document."""

from __future__ import annotations

import datetime as dt
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import InvalidInput
from core.money import Rounding, round_fraction
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
)
from core.tax.compute import _round_div
from tests.core.tax_reference import reference_compute_taxes
from tests.core.test_tax_properties import ALL

_RATES = st.one_of(
    st.sampled_from([Fraction(0), Fraction(16, 100), Fraction(8, 100), Fraction(625, 10_000), Fraction(1, 3)]),
    st.fractions(min_value=0, max_value=2, max_denominator=100_000),
)


@st.composite
def jurisdictions(draw: st.DrawFn) -> Jurisdiction:
    """Random taxes (compound, per-unit, grouped, zero-rated) over random categories."""
    taxes: list[Tax] = []
    for n in range(draw(st.integers(1, 6))):
        if draw(st.booleans()) and n % 3 == 0:
            per_unit = draw(st.fractions(min_value=0, max_value=1000, max_denominator=1000))
            taxes.append(
                Tax(
                    f"t{n}", f"Tax {n}", TaxKind.PER_UNIT, per_unit_minor=per_unit, measure_unit="litre", compound=False
                )
            )
        elif draw(st.integers(0, 3)) == 0:
            taxes.append(Tax(f"t{n}", f"Tax {n}", TaxKind.PERCENTAGE, rate=draw(_RATES), group="g"))
        else:
            compound = draw(st.booleans())
            taxes.append(Tax(f"t{n}", f"Tax {n}", TaxKind.PERCENTAGE, rate=draw(_RATES), compound=compound))
    grouped = tuple(t.tax_id for t in taxes if t.group)
    categories = [Category("none", ())]
    for n in range(draw(st.integers(1, 4))):
        ungrouped = [t.tax_id for t in taxes if not t.group]
        chosen = draw(st.lists(st.sampled_from(ungrouped), unique=True)) if ungrouped else []
        with_group = bool(grouped) and draw(st.booleans())
        listed = tuple(chosen[:1]) + (grouped if with_group else ()) + tuple(chosen[1:])
        exempt = tuple(t.tax_id for t in taxes if t.tax_id not in listed and draw(st.booleans()))
        categories.append(Category(f"c{n}", listed, exempt))
    return Jurisdiction(
        "random",
        "Random",
        "MX",
        "",
        "MXN",
        draw(st.sampled_from(list(Pricing))),
        draw(st.sampled_from(list(RoundingScope))),
        draw(st.sampled_from(list(Rounding))),
        dt.date(2026, 1, 1),
        tuple(taxes),
        tuple(categories),
    )


@st.composite
def cases(draw: st.DrawFn) -> tuple[Jurisdiction, list[TaxableLine]]:
    jurisdiction = draw(st.one_of(st.sampled_from(ALL), jurisdictions()))
    lines = []
    for n in range(draw(st.integers(0, 10))):
        # Sales and returns mixed in one document, tiny and huge amounts, measures or none.
        quantity = draw(st.integers(1, 50)) * draw(st.sampled_from([1, 1, 1, -1]))
        amount = draw(st.one_of(st.integers(0, 3), st.integers(0, 10**12))) * (1 if quantity > 0 else -1)
        lines.append(
            TaxableLine(
                line_id=f"l{n}",
                category=draw(st.sampled_from(jurisdiction.category_ids())),
                quantity=quantity,
                amount_minor=amount,
                measure_per_unit_milli=draw(st.sampled_from([0, 1, 333, 600, 1000, 20_000])),
            )
        )
    return jurisdiction, lines


def _outcome(lines: list[TaxableLine], jurisdiction: Jurisdiction, fast: bool) -> TaxBreakdown | tuple[str, str]:
    try:
        if fast:
            return compute_taxes(lines, jurisdiction)
        return reference_compute_taxes(lines, jurisdiction)
    except InvalidInput as exc:
        return type(exc).__name__, str(exc)


@settings(max_examples=600, deadline=None)
@given(cases())
def test_the_integer_engine_equals_the_rational_reference(case: tuple[Jurisdiction, list[TaxableLine]]) -> None:
    jurisdiction, lines = case
    assert _outcome(lines, jurisdiction, fast=True) == _outcome(lines, jurisdiction, fast=False)


@settings(max_examples=300, deadline=None)
@given(cases())
def test_a_jurisdiction_taxes_the_same_on_every_call(case: tuple[Jurisdiction, list[TaxableLine]]) -> None:
    jurisdiction, lines = case
    first = _outcome(lines, jurisdiction, fast=True)
    assert _outcome(lines, jurisdiction, fast=True) == first
    assert _outcome(list(reversed(lines)), jurisdiction, fast=True) == _outcome(
        list(reversed(lines)), jurisdiction, fast=False
    )


@settings(max_examples=2000)
@given(
    st.integers(-(10**15), 10**15),
    st.integers(1, 10**9) | st.sampled_from([1, 2, 3, 4, 10, 100]),
    st.sampled_from(list(Rounding)),
)
def test_integer_rounding_equals_round_fraction(numerator: int, denominator: int, mode: Rounding) -> None:
    assert _round_div(numerator, denominator, mode) == round_fraction(Fraction(numerator, denominator), mode)


def test_integer_rounding_of_exact_halves_in_every_mode() -> None:
    for numerator in range(-41, 42):
        for mode in Rounding:
            assert _round_div(numerator, 2, mode) == round_fraction(Fraction(numerator, 2), mode)
            assert _round_div(numerator * 3, 6, mode) == round_fraction(Fraction(numerator, 2), mode)
