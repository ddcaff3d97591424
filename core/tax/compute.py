"""Computing the taxes of a document in a jurisdiction.

How a line is taxed
-------------------
A line's category lists its taxes in order. Each tax is charged on a base: the line's net amount, or for a
``compound`` tax the net amount plus every tax listed before it for that category (Mexican IVA on a price
that includes IEPS). A percentage tax is ``base * rate``; a per-unit tax is
``quantity * measure_per_unit_milli / 1000 * per_unit_minor`` whatever the price.

Exclusive pricing (sales-tax style): ``amount_minor`` is the net amount; taxes are added on top.

Inclusive pricing (VAT style): ``amount_minor`` is the gross amount. The exact net is the rational ``n`` for
which net plus every tax equals the gross; each tax's exact share of the gross follows from it (for one tax
at rate ``r`` that is ``gross * r / (1 + r)``). Taxes are rounded from those exact shares and the net is then
``gross - tax``, so ``net + tax == gross`` exactly. For a line with a single tax this gives the same tax as
exclusive pricing of that net would, in every rounding mode.

Rounding
--------
``per_line``: every tax on every line is rounded with the jurisdiction's mode; a compound tax's base uses the
earlier taxes as rounded (exclusive pricing) and the totals are sums of the lines.

``per_document``: every tax is computed exactly on every line and each tax's document total is rounded once.
That total is then spread over the lines that bear it (each line gets its exact amount rounded down, and the
units still missing go to the lines with the largest fractions, ties to the earlier line), so lines still add
up to the totals. For a non-compound tax borne by ``n`` lines, the per-document total differs from the
per-line total by at most ``(n + 1) // 2`` in ``half_up``/``half_even`` mode and ``n`` in ``up``/``down``
mode; a compound tax adds its rate times the difference accumulated by the taxes before it.

With tax-inclusive prices the taxes backed out of a line never exceed the line: if rounding (mode ``up``, or
several taxes on a one-cent line) makes them do so, the excess is taken back from the line's last tax first.

Groups
------
Taxes that share a ``group`` (a US state, county, city and transit sales tax) are rounded as one tax at their
combined rate; the rounded amount is split among them in proportion to their exact amounts (each gets its
exact amount rounded down, the missing units go to the largest fractions, ties to the tax the category lists
first).
Everything said above of "a tax" applies to a group as a whole.

The result is deterministic: it depends only on the lines, in their order, and the jurisdiction.

Arithmetic
----------
Every exact tax amount of a line is linear in the line's amount and its total measure, with coefficients
that depend only on the category. They are worked out once per category with :class:`fractions.Fraction`
and kept as integer numerators over one common denominator, so a line's exact amounts are plain integers
over that denominator and rounding is integer division: the same values, without building rationals on
every line.
"""

from __future__ import annotations

import math
import threading
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

__all__ = ["MAX_LINES", "compute_taxes"]

# A document longer than this is a bug upstream, not a basket.
MAX_LINES: Final = 10_000
_MILLI: Final = 1000
# Prepared jurisdictions kept at once; a box uses a handful, and past this the cache simply starts over.
_MAX_PREPARED: Final = 64


@dataclass(frozen=True, slots=True)
class _Charge:
    """How exclusive per-line rounding charges one tax that is not rounded with a group.

    A percentage tax is ``base * numerator / denominator``; a per-unit tax is
    ``measure_milli * numerator / denominator`` whatever the base.
    """

    index: int
    compound: bool
    per_unit: bool
    numerator: int
    denominator: int


@dataclass(frozen=True, slots=True)
class _Entry:
    """What a line's :class:`TaxAmount` repeats of its tax, formatted once."""

    tax_id: str
    name: str
    compound: bool
    per_unit: bool
    rate: str | None
    per_unit_minor: str | None
    measure_unit: str | None
    zero_rated: bool


@dataclass(frozen=True, slots=True)
class _Coefficients:
    """A category's exact taxes as ``(amount[j] * amount + measure[j] * measure_milli) / denominator``.

    With them, what rounding and the breakdown need of each tax: its charge when exclusive pricing rounds it
    alone, and the fields its :class:`TaxAmount` repeats.
    """

    amount: tuple[int, ...]
    measure: tuple[int, ...]
    denominator: int
    charges: tuple[_Charge, ...]
    entries: tuple[_Entry, ...]


class _PreparedCategory:
    """A category's taxes and everything about them that does not depend on a line."""

    __slots__ = ("_coefficients", "category", "inclusive", "per_unit", "taxes", "unit_of", "units")

    def __init__(self, category: Category, taxes: tuple[Tax, ...], inclusive: bool) -> None:
        self.category = category
        self.taxes = taxes
        self.inclusive = inclusive
        self.per_unit = tuple(t.tax_id for t in taxes if t.kind is TaxKind.PER_UNIT)
        self.unit_of = tuple(t.rounding_unit for t in taxes)
        # Units rounded from the exact amounts: every unit when prices include tax, only groups otherwise.
        units: list[tuple[int, ...]] = []
        for unit in dict.fromkeys(self.unit_of):
            members = tuple(j for j, u in enumerate(self.unit_of) if u == unit)
            if inclusive or taxes[members[0]].group:
                units.append(members)
        self.units = tuple(units)
        self._coefficients: _Coefficients | None = None

    def coefficients(self) -> _Coefficients:
        # Worked out on first use, where a line is first taxed, so a malformed tax fails where it always did.
        found = self._coefficients
        if found is None:
            taxes = self.taxes
            exact = _exact_inclusive if self.inclusive else _exact_exclusive
            # Linear with no constant term: the amounts for (1, 0) and (0, 1) are the coefficients.
            by_amount = exact(taxes, 1, 0)
            by_measure = exact(taxes, 0, 1)
            denominator = math.lcm(1, *(x.denominator for x in (*by_amount, *by_measure)))
            grouped = {j for members in self.units for j in members}
            found = _Coefficients(
                amount=tuple(int(x * denominator) for x in by_amount),
                measure=tuple(int(x * denominator) for x in by_measure),
                denominator=denominator,
                charges=()
                if self.inclusive
                else tuple(_charge_of(j, t) for j, t in enumerate(taxes) if j not in grouped),
                entries=tuple(
                    _Entry(
                        tax_id=t.tax_id,
                        name=t.name,
                        compound=t.compound,
                        per_unit=t.kind is TaxKind.PER_UNIT,
                        rate=format_rate(t.rate) if t.rate is not None else None,
                        per_unit_minor=format_rate(t.per_unit_minor) if t.per_unit_minor is not None else None,
                        measure_unit=t.measure_unit,
                        zero_rated=t.zero_rated,
                    )
                    for t in taxes
                ),
            )
            self._coefficients = found
        return found


def _charge_of(index: int, tax: Tax) -> _Charge:
    if tax.kind is TaxKind.PER_UNIT:
        assert tax.per_unit_minor is not None  # guaranteed by the loader for per-unit taxes
        per_unit = Fraction(tax.per_unit_minor)
        return _Charge(index, tax.compound, True, per_unit.numerator, per_unit.denominator * _MILLI)
    assert tax.rate is not None  # guaranteed by the loader for percentage taxes
    rate = Fraction(tax.rate)
    return _Charge(index, tax.compound, False, rate.numerator, rate.denominator)


class _Prepared:
    """A jurisdiction's lookups, built once and reused for every document taxed in it."""

    def __init__(self, jurisdiction: Jurisdiction) -> None:
        self.jurisdiction = jurisdiction
        self.inclusive = jurisdiction.pricing is Pricing.INCLUSIVE
        self.categories = {c.category_id: c for c in jurisdiction.categories}
        self.taxes = {t.tax_id: t for t in jurisdiction.taxes}
        self.unit_order = tuple(dict.fromkeys(t.rounding_unit for t in jurisdiction.taxes))
        self._by_category: dict[str, _PreparedCategory] = {}
        self._formatted: dict[str, tuple[str | None, str | None]] = {}

    def formatted(self, tax: Tax) -> tuple[str | None, str | None]:
        """A tax's rate and per-unit amount as the breakdown writes them."""
        found = self._formatted.get(tax.tax_id)
        if found is None:
            found = (
                format_rate(tax.rate) if tax.rate is not None else None,
                format_rate(tax.per_unit_minor) if tax.per_unit_minor is not None else None,
            )
            self._formatted[tax.tax_id] = found
        return found

    def category(self, category: Category) -> _PreparedCategory:
        found = self._by_category.get(category.category_id)
        if found is None or found.category is not category:
            taxes = tuple(self.taxes[t] for t in category.taxes)
            found = _PreparedCategory(category, taxes, self.inclusive)
            self._by_category[category.category_id] = found
        return found


# Keyed by identity: a Jurisdiction is immutable, and hashing one by value would cost more than the lookup
# saves. The entry keeps its jurisdiction alive, so an id cannot be reused while it is cached.
_prepared: dict[int, _Prepared] = {}
_prepared_lock = threading.Lock()


def _prepare(jurisdiction: Jurisdiction) -> _Prepared:
    found = _prepared.get(id(jurisdiction))
    if found is not None and found.jurisdiction is jurisdiction:
        return found
    made = _Prepared(jurisdiction)
    with _prepared_lock:
        if len(_prepared) >= _MAX_PREPARED:
            _prepared.clear()
        _prepared[id(jurisdiction)] = made
    return made


@dataclass(frozen=True, slots=True)
class _Plan:
    """A validated line with its category's taxes and its exact tax amounts, ``exact[j] / denominator``."""

    line: TaxableLine
    prepared: _PreparedCategory
    rules: _Coefficients
    measure_milli: int
    exact: tuple[int, ...]
    denominator: int


# A tax on a line: its entry, base, amount and measure (thousandths, zero unless the tax is per unit).
TaxRow = tuple[_Entry, int, int, int]
# A taxed line: its category, net amount, tax and taxes in the category's order.
LineRow = tuple[Category, int, int, tuple[TaxRow, ...]]


@dataclass(frozen=True, slots=True)
class TaxedDocument:
    """A document's taxes as plain rows, before any :class:`LineTax` is built.

    The pricing engine copies these straight into its receipt; building the breakdown's per-line objects
    first, only for the receipt to copy them, would double that work.
    """

    lines: tuple[LineRow, ...]
    taxes: tuple[TaxTotal, ...]
    net_minor: int
    tax_minor: int
    exempt_base_minor: int
    zero_rated_base_minor: int


def compute_taxes(lines: Sequence[TaxableLine], jurisdiction: Jurisdiction) -> TaxBreakdown:
    """The tax breakdown of a document: per line, per tax and in total (see the module docstring)."""
    document = tax_document(lines, jurisdiction)
    line_taxes = tuple(_line_tax(line.line_id, row) for line, row in zip(lines, document.lines, strict=True))
    return TaxBreakdown(
        jurisdiction_id=jurisdiction.jurisdiction_id,
        currency=jurisdiction.currency,
        pricing=jurisdiction.pricing,
        rounding=jurisdiction.rounding,
        lines=line_taxes,
        taxes=document.taxes,
        net_minor=document.net_minor,
        tax_minor=document.tax_minor,
        gross_minor=document.net_minor + document.tax_minor,
        exempt_base_minor=document.exempt_base_minor,
        zero_rated_base_minor=document.zero_rated_base_minor,
    )


def tax_document(lines: Sequence[TaxableLine], jurisdiction: Jurisdiction) -> TaxedDocument:
    """What :func:`compute_taxes` computes, as rows: the same checks, amounts and totals."""
    if not isinstance(jurisdiction, Jurisdiction):
        raise InvalidInput("jurisdiction", f"must be a Jurisdiction, not {type(jurisdiction).__name__}")
    prepared = _prepare(jurisdiction)
    plans = _plan(lines, jurisdiction, prepared)
    mode = _mode(jurisdiction.rounding_mode)
    inclusive = prepared.inclusive
    rounded: list[list[int]]
    if jurisdiction.rounding is RoundingScope.PER_LINE:
        rounded = [_round_line(plan, mode, inclusive) for plan in plans]
    else:
        rounded = _round_document(plans, prepared, mode)
    if inclusive:
        rounded = [
            _cap_inclusive(amounts, plan.line.amount_minor) for plan, amounts in zip(plans, rounded, strict=True)
        ]
    rows = tuple(_line_row(plan, amounts, inclusive) for plan, amounts in zip(plans, rounded, strict=True))
    return _totals(rows, prepared)


def _mode(mode: Rounding) -> Rounding:
    try:
        return Rounding(mode)
    except ValueError:
        # Not a mode: rounding will refuse it, with round_fraction's own error, when there is any to do.
        return mode


def _plan(lines: Sequence[TaxableLine], jurisdiction: Jurisdiction, prepared: _Prepared) -> list[_Plan]:
    if isinstance(lines, str | bytes) or not isinstance(lines, Sequence):
        raise InvalidInput("lines", f"must be a sequence of TaxableLine, not {type(lines).__name__}")
    if len(lines) > MAX_LINES:
        raise InvalidInput("lines", f"has {len(lines)} lines; at most {MAX_LINES} are allowed")
    categories = prepared.categories
    inclusive = prepared.inclusive
    seen: set[str] = set()
    plans: list[_Plan] = []
    for i, line in enumerate(lines):
        # The usual line is checked in one expression; any other goes through every check, which names
        # the first problem.
        if (
            type(line) is TaxableLine
            and type(line.line_id) is str
            and line.line_id
            and line.line_id not in seen
            and type(line.quantity) is int
            and type(line.amount_minor) is int
            and type(line.measure_per_unit_milli) is int
            and (line.amount_minor >= 0 if line.quantity > 0 else line.quantity < 0 and line.amount_minor <= 0)
            and line.measure_per_unit_milli >= 0
        ):
            quantity, amount, measure = line.quantity, line.amount_minor, line.measure_per_unit_milli
        else:
            quantity, amount, measure = _checked(i, line, seen)
        seen.add(line.line_id)
        category = categories.get(line.category) if isinstance(line.category, str) else None
        if category is None:
            raise UnknownTaxCategory(
                f"lines[{i}].category",
                f"unknown tax category {line.category!r} in jurisdiction {jurisdiction.jurisdiction_id!r}; "
                f"known categories: {', '.join(categories)}",
            )
        taxed = prepared.category(category)
        if taxed.per_unit and measure == 0:
            raise InvalidInput(
                f"lines[{i}].measure_per_unit_milli",
                f"category {category.category_id!r} bears per-unit tax {taxed.per_unit[0]!r}: give the measure "
                f"of one unit in thousandths of a {prepared.taxes[taxed.per_unit[0]].measure_unit}",
            )
        measure_milli = quantity * measure
        coefficients = taxed.coefficients()
        denominator = coefficients.denominator
        if measure_milli:
            exact = tuple(
                a * amount + m * measure_milli for a, m in zip(coefficients.amount, coefficients.measure, strict=True)
            )
        else:
            exact = tuple(a * amount for a in coefficients.amount)
        if inclusive:
            exact_net = amount * denominator - sum(exact)
            if (amount >= 0 and exact_net < 0) or (amount < 0 and exact_net > 0):
                raise InvalidInput(
                    f"lines[{i}].amount_minor",
                    f"gross {amount} is smaller than the fixed per-unit taxes it must include "
                    f"({_fixed(taxed.taxes, measure_milli)} minor units)",
                )
        plans.append(_Plan(line, taxed, coefficients, measure_milli, exact, denominator))
    return plans


def _checked(i: int, line: object, seen: set[str]) -> tuple[int, int, int]:
    """A line's quantity, amount and measure, after every check; the first that fails raises."""
    path = f"lines[{i}]"
    if not isinstance(line, TaxableLine):
        raise InvalidInput(path, f"must be a TaxableLine, not {type(line).__name__}")
    if not isinstance(line.line_id, str) or not line.line_id:
        raise InvalidInput(f"{path}.line_id", "must be a non-empty string")
    if line.line_id in seen:
        raise InvalidInput(f"{path}.line_id", f"{line.line_id!r} appears on more than one line")
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
    return quantity, amount, measure


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


def _round_div(numerator: int, denominator: int, mode: Rounding) -> int:
    """``round_fraction(Fraction(numerator, denominator), mode)`` for ``denominator > 0``, in integers.

    Rounding depends only on the value, and a half is a half whether or not the fraction is reduced.
    """
    if mode is Rounding.HALF_UP:
        if numerator >= 0:
            return (2 * numerator + denominator) // (2 * denominator)
        return -((denominator - 2 * numerator) // (2 * denominator))
    if not isinstance(mode, Rounding):
        return round_fraction(Fraction(numerator, denominator), mode)
    sign = -1 if numerator < 0 else 1
    quotient, remainder = divmod(abs(numerator), denominator)
    if remainder == 0:
        return sign * quotient
    twice = 2 * remainder
    if mode is Rounding.DOWN:
        bump = False
    elif mode is Rounding.UP:
        bump = True
    elif twice != denominator:
        bump = twice > denominator
    else:
        bump = quotient % 2 == 1
    return sign * (quotient + 1 if bump else quotient)


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
    taxed = plan.prepared
    rounded = [0] * len(taxed.taxes)
    exact = plan.exact
    denominator = plan.denominator
    # Grouped taxes are non-compound percentages: their exact amounts do not depend on other taxes.
    for members in taxed.units:
        if len(members) == 1:
            j = members[0]
            rounded[j] = _round_div(exact[j], denominator, mode)
            continue
        shares = [exact[j] for j in members]
        total = _round_div(sum(shares), denominator, mode)
        for j, amount in zip(members, _apportion(total, shares, denominator), strict=True):
            rounded[j] = amount
    if not inclusive:
        # Exclusive: a compound tax is charged on the earlier taxes as they appear, rounded, on the line.
        net = plan.line.amount_minor
        for charge in plan.rules.charges:
            if charge.per_unit:
                numerator = charge.numerator * plan.measure_milli
            elif charge.compound:
                numerator = charge.numerator * (net + sum(rounded[: charge.index]))
            else:
                numerator = charge.numerator * net
            rounded[charge.index] = _round_div(numerator, charge.denominator, mode)
    return rounded


def _round_document(plans: list[_Plan], prepared: _Prepared, mode: Rounding) -> list[list[int]]:
    rounded = [[0] * len(plan.exact) for plan in plans]
    positions: dict[str, list[tuple[int, int]]] = {unit: [] for unit in prepared.unit_order}
    for i, plan in enumerate(plans):
        for j, unit in enumerate(plan.prepared.unit_of):
            positions[unit].append((i, j))
    for unit in prepared.unit_order:
        found = positions[unit]
        if not found:
            continue
        denominator = math.lcm(*{plans[i].denominator for i, _ in found})
        exact = [plans[i].exact[j] * (denominator // plans[i].denominator) for i, j in found]
        total = _round_div(sum(exact), denominator, mode)
        for (i, j), amount in zip(found, _apportion(total, exact, denominator), strict=True):
            rounded[i][j] = amount
    return rounded


def _apportion(total: int, exact: list[int], denominator: int) -> list[int]:
    """Integers summing to ``total``, each within one unit of its exact share ``exact[k] / denominator``.

    Largest fraction first, ties to the earlier share.
    """
    if any(x < 0 for x in exact) and all(x <= 0 for x in exact):
        # Mirror a document of returns so it rounds exactly like the sale it reverses.
        return [-part for part in _apportion(-total, [-x for x in exact], denominator)]
    parts: list[int] = []
    fractions: list[int] = []
    for x in exact:
        part, fraction = divmod(x, denominator)
        parts.append(part)
        fractions.append(fraction)
    missing = total - sum(parts)
    if missing <= 0:
        return parts
    # total is round(sum(exact)), which lies between sum(floors) and sum(floors) + (lines with a fraction).
    order = sorted(range(len(exact)), key=lambda k: (-fractions[k], k))
    for k in order[:missing]:
        parts[k] += 1
    return parts


def _line_row(plan: _Plan, amounts: list[int], inclusive: bool) -> LineRow:
    tax_minor = sum(amounts)
    amount = plan.line.amount_minor
    net = amount - tax_minor if inclusive else amount
    rows: list[TaxRow] = []
    earlier = 0
    measure_milli = plan.measure_milli
    for entry, tax_amount in zip(plan.rules.entries, amounts, strict=True):
        base = net + earlier if entry.compound else net
        earlier += tax_amount
        rows.append((entry, base, tax_amount, measure_milli if entry.per_unit else 0))
    return plan.prepared.category, net, tax_minor, tuple(rows)


def _line_tax(line_id: str, row: LineRow) -> LineTax:
    category, net, tax_minor, rows = row
    return LineTax(
        line_id=line_id,
        category=category.category_id,
        net_minor=net,
        tax_minor=tax_minor,
        gross_minor=net + tax_minor,
        taxes=tuple(
            TaxAmount(
                tax_id=entry.tax_id,
                name=entry.name,
                base_minor=base,
                amount_minor=tax_amount,
                rate=entry.rate,
                per_unit_minor=entry.per_unit_minor,
                measure_unit=entry.measure_unit,
                measure_milli=measure_milli,
                zero_rated=entry.zero_rated,
            )
            for entry, base, tax_amount, measure_milli in rows
        ),
        exempt_from=category.exempt_from,
    )


def _totals(rows: tuple[LineRow, ...], prepared: _Prepared) -> TaxedDocument:
    jurisdiction = prepared.jurisdiction
    # Per tax id: base, amount, measure and whether any line bears it; then the exempt bases.
    borne: dict[str, list[int]] = {}
    exempt: dict[str, int] = {}
    exempt_base = 0
    zero_rated_base = 0
    net_total = 0
    tax_total = 0
    for category, net, tax_minor, taxes in rows:
        net_total += net
        tax_total += tax_minor
        zero_rated = False
        for entry, base, amount, measure in taxes:
            sums = borne.get(entry.tax_id)
            if sums is None:
                borne[entry.tax_id] = [base, amount, measure]
            else:
                sums[0] += base
                sums[1] += amount
                sums[2] += measure
            zero_rated = zero_rated or entry.zero_rated
        if zero_rated:
            zero_rated_base += net
        if category.exempt_from:
            exempt_base += net
            for tax_id in dict.fromkeys(category.exempt_from):
                exempt[tax_id] = exempt.get(tax_id, 0) + net
    totals: list[TaxTotal] = []
    for tax in jurisdiction.taxes:
        sums = borne.get(tax.tax_id)
        if sums is None and tax.tax_id not in exempt:
            continue
        base, amount, measure = sums if sums is not None else (0, 0, 0)
        rate, per_unit_minor = prepared.formatted(tax)
        totals.append(
            TaxTotal(
                tax_id=tax.tax_id,
                name=tax.name,
                base_minor=base,
                amount_minor=amount,
                exempt_base_minor=exempt.get(tax.tax_id, 0),
                rate=rate,
                per_unit_minor=per_unit_minor,
                measure_unit=tax.measure_unit,
                measure_milli=measure,
                zero_rated=tax.zero_rated,
            )
        )
    return TaxedDocument(
        lines=rows,
        taxes=tuple(totals),
        net_minor=net_total,
        tax_minor=tax_total,
        exempt_base_minor=exempt_base,
        zero_rated_base_minor=zero_rated_base,
    )
