"""Levels by transactions per month, for members and for retailers (the distributor's merchant programs).

The default scheme is the distributor's: level 1 up to 50 transactions in the month, level 2 up to 100,
level 3 more than 150. The span between (101 to 150 by default) belongs to no level of that definition: a
buyer there **stays at level 2** (it has left level 2's ceiling but not reached level 3's floor), so every
count has exactly one level. A tenant may set its own thresholds (:func:`set_scheme`).

A month is a calendar month in the zone of the store of each sale (the analytics rollups' ``month`` and
``local_date``); a member's transactions are its tickets in that month at every store of the network
(``analytics_member_month``), a retailer's the tickets of all its stores (``analytics_day_store``). A member
or retailer with no ticket in the month has 0 transactions and is at level 1 if it bought in either month
compared.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from core.errors import InvalidInput
from hub import db

__all__ = [
    "DEFAULT_SCHEME",
    "LEVELS",
    "MAX_THRESHOLD",
    "LevelCount",
    "LevelMove",
    "LevelReport",
    "LevelScheme",
    "first_of_month",
    "get_scheme",
    "level_report",
    "month_tickets",
    "previous_month",
    "set_scheme",
]

LEVELS: Final = (1, 2, 3)

MAX_THRESHOLD: Final = 1_000_000
"""Highest threshold a scheme may set (transactions in a month)."""


@dataclass(frozen=True, slots=True)
class LevelScheme:
    """Level 1 up to ``level1_max`` transactions a month, level 2 up to ``level2_max``, level 3 above
    ``level3_over``; from ``level2_max + 1`` to ``level3_over`` a buyer stays at level 2."""

    level1_max: int = 50
    level2_max: int = 100
    level3_over: int = 150

    def __post_init__(self) -> None:
        for name in ("level1_max", "level2_max", "level3_over"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_THRESHOLD:
                raise InvalidInput(name, f"must be a whole number from 0 to {MAX_THRESHOLD}")
        if not self.level1_max < self.level2_max <= self.level3_over:
            raise InvalidInput(
                "level2_max", "thresholds must rise: level1_max < level2_max <= level3_over", code="levels_unordered"
            )

    def level(self, transactions: int) -> int:
        """The level of a month with ``transactions`` transactions."""
        if transactions <= self.level1_max:
            return 1
        if transactions > self.level3_over:
            return 3
        return 2

    def bounds(self, level: int) -> tuple[int, int | None]:
        """The transactions (lowest, highest or None) that give ``level``."""
        if level == 1:
            return 0, self.level1_max
        if level == 2:
            return self.level1_max + 1, self.level3_over
        if level == 3:
            return self.level3_over + 1, None
        raise InvalidInput("level", "must be 1, 2 or 3")

    def case(self, transactions: sa.ColumnElement[Any]) -> sa.ColumnElement[int]:
        """The level of ``transactions`` as SQL."""
        return sa.case(
            (transactions <= self.level1_max, 1),
            (transactions > self.level3_over, 3),
            else_=2,
        )


DEFAULT_SCHEME: Final = LevelScheme()


def get_scheme(conn: Connection, tenant: str) -> LevelScheme:
    """The tenant's scheme, the default one when it set none."""
    t = db.level_scheme
    row = conn.execute(sa.select(t).where(t.c.tenant == tenant)).first()
    if row is None:
        return DEFAULT_SCHEME
    return LevelScheme(row.level1_max, row.level2_max, row.level3_over)


def set_scheme(conn: Connection, tenant: str, scheme: LevelScheme, *, now: datetime) -> LevelScheme:
    t = db.level_scheme
    values = {"level1_max": scheme.level1_max, "level2_max": scheme.level2_max, "level3_over": scheme.level3_over}
    done = conn.execute(sa.update(t).where(t.c.tenant == tenant).values(**values, updated_at=now))
    if done.rowcount == 0:
        conn.execute(sa.insert(t).values(tenant=tenant, **values, updated_at=now))
    return scheme


def first_of_month(day: date) -> date:
    return day.replace(day=1)


def previous_month(month: date) -> date:
    return date(month.year - 1, 12, 1) if month.month == 1 else date(month.year, month.month - 1, 1)


def _next_month(month: date) -> date:
    return date(month.year + 1, 1, 1) if month.month == 12 else date(month.year, month.month + 1, 1)


Party = Literal["member", "retailer"]


def month_tickets(tenant: str, party: Party, month: date) -> sa.Select[Any]:
    """``(who, tickets)`` of ``party`` for the calendar ``month`` (its first day), as a sub-select."""
    if party == "member":
        mm = db.analytics_member_month
        return (
            sa.select(mm.c.customer.label("who"), sa.func.sum(mm.c.tickets).label("tickets"))
            .where(mm.c.tenant == tenant, mm.c.month == month)
            .group_by(mm.c.customer)
        )
    ds = db.analytics_day_store
    return (
        sa.select(ds.c.retailer.label("who"), sa.func.sum(ds.c.tickets).label("tickets"))
        .where(ds.c.tenant == tenant, ds.c.local_date >= month, ds.c.local_date < _next_month(month))
        .group_by(ds.c.retailer)
    )


@dataclass(frozen=True, slots=True)
class LevelCount:
    """How many are at ``level``."""

    level: int
    count: int


@dataclass(frozen=True, slots=True)
class LevelMove:
    """How many went from level ``from_level`` last month to ``to_level`` this month."""

    from_level: int
    to_level: int
    count: int


@dataclass(frozen=True, slots=True)
class LevelReport:
    """Counts per level in ``month`` and the moves from ``previous``."""

    party: str
    month: date
    previous: date
    scheme: LevelScheme
    counts: list[LevelCount]
    moves: list[LevelMove]


def level_report(conn: Connection, tenant: str, party: Party, month: date) -> LevelReport:
    """Counts per level in ``month`` (its first day) and the moves from the month before, over the members
    (or retailers) that bought in either month. Three levels, nine moves at most."""
    if party not in ("member", "retailer"):
        raise InvalidInput("party", "must be member or retailer")
    month = first_of_month(month)
    before = previous_month(month)
    scheme = get_scheme(conn, tenant)
    now_q = month_tickets(tenant, party, month).subquery("now_m")
    then_q = month_tickets(tenant, party, before).subquery("then_m")
    who = sa.union(sa.select(now_q.c.who), sa.select(then_q.c.who)).subquery("who")
    now_level = scheme.case(sa.func.coalesce(now_q.c.tickets, 0)).label("to_level")
    then_level = scheme.case(sa.func.coalesce(then_q.c.tickets, 0)).label("from_level")
    moves_q = (
        sa.select(then_level, now_level, sa.func.count())
        .select_from(who.outerjoin(now_q, now_q.c.who == who.c.who).outerjoin(then_q, then_q.c.who == who.c.who))
        .group_by(then_level, now_level)
    )
    moves = {(int(f), int(t)): int(n) for f, t, n in conn.execute(moves_q)}
    counts = {level: 0 for level in LEVELS}
    for (_, to_level), n in moves.items():
        counts[to_level] += n
    return LevelReport(
        party,
        month,
        before,
        scheme,
        [LevelCount(level, counts[level]) for level in LEVELS],
        [LevelMove(f, t, n) for (f, t), n in sorted(moves.items())],
    )
