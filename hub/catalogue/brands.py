"""Manufacturers and their brands: which manufacturer owns each brand the distributor carries.

An item names its brand (``catalogue_item.brand``) and may name its manufacturer; when it names none, the
analytics take its brand's manufacturer from here, so a manufacturer's sell-out covers all its brands.
Every ``add_*`` function creates the row or updates it, inside the caller's transaction, and raises
:class:`core.errors.InvalidInput` naming the field and the fix.

Command line: ``python -m hub --db URL network add-manufacturer`` and ``network add-brand``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from core import wire
from core.errors import InvalidInput
from hub import db

__all__ = ["MAX_LISTED", "Brand", "Manufacturer", "add_brand", "add_manufacturer", "brands", "manufacturers"]

MAX_LISTED: Final = 10_000
"""Brands or manufacturers one listing returns."""


@dataclass(frozen=True)
class Manufacturer:
    """A manufacturer whose brands the distributor carries."""

    tenant: str
    manufacturer: str
    name: str


@dataclass(frozen=True)
class Brand:
    """A brand and the manufacturer that owns it (``None``: not known)."""

    tenant: str
    brand: str
    name: str
    manufacturer: str | None


def _id(field: str, value: str) -> str:
    try:
        return wire.check_name(value, field)
    except InvalidInput as exc:
        raise InvalidInput(
            field, f"{value!r} is not an id: use 1 to 64 lower-case letters, digits, '-' or '_'"
        ) from exc


def _name(value: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 120:
        raise InvalidInput("name", "give a name of 1 to 120 characters")
    return value.strip()


def _tenant_known(conn: Connection, tenant: str) -> None:
    if conn.execute(sa.select(db.tenant.c.tenant).where(db.tenant.c.tenant == tenant)).first() is None:
        raise InvalidInput("tenant", f"no tenant {tenant!r}; add it first with `network add-tenant`")


def _upsert(conn: Connection, table: sa.Table, key: dict[str, str], values: dict[str, object], now: datetime) -> None:
    stmt = db.insert(conn, table).values(**key, **values, created_at=now, updated_at=now)
    conn.execute(stmt.on_conflict_do_update(index_elements=list(key), set_={**values, "updated_at": now}))


def add_manufacturer(
    conn: Connection, tenant: str, manufacturer: str, name: str, *, now: datetime | None = None
) -> Manufacturer:
    """Create or rename a manufacturer of ``tenant``'s catalogue."""
    _tenant_known(conn, tenant)
    made = Manufacturer(tenant, _id("manufacturer", manufacturer), _name(name))
    key = {"tenant": tenant, "manufacturer": made.manufacturer}
    _upsert(conn, db.manufacturer, key, {"name": made.name}, now or datetime.now(UTC))
    return made


def add_brand(
    conn: Connection,
    tenant: str,
    brand: str,
    name: str,
    *,
    manufacturer: str | None = None,
    now: datetime | None = None,
) -> Brand:
    """Create or update a brand, owned by ``manufacturer`` (which must exist) or by none known."""
    _tenant_known(conn, tenant)
    if not isinstance(brand, str) or not 1 <= len(brand) <= 64:
        raise InvalidInput("brand", "give a brand of 1 to 64 characters, as the items name it")
    if manufacturer is not None:
        m = db.manufacturer
        known = conn.execute(
            sa.select(m.c.manufacturer).where(m.c.tenant == tenant, m.c.manufacturer == manufacturer)
        ).first()
        if known is None:
            raise InvalidInput(
                "manufacturer",
                f"no manufacturer {manufacturer!r} in tenant {tenant!r}; add it with `network add-manufacturer`",
            )
    made = Brand(tenant, brand, _name(name), manufacturer)
    key = {"tenant": tenant, "brand": brand}
    _upsert(conn, db.brand, key, {"name": made.name, "manufacturer": manufacturer}, now or datetime.now(UTC))
    return made


def manufacturers(conn: Connection, tenant: str) -> list[Manufacturer]:
    m = db.manufacturer
    rows = conn.execute(sa.select(m).where(m.c.tenant == tenant).order_by(m.c.manufacturer).limit(MAX_LISTED))
    return [Manufacturer(r.tenant, r.manufacturer, r.name) for r in rows]


def brands(conn: Connection, tenant: str, *, manufacturer: str | None = None) -> list[Brand]:
    """The tenant's brands (of one manufacturer if given), by id; at most :data:`MAX_LISTED`."""
    b = db.brand
    query = sa.select(b).where(b.c.tenant == tenant)
    if manufacturer is not None:
        query = query.where(b.c.manufacturer == manufacturer)
    rows = conn.execute(query.order_by(b.c.brand).limit(MAX_LISTED))
    return [Brand(r.tenant, r.brand, r.name, r.manufacturer) for r in rows]
