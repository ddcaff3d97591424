"""The manufacturer's view: brand grants and the sell-out of the granted brands.

A distributor contracts manufacturers; a manufacturer sees nothing until the distributor grants it brands
(:func:`grant`, :func:`revoke`), and then only the **sell-out** of those brands: units and revenue (net of
refunds) by region, store, brand, item and period, read from the day x store x item rollup
(``analytics_day_store_item``), which holds no consumer at all. A manufacturer's API user
(:class:`hub.api.accounts.Role` ``manufacturer``) is bound to one manufacturer id and reaches only
:func:`sell_out` for its own grants: never a member's name, phone or loyalty id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from core.errors import InvalidInput
from hub import db
from hub import ledger as lg
from hub.errors import HubError

__all__ = [
    "GROUPS",
    "MAX_GRANTS",
    "MAX_ROWS",
    "BrandNotFound",
    "Grant",
    "ManufacturerNotFound",
    "SellOutRow",
    "check_manufacturer",
    "grant",
    "granted_brands",
    "grants",
    "revoke",
    "sell_out",
]

MAX_GRANTS: Final = 1_000
"""Most brands one manufacturer may be granted."""

MAX_ROWS: Final = 10_000
"""Most rows one sell-out answer holds."""

MAX_PERIOD_DAYS: Final = 1_096

Group = Literal["region", "store", "brand", "sku", "day", "month"]
GROUPS: Final = ("region", "store", "brand", "sku", "day", "month")


@dataclass(frozen=True, slots=True)
class Grant:
    """A brand a manufacturer may see."""

    manufacturer: str
    brand: str
    granted_at: datetime
    granted_by: str


class ManufacturerNotFound(HubError, LookupError):
    """No manufacturer of that id in the tenant."""

    code = "manufacturer_not_found"


class BrandNotFound(HubError, LookupError):
    """No brand of that id in the tenant's catalogue or brand list."""

    code = "brand_not_found"


def check_manufacturer(conn: Connection, tenant: str, manufacturer: str) -> str:
    """``manufacturer`` if the tenant has it; :class:`ManufacturerNotFound` otherwise."""
    m = db.manufacturer
    found = conn.execute(
        sa.select(m.c.manufacturer).where(m.c.tenant == tenant, m.c.manufacturer == manufacturer)
    ).first()
    if found is None:
        raise ManufacturerNotFound(
            f"no manufacturer {manufacturer!r}: add it with `python -m hub network add-manufacturer`"
        )
    return manufacturer


def grant(conn: Connection, tenant: str, manufacturer: str, brand: str, *, by: str, now: datetime) -> Grant:
    """Let ``manufacturer`` see the sell-out of ``brand`` (a brand of the tenant's catalogue or brand list)."""
    check_manufacturer(conn, tenant, manufacturer)
    b, ci = db.brand, db.catalogue_item
    known = conn.execute(sa.select(b.c.brand).where(b.c.tenant == tenant, b.c.brand == brand)).first() or (
        conn.execute(sa.select(ci.c.brand).where(ci.c.tenant == tenant, ci.c.brand == brand).limit(1)).first()
    )
    if known is None:
        raise BrandNotFound(f"no brand {brand!r} in the catalogue or the brand list")
    g = db.manufacturer_grant
    have = conn.execute(
        sa.select(g).where(g.c.tenant == tenant, g.c.manufacturer == manufacturer, g.c.brand == brand)
    ).first()
    if have is None:
        count = conn.execute(
            sa.select(sa.func.count()).where(g.c.tenant == tenant, g.c.manufacturer == manufacturer)
        ).scalar_one()
        if count >= MAX_GRANTS:
            raise InvalidInput("brand", f"the manufacturer has {MAX_GRANTS} brands granted, the most allowed")
        conn.execute(
            sa.insert(g).values(tenant=tenant, manufacturer=manufacturer, brand=brand, granted_at=now, granted_by=by)
        )
        return Grant(manufacturer, brand, now, by)
    return Grant(manufacturer, brand, lg.as_utc(have.granted_at), have.granted_by)


def revoke(conn: Connection, tenant: str, manufacturer: str, brand: str) -> bool:
    """Withdraw a grant; False when there was none."""
    g = db.manufacturer_grant
    done = conn.execute(sa.delete(g).where(g.c.tenant == tenant, g.c.manufacturer == manufacturer, g.c.brand == brand))
    return bool(done.rowcount)


def grants(conn: Connection, tenant: str, manufacturer: str | None = None) -> list[Grant]:
    g = db.manufacturer_grant
    q = sa.select(g).where(g.c.tenant == tenant)
    if manufacturer is not None:
        q = q.where(g.c.manufacturer == manufacturer)
    rows = conn.execute(q.order_by(g.c.manufacturer, g.c.brand).limit(MAX_GRANTS * 10))
    return [Grant(r.manufacturer, r.brand, lg.as_utc(r.granted_at), r.granted_by) for r in rows]


def granted_brands(conn: Connection, tenant: str, manufacturer: str) -> list[str]:
    return [x.brand for x in grants(conn, tenant, manufacturer)]


@dataclass(frozen=True, slots=True)
class SellOutRow:
    """Units and revenue (net of refunds) of one group."""

    key: dict[str, str]
    currency: str
    units: int
    revenue_minor: int


def sell_out(
    conn: Connection,
    tenant: str,
    manufacturer: str,
    *,
    date_from: date,
    date_to: date,
    group_by: tuple[Group, ...] = ("brand",),
    regions: tuple[str, ...] = (),
) -> list[SellOutRow]:
    """The sell-out of the brands granted to ``manufacturer``, grouped by ``group_by``, biggest revenue
    first; nothing at all when it has no grant."""
    if date_to < date_from:
        raise InvalidInput("date_to", "is before date_from")
    if (date_to - date_from).days >= MAX_PERIOD_DAYS:
        raise InvalidInput("date_to", f"the period is longer than {MAX_PERIOD_DAYS} days")
    if not group_by or len(set(group_by)) != len(group_by) or any(g not in GROUPS for g in group_by):
        raise InvalidInput("group_by", f"must be distinct values of {', '.join(GROUPS)}")
    brands = granted_brands(conn, tenant, manufacturer)
    if not brands:
        return []
    d = db.analytics_day_store_item
    columns: dict[str, Any] = {
        "region": d.c.region,
        "store": d.c.store,
        "brand": d.c.brand,
        "sku": d.c.sku,
        "day": d.c.local_date,
        "month": d.c.local_date,
    }
    keys = [columns[g] for g in group_by]
    where: list[Any] = [
        d.c.tenant == tenant,
        d.c.brand.in_(brands),
        d.c.local_date >= date_from,
        d.c.local_date <= date_to,
    ]
    if regions:
        where.append(d.c.region.in_(list(regions)))
    rows = conn.execute(
        sa.select(*keys, d.c.currency, sa.func.sum(d.c.qty), sa.func.sum(d.c.amount_minor))
        .where(*where)
        .group_by(*keys, d.c.currency)
        .order_by(sa.func.sum(d.c.amount_minor).desc(), *keys)
        .limit(MAX_ROWS)
    ).all()
    merged: dict[tuple[tuple[str, str], ...], list[int]] = {}
    currencies: dict[tuple[tuple[str, str], ...], str] = {}
    for row in rows:
        key: list[tuple[str, str]] = []
        for name, value in zip(group_by, row[: len(group_by)], strict=True):
            text = value.isoformat() if isinstance(value, date) else str(value)
            key.append((name, text[:7] if name == "month" else text))
        k = (*key, ("currency", row[len(group_by)]))
        sums = merged.setdefault(k, [0, 0])
        sums[0] += int(row[-2])
        sums[1] += int(row[-1])
        currencies[k] = row[len(group_by)]
    out = [SellOutRow(dict(k[:-1]), currencies[k], u, rev) for k, (u, rev) in merged.items()]
    return sorted(out, key=lambda r: (-r.revenue_minor, sorted(r.key.items())))
