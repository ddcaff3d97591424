"""The overview's headline figures and the live event feed, read from the hub's own tables.

Sales, tickets and members identified come from ``sale`` (by the box's time of sale); points earned and
spent from ``posting``, the ledger postings the ingest wrote for each sale. Everything is scoped with the
API's :class:`~hub.api.scope.Scope` clauses, so a retailer's figures are its own stores' only.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import sqlalchemy as sa

from hub import db
from hub.api.scope import Scope
from hub.ledger import as_utc

from .periods import Filters

FEED_ROWS_MAX: Final = 50
"""Most events the live feed shows (the newest)."""


@dataclass(frozen=True, slots=True)
class Headline:
    """What happened in one window: money per currency, tickets, distinct members, points in and out."""

    sales_minor: dict[str, int]
    tickets: int
    members: int
    points_earned: int
    points_spent: int


def _where(scope: Scope, filters: Filters, table: sa.Table) -> list[sa.ColumnElement[bool]]:
    clauses = [scope.tenant_is(table.c.tenant), scope.stores_clause(table.c.store)]
    if filters.store is not None:
        clauses.append(table.c.store == filters.store)
    if filters.retailer is not None:
        s = db.store
        clauses.append(
            table.c.store.in_(sa.select(s.c.store).where(s.c.tenant == scope.tenant, s.c.retailer == filters.retailer))
        )
    return clauses


def headline(scope: Scope, filters: Filters, start: datetime, end: datetime) -> Headline:
    """The figures of sales made in ``[start, end)`` within the filters."""
    # In UTC: SQLite keeps timestamps as UTC text, so a bound in another offset would compare wrongly.
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    s, p = db.sale, db.posting
    sales_where = [*_where(scope, filters, s), s.c.box_ts >= start, s.c.box_ts < end]
    money = {
        row.currency: int(row.total)
        for row in scope.conn.execute(
            sa.select(s.c.currency, sa.func.sum(s.c.total_minor).label("total"))
            .where(*sales_where)
            .group_by(s.c.currency)
            .order_by(s.c.currency)
        )
    }
    counts = scope.conn.execute(
        sa.select(sa.func.count(), sa.func.count(sa.distinct(s.c.customer))).where(*sales_where)
    ).one()
    points = scope.conn.execute(
        sa.select(
            sa.func.coalesce(sa.func.sum(p.c.hub_points), 0), sa.func.coalesce(sa.func.sum(p.c.redeemed_points), 0)
        ).where(*_where(scope, filters, p), p.c.type == "sale", p.c.box_ts >= start, p.c.box_ts < end)
    ).one()
    return Headline(money, int(counts[0]), int(counts[1]), int(points[0]), int(points[1]))


@dataclass(frozen=True, slots=True)
class Comparison:
    """Today so far against the same weekday a week earlier, up to the same time of day."""

    today: Headline
    last_week: Headline
    last_week_day: datetime


def today_against_last_week(scope: Scope, filters: Filters) -> Comparison:
    zone = filters.period.zone
    now = scope.now.astimezone(zone)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    week = timedelta(days=7)
    return Comparison(
        headline(scope, filters, midnight, now),
        headline(scope, filters, midnight - week, now - week),
        midnight - week,
    )


@dataclass(frozen=True, slots=True)
class FeedItem:
    """One event of the live feed: a sale or a business event, with what a person needs to read it."""

    event_id: uuid.UUID
    kind: str
    store: str
    store_name: str
    device: str
    at: datetime
    amount_minor: int | None
    currency: str | None
    customer: str | None


def feed(scope: Scope, filters: Filters, *, limit: int = FEED_ROWS_MAX) -> list[FeedItem]:
    """The newest sales and business events the hub received within the filters, newest first."""
    limit = max(1, min(limit, FEED_ROWS_MAX))
    s, e, st = db.sale, db.business_event, db.store
    names = {
        row.store: row.name
        for row in scope.conn.execute(
            sa.select(st.c.store, st.c.name).where(st.c.tenant == scope.tenant, scope.stores_clause(st.c.store))
        )
    }
    sales = scope.conn.execute(
        sa.select(s).where(*_where(scope, filters, s)).order_by(s.c.received_at.desc()).limit(limit)
    ).all()
    events = scope.conn.execute(
        sa.select(e).where(*_where(scope, filters, e)).order_by(e.c.received_at.desc()).limit(limit)
    ).all()
    items = [_sale_item(row, names) for row in sales] + [_event_item(row, names) for row in events]
    items.sort(key=lambda item: item.at, reverse=True)
    return items[:limit]


def _sale_item(row: Any, names: dict[str, str]) -> FeedItem:
    return FeedItem(
        row.event_id,
        "sale",
        row.store,
        names.get(row.store, row.store),
        row.device,
        as_utc(row.received_at),
        int(row.total_minor),
        row.currency,
        row.customer,
    )


def _event_item(row: Any, names: dict[str, str]) -> FeedItem:
    data = row.data if isinstance(row.data, dict) else {}
    amount = data.get("total_minor")
    currency = data.get("currency")
    return FeedItem(
        row.event_id,
        str(row.type),
        row.store,
        names.get(row.store, row.store),
        row.device,
        as_utc(row.received_at),
        amount if isinstance(amount, int) else None,
        currency if isinstance(currency, str) else None,
        None,
    )


def scope_stores(scope: Scope) -> list[tuple[str, str, str]]:
    """The caller's stores as (store, name, retailer), for the filter bar."""
    st = db.store
    return [
        (row.store, row.name, row.retailer)
        for row in scope.conn.execute(
            sa.select(st.c.store, st.c.name, st.c.retailer)
            .where(st.c.tenant == scope.tenant, scope.stores_clause(st.c.store))
            .order_by(st.c.name)
        )
    ]


def scope_retailers(scope: Scope) -> list[tuple[str, str]]:
    """The retailers the caller may filter by (a retailer: itself), as (retailer, name)."""
    r = db.retailer
    stmt = sa.select(r.c.retailer, r.c.name).where(r.c.tenant == scope.tenant)
    if scope.retailer is not None:
        stmt = stmt.where(r.c.retailer == scope.retailer)
    return [(row.retailer, row.name) for row in scope.conn.execute(stmt.order_by(r.c.name))]
