"""The filter every analytics question takes: a period in a named zone, and the network slice to look at.

:func:`make_filter` validates what a caller (the API, the dashboard, a command) asked for and raises
:class:`core.errors.InvalidInput` naming the field: an unknown preset, region, distribution centre, retailer,
store, brand or category, a custom range without both ends, inverted, or longer than :data:`MAX_PERIOD_DAYS`.

Periods are whole local days, both ends included. ``today``, ``7d``, ``30d`` and ``90d`` end today;
``month``, ``quarter`` and ``year`` run from the first day of the current one to today; ``custom`` is
``date_from`` to ``date_to``. "Today" is taken in the zone of the store asked for, else in the tenant's zone
(the zone most of its stores keep; UTC for a tenant with no store yet). Facts carry each sale's date in its
own store's zone, so a period selects the days as each store lived them.

A retailer's filter (``scope_retailer``) sees only that retailer's stores, whatever else it asks for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from core.errors import InvalidInput
from hub import db

__all__ = ["MAX_PERIOD_DAYS", "PRESETS", "Filter", "Period", "make_filter", "period_of", "tenant_zone"]

PRESETS: Final = ("today", "7d", "30d", "90d", "month", "quarter", "year", "custom")

MAX_PERIOD_DAYS: Final = 1_100
"""The longest period a question covers (three years and a little): every answer stays a bounded read of the
daily rollups."""

_DAYS: Final = {"today": 1, "7d": 7, "30d": 30, "90d": 90}


@dataclass(frozen=True)
class Period:
    """Local days ``start`` to ``end``, both included, and the zone "today" was taken in."""

    preset: str
    start: date
    end: date
    zone: str

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def shifted_years(self, years: int) -> Period:
        """The same days ``years`` earlier (negative) or later; 29 February becomes the 28th."""

        def move(day: date) -> date:
            try:
                return day.replace(year=day.year + years)
            except ValueError:
                return day.replace(year=day.year + years, day=28)

        return Period(self.preset, move(self.start), move(self.end), self.zone)


@dataclass(frozen=True)
class Filter:
    """A validated question filter; ``None`` means "all"."""

    tenant: str
    period: Period
    region: str | None = None
    dc: str | None = None
    retailer: str | None = None
    store: str | None = None
    brand: str | None = None
    category: str | None = None
    scope_retailer: str | None = None

    @property
    def item_level(self) -> bool:
        """Whether the filter names a brand or a category (answerable from the item rollups only)."""
        return self.brand is not None or self.category is not None

    def stores_clause(self, store: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
        """True for rows of the stores the filter selects (by the network as it is now)."""
        s = db.store
        conditions: list[sa.ColumnElement[bool]] = []
        if self.region is not None:
            conditions.append(s.c.region == self.region)
        if self.dc is not None:
            conditions.append(s.c.dc == self.dc)
        if self.retailer is not None:
            conditions.append(s.c.retailer == self.retailer)
        if self.scope_retailer is not None:
            conditions.append(s.c.retailer == self.scope_retailer)
        clauses: list[sa.ColumnElement[bool]] = []
        if self.store is not None:
            clauses.append(store == self.store)
        if conditions:
            clauses.append(store.in_(sa.select(s.c.store).where(s.c.tenant == self.tenant, *conditions)))
        return sa.and_(sa.true(), *clauses)

    def days_clause(self, local_date: sa.ColumnElement[Any], period: Period | None = None) -> sa.ColumnElement[bool]:
        p = period or self.period
        return local_date.between(p.start, p.end)

    def items_clause(self, table: sa.Table) -> sa.ColumnElement[bool]:
        """Brand and category, on a table that has them (the item rollup, the fact)."""
        clauses: list[sa.ColumnElement[bool]] = []
        if self.brand is not None:
            clauses.append(table.c.brand == self.brand)
        if self.category is not None:
            clauses.append(table.c.category == self.category)
        return sa.and_(sa.true(), *clauses)

    def where(self, table: sa.Table, period: Period | None = None) -> list[sa.ColumnElement[bool]]:
        """Tenant, days and stores for a rollup ``table`` (with ``tenant``, ``local_date`` and ``store``)."""
        return [
            table.c.tenant == self.tenant,
            self.days_clause(table.c.local_date, period),
            self.stores_clause(table.c.store),
        ]


def tenant_zone(conn: sa.Connection, tenant: str) -> str:
    """The zone most of the tenant's stores keep (the first by name on a tie); ``UTC`` with no store."""
    s = db.store
    row = conn.execute(
        sa.select(s.c.timezone)
        .where(s.c.tenant == tenant)
        .group_by(s.c.timezone)
        .order_by(sa.func.count().desc(), s.c.timezone)
        .limit(1)
    ).first()
    return str(row.timezone) if row is not None else "UTC"


def period_of(preset: str, today: date, zone: str, date_from: date | None, date_to: date | None) -> Period:
    """The period ``preset`` names on local day ``today`` (see the module's docstring)."""
    if preset not in PRESETS:
        raise InvalidInput("preset", f"{preset!r} is not one of {', '.join(PRESETS)}")
    if preset != "custom" and (date_from is not None or date_to is not None):
        raise InvalidInput("preset", "from and to go with the custom preset; give preset=custom or leave them out")
    if preset in _DAYS:
        return Period(preset, today - timedelta(days=_DAYS[preset] - 1), today, zone)
    if preset == "month":
        return Period(preset, today.replace(day=1), today, zone)
    if preset == "quarter":
        return Period(preset, date(today.year, (today.month - 1) // 3 * 3 + 1, 1), today, zone)
    if preset == "year":
        return Period(preset, date(today.year, 1, 1), today, zone)
    if date_from is None or date_to is None:
        raise InvalidInput("from" if date_from is None else "to", "a custom period needs both from and to (YYYY-MM-DD)")
    if date_to < date_from:
        raise InvalidInput("to", f"{date_to} is before from {date_from}; give the earlier day first")
    days = (date_to - date_from).days + 1
    if days > MAX_PERIOD_DAYS:
        raise InvalidInput("to", f"the period covers {days} days; at most {MAX_PERIOD_DAYS}")
    return Period(preset, date_from, date_to, zone)


def _known(conn: sa.Connection, field: str, value: str, query: sa.Select[Any], hint: str) -> None:
    if conn.execute(query.limit(1)).first() is None:
        raise InvalidInput(field, f"no {field} {value!r} in this network; {hint}")


def make_filter(
    conn: sa.Connection,
    tenant: str,
    *,
    now: datetime,
    preset: str = "30d",
    date_from: date | None = None,
    date_to: date | None = None,
    region: str | None = None,
    dc: str | None = None,
    retailer: str | None = None,
    store: str | None = None,
    brand: str | None = None,
    category: str | None = None,
    scope_retailer: str | None = None,
) -> Filter:
    """A validated :class:`Filter` (see the module's docstring for the rules and the errors)."""
    if now.tzinfo is None:
        raise InvalidInput("now", "must be timezone-aware")
    s, dcs, item = db.store, db.distribution_centre, db.catalogue_item
    zone = tenant_zone(conn, tenant)
    if store is not None:
        found = conn.execute(
            sa.select(s.c.timezone, s.c.retailer).where(s.c.tenant == tenant, s.c.store == store)
        ).first()
        if found is None or (scope_retailer is not None and found.retailer != scope_retailer):
            raise InvalidInput("store", f"no store {store!r} in your scope; see GET /stores")
        zone = str(found.timezone)
    if region is not None:
        in_stores = sa.select(s.c.region).where(s.c.tenant == tenant, s.c.region == region)
        in_dcs = sa.select(dcs.c.region).where(dcs.c.tenant == tenant, dcs.c.region == region)
        _known(conn, "region", region, sa.union_all(in_stores, in_dcs).subquery().select(), "see the stores' regions")
    if dc is not None:
        _known(
            conn, "dc", dc, sa.select(dcs.c.dc).where(dcs.c.tenant == tenant, dcs.c.dc == dc), "see `network add-dc`"
        )
    if retailer is not None:
        r = db.retailer
        unknown = scope_retailer is not None and retailer != scope_retailer
        query = sa.select(r.c.retailer).where(r.c.tenant == tenant, r.c.retailer == retailer, sa.literal(not unknown))
        _known(conn, "retailer", retailer, query, "see GET /stores")
    if brand is not None:
        b = db.brand
        in_items = sa.select(item.c.brand).where(item.c.tenant == tenant, item.c.brand == brand)
        in_brands = sa.select(b.c.brand).where(b.c.tenant == tenant, b.c.brand == brand)
        _known(conn, "brand", brand, sa.union_all(in_items, in_brands).subquery().select(), "see the catalogue")
    if category is not None:
        query = sa.select(item.c.category).where(item.c.tenant == tenant, item.c.category == category)
        _known(conn, "category", category, query, "see the catalogue")
    today = now.astimezone(ZoneInfo(zone)).date()
    period = period_of(preset, today, zone, date_from, date_to)
    return Filter(
        tenant=tenant,
        period=period,
        region=region,
        dc=dc,
        retailer=retailer,
        store=store,
        brand=brand,
        category=category,
        scope_retailer=scope_retailer,
    )
