"""What the analytics know of a member: age band and zone.

The age band is computed, never stored: :data:`AGE_BANDS` ``<25``, ``25-34``, ``35-44``, ``45-54``,
``55-64``, ``65+`` on a given local day (:func:`age_band`). A member's zone is their postal code's region
when the hub knows it (``postal_area``, ``network add-postal-area``), else the region of their home store (the
store they enrolled at). :func:`zones_query` gives both for every member of a tenant as one SQL select, for the
segment rules and the dashboards to join on.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Final

import sqlalchemy as sa

from hub import db

__all__ = ["AGE_BANDS", "age_band", "member_zone", "zones_query"]

AGE_BANDS: Final = ("<25", "25-34", "35-44", "45-54", "55-64", "65+")
_LOWER_BOUNDS: Final = (25, 35, 45, 55, 65)


def age_band(birth_date: date | None, on: date) -> str | None:
    """The band of a member born on ``birth_date`` on local day ``on``; None when the birth date is unknown."""
    if birth_date is None:
        return None
    age = on.year - birth_date.year - ((on.month, on.day) < (birth_date.month, birth_date.day))
    for band, bound in zip(AGE_BANDS, _LOWER_BOUNDS, strict=False):
        if age < bound:
            return band
    return AGE_BANDS[-1]


def zones_query(tenant: str) -> sa.Select[Any]:
    """``(loyalty_id, postal_code, zone, zone_source)`` of every active member of ``tenant``; ``zone_source``
    is ``postal_code``, ``home_store`` or None (no zone known)."""
    c, p, s = db.customer, db.postal_area, db.store
    by_postal = p.c.region
    by_store = sa.func.nullif(s.c.region, "")
    return (
        sa.select(
            c.c.loyalty_id,
            c.c.postal_code,
            sa.func.coalesce(by_postal, by_store).label("zone"),
            sa.case(
                (by_postal.is_not(None), sa.literal("postal_code")),
                (by_store.is_not(None), sa.literal("home_store")),
                else_=sa.null(),
            ).label("zone_source"),
        )
        .select_from(
            c.outerjoin(p, sa.and_(p.c.tenant == c.c.tenant, p.c.postal_code == c.c.postal_code)).outerjoin(
                s, sa.and_(s.c.tenant == c.c.tenant, s.c.store == c.c.enrolled_store)
            )
        )
        .where(c.c.tenant == tenant, c.c.state == "active")
    )


def member_zone(conn: sa.Connection, tenant: str, loyalty_id: str) -> str | None:
    """The zone of one member (see the module's docstring), None when neither is known."""
    row = conn.execute(zones_query(tenant).where(db.customer.c.loyalty_id == loyalty_id)).first()
    return None if row is None else row.zone
