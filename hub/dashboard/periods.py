"""Report periods and filters of the dashboard, read from the query string so every page is a link.

A period is a preset (``today``, ``7d``, ``30d``, ``90d``, ``month``, ``quarter``, ``year``) or ``custom``
with ``from`` and ``to`` dates (both included). Periods are whole local days in a named zone: the zone of
the store the filter names, else the zone most of the caller's stores use (a distributor's network usually
sits in one zone), else UTC. "Today" is always today in that zone, never the machine's.

:class:`Filters` are the retailer and store of the query string, checked against the caller's scope: an id
outside it is refused exactly like one that does not exist.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Final
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa

from core.errors import InvalidInput
from hub import db
from hub.api.scope import Scope
from hub.errors import HubError

from .i18n import N_

PRESETS: Final[dict[str, str]] = {
    "today": N_("Today"),
    "7d": N_("Last 7 days"),
    "30d": N_("Last 30 days"),
    "90d": N_("Last 90 days"),
    "month": N_("This month"),
    "quarter": N_("This quarter"),
    "year": N_("This year"),
    "custom": N_("Custom"),
}
"""Period presets in the order the filter bar lists them, with their labels."""
DEFAULT_PRESET: Final = "7d"
CUSTOM_DAYS_MAX: Final = 3 * 366
"""Longest custom period (days); a longer one is refused: choose a year at a time."""
ID_MAX_CHARS: Final = 64


class BadFilter(InvalidInput, HubError):
    """A period or filter in the query string that the dashboard cannot use."""

    code = "bad_filter"


@dataclass(frozen=True, slots=True)
class Period:
    """Whole local days ``first`` to ``last`` (both included) in ``zone``; ``start``/``end`` are the aware
    instants bounding it (``end`` is the start of the day after ``last``, or now when that is sooner)."""

    preset: str
    first: date
    last: date
    zone: ZoneInfo
    start: datetime
    end: datetime

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1


def zone_named(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name) if name else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def scope_zone(scope: Scope, store: str | None) -> ZoneInfo:
    """The zone reports use: the named store's, else the most common of the caller's stores, else UTC."""
    s = db.store
    stmt = sa.select(s.c.timezone, sa.func.count()).where(s.c.tenant == scope.tenant, scope.stores_clause(s.c.store))
    if store is not None:
        stmt = stmt.where(s.c.store == store)
    row = scope.conn.execute(stmt.group_by(s.c.timezone).order_by(sa.func.count().desc(), s.c.timezone)).first()
    return zone_named(row[0] if row is not None else None)


def _parse_day(text: str | None, field: str) -> date:
    if not text:
        raise BadFilter(field, "a custom period needs both dates, as YYYY-MM-DD")
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise BadFilter(field, f"{text!r} is not a date: write it as YYYY-MM-DD") from exc


def period_of(preset: str, now: datetime, zone: ZoneInfo, first: str | None = None, last: str | None = None) -> Period:
    """The period a preset (or a custom range) names, at ``now``, in ``zone``."""
    today = now.astimezone(zone).date()
    if preset == "today":
        a, b = today, today
    elif preset in ("7d", "30d", "90d"):
        a, b = today - timedelta(days=int(preset[:-1]) - 1), today
    elif preset == "month":
        a, b = today.replace(day=1), today
    elif preset == "quarter":
        a, b = today.replace(month=(today.month - 1) // 3 * 3 + 1, day=1), today
    elif preset == "year":
        a, b = today.replace(month=1, day=1), today
    elif preset == "custom":
        a, b = _parse_day(first, "from"), _parse_day(last, "to")
        if b < a:
            raise BadFilter("to", "the period ends before it starts: swap the dates")
        if (b - a).days + 1 > CUSTOM_DAYS_MAX:
            raise BadFilter("to", f"a custom period is at most {CUSTOM_DAYS_MAX} days: choose a shorter one")
    else:
        raise BadFilter("period", f"unknown period {preset!r}: use one of {', '.join(PRESETS)}")
    start = datetime.combine(a, time(), zone)
    end = min(datetime.combine(b + timedelta(days=1), time(), zone), max(now, start))
    return Period(preset, a, b, zone, start, end)


@dataclass(frozen=True, slots=True)
class Filters:
    """What a page shows: a period and, optionally, one retailer and one store of the caller's scope."""

    period: Period
    retailer: str | None
    store: str | None
    raw: tuple[tuple[str, str], ...]
    """The query parameters these filters came from (for links that keep them)."""

    def query(self, **changes: str | None) -> str:
        """The query string of these filters with ``changes`` applied (``None`` drops a parameter)."""
        params = dict(self.raw)
        for key, value in changes.items():
            if value is None:
                params.pop(key, None)
            else:
                params[key] = value
        return urlencode(sorted(params.items()))


FILTER_KEYS: Final = ("period", "from", "to", "retailer", "store")


def _id(params: Mapping[str, str], key: str) -> str | None:
    value = params.get(key, "").strip()
    if not value:
        return None
    if len(value) > ID_MAX_CHARS:
        raise BadFilter(key, f"at most {ID_MAX_CHARS} characters")
    return value


def filters_of(scope: Scope, params: Mapping[str, str]) -> Filters:
    """Read and check the filters of a query string against the caller's scope."""
    retailer = _id(params, "retailer")
    store = _id(params, "store")
    if scope.retailer is not None and retailer not in (None, scope.retailer):
        raise BadFilter("retailer", f"no retailer {retailer!r} in your scope")
    if retailer is not None:
        r = db.retailer
        known = scope.conn.execute(
            sa.select(r.c.retailer).where(r.c.tenant == scope.tenant, r.c.retailer == retailer)
        ).first()
        if known is None:
            raise BadFilter("retailer", f"no retailer {retailer!r} in your scope")
    if store is not None:
        s = db.store
        known = scope.conn.execute(
            sa.select(s.c.store).where(s.c.tenant == scope.tenant, s.c.store == store, scope.stores_clause(s.c.store))
        ).first()
        if known is None:
            raise BadFilter("store", f"no store {store!r} in your scope")
    preset = params.get("period") or DEFAULT_PRESET
    period = period_of(preset, scope.now, scope_zone(scope, store), params.get("from"), params.get("to"))
    raw = tuple((k, params[k]) for k in FILTER_KEYS if params.get(k))
    return Filters(period, retailer, store, raw)
