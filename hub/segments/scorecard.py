"""The KPI scorecard: who came back, the loyal members' profile, lapsed look-alikes, seasons, cross-selling.

Every figure is SQL over the analytics rollups and facts for a period of store-local dates (both ends
included), for consumers (members: a visit is a ticket) and, where it says so, for retailers (the
distributor's customers: a visit is a purchase order placed for one of their stores).

* :func:`returns`: of the enrolled (members enrolled by the period's end; every retailer of the tenant),
  the share that came once, a second, a third and a fourth time in the period;
* :func:`loyal_profile`: the loyal members (at least ``loyal_min_tickets`` tickets in the period) by gender,
  age band (<25, 25-34, 35-44, 45-54, 55-64, 65+ on the period's last day), zone (postal code's region, else
  the enrolment store's) and most frequent categories, beside the same figures for every member;
* :func:`lapsed_lookalikes`: members who bought before but not in the last ``lapsed_days`` and share the
  loyal members' most common gender, age band and zone: a list for a campaign (with marketing consent);
* :func:`seasons`: returns (visits after a party's first of the period) by month and by quarter, the
  quarter with most first;
* :func:`cross_selling`: distinct categories per ticket, per store, the best store first.

Ratios are rounded to 6 decimal places; counts are exact. Lists are bounded (:data:`MAX_LIST`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cmp_to_key
from typing import Any, Final, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from core.errors import InvalidInput
from hub import db

__all__ = [
    "AGE_BANDS",
    "MAX_LIST",
    "MAX_PERIOD_DAYS",
    "TOP_CATEGORIES",
    "LapsedMember",
    "ProfileRow",
    "Returns",
    "StoreCrossSelling",
    "cross_selling",
    "lapsed_lookalikes",
    "loyal_profile",
    "returns",
    "seasons",
]

MAX_LIST: Final = 10_000
"""Most members one look-alike list holds (the most recent buyers first)."""

MAX_PERIOD_DAYS: Final = 1_096
"""Longest period one scorecard figure covers."""

TOP_CATEGORIES: Final = 10
"""Categories listed in a profile."""

AGE_BANDS: Final = ((25, "<25"), (35, "25-34"), (45, "35-44"), (55, "45-54"), (65, "55-64"))
"""(upper age, label) of each band below the last, 65+."""

UNKNOWN: Final = "unknown"

Party = Literal["member", "retailer"]


def _check_period(date_from: date, date_to: date) -> None:
    if date_to < date_from:
        raise InvalidInput("date_to", "is before date_from")
    if (date_to - date_from).days >= MAX_PERIOD_DAYS:
        raise InvalidInput("date_to", f"the period is longer than {MAX_PERIOD_DAYS} days")


def _ratio(num: int, den: int) -> float:
    return round(num / den, 6) if den else 0.0


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def age_band(birth: sa.ColumnElement[Any], on: date) -> sa.ColumnElement[str]:
    """The age band of ``birth`` on ``on`` as SQL (``unknown`` without a birth date)."""
    whens: list[tuple[Any, str]] = [(birth.is_(None), UNKNOWN)]
    for upper, label in AGE_BANDS:
        # Younger than ``upper`` on ``on``: born after the day ``upper`` years before.
        whens.append((birth > _years_before(on, upper), label))
    return sa.case(*whens, else_="65+")


def member_zone() -> tuple[Any, sa.ColumnElement[str]]:
    """(FROM clause over ``customer``, the zone expression): the postal code's region, else the enrolment
    store's, else ``unknown``."""
    c, pa, st = db.customer, db.postal_area, db.store
    joined = c.outerjoin(pa, sa.and_(pa.c.tenant == c.c.tenant, pa.c.postal_code == c.c.postal_code)).outerjoin(
        st, sa.and_(st.c.tenant == c.c.tenant, st.c.store == c.c.enrolled_store)
    )
    zone = sa.func.coalesce(pa.c.region, sa.func.nullif(st.c.region, ""), UNKNOWN)
    return joined, zone


# --- returns -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Returns:
    """Who came back, and how often."""

    party: str
    enrolled: int
    came: tuple[int, int, int, int]
    """How many came at least once, twice, three and four times in the period."""
    shares: tuple[float, float, float, float]
    """``came`` over ``enrolled``."""


def _visits(tenant: str, party: Party, date_from: date, date_to: date) -> sa.Select[Any]:
    """``(who, visits)`` in the period."""
    if party == "member":
        m = db.analytics_day_store_member
        return (
            sa.select(m.c.customer.label("who"), sa.func.sum(m.c.tickets).label("visits"))
            .where(m.c.tenant == tenant, m.c.local_date >= date_from, m.c.local_date <= date_to)
            .group_by(m.c.customer)
        )
    po, st = db.purchase_order, db.store
    # created_at is UTC; a purchase order is placed by the hub, so the period is read in UTC days.
    return (
        sa.select(st.c.retailer.label("who"), sa.func.count().label("visits"))
        .select_from(po.join(st, sa.and_(st.c.tenant == po.c.tenant, st.c.store == po.c.store)))
        .where(
            po.c.tenant == tenant,
            po.c.state != "refused",
            po.c.created_at >= _utc_start(date_from),
            po.c.created_at < _utc_start(date_to + timedelta(days=1)),
        )
        .group_by(st.c.retailer)
    )


def _utc_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def returns(conn: Connection, tenant: str, *, party: Party = "member", date_from: date, date_to: date) -> Returns:
    _check_period(date_from, date_to)
    if party == "member":
        c = db.customer
        enrolled = conn.execute(
            sa.select(sa.func.count()).where(
                c.c.tenant == tenant,
                c.c.state == "active",
                sa.or_(c.c.enrolled_on.is_(None), c.c.enrolled_on <= date_to),
            )
        ).scalar_one()
    elif party == "retailer":
        rt = db.retailer
        enrolled = conn.execute(sa.select(sa.func.count()).where(rt.c.tenant == tenant)).scalar_one()
    else:
        raise InvalidInput("party", "must be member or retailer")
    v = _visits(tenant, party, date_from, date_to).subquery("v")
    row = conn.execute(sa.select(*(sa.func.count().filter(v.c.visits >= k) for k in (1, 2, 3, 4)))).one()
    came = tuple(int(n or 0) for n in row)
    total = int(enrolled)
    return Returns(party, total, came, tuple(_ratio(n, total) for n in came))  # type: ignore[arg-type]


# --- the loyal members' profile ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProfileRow:
    """One value of a profile dimension: loyal members and everyone."""

    dimension: str
    value: str
    loyal: int
    loyal_share: float
    everyone: int
    everyone_share: float


def _dimension_rows(
    conn: Connection, tenant: str, name: str, expr: Any, joined: Any, loyal: sa.Select[Any], on: date
) -> list[ProfileRow]:
    c = db.customer
    is_loyal = c.c.loyalty_id.in_(loyal)
    rows = conn.execute(
        sa.select(expr.label("value"), sa.func.count(), sa.func.count().filter(is_loyal))
        .select_from(joined)
        .where(c.c.tenant == tenant, c.c.state == "active")
        .group_by(expr)
    ).all()
    everyone = sum(int(r[1]) for r in rows)
    loyal_total = sum(int(r[2]) for r in rows)
    out = [
        ProfileRow(name, str(r[0]), int(r[2]), _ratio(int(r[2]), loyal_total), int(r[1]), _ratio(int(r[1]), everyone))
        for r in rows
    ]
    return sorted(out, key=lambda p: (-p.loyal, -p.everyone, p.value))


def _loyal(tenant: str, date_from: date, date_to: date, loyal_min_tickets: int) -> sa.Select[Any]:
    m = db.analytics_day_store_member
    return (
        sa.select(m.c.customer)
        .where(m.c.tenant == tenant, m.c.local_date >= date_from, m.c.local_date <= date_to)
        .group_by(m.c.customer)
        .having(sa.func.sum(m.c.tickets) >= loyal_min_tickets)
    )


def loyal_profile(
    conn: Connection, tenant: str, *, date_from: date, date_to: date, loyal_min_tickets: int = 4
) -> dict[str, list[ProfileRow]]:
    """Per dimension (``gender``, ``age_band``, ``zone``, ``category``), the loyal members' counts and shares
    beside every member's. For ``category``: members who bought in the category in the period (the
    :data:`TOP_CATEGORIES` most frequent among the loyal)."""
    _check_period(date_from, date_to)
    if not 1 <= loyal_min_tickets <= 100_000:
        raise InvalidInput("loyal_min_tickets", "must be 1 to 100000")
    c = db.customer
    loyal = _loyal(tenant, date_from, date_to, loyal_min_tickets)
    joined, zone = member_zone()
    out = {
        "gender": _dimension_rows(
            conn, tenant, "gender", sa.func.coalesce(c.c.gender, UNKNOWN), joined, loyal, date_to
        ),
        "age_band": _dimension_rows(
            conn, tenant, "age_band", age_band(c.c.birth_date, date_to), joined, loyal, date_to
        ),
        "zone": _dimension_rows(conn, tenant, "zone", zone, joined, loyal, date_to),
    }
    f = db.sale_line_fact
    buyers = (
        sa.select(f.c.category, f.c.customer)
        .where(
            f.c.tenant == tenant,
            f.c.customer.is_not(None),
            f.c.refund.is_(False),
            f.c.local_date >= date_from,
            f.c.local_date <= date_to,
        )
        .group_by(f.c.category, f.c.customer)
        .subquery("buyers")
    )
    loyal_ids = loyal.subquery("loyal")
    is_loyal = buyers.c.customer.in_(sa.select(loyal_ids.c.customer))
    rows = conn.execute(
        sa.select(buyers.c.category, sa.func.count(), sa.func.count().filter(is_loyal))
        .group_by(buyers.c.category)
        .order_by(sa.func.count().filter(is_loyal).desc(), sa.func.count().desc(), buyers.c.category)
        .limit(TOP_CATEGORIES)
    ).all()
    loyal_n = sum(r.loyal for r in out["gender"])
    everyone_n = sum(r.everyone for r in out["gender"])
    out["category"] = [
        ProfileRow("category", r[0], int(r[2]), _ratio(int(r[2]), loyal_n), int(r[1]), _ratio(int(r[1]), everyone_n))
        for r in rows
    ]
    return out


# --- lapsed look-alikes ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LapsedMember:
    """A member for a win-back campaign."""

    loyalty_id: str
    last_visit: date
    marketing_consent: bool


def _mode(rows: Sequence[ProfileRow]) -> str | None:
    known = [r for r in rows if r.value != UNKNOWN and r.loyal > 0]
    return known[0].value if known else None


def lapsed_lookalikes(
    conn: Connection,
    tenant: str,
    *,
    date_from: date,
    date_to: date,
    lapsed_days: int = 60,
    loyal_min_tickets: int = 4,
    limit: int = MAX_LIST,
) -> tuple[dict[str, str | None], list[LapsedMember]]:
    """The loyal members' profile of the period (their most common gender, age band and zone), and the
    members who match it, bought before, and have not bought in the ``lapsed_days`` up to ``date_to``."""
    if not 1 <= lapsed_days <= 3660:
        raise InvalidInput("lapsed_days", "must be 1 to 3660")
    if not 1 <= limit <= MAX_LIST:
        raise InvalidInput("limit", f"must be 1 to {MAX_LIST}")
    profile = loyal_profile(conn, tenant, date_from=date_from, date_to=date_to, loyal_min_tickets=loyal_min_tickets)
    wanted = {d: _mode(profile[d]) for d in ("gender", "age_band", "zone")}
    c = db.customer
    m = db.analytics_day_store_member
    last = (
        sa.select(m.c.customer, sa.func.max(m.c.local_date).label("last_visit"))
        .where(m.c.tenant == tenant, m.c.local_date <= date_to, m.c.tickets > 0)
        .group_by(m.c.customer)
        .subquery("last")
    )
    joined, zone = member_zone()
    cutoff = date_to - timedelta(days=lapsed_days - 1)
    where: list[Any] = [c.c.tenant == tenant, c.c.state == "active", last.c.last_visit < cutoff]
    if wanted["gender"] is not None:
        where.append(c.c.gender == wanted["gender"])
    if wanted["age_band"] is not None:
        where.append(age_band(c.c.birth_date, date_to) == wanted["age_band"])
    if wanted["zone"] is not None:
        where.append(zone == wanted["zone"])
    rows = conn.execute(
        sa.select(c.c.loyalty_id, last.c.last_visit, c.c.marketing_consent)
        .select_from(joined.join(last, last.c.customer == c.c.loyalty_id))
        .where(*where)
        .order_by(last.c.last_visit.desc(), c.c.loyalty_id)
        .limit(limit)
    ).all()
    return wanted, [LapsedMember(r[0], r[1], bool(r[2])) for r in rows]


# --- seasons ---------------------------------------------------------------------------------------------------


def seasons(
    conn: Connection, tenant: str, *, party: Party = "member", date_from: date, date_to: date
) -> dict[str, Any]:
    """Returns (visits after each party's first visit of the period) per month and per quarter; ``best``
    is the quarter with most (the earliest on a tie)."""
    _check_period(date_from, date_to)
    per_month: dict[date, int] = {}
    if party == "member":
        mm = db.analytics_member_month
        month = mm.c.month
        rows = conn.execute(
            sa.select(mm.c.customer, month, sa.func.sum(mm.c.tickets))
            .where(mm.c.tenant == tenant, mm.c.month >= date_from.replace(day=1), mm.c.month <= date_to)
            .group_by(mm.c.customer, month)
            .order_by(mm.c.customer, month)
        )
    elif party == "retailer":
        po, st = db.purchase_order, db.store
        raw = conn.execute(
            sa.select(st.c.retailer, po.c.created_at)
            .select_from(po.join(st, sa.and_(st.c.tenant == po.c.tenant, st.c.store == po.c.store)))
            .where(
                po.c.tenant == tenant,
                po.c.state != "refused",
                po.c.created_at >= _utc_start(date_from),
                po.c.created_at < _utc_start(date_to + timedelta(days=1)),
            )
            .order_by(st.c.retailer, po.c.created_at)
            .limit(1_000_000)
        ).all()
        counted: dict[tuple[str, date], int] = {}
        for who, at in raw:
            key = (who, at.date().replace(day=1))
            counted[key] = counted.get(key, 0) + 1
        rows = iter([(who, m, n) for (who, m), n in sorted(counted.items())])  # type: ignore[assignment]
    else:
        raise InvalidInput("party", "must be member or retailer")
    seen: set[str] = set()
    for who, month_day, n in rows:
        visits = int(n)
        if who not in seen:
            seen.add(who)
            visits -= 1  # the first visit of the period is not a return
        month_key = month_day if isinstance(month_day, date) else date.fromisoformat(str(month_day))
        per_month[month_key] = per_month.get(month_key, 0) + visits
    quarters = {q: 0 for q in ("Q1", "Q2", "Q3", "Q4")}
    for month_day, n in per_month.items():
        quarters[f"Q{(month_day.month - 1) // 3 + 1}"] += n
    best = max(quarters, key=lambda q: (quarters[q], -int(q[1]))) if any(quarters.values()) else None
    return {
        "party": party,
        "months": [{"month": m.isoformat()[:7], "returns": n} for m, n in sorted(per_month.items())],
        "quarters": [{"quarter": q, "returns": n} for q, n in quarters.items()],
        "best": best,
    }


# --- cross-selling ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoreCrossSelling:
    """A store's distinct categories per ticket."""

    store: str
    retailer: str
    region: str
    tickets: int
    ticket_categories: int
    """Sum over tickets of their distinct categories."""
    categories_per_ticket: float


def cross_selling(
    conn: Connection,
    tenant: str,
    *,
    date_from: date,
    date_to: date,
    stores: sa.ColumnElement[bool] | None = None,
    limit: int = 1_000,
) -> list[StoreCrossSelling]:
    """Distinct categories per ticket at each store (sales only), most cross-selling first."""
    _check_period(date_from, date_to)
    f = db.sale_line_fact
    where: list[Any] = [
        f.c.tenant == tenant,
        f.c.refund.is_(False),
        f.c.local_date >= date_from,
        f.c.local_date <= date_to,
    ]
    if stores is not None:
        where.append(stores)
    per_ticket = (
        sa.select(
            f.c.store, f.c.retailer, f.c.region, f.c.event_id, sa.func.count(sa.distinct(f.c.category)).label("k")
        )
        .where(*where)
        .group_by(f.c.store, f.c.retailer, f.c.region, f.c.event_id)
        .subquery("per_ticket")
    )
    rows = conn.execute(
        sa.select(
            per_ticket.c.store, per_ticket.c.retailer, per_ticket.c.region, sa.func.count(), sa.func.sum(per_ticket.c.k)
        )
        .group_by(per_ticket.c.store, per_ticket.c.retailer, per_ticket.c.region)
        .limit(limit)
    ).all()
    out = [StoreCrossSelling(r[0], r[1], r[2], int(r[3]), int(r[4]), _ratio(int(r[4]), int(r[3]))) for r in rows]

    # Integer comparison for the order: a/b > c/d as a*d > c*b, no rounding in the ranking.
    def better(x: StoreCrossSelling, y: StoreCrossSelling) -> int:
        left, right = x.ticket_categories * y.tickets, y.ticket_categories * x.tickets
        return -1 if left > right else 1 if left < right else (-1 if x.store < y.store else 1)

    return sorted(out, key=cmp_to_key(better))
