"""What :func:`core.pricing.price` takes, built from a sale: the same way at the counter and at the hub.

The box prices the sale a cashier rings up; the hub prices it again from the ``sale`` event the box sent,
with the promotion set the box used, and flags any difference in points (see ``docs/ledger.md``). Both must
build the basket and the customer alike, or the hub would flag differences the box never made. So both
call the functions here:

* :func:`sale_basket` turns the sold lines (:class:`SoldLine`; :func:`wire_lines` reads them from a
  ``sale`` event) into a :class:`core.pricing.Basket`. A line with no ``line_id`` is numbered ``l1``,
  ``l2``... in sale order. A line without a category or tax category cannot be priced:
  :class:`UnpricedLine` says which line.
* :func:`held_tier_values` gives the ``tier_points`` and ``transactions_this_month`` that make
  :func:`core.tiers.classify` name the tier the customer *holds* (a customer keeps a tier until a
  downgrade is decided, even when the measured value has fallen below its minimum). The hub sends these
  values to the box in the customers snapshot and uses them itself when it prices a sale again.
* :func:`sale_customer` builds the :class:`core.pricing.Customer` from those facts and the balance the
  caller knows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from core import wire
from core.errors import InvalidInput
from core.pricing.model import Basket, BasketLine, Customer, Store
from core.tiers import TierBasis, TierScheme

__all__ = ["SoldLine", "UnpricedLine", "held_tier_values", "sale_basket", "sale_customer", "wire_lines"]


class UnpricedLine(InvalidInput):
    """A sold line lacks the category or tax category pricing needs; ``problem`` names the line."""

    code = "unpriced_line"


@dataclass(frozen=True, slots=True)
class SoldLine:
    """One line of a sale as the catalogue described the item when it was sold.

    ``category`` and ``tax_category`` are None when the sale does not say (a bare sale generator leaves
    them out); such a line cannot be priced.
    """

    sku: str
    qty: int
    unit_price_minor: int
    category: str | None
    tax_category: str | None
    name: str = ""
    brand: str | None = None
    distributor: str | None = None
    measure_per_unit_milli: int = 0
    line_id: str | None = None


def wire_lines(lines: Iterable[wire.SaleLine]) -> list[SoldLine]:
    """The sold lines of a ``sale`` event (its lines carry no per-unit measure: 0)."""
    return [
        SoldLine(
            sku=line.sku,
            qty=line.qty,
            unit_price_minor=line.unit_price_minor,
            category=line.category,
            tax_category=line.tax_category,
            name=line.name,
            brand=line.brand,
            distributor=line.distributor,
        )
        for line in lines
    ]


def sale_basket(currency: str, store: Store, lines: Sequence[SoldLine]) -> Basket:
    """The basket of a sale of ``lines`` at ``store`` in ``currency``.

    Raises :class:`UnpricedLine` for the first line without a category or tax category (the sale must carry
    the catalogue's categories), and InvalidInput or ValueError (the basket's own validation) for a bad
    currency, too many lines or a repeated line id.
    """
    basket_lines: list[BasketLine] = []
    for no, line in enumerate(lines, start=1):
        if line.category is None or line.tax_category is None:
            raise UnpricedLine(f"lines[{no - 1}]", f"line {no} ({line.sku}) carries no category or tax category")
        basket_lines.append(
            BasketLine(
                line_id=line.line_id if line.line_id is not None else f"l{no}",
                item_id=line.sku,
                description=line.name,
                category=line.category,
                tax_category=line.tax_category,
                distributor=line.distributor,
                brand=line.brand,
                quantity=line.qty,
                unit_price_minor=line.unit_price_minor,
                measure_per_unit_milli=line.measure_per_unit_milli,
            )
        )
    return Basket(currency=currency, store=store, lines=tuple(basket_lines))


def held_tier_values(scheme: TierScheme | None, measured: int, held_tier: str | None) -> tuple[int, int]:
    """``(tier_points, transactions_this_month)`` for a customer whose tier basis measured ``measured`` and
    who holds ``held_tier`` (None: no tier) under ``scheme``.

    The value is raised to the held tier's minimum, so classifying it names the held tier; it goes to
    ``transactions_this_month`` on an activity scheme and to ``tier_points`` otherwise (the other is 0).
    """
    value = measured
    if scheme is not None and held_tier is not None:
        held = scheme.tier(held_tier)
        if held is not None:
            value = max(value, held.min_value)
    if scheme is not None and scheme.basis is TierBasis.ACTIVITY:
        return 0, value
    return value, 0


def sale_customer(
    customer_id: str,
    *,
    tier_points: int,
    transactions_this_month: int,
    points_balance: int,
    offline_allowance_points: int = 0,
    segment_ids: Sequence[str] = (),
    birth_date: date | None = None,
    enrolled_on: date | None = None,
    last_birthday_bonus_year: int | None = None,
    last_anniversary_bonus_year: int | None = None,
) -> Customer:
    """The customer of a sale as pricing needs them; ``points_balance`` is the balance the caller knows."""
    return Customer(
        customer_id=customer_id,
        tier_points=tier_points,
        transactions_this_month=transactions_this_month,
        points_balance=points_balance,
        offline_allowance_points=offline_allowance_points,
        segment_ids=tuple(segment_ids),
        birth_date=birth_date,
        enrolled_on=enrolled_on,
        last_birthday_bonus_year=last_birthday_bonus_year,
        last_anniversary_bonus_year=last_anniversary_bonus_year,
    )
