"""Products bought together: pairs and triples of items in the same ticket, with support, confidence and lift.

A basket is one sale (refunds are left out: a refund's lines are not a purchase) with its distinct items. A
ticket with more than :data:`MAX_BASKET_ITEMS` distinct items is left out of every count: it is a stock-up
order rather than a shopping basket, and its pairs (n(n-1)/2 of them) would swamp the rest. Over the tickets
of the period (store-local dates, both ends included) and, when given, of the stores of some regions:

* ``support`` = tickets holding all the items / tickets;
* ``confidence`` (for a pair a -> b) = tickets holding a and b / tickets holding a (and b -> a likewise);
* ``lift`` = support(a, b) / (support(a) x support(b)); above 1 the items go together more than chance.

Counts are exact integers; the three ratios are rounded to 6 decimal places. At most :data:`MAX_COMBINATIONS`
combinations are returned, the most frequent first, and only those seen in ``min_tickets`` tickets at least.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from core.errors import InvalidInput
from hub import db

__all__ = ["MAX_BASKET_ITEMS", "MAX_COMBINATIONS", "Combination", "CombinationReport", "combinations"]

MAX_BASKET_ITEMS: Final = 30
"""Tickets with more distinct items than this are left out of the combinations."""

MAX_COMBINATIONS: Final = 500
"""Most combinations one answer lists."""

MAX_PERIOD_DAYS: Final = 731
"""Longest period one answer covers."""


@dataclass(frozen=True, slots=True)
class Combination:
    """Items bought together and how often."""

    items: tuple[str, ...]
    tickets: int
    item_tickets: tuple[int, ...]
    """Tickets holding each item, in the order of ``items``."""
    support: float
    confidence: tuple[float, ...]
    """For a pair: (a -> b, b -> a). For a triple: ({a, b} -> c, {a, c} -> b, {b, c} -> a)."""
    lift: float


@dataclass(frozen=True, slots=True)
class CombinationReport:
    """The combinations of a period, with the tickets they were counted over."""

    date_from: date
    date_to: date
    regions: tuple[str, ...]
    tickets: int
    """Tickets counted (at most MAX_BASKET_ITEMS distinct items each)."""
    excluded_tickets: int
    """Tickets left out for holding more distinct items than MAX_BASKET_ITEMS."""
    combinations: list[Combination]


def _ratio(num: int, den: int) -> float:
    return round(num / den, 6) if den else 0.0


def combinations(
    conn: Connection,
    tenant: str,
    *,
    date_from: date,
    date_to: date,
    size: int = 2,
    regions: Sequence[str] = (),
    stores: sa.ColumnElement[bool] | None = None,
    min_tickets: int = 2,
    limit: int = 100,
) -> CombinationReport:
    """Pairs (``size`` 2) or triples (3) of items bought together from ``date_from`` to ``date_to``.
    ``stores`` is an extra clause on the fact's ``store`` column (a caller's scope)."""
    if size not in (2, 3):
        raise InvalidInput("size", "must be 2 (pairs) or 3 (triples)")
    if date_to < date_from:
        raise InvalidInput("date_to", "is before date_from")
    if (date_to - date_from).days >= MAX_PERIOD_DAYS:
        raise InvalidInput("date_to", f"the period is longer than {MAX_PERIOD_DAYS} days")
    if not 1 <= min_tickets <= 1_000_000:
        raise InvalidInput("min_tickets", "must be 1 to 1000000")
    if not 1 <= limit <= MAX_COMBINATIONS:
        raise InvalidInput("limit", f"must be 1 to {MAX_COMBINATIONS}")
    f = db.sale_line_fact
    where: list[Any] = [
        f.c.tenant == tenant,
        f.c.refund.is_(False),
        f.c.local_date >= date_from,
        f.c.local_date <= date_to,
        f.c.qty > 0,
    ]
    if regions:
        where.append(f.c.region.in_(list(regions)))
    if stores is not None:
        where.append(stores)
    items = sa.select(f.c.event_id, f.c.sku).where(*where).group_by(f.c.event_id, f.c.sku).cte("basket_items")
    sizes = sa.select(items.c.event_id, sa.func.count().label("n")).group_by(items.c.event_id).cte("basket_sizes")
    totals = conn.execute(
        sa.select(
            sa.func.count().filter(sizes.c.n <= MAX_BASKET_ITEMS),
            sa.func.count().filter(sizes.c.n > MAX_BASKET_ITEMS),
        )
    ).one()
    tickets, excluded = int(totals[0] or 0), int(totals[1] or 0)
    kept = (
        sa.select(items.c.event_id, items.c.sku)
        .join(sizes, sizes.c.event_id == items.c.event_id)
        .where(sizes.c.n <= MAX_BASKET_ITEMS)
        .cte("kept")
    )
    parts = [kept.alias(f"i{k}") for k in range(size)]
    joined: Any = parts[0]
    for k in range(1, size):
        joined = joined.join(
            parts[k], sa.and_(parts[k].c.event_id == parts[0].c.event_id, parts[k].c.sku > parts[k - 1].c.sku)
        )
    combos = conn.execute(
        sa.select(*(p.c.sku for p in parts), sa.func.count().label("n"))
        .select_from(joined)
        .group_by(*(p.c.sku for p in parts))
        .having(sa.func.count() >= min_tickets)
        .order_by(sa.func.count().desc(), *(p.c.sku for p in parts))
        .limit(limit)
    ).all()
    wanted = sorted({sku for row in combos for sku in row[:size]})
    singles: dict[str, int] = {}
    pairs: dict[tuple[str, str], int] = {}
    if wanted:
        for sku, n in conn.execute(
            sa.select(kept.c.sku, sa.func.count()).where(kept.c.sku.in_(wanted)).group_by(kept.c.sku)
        ):
            singles[sku] = int(n)
        if size == 3:
            a, b = kept.alias("pa"), kept.alias("pb")
            for x, y, n in conn.execute(
                sa.select(a.c.sku, b.c.sku, sa.func.count())
                .select_from(a.join(b, sa.and_(a.c.event_id == b.c.event_id, b.c.sku > a.c.sku)))
                .where(a.c.sku.in_(wanted), b.c.sku.in_(wanted))
                .group_by(a.c.sku, b.c.sku)
            ):
                pairs[(x, y)] = int(n)
    out: list[Combination] = []
    for row in combos:
        skus = tuple(row[:size])
        n = int(row[size])
        counts = tuple(singles[s] for s in skus)
        confidence: tuple[float, ...]
        if size == 2:
            confidence = (_ratio(n, counts[0]), _ratio(n, counts[1]))
            expected = counts[0] * counts[1]
            lift = round(n * tickets / expected, 6) if expected else 0.0
        else:
            a, b, c = skus
            confidence = (_ratio(n, pairs[(a, b)]), _ratio(n, pairs[(a, c)]), _ratio(n, pairs[(b, c)]))
            expected = counts[0] * counts[1] * counts[2]
            lift = round(n * tickets * tickets / expected, 6) if expected else 0.0
        out.append(Combination(skus, n, counts, _ratio(n, tickets), confidence, lift))
    return CombinationReport(date_from, date_to, tuple(regions), tickets, excluded, out)
