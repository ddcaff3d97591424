"""The distributor's questions, answered from the rollups of :mod:`hub.analytics.facts` over a
:class:`~hub.analytics.filters.Filter`. The API (``/analytics/...``) and the dashboard call these functions;
each returns plain dataclasses (money in integer minor units with its currency, never summed across
currencies).

* :func:`live_activity`: per retailer and per store, today against the same weekday last week;
* :func:`live_feed`: the latest sales and refunds (at most :data:`FEED_MAX`);
* :func:`best_sellers`: units, revenue and margin grouped by item, category, brand, manufacturer, region,
  distribution centre, retailer or store, ordered by revenue, units, margin or margin rate;
* :func:`seasons`: the same figures by month, quarter, ISO week or year, with last year's revenue beside;
* :func:`top_retailers`, :func:`top_members`, and :func:`top_trend` (the top N against the rest, per day,
  week or month of the period);
* :func:`heatmap`: tickets by weekday and hour.

Margins count only the lines whose cost was known when they were loaded: ``margin_minor`` is their revenue
(``costed_amount_minor``) less their cost, ``margin_bp`` that margin in basis points of that revenue.
Questions about whole tickets (live activity, members, the heatmap) cannot be narrowed to a brand or a
category; asking raises :class:`core.errors.InvalidInput` naming the field.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from core.errors import InvalidInput
from hub import db

from .filters import Filter, Period

__all__ = [
    "BY_DIMENSIONS",
    "FEED_MAX",
    "FEED_WINDOW",
    "ORDERS",
    "SEASONS",
    "TOP_MAX",
    "TREND_MAX",
    "ActivityRow",
    "FeedEvent",
    "Figures",
    "Heatmap",
    "Live",
    "Ranked",
    "SeasonRow",
    "Series",
    "TopMember",
    "TopRetailer",
    "Trend",
    "best_sellers",
    "heatmap",
    "live_activity",
    "live_feed",
    "seasons",
    "top_members",
    "top_retailers",
    "top_trend",
]

FEED_MAX: Final = 100
"""Events one live feed returns at most."""

FEED_WINDOW: Final = timedelta(days=1)
"""How far back the live feed looks (its read stays within a day of the fact)."""

TOP_MAX: Final = 200
"""Rows a ranking returns at most."""

TREND_MAX: Final = 20
"""Series a top-N trend draws at most (beside "the rest")."""

BY_DIMENSIONS: Final = ("sku", "category", "brand", "manufacturer", "region", "dc", "retailer", "store")
ORDERS: Final = ("amount", "qty", "margin", "margin_rate")
SEASONS: Final = ("month", "quarter", "week", "year")


def _whole_tickets(flt: Filter, question: str) -> None:
    for name in ("brand", "category"):
        if getattr(flt, name) is not None:
            raise InvalidInput(
                name, f"{question} counts whole tickets and cannot be narrowed to a {name}; leave it out"
            )


def _limit(limit: int, bound: int, name: str = "limit") -> int:
    if isinstance(limit, bool) or not 1 <= limit <= bound:
        raise InvalidInput(name, f"{limit!r} must be from 1 to {bound}")
    return limit


# ------------------------------------------------------------------------------------------------ live


@dataclass(frozen=True)
class Figures:
    """One day's activity: sales (tickets), net amount, members identified (distinct members with a sale),
    points earned and spent."""

    tickets: int = 0
    amount_minor: int = 0
    members: int = 0
    points_earned: int = 0
    points_spent: int = 0


@dataclass(frozen=True)
class ActivityRow:
    """A retailer's (``level`` ``retailer``, ``key`` its id) or a store's activity, today and a week ago."""

    level: str
    key: str
    retailer: str
    currency: str
    today: Figures
    last_week: Figures


@dataclass(frozen=True)
class Live:
    """Live activity: ``today`` in ``zone`` and the same weekday a week before."""

    today: date
    last_week: date
    zone: str
    rows: list[ActivityRow]


def _day_figures(conn: sa.Connection, flt: Filter, day: date) -> dict[tuple[str, str, str, str], Figures]:
    """Figures per (level, key, retailer, currency) on ``day``."""
    d, m = db.analytics_day_store, db.analytics_day_store_member
    one_day = Period("custom", day, day, flt.period.zone)
    out: dict[tuple[str, str, str, str], Figures] = {}
    members: dict[tuple[str, str, str, str], int] = {}
    for row in conn.execute(
        sa.select(m.c.store, m.c.retailer, m.c.currency, sa.func.count().label("n"))
        .where(*flt.where(m, one_day), m.c.tickets > 0)
        .group_by(m.c.store, m.c.retailer, m.c.currency)
    ):
        members[("store", row.store, row.retailer, row.currency)] = int(row.n)
    for row in conn.execute(
        sa.select(m.c.retailer, m.c.currency, sa.func.count(sa.distinct(m.c.customer)).label("n"))
        .where(*flt.where(m, one_day), m.c.tickets > 0)
        .group_by(m.c.retailer, m.c.currency)
    ):
        members[("retailer", row.retailer, row.retailer, row.currency)] = int(row.n)
    sums = (
        sa.func.sum(d.c.tickets).label("tickets"),
        sa.func.sum(d.c.amount_minor).label("amount_minor"),
        sa.func.sum(d.c.points_earned).label("points_earned"),
        sa.func.sum(d.c.points_spent).label("points_spent"),
    )
    levels: tuple[tuple[str, Any], ...] = (("store", d.c.store), ("retailer", d.c.retailer))
    for level, key in levels:
        for row in conn.execute(
            sa.select(key.label("key"), d.c.retailer, d.c.currency, *sums)
            .where(*flt.where(d, one_day))
            .group_by(key, d.c.retailer, d.c.currency)
        ):
            k = (level, row.key, row.retailer, row.currency)
            out[k] = Figures(
                int(row.tickets),
                int(row.amount_minor),
                members.get(k, 0),
                int(row.points_earned),
                int(row.points_spent),
            )
    return out


def live_activity(conn: sa.Connection, flt: Filter, *, now: datetime) -> Live:
    """Per retailer and per store of the filter: today (in the filter's zone) against the same weekday last
    week. Rows are retailers first, then stores, each by today's amount, largest first."""
    _whole_tickets(flt, "live activity")
    today = now.astimezone(ZoneInfo(flt.period.zone)).date()
    last_week = today - timedelta(days=7)
    now_figures, then_figures = _day_figures(conn, flt, today), _day_figures(conn, flt, last_week)
    rows = [
        ActivityRow(level, key, retailer, currency, now_figures.get(k, Figures()), then_figures.get(k, Figures()))
        for k in now_figures.keys() | then_figures.keys()
        for level, key, retailer, currency in [k]
    ]
    rows.sort(key=lambda r: (r.level != "retailer", -r.today.amount_minor, r.key, r.currency))
    return Live(today, last_week, flt.period.zone, rows)


@dataclass(frozen=True)
class FeedEvent:
    """A sale or refund as the live feed shows it."""

    event_id: str
    sold_at: datetime
    store: str
    retailer: str
    customer: str | None
    currency: str
    amount_minor: int
    qty: int
    lines: int
    refund: bool


def live_feed(conn: sa.Connection, flt: Filter, *, now: datetime, limit: int = 20) -> list[FeedEvent]:
    """The latest sales and refunds of the filter's stores loaded into the fact (within :data:`FEED_WINDOW`
    of ``now``), newest first, at most ``limit`` (up to :data:`FEED_MAX`)."""
    _limit(limit, FEED_MAX)
    f = db.sale_line_fact
    rows = conn.execute(
        sa.select(
            f.c.event_id,
            f.c.sold_at,
            f.c.store,
            f.c.retailer,
            f.c.customer,
            f.c.currency,
            f.c.refund,
            sa.func.sum(f.c.amount_minor).label("amount_minor"),
            sa.func.sum(f.c.qty).label("qty"),
            sa.func.count().label("lines"),
        )
        .where(
            f.c.tenant == flt.tenant,
            f.c.sold_at >= now - FEED_WINDOW,
            f.c.sold_at <= now,
            flt.stores_clause(f.c.store),
            flt.items_clause(f),
        )
        .group_by(f.c.event_id, f.c.sold_at, f.c.store, f.c.retailer, f.c.customer, f.c.currency, f.c.refund)
        .order_by(f.c.sold_at.desc(), f.c.event_id)
        .limit(limit)
    )
    return [
        FeedEvent(
            event_id=str(r.event_id),
            sold_at=r.sold_at if r.sold_at.tzinfo is not None else r.sold_at.replace(tzinfo=ZoneInfo("UTC")),
            store=r.store,
            retailer=r.retailer,
            customer=r.customer,
            currency=r.currency,
            amount_minor=int(r.amount_minor),
            qty=int(r.qty),
            lines=int(r.lines),
            refund=bool(r.refund),
        )
        for r in rows
    ]


# ------------------------------------------------------------------------------------------------ rankings


@dataclass(frozen=True)
class Ranked:
    """One group of a best-seller ranking (``key`` None: the dimension is not known for those lines)."""

    key: str | None
    currency: str
    qty: int
    amount_minor: int
    cost_minor: int
    costed_amount_minor: int
    margin_minor: int
    margin_bp: int | None
    tickets: int


def _item_sums(i: sa.Table) -> tuple[Any, ...]:
    return (
        sa.func.sum(i.c.qty).label("qty"),
        sa.func.sum(i.c.amount_minor).label("amount_minor"),
        sa.func.sum(i.c.cost_minor).label("cost_minor"),
        sa.func.sum(i.c.costed_amount_minor).label("costed_amount_minor"),
        sa.func.sum(i.c.tickets).label("tickets"),
    )


def _margin_bp(margin: int, costed: int) -> int | None:
    return margin * 10_000 // costed if costed > 0 else None


def best_sellers(
    conn: sa.Connection, flt: Filter, *, by: str = "sku", order: str = "amount", limit: int = 20
) -> list[Ranked]:
    """The filter's sales grouped ``by`` one of :data:`BY_DIMENSIONS`, ordered by ``order`` (one of
    :data:`ORDERS`, largest first), at most ``limit`` (up to :data:`TOP_MAX`) groups. ``tickets`` of a group
    above the item level counts a ticket once per item of the group it holds."""
    if by not in BY_DIMENSIONS:
        raise InvalidInput("by", f"{by!r} is not one of {', '.join(BY_DIMENSIONS)}")
    if order not in ORDERS:
        raise InvalidInput("order", f"{order!r} is not one of {', '.join(ORDERS)}")
    _limit(limit, TOP_MAX)
    i = db.analytics_day_store_item
    key = i.c[by]
    margin = sa.func.sum(i.c.costed_amount_minor) - sa.func.sum(i.c.cost_minor)
    sort = {
        "amount": sa.func.sum(i.c.amount_minor),
        "qty": sa.func.sum(i.c.qty),
        "margin": margin,
        "margin_rate": sa.func.coalesce(
            margin * 10_000 / sa.func.nullif(sa.func.sum(i.c.costed_amount_minor), 0), -(10**12)
        ),
    }[order]
    rows = conn.execute(
        sa.select(key.label("key"), i.c.currency, *_item_sums(i))
        .where(*flt.where(i), flt.items_clause(i))
        .group_by(key, i.c.currency)
        .order_by(sort.desc(), key, i.c.currency)
        .limit(limit)
    )
    out = []
    for r in rows:
        costed, cost = int(r.costed_amount_minor), int(r.cost_minor)
        out.append(
            Ranked(
                key=r.key,
                currency=r.currency,
                qty=int(r.qty),
                amount_minor=int(r.amount_minor),
                cost_minor=cost,
                costed_amount_minor=costed,
                margin_minor=costed - cost,
                margin_bp=_margin_bp(costed - cost, costed),
                tickets=int(r.tickets),
            )
        )
    return out


@dataclass(frozen=True)
class SeasonRow:
    """One season of the period (``label`` ``2026-03``, ``2026-Q1``, ``2026-W11`` or ``2026``), with the same
    season a year before (``last_year_amount_minor``)."""

    label: str
    currency: str
    qty: int
    amount_minor: int
    margin_minor: int
    tickets: int
    last_year_amount_minor: int


def _season(day: date, by: str, years_on: int = 0) -> str:
    if by == "month":
        return f"{day.year + years_on:04d}-{day.month:02d}"
    if by == "quarter":
        return f"{day.year + years_on:04d}-Q{(day.month - 1) // 3 + 1}"
    if by == "week":
        iso = day.isocalendar()
        return f"{iso.year + years_on:04d}-W{iso.week:02d}"
    return f"{day.year + years_on:04d}"


def seasons(conn: sa.Connection, flt: Filter, *, by: str = "month") -> list[SeasonRow]:
    """The filter's sales by season ``by`` (one of :data:`SEASONS`) of the period, oldest first, each with the
    revenue of the same season a year earlier (year over year)."""
    if by not in SEASONS:
        raise InvalidInput("by", f"{by!r} is not one of {', '.join(SEASONS)}")
    i = db.analytics_day_store_item
    totals: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    for period, years_on in ((flt.period, 0), (flt.period.shifted_years(-1), 1)):
        rows = conn.execute(
            sa.select(i.c.local_date, i.c.currency, *_item_sums(i))
            .where(*flt.where(i, period), flt.items_clause(i))
            .group_by(i.c.local_date, i.c.currency)
        )
        for r in rows:
            cell = totals[(_season(r.local_date, by, years_on), r.currency)]
            if years_on:
                cell[4] += int(r.amount_minor)
            else:
                cell[0] += int(r.qty)
                cell[1] += int(r.amount_minor)
                cell[2] += int(r.costed_amount_minor) - int(r.cost_minor)
                cell[3] += int(r.tickets)
    this_period = {_season(flt.period.start + timedelta(days=n), by) for n in range(flt.period.days)}
    return [
        SeasonRow(label, currency, *values)
        for (label, currency), values in sorted(totals.items())
        if label in this_period
    ]


@dataclass(frozen=True)
class TopRetailer:
    """A retailer's figures over the period (``tickets`` None when narrowed to a brand or category)."""

    retailer: str
    currency: str
    amount_minor: int
    tickets: int | None
    stores: int


def top_retailers(conn: sa.Connection, flt: Filter, *, limit: int = 10) -> list[TopRetailer]:
    """Retailers by net amount over the period, largest first, at most ``limit`` (up to :data:`TOP_MAX`)."""
    _limit(limit, TOP_MAX)
    table = db.analytics_day_store_item if flt.item_level else db.analytics_day_store
    tickets = sa.null() if flt.item_level else sa.func.sum(table.c.tickets)
    amount = sa.func.sum(table.c.amount_minor)
    rows = conn.execute(
        sa.select(
            table.c.retailer,
            table.c.currency,
            amount.label("amount_minor"),
            tickets.label("tickets"),
            sa.func.count(sa.distinct(table.c.store)).label("stores"),
        )
        .where(*flt.where(table), flt.items_clause(table) if flt.item_level else sa.true())
        .group_by(table.c.retailer, table.c.currency)
        .order_by(amount.desc(), table.c.retailer)
        .limit(limit)
    )
    return [
        TopRetailer(
            r.retailer, r.currency, int(r.amount_minor), None if r.tickets is None else int(r.tickets), int(r.stores)
        )
        for r in rows
    ]


@dataclass(frozen=True)
class TopMember:
    """A member's figures over the period, at every store of the filter."""

    customer: str
    currency: str
    amount_minor: int
    tickets: int
    stores: int
    points_earned: int
    points_spent: int


def top_members(conn: sa.Connection, flt: Filter, *, limit: int = 10) -> list[TopMember]:
    """Members by net amount over the period, largest first, at most ``limit`` (up to :data:`TOP_MAX`)."""
    _whole_tickets(flt, "the member ranking")
    _limit(limit, TOP_MAX)
    m = db.analytics_day_store_member
    amount = sa.func.sum(m.c.amount_minor)
    rows = conn.execute(
        sa.select(
            m.c.customer,
            m.c.currency,
            amount.label("amount_minor"),
            sa.func.sum(m.c.tickets).label("tickets"),
            sa.func.count(sa.distinct(m.c.store)).label("stores"),
            sa.func.sum(m.c.points_earned).label("points_earned"),
            sa.func.sum(m.c.points_spent).label("points_spent"),
        )
        .where(*flt.where(m))
        .group_by(m.c.customer, m.c.currency)
        .order_by(amount.desc(), m.c.customer)
        .limit(limit)
    )
    return [
        TopMember(
            r.customer, r.currency, int(r.amount_minor), int(r.tickets), int(r.stores), int(r.points_earned),
            int(r.points_spent),
        )
        for r in rows
    ]  # fmt: skip


@dataclass(frozen=True)
class Series:
    """One line of a trend: ``key`` (a retailer or a member) and its amount per bucket."""

    key: str
    values: list[int]


@dataclass(frozen=True)
class Trend:
    """The top ``n`` of the period against the rest, per ``bucket`` (day, week or month) of the period, in one
    currency (the top one's; others are left out)."""

    of: str
    bucket: str
    currency: str | None
    labels: list[str]
    series: list[Series]
    rest: list[int] = field(default_factory=list)


def _bucket_of(period: Period) -> str:
    return "day" if period.days <= 92 else "week" if period.days <= 366 else "month"


def _bucket_label(day: date, bucket: str) -> str:
    if bucket == "day":
        return day.isoformat()
    return _season(day, "week" if bucket == "week" else "month")


def top_trend(conn: sa.Connection, flt: Filter, *, of: str = "retailer", n: int = 5) -> Trend:
    """The net amount of the top ``n`` retailers or members (``of``) per day (a period up to 92 days), ISO
    week (up to a year) or month, and of all the others together (``rest``)."""
    _limit(n, TREND_MAX, "n")
    if of == "retailer":
        top = [(t.retailer, t.currency) for t in top_retailers(conn, flt, limit=n)]
        table = db.analytics_day_store_item if flt.item_level else db.analytics_day_store
        key = table.c.retailer
    elif of == "member":
        top = [(t.customer, t.currency) for t in top_members(conn, flt, limit=n)]
        table = db.analytics_day_store_member
        key = table.c.customer
    else:
        raise InvalidInput("of", f"{of!r} is not one of retailer, member")
    bucket = _bucket_of(flt.period)
    labels = sorted({_bucket_label(flt.period.start + timedelta(days=d), bucket) for d in range(flt.period.days)})
    if not top:
        return Trend(of, bucket, None, labels, [], [0] * len(labels))
    currency = top[0][1]
    keys = [k for k, c in top if c == currency]
    position = {label: i for i, label in enumerate(labels)}
    values: dict[str, list[int]] = {k: [0] * len(labels) for k in keys}
    rest = [0] * len(labels)
    rows = conn.execute(
        sa.select(table.c.local_date, key.label("key"), sa.func.sum(table.c.amount_minor).label("amount_minor"))
        .where(
            *flt.where(table), table.c.currency == currency, flt.items_clause(table) if flt.item_level else sa.true()
        )
        .group_by(table.c.local_date, key)
    )
    for r in rows:
        target = values.get(r.key, rest)
        target[position[_bucket_label(r.local_date, bucket)]] += int(r.amount_minor)
    return Trend(of, bucket, currency, labels, [Series(k, values[k]) for k in keys], rest)


# ------------------------------------------------------------------------------------------------ heatmap


@dataclass(frozen=True)
class Heatmap:
    """Tickets by ISO weekday (row 0 Monday to row 6 Sunday) and local hour (column 0 to 23)."""

    tickets: list[list[int]]
    busiest_weekday: int | None
    busiest_hour: int | None


def heatmap(conn: sa.Connection, flt: Filter) -> Heatmap:
    """Tickets of the period by weekday and hour, in each store's zone."""
    _whole_tickets(flt, "the heatmap")
    h = db.analytics_day_store_hour
    cells = [[0] * 24 for _ in range(7)]
    for r in conn.execute(
        sa.select(h.c.weekday, h.c.hour, sa.func.sum(h.c.tickets).label("tickets"))
        .where(*flt.where(h))
        .group_by(h.c.weekday, h.c.hour)
    ):
        cells[int(r.weekday) - 1][int(r.hour)] = int(r.tickets)
    best = max(((cells[d][hr], -d, -hr) for d in range(7) for hr in range(24)), default=(0, 0, 0))
    if best[0] == 0:
        return Heatmap(cells, None, None)
    return Heatmap(cells, -best[1] + 1, -best[2])
