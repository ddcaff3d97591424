"""The tax engine as first written, on exact rationals throughout: the reference the fast path is checked against.

It is kept verbatim apart from its entry point's name and the inclusive-pricing cap (a line's taxes never
exceed the line), which both engines apply the same way, so that any difference the property tests find is a
difference in the engine, not in the reference.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Final

from core.errors import InvalidInput
from core.money import Rounding, format_rate, round_fraction
from core.tax.model import (
    Category,
    Jurisdiction,
    LineTax,
    Pricing,
    RoundingScope,
    Tax,
    TaxableLine,
    TaxAmount,
    TaxBreakdown,
    TaxKind,
    TaxTotal,
    UnknownTaxCategory,
)

MAX_LINES: Final = 10_000
_MILLI: Final = 1000


@dataclass(frozen=True)
class _Plan:
    """A validated line with its category's taxes and its exact (unrounded) tax amounts."""

    line: TaxableLine
    category: Category
    taxes: tuple[Tax, ...]
    measure_milli: int
    exact: tuple[Fraction, ...]


def reference_compute_taxes(lines: Sequence[TaxableLine], jurisdiction: Jurisdiction) -> TaxBreakdown:
    """The tax breakdown of a document: per line, per tax and in total (see the module docstring)."""
    if not isinstance(jurisdiction, Jurisdiction):
        raise InvalidInput("jurisdiction", f"must be a Jurisdiction, not {type(jurisdiction).__name__}")
    plans = _plan(lines, jurisdiction)
    mode = jurisdiction.rounding_mode
    inclusive = jurisdiction.pricing is Pricing.INCLUSIVE
    rounded: list[list[int]]
    if jurisdiction.rounding is RoundingScope.PER_LINE:
        rounded = [_round_line(plan, mode, inclusive) for plan in plans]
    else:
        rounded = _round_document(plans, jurisdiction, mode)
    if inclusive:
        rounded = [
            _cap_inclusive(amounts, plan.line.amount_minor) for plan, amounts in zip(plans, rounded, strict=True)
        ]
    line_taxes = tuple(_line_tax(plan, amounts, inclusive) for plan, amounts in zip(plans, rounded, strict=True))
    return _breakdown(line_taxes, jurisdiction)


def _plan(lines: Sequence[TaxableLine], jurisdiction: Jurisdiction) -> list[_Plan]:
    if isinstance(lines, str | bytes) or not isinstance(lines, Sequence):
        raise InvalidInput("lines", f"must be a sequence of TaxableLine, not {type(lines).__name__}")
    if len(lines) > MAX_LINES:
        raise InvalidInput("lines", f"has {len(lines)} lines; at most {MAX_LINES} are allowed")
    categories = {c.category_id: c for c in jurisdiction.categories}
    taxes = {t.tax_id: t for t in jurisdiction.taxes}
    inclusive = jurisdiction.pricing is Pricing.INCLUSIVE
    seen: set[str] = set()
    plans: list[_Plan] = []
    for i, line in enumerate(lines):
        path = f"lines[{i}]"
        if not isinstance(line, TaxableLine):
            raise InvalidInput(path, f"must be a TaxableLine, not {type(line).__name__}")
        if not isinstance(line.line_id, str) or not line.line_id:
            raise InvalidInput(f"{path}.line_id", "must be a non-empty string")
        if line.line_id in seen:
            raise InvalidInput(f"{path}.line_id", f"{line.line_id!r} appears on more than one line")
        seen.add(line.line_id)
        quantity = _int(line.quantity, f"{path}.quantity")
        amount = _int(line.amount_minor, f"{path}.amount_minor")
        measure = _int(line.measure_per_unit_milli, f"{path}.measure_per_unit_milli")
        if quantity == 0:
            raise InvalidInput(f"{path}.quantity", "must not be zero")
        if (quantity > 0 and amount < 0) or (quantity < 0 and amount > 0):
            raise InvalidInput(
                f"{path}.amount_minor",
                f"{amount} has the opposite sign of quantity {quantity}; a return has both negative",
            )
        if measure < 0:
            raise InvalidInput(f"{path}.measure_per_unit_milli", f"must not be negative, got {measure}")
        category = categories.get(line.category) if isinstance(line.category, str) else None
        if category is None:
            raise UnknownTaxCategory(
                f"{path}.category",
                f"unknown tax category {line.category!r} in jurisdiction {jurisdiction.jurisdiction_id!r}; "
                f"known categories: {', '.join(categories)}",
            )
        line_taxes = tuple(taxes[t] for t in category.taxes)
        per_unit = [t.tax_id for t in line_taxes if t.kind is TaxKind.PER_UNIT]
        if per_unit and measure == 0:
            raise InvalidInput(
                f"{path}.measure_per_unit_milli",
                f"category {category.category_id!r} bears per-unit tax {per_unit[0]!r}: give the measure "
                f"of one unit in thousandths of a {taxes[per_unit[0]].measure_unit}",
            )
        measure_milli = quantity * measure
        if inclusive:
            exact = _exact_inclusive(line_taxes, amount, measure_milli)
            exact_net = amount - sum(exact, Fraction(0))
            if (amount >= 0 and exact_net < 0) or (amount < 0 and exact_net > 0):
                raise InvalidInput(
                    f"{path}.amount_minor",
                    f"gross {amount} is smaller than the fixed per-unit taxes it must include "
                    f"({_fixed(line_taxes, measure_milli)} minor units)",
                )
        else:
            exact = _exact_exclusive(line_taxes, amount, measure_milli)
        plans.append(_Plan(line, category, line_taxes, measure_milli, exact))
    return plans


def _int(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(field, f"must be an integer, not {type(value).__name__}")
    return value


def _per_unit_exact(tax: Tax, measure_milli: int) -> Fraction:
    assert tax.per_unit_minor is not None  # guaranteed by the loader for per-unit taxes
    return tax.per_unit_minor * Fraction(measure_milli, _MILLI)


def _fixed(taxes: tuple[Tax, ...], measure_milli: int) -> str:
    return format_rate(
        sum((_per_unit_exact(t, measure_milli) for t in taxes if t.kind is TaxKind.PER_UNIT), Fraction(0))
    )


def _exact_exclusive(taxes: tuple[Tax, ...], net: int, measure_milli: int) -> tuple[Fraction, ...]:
    exact: list[Fraction] = []
    for tax in taxes:
        base = net + sum(exact, Fraction(0)) if tax.compound else Fraction(net)
        exact.append(_charge(tax, base, measure_milli))
    return tuple(exact)


def _charge(tax: Tax, base: Fraction, measure_milli: int) -> Fraction:
    if tax.kind is TaxKind.PER_UNIT:
        return _per_unit_exact(tax, measure_milli)
    assert tax.rate is not None  # guaranteed by the loader for percentage taxes
    return base * tax.rate


def _exact_inclusive(taxes: tuple[Tax, ...], gross: int, measure_milli: int) -> tuple[Fraction, ...]:
    # Each tax is affine in the unknown net n: tax_j = slope_j * n + fixed_j. Solve net + sum(tax) == gross.
    slopes: list[Fraction] = []
    fixeds: list[Fraction] = []
    for tax in taxes:
        if tax.compound:
            base_slope = 1 + sum(slopes, Fraction(0))
            base_fixed = sum(fixeds, Fraction(0))
        else:
            base_slope, base_fixed = Fraction(1), Fraction(0)
        if tax.kind is TaxKind.PER_UNIT:
            slopes.append(Fraction(0))
            fixeds.append(_per_unit_exact(tax, measure_milli))
        else:
            assert tax.rate is not None
            slopes.append(base_slope * tax.rate)
            fixeds.append(base_fixed * tax.rate)
    net = (gross - sum(fixeds, Fraction(0))) / (1 + sum(slopes, Fraction(0)))
    return tuple(slope * net + fixed for slope, fixed in zip(slopes, fixeds, strict=True))


def _cap_inclusive(amounts: list[int], gross: int) -> list[int]:
    """With tax-inclusive prices the taxes backed out of a line can never exceed the line itself.

    Rounding each tax up (mode ``up``, or several half-up taxes on a one-cent line) can make their sum pass
    the gross. The excess is taken back from the last tax of the line first, so the net is never negative
    (never positive for a return) and ``net + tax == gross`` still holds.
    """
    excess = sum(amounts) - gross
    if gross >= 0 and excess > 0:
        capped = list(amounts)
        for k in range(len(capped) - 1, -1, -1):
            take = min(excess, max(capped[k], 0))
            capped[k] -= take
            excess -= take
            if not excess:
                break
        return capped
    if gross < 0 and excess < 0:
        return [-x for x in _cap_inclusive([-a for a in amounts], -gross)]
    return amounts


def _round_line(plan: _Plan, mode: Rounding, inclusive: bool) -> list[int]:
    rounded: list[int | None] = [None] * len(plan.taxes)
    net = plan.line.amount_minor
    # Grouped taxes are non-compound percentages: their exact amounts do not depend on other taxes.
    for unit in dict.fromkeys(t.rounding_unit for t in plan.taxes):
        members = [j for j, t in enumerate(plan.taxes) if t.rounding_unit == unit]
        if not inclusive and not plan.taxes[members[0]].group:
            continue
        exact = [plan.exact[j] for j in members]
        for j, amount in zip(members, _apportion(round_fraction(sum(exact, Fraction(0)), mode), exact), strict=True):
            rounded[j] = amount
    if not inclusive:
        # Exclusive: a compound tax is charged on the earlier taxes as they appear, rounded, on the line.
        for j, tax in enumerate(plan.taxes):
            if rounded[j] is not None:
                continue
            earlier = sum(r for r in rounded[:j] if r is not None)
            base = Fraction(net + earlier) if tax.compound else Fraction(net)
            rounded[j] = round_fraction(_charge(tax, base, plan.measure_milli), mode)
    return [r if r is not None else 0 for r in rounded]


def _round_document(plans: list[_Plan], jurisdiction: Jurisdiction, mode: Rounding) -> list[list[int]]:
    rounded = [[0] * len(plan.taxes) for plan in plans]
    for unit in dict.fromkeys(t.rounding_unit for t in jurisdiction.taxes):
        positions = [
            (i, j) for i, plan in enumerate(plans) for j, t in enumerate(plan.taxes) if t.rounding_unit == unit
        ]
        if not positions:
            continue
        exact = [plans[i].exact[j] for i, j in positions]
        total = round_fraction(sum(exact, Fraction(0)), mode)
        for (i, j), amount in zip(positions, _apportion(total, exact), strict=True):
            rounded[i][j] = amount
    return rounded


def _apportion(total: int, exact: list[Fraction]) -> list[int]:
    """Integers summing to ``total``, each within one unit of its exact share (largest fraction first)."""
    if any(x < 0 for x in exact) and all(x <= 0 for x in exact):
        # Mirror a document of returns so it rounds exactly like the sale it reverses.
        return [-part for part in _apportion(-total, [-x for x in exact])]
    parts = [math.floor(x) for x in exact]
    missing = total - sum(parts)
    # total is round(sum(exact)), which lies between sum(floors) and sum(floors) + (lines with a fraction).
    order = sorted(range(len(exact)), key=lambda k: (-(exact[k] - parts[k]), k))
    for k in order[:missing]:
        parts[k] += 1
    return parts


def _line_tax(plan: _Plan, amounts: list[int], inclusive: bool) -> LineTax:
    tax_minor = sum(amounts)
    amount = plan.line.amount_minor
    net = amount - tax_minor if inclusive else amount
    entries: list[TaxAmount] = []
    earlier = 0
    for tax, tax_amount in zip(plan.taxes, amounts, strict=True):
        base = net + earlier if tax.compound else net
        earlier += tax_amount
        entries.append(
            TaxAmount(
                tax_id=tax.tax_id,
                name=tax.name,
                base_minor=base,
                amount_minor=tax_amount,
                rate=format_rate(tax.rate) if tax.rate is not None else None,
                per_unit_minor=format_rate(tax.per_unit_minor) if tax.per_unit_minor is not None else None,
                measure_unit=tax.measure_unit,
                measure_milli=plan.measure_milli if tax.kind is TaxKind.PER_UNIT else 0,
                zero_rated=tax.zero_rated,
            )
        )
    return LineTax(
        line_id=plan.line.line_id,
        category=plan.category.category_id,
        net_minor=net,
        tax_minor=tax_minor,
        gross_minor=net + tax_minor,
        taxes=tuple(entries),
        exempt_from=plan.category.exempt_from,
    )


def _breakdown(line_taxes: tuple[LineTax, ...], jurisdiction: Jurisdiction) -> TaxBreakdown:
    totals: list[TaxTotal] = []
    for tax in jurisdiction.taxes:
        borne = [entry for lt in line_taxes for entry in lt.taxes if entry.tax_id == tax.tax_id]
        exempt = [lt.net_minor for lt in line_taxes if tax.tax_id in lt.exempt_from]
        if not borne and not exempt:
            continue
        totals.append(
            TaxTotal(
                tax_id=tax.tax_id,
                name=tax.name,
                base_minor=sum(e.base_minor for e in borne),
                amount_minor=sum(e.amount_minor for e in borne),
                exempt_base_minor=sum(exempt),
                rate=format_rate(tax.rate) if tax.rate is not None else None,
                per_unit_minor=format_rate(tax.per_unit_minor) if tax.per_unit_minor is not None else None,
                measure_unit=tax.measure_unit,
                measure_milli=sum(e.measure_milli for e in borne),
                zero_rated=tax.zero_rated,
            )
        )
    return TaxBreakdown(
        jurisdiction_id=jurisdiction.jurisdiction_id,
        currency=jurisdiction.currency,
        pricing=jurisdiction.pricing,
        rounding=jurisdiction.rounding,
        lines=line_taxes,
        taxes=tuple(totals),
        net_minor=sum(lt.net_minor for lt in line_taxes),
        tax_minor=sum(lt.tax_minor for lt in line_taxes),
        gross_minor=sum(lt.gross_minor for lt in line_taxes),
        exempt_base_minor=sum(lt.net_minor for lt in line_taxes if lt.exempt_from),
        zero_rated_base_minor=sum(lt.net_minor for lt in line_taxes if any(e.zero_rated for e in lt.taxes)),
    )
